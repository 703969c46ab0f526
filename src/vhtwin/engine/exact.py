"""The exact backend for linear time-invariant models: merge output and event times, propagate by matrix exponentials.

Used when the model declares ``linear = True`` and the request suits it (``solver="exact"``, or ``"auto"`` when the
design has few distinct step lengths). Between consecutive points of the merged grid (the start, the output times
and the event times of a patient) the solution is exact, ``y(t + d) = E(d) y(t) + F(d) c`` (:mod:`vhtwin.solvers.exact`),
so each patient needs one exponential per *distinct* step length ``d`` and a few multiply-adds per grid point.

The grid is data, prepared on the host (:func:`plan`): per patient, or once for a batch that shares its output and
event times. The compiled program takes it as arrays padded to size buckets -- the distinct step lengths
``(D, Bs)``, and per grid point the step it takes, the event it applies and the output slot it fills ``(S, Bs)`` --
and runs a loop over the patient's real number of grid points, so a new design within the same buckets compiles
nothing and padding costs nothing. Outputs at an event time are the values just before the event, as on the ODE
path. Results carry the same status, units and attributes; ``n_steps`` counts each patient's grid points.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ModelError
from ..equations import equations
from ..model import Model
from ..solvers import Status
from ..solvers.exact import propagators
from ..solvers.loop import Events
from .backend import Backend, Layout, chunking, pad_lanes
from . import buckets
from .ode import initial_state, pad_events, place_design
from .sensitivities import with_sensitivities

#: Most distinct step lengths per patient with which ``solver="auto"`` takes this path (each costs one exponential
#: per patient); past it the ODE path is cheaper.
MAX_DISTINCT_STEPS = 64


class ExactKey(NamedTuple):
    """What a compiled exact solve is specialised to (besides array shapes, which are buckets)."""

    model: Model
    save_rows: tuple[int, ...] | None
    with_input: bool  # some input (an infusion, a constant production) is non-zero: the input integral is needed
    resets: bool
    plan_per_lane: bool  # each patient has its own grid (else the batch shares one)
    events_per_lane: bool  # the event table has a lane axis (per-patient amounts or times)
    times_per_lane: bool
    initial_rows: tuple[int, ...]
    sensitivities: tuple[int, ...] | None = None  # parameter rows the derivatives are for (None: every one, and y0)


class Plan(NamedTuple):
    """The merged grid, batch-last: ``Bs`` is 1 for a shared grid, else the number of lanes."""

    steps: np.ndarray  # (D, Bs) distinct step lengths, steps[0] == 0, zero-padded
    n_distinct: np.ndarray  # () most distinct step lengths of any lane
    step_index: np.ndarray  # (S, Bs) the step that leads to each grid point
    event_index: np.ndarray  # (S, Bs) the event applied at each grid point (E: none)
    out_slot: np.ndarray  # (S, Bs) the output each grid point fills (T: none)
    n_points: np.ndarray  # (Bs,) grid points per lane


def plan(out_times: np.ndarray, event_times: np.ndarray, t0: np.ndarray, n_events: int, n_outputs: int) -> Plan:
    """The merged grid of each row: ``out_times`` (Bs, T) and ``event_times`` (Bs, E) padded with NaN or +inf,
    ``t0`` (Bs,). ``n_events`` and ``n_outputs`` are the padded table sizes (the "none" indices). Vectorised over
    rows: sort, merge equal times into one grid point, and rank the step lengths."""
    Bs = out_times.shape[0]
    values = np.concatenate([t0[:, None], out_times, event_times], axis=1)
    values = np.where(np.isnan(values), np.inf, values)
    T, E = out_times.shape[1], event_times.shape[1]
    kind = np.concatenate([[0], np.ones(T, np.int8), np.full(E, 2, np.int8)])
    index = np.concatenate([[0], np.arange(T), np.arange(E)])
    order = np.argsort(values, axis=1, kind="stable")
    v = np.take_along_axis(values, order, axis=1)
    k, i = kind[order], index[order]
    new = np.concatenate([np.ones((Bs, 1), bool), v[:, 1:] != v[:, :-1]], axis=1)
    point = np.cumsum(new, axis=1) - 1  # grid point of each sorted entry
    finite = np.isfinite(v)
    n_points = np.max(np.where(finite, point + 1, 0), axis=1)
    S = buckets.grid_points(int(n_points.max()))
    grid = np.full((Bs, S), np.inf)
    rows = np.broadcast_to(np.arange(Bs)[:, None], v.shape)
    grid[rows[finite], point[finite]] = v[finite]
    with np.errstate(invalid="ignore"):  # inf - inf past a lane's last point
        steps = np.diff(grid, axis=1, prepend=grid[:, :1])
    steps = np.where(np.isfinite(steps), steps, 0.0)  # past a lane's last point: zero steps
    # distinct step lengths per lane, and each point's index among them (0 is always there: the first point's)
    order = np.argsort(steps, axis=1, kind="stable")
    s_sorted = np.take_along_axis(steps, order, axis=1)
    first = np.concatenate([np.ones((Bs, 1), bool), s_sorted[:, 1:] != s_sorted[:, :-1]], axis=1)
    rank_sorted = np.cumsum(first, axis=1) - 1
    step_index = np.empty_like(rank_sorted)
    np.put_along_axis(step_index, order, rank_sorted, axis=1)
    n_distinct = int(rank_sorted[:, -1].max()) + 1
    D = buckets.step_lengths(n_distinct)
    table = np.zeros((Bs, D))
    np.put_along_axis(table, rank_sorted, s_sorted, axis=1)
    event_index = np.full((Bs, S), n_events, np.int32)
    is_event = finite & (k == 2)
    event_index[rows[is_event], point[is_event]] = i[is_event]
    out_slot = np.full((Bs, S), n_outputs, np.int32)
    is_output = finite & (k == 1)
    out_slot[rows[is_output], point[is_output]] = i[is_output]
    return Plan(table.T.copy(), np.asarray(n_distinct, np.int32), step_index.T.astype(np.int32), event_index.T.copy(),
                out_slot.T.copy(), n_points.astype(np.int32))


_CHECKED: dict[type, bool] = {}  # model class -> whether rhs(t, 0, p, 0) is non-zero at the defaults


def has_constant_term(model: Model) -> bool:
    """Whether the model's rhs has a term that does not vanish with the states and inputs (a production rate)."""
    check_linear(model)
    return _CHECKED[type(model)]


def check_linear(model: Model) -> None:
    """Refuse a model whose ``linear = True`` claim is false: rhs must be affine in y and independent of t.

    Checked once per model class at random states around the defaults (inputs at their defaults), in numpy-sized
    evaluations on the host.
    """
    cls = type(model)
    if cls in _CHECKED:
        return
    eq = equations(model)
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        n = len(model.states)
        p = np.array([q.default for q in model.parameters], float)
        u = np.array([0.0] * len(model.dosable_states) + [i.default for i in model.inputs], float)

        def f(t, y, q=p, inputs=u):
            out = eq.row_rhs(np.float64(t), tuple(np.asarray(y, float)), tuple(q), tuple(inputs))
            return np.array([float(x) for x in out])

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
        constant = bool(np.any(f0 != 0))
        for _ in range(3):
            q = p * np.exp(rng.normal(size=p.shape)) + (p == 0) * rng.normal(size=p.shape)
            constant = constant or bool(np.any(f(0.0, np.zeros(n), q, u0) != 0))
    _CHECKED[cls] = constant


def _pick(table, index):
    """Row ``index[b]`` of ``table`` (R, ..., Bt) for every lane: (..., B); a shared index (1,) picks one row."""
    if index.shape[-1] == 1:
        return jax.lax.dynamic_index_in_dim(table, index[0], axis=0, keepdims=False)
    if table.shape[-1] == 1:
        return jnp.moveaxis(table[index, ..., 0], 0, -1)
    idx = index.reshape((1,) * (table.ndim - 1) + (-1,))
    return jnp.take_along_axis(table, idx, axis=0)[0]


def _solve_fn(key: ExactKey):
    model = key.model
    eq = equations(model)
    row_rhs = lambda y, p, u: jnp.stack(eq.row_rhs(jnp.zeros((), y.dtype), tuple(y), tuple(p), tuple(u)))
    lane = lambda f: jax.vmap(f, in_axes=(1, 1, 1), out_axes=-1)
    jacobian = lane(lambda y, p, u: jax.jacfwd(row_rhs)(y, p, u))  # (n, n, B)
    affine = lane(row_rhs)  # c = rhs(0, p, u): (n, B)
    observe = jax.vmap(jax.vmap(eq.flat_observables, in_axes=(0, 1, None), out_axes=1), in_axes=(1, 2, 1), out_axes=2)
    dependencies = eq.observable_dependencies()
    observed_rows = sorted({model.state_names.index(s) for deps in dependencies.values() for s in deps})

    def solve(p, y0, lanes, shared):
        grid = lanes["plan"] if key.plan_per_lane else shared["plan"]
        events = lanes["events"] if key.events_per_lane else shared["events"]
        out_times = lanes["out_times"] if key.times_per_lane else shared["out_times"]
        n, B = y0.shape[0], p.shape[1]
        y0 = initial_state(model, p, jnp.broadcast_to(y0, (n, B)), key.initial_rows)
        zeros = jnp.zeros((n, B), y0.dtype)
        bt = lambda a: jnp.broadcast_to(a, a.shape[:-1] + (B,))
        levels = jnp.concatenate([events.initial_inputs[None], events.inputs], axis=0)  # (E + 1, U, Bt)
        A = jacobian(zeros, p, bt(levels[0]))
        c = jax.vmap(lambda u: affine(zeros, p, bt(u)))(levels)  # (E + 1, n, B): level l = after l events
        # a shared grid computes only its real step lengths (loop); per-patient grids all of theirs (vmap)
        E_d, F_d = propagators(A, grid.steps, key.with_input, None if key.plan_per_lane else grid.n_distinct)
        jumps = events.jumps
        if eq.has_bioavailability:
            jumps = jumps * eq.dose_fractions(p)[None]
        none = jumps.shape[0]
        T = out_times.shape[0]
        rows = range(n) if key.save_rows is None else key.save_rows
        emit = sorted(set(rows) | set(observed_rows))  # only the states the outputs need leave the loop
        lanes_idx = jnp.arange(B)
        per_lane_slot = grid.out_slot.shape[-1] > 1

        def point(g, carry):
            y, level, buffer = carry  # state rows, the inputs in force since the last event, the outputs so far
            step = grid.step_index[g]
            E, F, e = _pick(E_d, step), _pick(F_d, step), bt(grid.event_index[g])
            cl = _pick(c, level) if key.with_input else None
            y = tuple(
                sum(E[i, k] * y[k] for k in range(n)) + (sum(F[i, k] * cl[k] for k in range(n)) if key.with_input else 0.0)
                for i in range(n)
            )
            slot = grid.out_slot[g]
            values = jnp.stack([y[i] for i in emit])  # pre-event values
            if per_lane_slot:
                buffer = buffer.at[:, jnp.where(slot < T, slot * B + lanes_idx, T * B)].set(values, mode="drop")
            else:
                buffer = buffer.at[:, slot[0] * B + lanes_idx].set(values, mode="drop")
            has = e < none
            row = jnp.minimum(e, none - 1)
            jump = _pick(jumps, row)
            base = y
            if key.resets:  # the state is replaced first (NaN: the initial value), then the dose is added
                flag = has & (_pick(events.reset, row) > 0)
                target = _pick(events.reset_to, row)
                base = tuple(jnp.where(flag, jnp.where(jnp.isnan(target[i]), y0[i], target[i]), y[i]) for i in range(n))
            after = tuple(jnp.where(has, base[i] + jump[i], y[i]) for i in range(n))
            return after, level + has.astype(level.dtype), buffer

        buffer = jnp.full((len(emit), T * B), jnp.nan, y0.dtype)
        carry0 = (tuple(y0[i] for i in range(n)), jnp.zeros((B,), jnp.int32), buffer)
        _, _, buffer = jax.lax.fori_loop(0, jnp.max(grid.n_points), point, carry0)
        t_grid = out_times if out_times.ndim == 2 else jnp.broadcast_to(out_times[:, None], (T, B))
        real = jnp.isfinite(t_grid)
        # Padded output times are never written: zeros through the observables, NaN at the end (zero derivatives).
        buffer = jnp.where(real[None], buffer.reshape(len(emit), T, B), 0.0)
        by_row = dict(zip(emit, buffer))
        zero = jnp.zeros((T, B), y0.dtype)
        states = jnp.stack([by_row.get(i, zero) for i in range(n)])  # (n, T, B); unsaved rows unused by observables
        observed = observe(jnp.where(real, t_grid, 0.0), states, p)
        finite = jnp.all(jnp.isfinite(states), axis=(0, 1)) & jnp.all(jnp.isfinite(observed), axis=(0, 1))
        status = jnp.where(finite, Status.SUCCESS, Status.NONFINITE).astype(jnp.int8)
        keep = finite[None, None, :] & real[None]
        saved = jnp.where(keep, jnp.stack([states[i] for i in rows]), jnp.nan)
        observed = jnp.where(keep, observed, jnp.nan)
        n_steps = jnp.broadcast_to(grid.n_points, (B,)).astype(jnp.int32)
        return saved, observed, status, n_steps, jnp.zeros((B,), jnp.int32)

    return solve


@functools.lru_cache(maxsize=64)
def program(key: ExactKey):
    """The jitted exact solve for ``key`` (one device: it is cheap enough that a split would cost more)."""
    return jax.jit(with_sensitivities(_solve_fn(key), key.sensitivities))


def _grid(problem) -> tuple[Plan, bool]:
    """The problem's merged grid (cached on it) and whether the batch shares it."""
    if "exact_plan" in problem.cache:
        return problem.cache["exact_plan"]
    pr = problem
    events = pad_events(pr.events, buckets.event_rows(pr.events.times.shape[0]))
    # events after a patient's last output change nothing it returns: they are left out of its grid
    ev_times = np.where(events.times > (pr.t_end if events.times.shape[1] > 1 else pr.t_end.max()), np.inf, events.times)
    shared = pr.shared_times and (ev_times.shape[1] == 1 or bool(np.all(ev_times == ev_times[:, :1]))) \
        and bool(np.all(pr.t0 == pr.t0[0]))
    T = buckets.output_times(pr.out_times.shape[-1])  # the padded output axis (ode.padded_times)
    if shared:
        grid = plan(pr.out_times[None, :], ev_times[:, :1].T, pr.t0[:1], ev_times.shape[0], T)
    else:
        out = pr.out_times if not pr.shared_times else np.broadcast_to(pr.out_times, (pr.n_patients, pr.out_times.shape[0]))
        ev = np.broadcast_to(ev_times, (ev_times.shape[0], pr.n_patients)).T
        grid = plan(out, ev, pr.t0, ev_times.shape[0], T)
    problem.cache["exact_plan"] = (grid, shared)
    return grid, shared


def reason_not_applicable(problem, explicit: bool) -> str | None:
    """Why the exact path cannot (or, for ``solver="auto"``, should not) solve ``problem``; None if it applies."""
    model = problem.model
    if not getattr(model, "linear", False):
        return f"model {model.name} does not declare linear = True"
    if model.events:
        return f"model {model.name} has state-triggered events"
    grid, _ = _grid(problem)
    if not explicit and int(grid.n_distinct) > MAX_DISTINCT_STEPS:
        return (f"{int(grid.n_distinct)} distinct step lengths between output and event times (at most "
                f"{MAX_DISTINCT_STEPS})")
    return None


class ExactBackend(Backend):
    """Matrix exponentials over the merged grid of a linear model (``solver="exact"``)."""

    name = "exact"

    def layout(self, problem, n_devices: int = 1) -> Layout:
        pr = problem
        grid, shared_grid = _grid(pr)
        width, n_chunks = chunking(pr.n_patients, 1, chunked=False)
        total = width
        lanes, shared = {}, {}
        events, events_per_lane = place_design(pr, total, lanes, shared)
        levels = np.concatenate([events.initial_inputs[None], events.inputs], axis=0)
        # The input integral F is needed only if some input is ever non-zero or the model has a constant term.
        with_input = bool(np.any(levels != 0)) or has_constant_term(pr.model)
        if shared_grid:
            shared["plan"] = grid
        else:
            lanes["plan"] = Plan(pad_lanes(grid.steps, total), grid.n_distinct, pad_lanes(grid.step_index, total),
                                 pad_lanes(grid.event_index, total), pad_lanes(grid.out_slot, total),
                                 pad_lanes(grid.n_points, total))
        key = ExactKey(pr.model, pr.config.save_rows, with_input, events.reset is not None, not shared_grid,
                       events_per_lane, not pr.shared_times, pr.initial_rows)
        return Layout(key, width, n_chunks, lanes, shared)

    def program(self, key: ExactKey):
        return program(key)
