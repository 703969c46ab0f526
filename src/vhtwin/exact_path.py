"""The exact path for linear time-invariant models: merge output and event times, propagate with matrix exponentials.

Used by ``simulate`` when the model declares ``linear = True`` and the request suits it (``solver="exact"``, or
``"auto"`` when it applies): the output grid and the event *times* are shared by the batch (per-patient amounts are
fine), and the merged grid has few distinct step lengths (each needs one exponential per patient). Outputs at an
event time are the values just before the event, as on the ODE path. Results carry the same status, units and
attributes; ``n_steps`` counts the exact propagations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .engine import _with_sensitivities
from .errors import InputError, ModelError
from .model import Model
from .solvers import Status
from .solvers.exact import propagators

#: Most distinct step lengths the path accepts (each costs one exponential per patient).
MAX_DISTINCT_STEPS = 32


@dataclass(frozen=True)
class Plan:
    """The merged grid of start, output and event times, prepared on the host (numpy)."""

    steps: np.ndarray  # (D,) distinct step lengths, steps[0] == 0
    step_index: np.ndarray  # (S,) which step leads to grid point g
    event_index: np.ndarray  # (S,) event applied at g (the table length: none)
    output_points: np.ndarray  # (T,) grid point of each output time


def plan(model: Model, out_times: np.ndarray, event_times: np.ndarray, t0: float) -> Plan | str:
    """A grid plan, or the reason the exact path does not apply."""
    if not getattr(model, "linear", False):
        return f"model {model.name} does not declare linear = True"
    if out_times.ndim != 1:
        return "per-patient output times"
    if event_times.shape[1] != 1:
        return "per-patient dose times"
    ev = event_times[:, 0]
    ev = ev[np.isfinite(ev)]  # merged and sorted; a shared table holds only real events (or one +inf row)
    grid = np.unique(np.concatenate([[t0], out_times, ev]))
    steps, step_index = np.unique(np.diff(grid, prepend=grid[0]), return_inverse=True)
    if steps[0] != 0.0:  # keep the zero step (into the first point) at index 0
        steps, step_index = np.concatenate([[0.0], steps]), step_index + 1
    if len(steps) > MAX_DISTINCT_STEPS:
        return f"{len(steps)} distinct step lengths between output and event times (at most {MAX_DISTINCT_STEPS})"
    none = event_times.shape[0]
    event_index = np.full(len(grid), none, dtype=np.int32)
    event_index[np.searchsorted(grid, ev)] = np.arange(len(ev), dtype=np.int32)
    output_points = np.searchsorted(grid, out_times).astype(np.int32)
    return Plan(steps, step_index.astype(np.int32), event_index, output_points)


_CHECKED: dict[type, bool] = {}  # model class -> whether rhs(t, 0, p, 0) is non-zero at the defaults


def _has_constant_term(model: Model) -> bool:
    check_linear(model)
    return _CHECKED[type(model)]


def check_linear(model: Model) -> None:
    """Refuse a model whose ``linear = True`` claim is false: rhs must be affine in y and independent of t.

    Checked once per model class at random states around the defaults (inputs at their defaults).
    """
    cls = type(model)
    if cls in _CHECKED:
        return
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        n = len(model.states)
        p = np.array([q.default for q in model.parameters], float)
        u = np.array([0.0] * len(model.dosable_states) + [i.default for i in model.inputs], float)
        f = lambda t, y: np.asarray(jnp.stack(model.row_rhs(jnp.float64(t), tuple(jnp.asarray(y)), tuple(p), tuple(u))))
        y1, y2 = rng.normal(size=n) * 10, rng.normal(size=n) * 10
        f0, fa, fb = f(0.0, np.zeros(n)), f(0.0, y1), f(0.0, y2)
        mix = f(0.0, 0.3 * y1 + 0.7 * y2)
        later = f(1.7, y1)
        scale = max(np.abs([f0, fa, fb]).max(), 1e-300)
        if np.abs(mix - (0.3 * fa + 0.7 * fb)).max() > 1e-9 * scale or np.abs(later - fa).max() > 1e-12 * scale:
            raise ModelError(
                f"model {model.name} declares linear = True, but its rhs is not affine in the states and "
                "independent of time (checked at random states); remove the declaration"
            )
        # A constant term (production at zero state) needs the input integral even without doses by infusion; look
        # for one at the defaults and at perturbed parameters (a production rate may default to 0).
        u0 = np.zeros_like(u)
        constant = False
        for _ in range(3):
            q = p * np.exp(rng.normal(size=p.shape)) + (p == 0) * rng.normal(size=p.shape)
            at_zero = np.asarray(jnp.stack(model.row_rhs(jnp.float64(0.0), tuple(jnp.zeros(n)), tuple(q), tuple(u0))))
            constant = constant or bool(np.any(at_zero != 0))
        constant = constant or bool(np.any(f0 != 0))
    _CHECKED[cls] = constant


@functools.lru_cache(maxsize=32)
def _compiled(model: Model, save_rows: tuple[int, ...] | None, with_input: bool, resets: bool):
    row_rhs = lambda y, p, u: jnp.stack(model.row_rhs(jnp.zeros((), y.dtype), tuple(y), tuple(p), tuple(u)))
    lane = lambda f: jax.vmap(f, in_axes=(1, 1, 1), out_axes=-1)
    jacobian = lane(lambda y, p, u: jax.jacfwd(row_rhs)(y, p, u))  # (n, n, B)
    affine = lane(row_rhs)  # c = rhs(0, p, u): (n, B)
    observe = jax.vmap(jax.vmap(model.flat_observables, in_axes=(0, 1, None), out_axes=1), in_axes=(1, 2, 1), out_axes=2)
    dependencies = model.observable_dependencies()
    observed_rows = sorted({model.state_names.index(s) for deps in dependencies.values() for s in deps})

    def solve(p, y0, jumps, levels, steps, step_index, event_index, output_points, out_times, reset, reset_to):
        n, B = y0.shape
        zeros = jnp.zeros((n, B), y0.dtype)
        bt = lambda a: jnp.broadcast_to(a, a.shape[:-1] + (B,))
        A = jacobian(zeros, p, bt(levels[0]))
        c = jax.vmap(lambda u: affine(zeros, p, bt(u)))(levels)  # (E + 1, n, B): level l = after l events
        E_d, F_d = propagators(A, steps, with_input)
        if model.has_bioavailability:
            jumps = jumps * model.dose_fractions(p)[None]
        none = jumps.shape[0]
        rows = range(n) if save_rows is None else save_rows
        emit = sorted(set(rows) | set(observed_rows))  # only the states the outputs need leave the loop

        def point(carry, g):
            y, level = carry  # state rows (tuple of (B,)) and the inputs in force since the last event
            E, F, e = E_d[step_index[g]], F_d[step_index[g]], event_index[g]
            cl = c[level]
            y = tuple(
                sum(E[i, k] * y[k] for k in range(n)) + (sum(F[i, k] * cl[k] for k in range(n)) if with_input else 0.0)
                for i in range(n)
            )
            has = e < none
            jump = bt(jumps[jnp.minimum(e, none - 1)])
            base = y
            if resets:  # the state is replaced first (NaN: the initial value), then the dose is added
                flag = has & (bt(reset[jnp.minimum(e, none - 1)]) > 0)
                target = bt(reset_to[jnp.minimum(e, none - 1)])
                base = tuple(jnp.where(flag, jnp.where(jnp.isnan(target[i]), y0[i], target[i]), y[i]) for i in range(n))
            after = tuple(jnp.where(has, base[i] + jump[i], y[i]) for i in range(n))
            return (after, level + has.astype(level.dtype)), tuple(y[i] for i in emit)  # emit pre-event values

        carry0 = (tuple(y0[i] for i in range(n)), jnp.int32(0))
        _, ys = jax.lax.scan(point, carry0, jnp.arange(step_index.shape[0]))  # each (S, B)
        T = out_times.shape[0]
        zero = jnp.zeros((T, B), y0.dtype)
        by_row = dict(zip(emit, (y[output_points] for y in ys)))
        states = jnp.stack([by_row.get(i, zero) for i in range(n)])  # (n, T, B); unsaved rows unused by observables
        observed = observe(jnp.broadcast_to(out_times[:, None], (T, B)), states, p)
        finite = jnp.all(jnp.isfinite(states), axis=(0, 1)) & jnp.all(jnp.isfinite(observed), axis=(0, 1))
        status = jnp.where(finite, Status.SUCCESS, Status.NONFINITE).astype(jnp.int8)
        saved = jnp.where(finite[None, None, :], jnp.stack([states[i] for i in rows]), jnp.nan)
        observed = jnp.where(finite[None, None, :], observed, jnp.nan)
        n_steps = jnp.full((B,), step_index.shape[0], jnp.int32)
        return saved, observed, status, n_steps, jnp.zeros((B,), jnp.int32)

    return jax.jit(_with_sensitivities(solve))


def run(problem, the_plan: Plan, params=None, y0=None):
    """Outputs of the exact path in the engine's layout (see :func:`vhtwin.simulate.run`)."""
    pr = problem
    if pr.events.times.shape[1] != 1 or not pr.shared_times:
        raise InputError("the exact linear path needs shared output times and shared dose times")
    dtype = pr.dtype
    f = lambda a: jnp.asarray(a, dtype)
    B = pr.n_patients
    p = f(pr.params) if params is None else jnp.asarray(params).astype(dtype)
    y = f(pr.y0) if y0 is None else jnp.asarray(y0).astype(dtype)
    p, y = (jnp.broadcast_to(a, a.shape[:-1] + (B,)) for a in (p, y))
    ev = pr.events
    levels = np.concatenate([ev.initial_inputs[None], ev.inputs], axis=0)  # (E + 1, U, Bt)
    i32 = lambda a: jnp.asarray(a, jnp.int32)
    # The input integral F is needed only if some input is ever non-zero or the model has a constant term.
    with_input = bool(np.any(levels != 0)) or _has_constant_term(pr.model)
    resets = ev.reset is not None
    return _compiled(pr.model, pr.config.save_rows, with_input, resets)(
        p, y, f(ev.jumps), f(levels), f(the_plan.steps), i32(the_plan.step_index), i32(the_plan.event_index),
        i32(the_plan.output_points), f(pr.out_times), f(ev.reset) if resets else None, f(ev.reset_to) if resets else None,
    )
