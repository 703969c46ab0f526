"""``vhtwin.simulate``: one patient or a batch of patients -> an ``xarray.Dataset``; and ``Simulator``, the same
solve as a differentiable JAX function.

Everything the caller passes is checked first (:mod:`vhtwin.validation`), before any compute; then one compiled,
batched solve runs (:mod:`vhtwin.engine`: one compilation per model, method, loop settings, precision and array
shapes -- tolerances, times, parameters and doses are traced values, so changing them never recompiles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ._version import __version__
from .engine import compiled_solve, device_split
from .errors import InputError, SolverError
from .protocols.events import build_events
from .model import Model
from . import exact_path
from .protocols import occasions as _occasions, schedule, steady_state
from .solvers import AbstractSolver, Exact, LoopConfig, PIController, Status
from .solvers.loop import Events
from .validation import (
    check_precision, default_precision, initial_states, output_selection, output_times, parameter_matrix,
    resolve_solver, tolerance,
)

__all__ = ["Simulator", "default_precision", "simulate"]

#: Lanes (patients) per device in one compiled solve; larger batches run in chunks of this width.
LANES_PER_DEVICE = 8192


@dataclass(frozen=True)
class Problem:
    """A checked simulation request in the engine's layout (numpy, float64, batch-last)."""

    model: Model
    method: AbstractSolver
    config: LoopConfig
    precision: str
    params: np.ndarray  # (P, B)
    y0: np.ndarray  # (n, B) or (n, 1)
    t0: float
    t_end: np.ndarray  # (B,)
    events: Events
    out_times: np.ndarray  # (T,) or (B, T) with NaN padding
    shared_times: bool
    batched: bool
    n_patients: int
    dt0: float
    dt_min: float
    dt_max: float
    rtol: np.ndarray
    atol: np.ndarray
    outputs: tuple[str, ...]  # observables and states returned, in the model's order
    plan: Any = None  # the merged time grid of the exact linear path (solver "exact")
    initial_given: tuple[str, ...] = ()  # states whose initial value the caller set (over Model.initial)
    unreached: np.ndarray | None = None  # (B,) patients whose steady-state dose found no steady state
    steady_state: bool = False  # the schedule starts from steady states found for the prepared parameters
    occasion_rows: tuple[int, ...] = ()  # parameter rows read from the events' trailing input channels (IOV)
    occasion_starts: np.ndarray | None = None  # (K,) or (B, K) occasion start times

    @property
    def saved_states(self) -> tuple[str, ...]:
        """The states whose rows the solve saves (``config.save_rows``), in the model's order."""
        rows = self.config.save_rows
        names = self.model.state_names
        return names if rows is None else tuple(names[i] for i in rows)

    @property
    def dtype(self):
        return jnp.float64 if self.precision == "float64" else jnp.float32

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


def prepare(
    model: Model,
    params=None,
    *,
    times,
    protocol=None,
    initial=None,
    solver="auto",
    rtol=1e-6,
    atol=1e-9,
    precision=None,
    t0=None,
    dt0=None,
    dt_min=0.0,
    dt_max=math.inf,
    max_steps=100_000,
    saves_per_step=2,
    outputs=None,
    covariates=None,
    n_patients: int | None = None,
    occasions=None,
) -> Problem:
    """Check a simulation request and lay it out for the engine (see :func:`simulate` for the arguments)."""
    if not isinstance(model, Model):
        raise InputError(f"model must be a vhtwin.Model instance, got {type(model).__name__}")
    precision = check_precision(precision)
    base, by_occasion, starts = _occasions.split_parameters(model, params, occasions)
    P, batched, B = parameter_matrix(model, base)
    if n_patients is not None:
        if B not in (1, n_patients):
            raise InputError(f"params describe {B} patients but n_patients is {n_patients}")
        if n_patients > 1 and B == 1:
            P, batched, B = np.repeat(P, n_patients, axis=1), True, n_patients
    y0 = initial_states(model, initial, B)
    shared, out_t = output_times(times, B)
    method = resolve_solver(model, solver)
    rtol_v, atol_v = tolerance(model, rtol, "rtol", 1e-6), tolerance(model, atol, "atol", 1e-9)
    if dt0 is not None and not (isinstance(dt0, (int, float)) and math.isfinite(dt0) and dt0 > 0):
        raise InputError(f"dt0 {dt0!r} must be a finite number > 0")
    if not method.adaptive and dt0 is None and not isinstance(method, Exact):
        raise InputError(f"solver {method.name!r} is fixed-step: give dt0 > 0 (the step)")
    if not (dt_min >= 0 and dt_max > 0 and dt_max >= dt_min):
        raise InputError(f"step bounds dt_min={dt_min!r}, dt_max={dt_max!r} must satisfy 0 <= dt_min <= dt_max, dt_max > 0")
    for name, value in (("max_steps", max_steps), ("saves_per_step", saves_per_step)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} {value!r} must be a positive integer")
    # Steady states are found by the same solver at the same tolerances (a repeated-dose simulation).
    options = dict(solver=solver, rtol=rtol, atol=atol, precision=precision, max_steps=max_steps)
    steady = steady_state.has_steady_state(protocol)
    if by_occasion and steady:
        raise InputError(
            "occasions: steady-state doses (steady_state=True) cannot be combined with occasions yet (the steady "
            "state would be found for one occasion's parameters); simulate the run-in explicitly or drop occasions"
        )
    if by_occasion and (solver == "exact" or isinstance(method, Exact)):
        raise InputError(
            "solver 'exact' does not apply with occasions: parameters that switch at occasion boundaries need the "
            "ODE path (solver='auto' uses it)"
        )
    protocol, unreached = schedule.resolve(model, protocol, params, covariates, P, B, initial=initial, options=options,
                                          simulate=simulate)
    events = build_events(model, protocol, B)
    batched = batched or not shared or y0.shape[1] > 1 or any(x is not None and x.shape[-1] > 1 for x in events)

    first_out = float(out_t[0] if shared else np.nanmin(out_t[:, 0]))
    first_event = float(np.min(events.times)) if np.isfinite(events.times).any() else math.inf
    start = min(first_out, first_event) if t0 is None else float(t0)
    if t0 is not None and (not math.isfinite(start) or start > first_out):
        raise InputError(f"t0 {t0!r} must be finite and not after the first output time {first_out:g}")
    if start > first_event:
        raise InputError(f"t0 {start:g} is after the first event at {first_event:g}")
    events, y0, given = _reset_at_start(model, events, y0, start)
    occasion_rows = ()
    if by_occasion:
        if starts.ndim == 2 and B != starts.shape[0]:
            raise InputError(f"occasions: per-patient start times have {starts.shape[0]} rows but there are {B} patients")
        events, occasion_rows = _occasions.merge(model, events, by_occasion, starts, start)
    t_end = np.full(B, out_t[-1]) if shared else np.nanmax(out_t, axis=1)
    names, save_rows = output_selection(model, outputs)
    config = LoopConfig(
        max_steps=int(max_steps), saves_per_step=int(saves_per_step), controller=PIController(), save_rows=save_rows
    )
    if by_occasion:
        exact_plan = None  # "auto" keeps the ODE method it resolved to ("exact" was refused above)
    else:
        method, exact_plan = _exact_if_it_applies(model, solver, method, out_t, events, start)
    return Problem(
        model, method, config, precision, P, y0, start, t_end, events, out_t, shared, batched, B,
        math.nan if dt0 is None else float(dt0), float(dt_min), float(dt_max), rtol_v, atol_v, names, exact_plan,
        tuple(initial or ()) + given, unreached if unreached.any() else None, steady, occasion_rows,
        starts if by_occasion else None,
    )


def _reset_at_start(model: Model, events: Events, y0: np.ndarray, start: float):
    """A reset at the start time for every patient (a steady-state dose that opens the simulation) becomes the
    initial state, so that the output at that time is the steady-state trough rather than the state before it.

    Returns the events, the initial states and the names of the states the reset set.
    """
    if events.reset is None or not np.all(events.times[0] == start) or not np.all(events.reset[0] > 0):
        return events, y0, ()
    values = events.reset_to[0]  # (n, Bt)
    given = np.all(np.isfinite(values), axis=1)
    if not given.all():
        return events, y0, ()  # some state returns to a (possibly parameter-dependent) initial value: keep the event
    reset = events.reset.copy()
    reset[0] = 0.0
    events = events._replace(reset=reset) if reset.any() else events._replace(reset=None, reset_to=None)
    return events, np.ascontiguousarray(values), tuple(model.state_names)


def _exact_if_it_applies(model: Model, solver, method, out_t, events, start):
    """The exact linear path for ``"exact"``, and for ``"auto"`` on a ``linear`` model when the grid suits it."""
    if not (solver == "exact" or (solver == "auto" and getattr(model, "linear", False))):
        return method, None
    exact_plan = exact_path.plan(model, out_t, events.times, start)
    if isinstance(exact_plan, str):
        if solver == "exact":
            raise InputError(f"solver 'exact' does not apply: {exact_plan}")
        return method, None  # "auto" keeps the ODE method it resolved to
    exact_path.check_linear(model)
    return Exact(), exact_plan


def _parameter_dependent_initial(pr: Problem, params, y0, initial_given):
    """Initial states from ``Model.initial(p)`` for every state the caller did not set; (P, B), (n, B) arrays."""
    dtype = pr.dtype
    p = jnp.asarray(pr.params if params is None else params).astype(dtype)
    y = jnp.asarray(pr.y0 if y0 is None else y0).astype(dtype)
    B = max(p.shape[-1], y.shape[-1], pr.n_patients)
    p = jnp.broadcast_to(p, p.shape[:-1] + (B,))
    y = jnp.broadcast_to(y, y.shape[:-1] + (B,))
    given = set(pr.initial_given) | set(initial_given or ())
    rows = pr.model.initial_rows(p)
    names = pr.model.state_names
    y = jnp.stack([rows[i] if i in rows and names[i] not in given else y[i] for i in range(len(names))])
    return p, y


def run(problem: Problem, params=None, y0=None, *, n_devices: int | None = None, initial_given=()):
    """Run a prepared problem; ``params`` (P, B) / ``y0`` (n, B) may be JAX arrays (traced, differentiable).

    Returns the engine's raw outputs sliced to the real patients: states (n, T, B), observables (m, T, B), status,
    n_steps, n_rejected.
    """
    pr = problem
    if pr.model.has_initial:
        params, y0 = _parameter_dependent_initial(pr, params, y0, initial_given)
    if isinstance(pr.method, Exact):
        return _flag_unreached(pr, exact_path.run(pr, pr.plan, params, y0))
    return _flag_unreached(pr, _run_ode(pr, params, y0, n_devices))


def _flag_unreached(pr: Problem, result):
    """Patients whose steady state was not found: status ``no_steady_state`` and NaN outputs (never a guess)."""
    if pr.unreached is None:
        return result
    bad = jnp.asarray(pr.unreached)
    states, observed, status, *rest = result
    nan = lambda a: jnp.where(bad, jnp.nan, a)
    return (nan(states), nan(observed), jnp.where(bad, Status.NO_STEADY_STATE, status).astype(status.dtype), *rest)


def _run_ode(pr: Problem, params, y0, n_devices):
    n = pr.n_patients
    n_dev = device_split(n) if n_devices is None else min(n_devices, device_split(n))
    # Large batches run in chunks of a fixed width (one compile serves them all): per-lane arrays of a few
    # thousand lanes stay in cache, and per patient-step cost rises several-fold when they do not.
    n_chunks = -(-n // (LANES_PER_DEVICE * n_dev))
    width = -(-n // (n_chunks * n_dev)) * n_dev  # equal chunks, each a multiple of the device count
    B = n_chunks * width  # padded to whole chunks with copies of the last lane

    def pad(a):
        if a.shape[-1] == B:
            return a
        if a.shape[-1] == 1:
            return jnp.broadcast_to(a, a.shape[:-1] + (B,))
        extra = jnp.repeat(a[..., -1:], B - a.shape[-1], axis=-1)
        return jnp.concatenate([a, extra], axis=-1)

    resets = pr.events.reset is not None
    # Any per-patient field (times, amounts, reset values) makes the whole table per lane, so that every field
    # splits over devices alike; a table shared by all lanes stays one column.
    events_batched = any(x is not None and x.shape[-1] > 1 for x in pr.events)
    run_fn = compiled_solve(
        pr.model, pr.method, pr.config, n_dev, events_batched, not pr.shared_times, resets, pr.occasion_rows
    )
    dtype = pr.dtype
    f = lambda a: jnp.asarray(a, dtype)
    p = f(pr.params) if params is None else jnp.asarray(params).astype(dtype)
    y = f(pr.y0) if y0 is None else jnp.asarray(y0).astype(dtype)
    events = Events(*(None if x is None else pad(f(x)) if events_batched else f(x) for x in pr.events))
    out_t = f(pr.out_times) if pr.shared_times else pad(f(np.where(np.isnan(pr.out_times), np.inf, pr.out_times).T))
    full = lambda v: f(np.full(width, v))
    lanes = (pad(p), pad(y), pad(f(pr.t_end)))
    chunks = []
    for start in range(0, B, width):
        cut = lambda a: a if a.shape[-1] == 1 else a[..., start : start + width]
        chunks.append(run_fn(
            *(cut(a) for a in lanes[:2]), full(pr.t0), cut(lanes[2]), Events(*(None if x is None else cut(x) for x in events)),
            out_t if pr.shared_times else cut(out_t), full(pr.dt0), full(pr.dt_min), full(pr.dt_max),
            f(pr.rtol), f(pr.atol),
        ))
    result = chunks[0] if len(chunks) == 1 else tuple(jnp.concatenate(parts, axis=-1) for parts in zip(*chunks))
    return tuple(x[..., :n] for x in result)


def simulate(
    model: Model,
    params: Mapping[str, Any] | xr.Dataset | None = None,
    *,
    times,
    protocol=None,
    initial: Mapping[str, Any] | None = None,
    solver: str | AbstractSolver = "auto",
    rtol: float | Mapping[str, float] = 1e-6,
    atol: float | Mapping[str, float] = 1e-9,
    precision: str | None = None,
    t0: float | None = None,
    dt0: float | None = None,
    dt_min: float = 0.0,
    dt_max: float = math.inf,
    max_steps: int = 100_000,
    saves_per_step: int = 2,
    outputs: list[str] | None = None,
    covariates=None,
    devices: int | None = None,
    throw: bool = False,
    occasions=None,
) -> xr.Dataset:
    """Simulate one patient or a batch of patients.

    Parameters
    ----------
    model : Model
        The model (e.g. from :func:`vhtwin.load_model`).
    params : dict or xarray.Dataset, optional
        Parameter values by name. Scalars describe one patient; 1-D arrays of a common length ``n`` describe a batch
        of ``n`` patients (scalars are then shared). Missing parameters take the model's defaults. A Dataset with a
        ``patient`` dimension (e.g. from a population draw) works too.
    times : array_like
        Output times in the model's time unit: a strictly increasing 1-D grid shared by every patient, or a 2-D
        array ``(n, T)`` of per-patient times, each row increasing, padded at the end with NaN.
    protocol : Regimen, Pacing or sequence, optional
        Events: doses (:class:`vhtwin.Regimen`) and/or stimuli; a sequence gives one protocol per patient.
    initial : dict, optional
        Initial state values by name (scalar or per patient); the rest take the declared initial values.
    solver : str or solver instance
        ``"auto"`` (Tsit5, or Rodas4 for a model marked ``stiff``), ``"tsit5"``, ``"rodas4"``, ``"rk4"``,
        ``"rush_larsen"``. Fixed-step methods need ``dt0``.
    rtol, atol : float or dict
        Relative and absolute tolerances, scalar or per state (a dict by state name; missing states take the
        defaults 1e-6 and 1e-9).
    precision : {"float64", "float32"}, optional
        Floating-point precision of the solve. Default: float64 on CPU and GPU, float32 on TPU.
    t0 : float, optional
        Start time; default the earlier of the first output time and the first event. States start at their
        initial values at ``t0``.
    dt0 : float, optional
        First step (adaptive methods estimate it when omitted) or the fixed step.
    dt_min, dt_max : float
        Step-size bounds.
    max_steps : int
        Steps (accepted plus rejected) after which a trajectory stops with status ``max_steps``.
    saves_per_step : int
        Output points one step may cover before it is shortened (a compile-time setting; see
        :mod:`vhtwin.solvers.loop`).
    outputs : list of str, optional
        The observables and states to return (default: all). The solve then interpolates and stores only the
        states these need -- for ``["Cc"]`` of a three-state model, one row instead of three.
    covariates : dict or xarray.Dataset, optional
        Covariate values (scalar or per patient) for doses given per unit of a covariate (``per="WT"``: mg/kg).
        A population draw passed as ``params`` supplies its covariates itself.
    devices : int, optional
        Split the batch over this many local devices (default: all of them, once each gets at least 64 patients;
        on CPU every core is a device, see ``vhtwin._use_every_cpu_core``). Results do not depend on it.
    throw : bool
        Raise :class:`SolverError` if any trajectory fails, instead of flagging it in ``status``.
    occasions : array_like, optional
        Start time of each occasion, for inter-occasion variability inside one simulation: strictly increasing, one
        per occasion of the per-occasion parameters (a 1-D array shared by the batch, or ``(n_patients,
        n_occasions)`` per patient). Per-occasion parameters come from a population draw with IOV (its
        ``<name>_by_occasion`` variables) or from 2-D arrays ``(n_patients, n_occasions)`` in a params dict.
        Occasion ``k`` is in force on ``[occasions[k], occasions[k+1])``, the last one to the end, and occasion 0
        before ``occasions[0]``. The parameters switch at the boundaries within the solve (the boundaries are events,
        like doses): a dose at a boundary time belongs to the new occasion (its bioavailability, for instance), and
        an output at a boundary time is the value just *before* it (the left limit, as at every event), so its
        observables use the previous occasion's parameters. Without ``occasions`` a draw with IOV gives occasion
        0's values throughout. Not supported with occasions: varying dose-lag, infusion rate or duration parameters,
        steady-state doses, ``solver="exact"`` (``"auto"`` uses the ODE path), and :class:`Simulator`.
        Parameter-dependent initial values use occasion 0's parameters.

    Returns
    -------
    xarray.Dataset
        One variable per observable and per state (``units`` attribute), over ``("patient", "time")`` -- or
        ``("time",)`` for one patient, or ``("patient", "obs")`` with a 2-D ``time`` coordinate for per-patient
        times -- plus ``status``, ``n_steps`` and ``n_rejected`` per patient. An output at an event time is the
        value just before the event. A failed trajectory's outputs are NaN and its ``status`` says why.

    Raises
    ------
    InputError
        On an unknown parameter or state, a wrong shape, a value outside a parameter's bounds, non-increasing
        times, a non-positive tolerance, an unknown dose target, or an unknown solver; on occasions that are not
        strictly increasing, do not match the number of occasions of the parameters, or come without per-occasion
        parameters.
    """
    problem = prepare(
        model, params, times=times, protocol=protocol, initial=initial, solver=solver, rtol=rtol, atol=atol,
        precision=precision, t0=t0, dt0=dt0, dt_min=dt_min, dt_max=dt_max, max_steps=max_steps,
        saves_per_step=saves_per_step, outputs=outputs, covariates=covariates, occasions=occasions,
    )
    if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int) or not 1 <= devices <= len(jax.local_devices())):
        raise InputError(f"devices {devices!r} must be an integer from 1 to {len(jax.local_devices())} (the local devices)")
    with jax.enable_x64(problem.precision == "float64"):
        states, observed, status, n_steps, n_rejected = (np.asarray(x) for x in run(problem, n_devices=devices))
    if throw and np.any(status != Status.SUCCESS):
        bad = np.flatnonzero(status != Status.SUCCESS)
        raise SolverError(
            f"{len(bad)} of {problem.n_patients} trajectories failed; first: patient {bad[0]} with status "
            f"{Status(int(status[bad[0]])).name.lower()}"
        )
    return _to_dataset(problem, states, observed, status, n_steps, n_rejected)


class Simulator:
    """The solve of :func:`simulate` as a JAX function of the parameters: jit-able and differentiable.

    ``Simulator(model, times=..., protocol=..., n_patients=B, ...)`` checks everything once (same arguments as
    :func:`simulate`); calling it with a dict of parameter arrays returns a dict of JAX arrays -- every observable
    and state over ``(patient, time)`` (or ``(time,)`` for one patient), and ``status``. ``jax.jacfwd`` and
    ``jax.grad`` of those outputs with respect to the parameters (and ``initial`` states) work: the solve carries
    forward sensitivities (see :mod:`vhtwin.engine`). Parameters missing from the dict take the values given at
    construction (or the model's defaults). Values are not bounds-checked inside a trace.

    Examples
    --------
    >>> sim = vh.Simulator(m, times=np.arange(25.0), protocol=reg)
    >>> grad = jax.grad(lambda p: sim(p)["Cc"].sum())({"CL": 5.0, "V1": 50.0})
    """

    def __init__(self, model: Model, params=None, *, n_patients: int | None = None, **options):
        if options.get("occasions") is not None:
            raise InputError(
                "Simulator: occasions= is not supported (derivatives with respect to per-occasion parameters are not "
                "wired in); use vh.simulate(..., occasions=...) or one Simulator per occasion"
            )
        self.problem = prepare(model, params, n_patients=n_patients, **options)

    def __call__(self, params: Mapping[str, Any] | None = None, initial: Mapping[str, Any] | None = None) -> dict:
        pr = self.problem
        model, B = pr.model, pr.n_patients
        params, initial = params or {}, initial or {}
        fixed = {name: "a dose lag" for name in model.lags().values()}
        fixed.update({name: f"an infusion {role}" for roles in model.modelled_infusions().values() for role, name in roles.items()})
        if pr.steady_state and params:
            raise InputError(
                "the protocol has steady-state doses, whose steady states are found for the parameters given when "
                "the Simulator is built; give them there (Simulator(model, params={...})) -- a steady state is not "
                "differentiable yet"
            )
        for name in params:
            if name not in model.parameter_names:
                raise InputError(f"unknown parameter {name!r} for model {model.name}; its parameters are {list(model.parameter_names)}")
            if name in fixed:
                raise InputError(
                    f"parameter {name!r} is {fixed[name]}: dose times are fixed when the Simulator is built, so give "
                    "it there (Simulator(model, params={...})); it is not differentiable"
                )
        for name in initial:
            if name not in model.state_names:
                raise InputError(f"unknown state {name!r} in initial; the states of {model.name} are {list(model.state_names)}")
        with jax.enable_x64(pr.precision == "float64"):
            dtype = pr.dtype

            def column(source, names, defaults):
                rows = []
                for i, name in enumerate(names):
                    v = jnp.asarray(source[name]).astype(dtype) if name in source else jnp.asarray(defaults[i], dtype)
                    if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != B):
                        raise InputError(f"{name!r}: expected a scalar or an array of {B} values, got shape {v.shape}")
                    rows.append(jnp.broadcast_to(v, (B,)))
                return jnp.stack(rows)

            p = column(params, model.parameter_names, jnp.asarray(pr.params, dtype)[:, 0] if pr.params.shape[1] == 1 else pr.params)
            y0 = column(initial, model.state_names, pr.y0 if pr.y0.shape[1] > 1 else pr.y0[:, 0])
            states, observed, status, _, _ = run(pr, p, y0, n_devices=1, initial_given=tuple(initial))
            columns = _columns(pr, states, observed)
            out = {name: columns[name].T for name in pr.outputs}
            out["status"] = status
            if not pr.batched:
                out = {k: v[0] for k, v in out.items()}
            return out


# -- result ------------------------------------------------------------------------------------------------------------
def _columns(problem: Problem, states, observed) -> dict:
    """Every returned quantity as a (T, B) array by name: observables, then the saved states."""
    columns = {o.name: observed[i] for i, o in enumerate(problem.model.observed)}
    columns.update({name: states[k] for k, name in enumerate(problem.saved_states)})
    return columns


def _to_dataset(problem: Problem, states, observed, status, n_steps, n_rejected) -> xr.Dataset:
    model, shared, batched = problem.model, problem.shared_times, problem.batched
    described = {x.name: x for x in (*model.observed, *model.states)}

    def var(values_TB, name):  # (T, B) -> Variable with units
        data = values_TB.T
        if shared:
            dims = ("patient", "time")
            if not batched:
                data, dims = data[0], ("time",)
        else:
            dims = ("patient", "obs")
        attrs = {"units": described[name].unit}
        if described[name].description:
            attrs["long_name"] = described[name].description
        return xr.Variable(dims, data, attrs=attrs)

    columns = _columns(problem, states, observed)
    data = {name: var(columns[name], name) for name in problem.outputs}
    per = lambda x, a: xr.Variable(("patient",), x, attrs=a) if (batched or not shared) else xr.Variable((), x[0], attrs=a)
    data["status"] = per(status.astype(np.int8), Status.flag_attrs())
    data["n_steps"] = per(n_steps, {"long_name": "accepted steps"})
    data["n_rejected"] = per(n_rejected, {"long_name": "rejected steps"})
    time_attrs = {"units": model.time_unit, "long_name": "time"}
    out_times = problem.out_times
    if shared:
        coords = {"time": xr.Variable(("time",), out_times, attrs=time_attrs)}
    else:
        coords = {"time": xr.Variable(("patient", "obs"), out_times, attrs=time_attrs)}
    if batched or not shared:
        coords["patient"] = np.arange(status.shape[0])
    if problem.occasion_starts is not None:
        starts = problem.occasion_starts
        dims = ("occasion",) if starts.ndim == 1 else ("patient", "occasion")
        coords["occasion_start"] = xr.Variable(dims, starts, attrs={"units": model.time_unit, "long_name": "occasion start time"})
        coords["occasion"] = np.arange(starts.shape[-1])
    return xr.Dataset(data, coords=coords, attrs=problem.attrs())
