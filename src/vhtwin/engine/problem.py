"""A ``Problem``: what to solve -- the model, the design as arrays, the outputs wanted and the solver options --
checked before any compute, and the backend that will solve it.

:func:`assemble` lays out checked arrays (parameters ``(P, B)``, initial states, output times) and a fully resolved
protocol in the engine's batch-last layout: each patient's start and end time, the event table
(:func:`vhtwin.protocols.events.build_events`), the occasions and the loop settings. Then the backend is chosen
(:mod:`.backend`): the exact path for a linear model where it applies, otherwise the integration loop of the method
asked for. :func:`vhtwin.engine.prepare` (:mod:`.request`) checks a caller's request and ends here; the repeated-dose
solve of a steady state (:mod:`.steady_state`) starts here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._version import __version__
from ..equations import equations
from ..errors import InputError
from ..model import Model
from ..options import DEFAULTS
from ..protocols import occasions as _occasions
from ..protocols.events import build_events
from ..solvers import AbstractSolver, LoopConfig, get_solver
from ..solvers.loop import Events
from ..validation import output_selection
from . import exact


@dataclass(frozen=True)
class Problem:
    """A checked simulation request in the engine's layout (numpy, float64, batch-last)."""

    model: Model
    method: AbstractSolver
    config: LoopConfig
    precision: str
    params: np.ndarray  # (P, B)
    y0: np.ndarray  # (n, B) or (n, 1)
    t0: np.ndarray  # (B,) start time per patient
    t_end: np.ndarray  # (B,)
    events: Events
    out_times: np.ndarray  # (T,) shared, or (B, T) per patient with NaN padding at the end
    shared_times: bool
    batched: bool
    n_patients: int
    dt0: float
    dt_min: float
    dt_max: float
    rtol: np.ndarray
    atol: np.ndarray
    outputs: tuple[str, ...]  # observables and states returned, in the model's order
    initial_given: tuple[str, ...] = ()  # states whose initial value the caller set (over Model.initial)
    unreached: np.ndarray | None = None  # (B,) patients whose steady-state dose found no steady state
    steady_state: bool = False  # the schedule starts from steady states found for the prepared parameters
    occasion_rows: tuple[int, ...] = ()  # parameter rows read from the events' trailing input channels (IOV)
    occasion_starts: np.ndarray | None = None  # (K,) or (B, K) occasion start times
    cache: dict = field(default_factory=dict, compare=False, repr=False)  # host layouts by backend and device split

    @property
    def saved_states(self) -> tuple[str, ...]:
        """The states whose rows the solve saves (``config.save_rows``), in the model's order."""
        rows = self.config.save_rows
        names = self.model.state_names
        return names if rows is None else tuple(names[i] for i in rows)

    @property
    def dtype(self):
        return jnp.float64 if self.precision == "float64" else jnp.float32

    @property
    def initial_rows(self) -> tuple[int, ...]:
        """States whose initial value comes from ``Model.initial(p)`` (the caller set none of them)."""
        if not self.model.has_initial:
            return ()
        given = set(self.initial_given)
        names = self.model.state_names
        return tuple(i for i in parameter_dependent_states(self.model) if names[i] not in given)

    def attrs(self) -> dict:
        extra = {}
        if self.occasion_rows:
            names = self.model.parameter_names
            extra = {
                "occasion_parameters": [names[i] for i in self.occasion_rows],
                "occasions": "occasion k is in force from occasion_start[k] to the next start (the last to the end; "
                "occasion 0 before the first); an output at a start time is the value just before it (left limit)",
            }
        return {
            "model": self.model.name,
            "model_source_sha256": self.model.source_hash(),
            "solver": self.method.name,
            "rtol": self.rtol.tolist(),
            "atol": self.atol.tolist(),
            "precision": self.precision,
            "time_unit": self.model.time_unit,
            "output_at_event": "value just before the event (left limit)",
            "vhtwin_version": __version__,
            "jax_version": jax.__version__,
            "jax_backend": jax.default_backend(),
            **extra,
        }


def parameter_dependent_states(model: Model) -> tuple[int, ...]:
    """The states ``Model.initial(p)`` sets, found by tracing it once (no compilation)."""
    rows = _INITIAL_ROWS.get(type(model))
    if rows is None:
        shape = jax.ShapeDtypeStruct((len(model.parameters), 1), jnp.float32)
        rows = tuple(sorted(jax.eval_shape(equations(model).initial_rows, shape)))
        _INITIAL_ROWS[type(model)] = rows
    return rows


_INITIAL_ROWS: dict[type, tuple[int, ...]] = {}


def assemble(
    model: Model,
    method: AbstractSolver,
    solver,
    precision: str,
    P: np.ndarray,
    batched: bool,
    B: int,
    y0: np.ndarray,
    initial_given: tuple[str, ...],
    shared: bool,
    out_t: np.ndarray,
    protocol,
    *,
    t0=None,
    dt0=DEFAULTS.dt0,
    dt_min=DEFAULTS.dt_min,
    dt_max=DEFAULTS.dt_max,
    max_steps=DEFAULTS.max_steps,
    rtol: np.ndarray,
    atol: np.ndarray,
    outputs=None,
    unreached: np.ndarray | None = None,
    steady: bool = False,
    by_occasion=None,
    starts=None,
) -> Problem:
    """A :class:`Problem` from checked arrays and a fully resolved protocol (no steady-state dose, lags applied).

    The last step of :func:`vhtwin.engine.prepare`, and all that the repeated-dose solve of a steady state needs
    (:mod:`vhtwin.engine.steady_state`): the event table, each patient's start and end, the occasions, the loop
    settings, and the exact path where it applies. ``solver`` is what the caller asked for (``"auto"`` may become the
    exact path); ``method`` the method it resolved to.
    """
    events = build_events(model, protocol, B)
    batched = batched or not shared or y0.shape[1] > 1 or any(x is not None and x.shape[-1] > 1 for x in events)

    start = _start_times(events, out_t, shared, B, t0)
    events, y0, given = _reset_at_start(model, events, y0, start)
    occasion_rows = ()
    if by_occasion:
        if model.events:
            raise InputError(f"occasions: model {model.name} has state-triggered events, which read the parameters "
                             "without inter-occasion variability; simulate it without occasions")
        if starts.ndim == 2 and B != starts.shape[0]:
            raise InputError(f"occasions: per-patient start times have {starts.shape[0]} rows but there are {B} patients")
        events, occasion_rows = _occasions.merge(model, events, by_occasion, starts, float(start.min()))
    t_end = np.full(B, out_t[-1]) if shared else np.nanmax(out_t, axis=1)
    names, save_rows = output_selection(model, outputs)
    config = LoopConfig(max_steps=int(max_steps), controller=method.controller, save_rows=save_rows)
    problem = Problem(
        model, method, config, precision, P, y0, start, t_end, events, out_t, shared, batched, B,
        math.nan if dt0 is None else float(dt0), float(dt_min), float(dt_max), rtol, atol, names,
        tuple(initial_given) + given, unreached if unreached is not None and unreached.any() else None, steady,
        occasion_rows, starts if by_occasion else None,
    )
    if not by_occasion:  # "auto" keeps the ODE method with occasions ("exact" was refused by prepare)
        problem = _exact_if_it_applies(problem, solver)
    return problem


def _start_times(events: Events, out_t: np.ndarray, shared: bool, B: int, t0) -> np.ndarray:
    """Each patient's start: ``t0`` if given, else the earlier of the patient's first output and first event (so a
    patient's result does not depend on the other patients of the batch)."""
    first_out = np.full(B, out_t[0]) if shared else np.nanmin(out_t, axis=1)
    first_event = np.broadcast_to(np.min(events.times, axis=0), (B,))  # +inf where a patient has no event
    if t0 is None:
        return np.minimum(first_out, first_event).astype(float)
    if isinstance(t0, bool) or not isinstance(t0, (int, float, np.integer, np.floating)) or not math.isfinite(t0):
        raise InputError(f"t0 {t0!r} must be a finite number")
    start = float(t0)
    if np.any(start > first_out):
        raise InputError(f"t0 {t0!r} must be finite and not after the first output time {float(first_out.min()):g}")
    if np.any(start > first_event):
        raise InputError(f"t0 {start:g} is after the first event at {float(first_event.min()):g}")
    return np.full(B, start)


def _reset_at_start(model: Model, events: Events, y0: np.ndarray, start: np.ndarray):
    """A reset at a patient's start time (a steady-state dose that opens its records) becomes its initial state, so
    that the output at that time is the steady-state trough rather than the state before it.

    Per patient: in a batch of mixed designs only the patients whose first event is such a reset change. Returns the
    events, the initial states and the names of the states the reset set for every patient (none when only some).
    """
    if events.reset is None:
        return events, y0, ()
    values = events.reset_to[0]  # (n, Bt)
    opens = (events.times[0] == start) & (events.reset[0] > 0) & np.all(np.isfinite(values), axis=0)  # (B,) or (Bt,)
    if not opens.any():
        return events, y0, ()
    if events.times.shape[1] == 1 and values.shape[1] == 1 and opens.all():  # one table: every patient
        reset = events.reset.copy()
        reset[0] = 0.0
        events = events._replace(reset=reset) if reset.any() else events._replace(reset=None, reset_to=None)
        return events, np.ascontiguousarray(values), tuple(model.state_names)
    if model.has_initial:
        # the others' initial values come from Model.initial(p), which a per-patient y0 would override: keep the
        # reset as an event (the output at the start is then the state just before it)
        return events, y0, ()
    B = opens.shape[0]
    widen = lambda a: np.ascontiguousarray(np.broadcast_to(a, a.shape[:-1] + (B,)))
    events = Events(*(None if x is None else widen(x) for x in events))
    y0 = widen(y0)
    y0[:, opens] = events.reset_to[0][:, opens]
    reset = events.reset.copy()
    reset[0, opens] = 0.0
    return events._replace(reset=reset), y0, ()


def _exact_if_it_applies(problem: Problem, solver) -> Problem:
    """The exact path for ``"exact"``, and for ``"auto"`` on a ``linear`` model when the design suits it."""
    model = problem.model
    if not (solver == "exact" or (solver == "auto" and getattr(model, "linear", False))):
        return problem
    reason = exact.reason_not_applicable(problem, explicit=solver == "exact")
    if reason is not None:
        if solver == "exact":
            raise InputError(f"solver 'exact' does not apply: {reason}")
        return problem  # "auto" keeps the ODE method it resolved to
    exact.check_linear(model)
    from dataclasses import replace

    return replace(problem, method=get_solver("exact"))
