"""The ODE backend: the model's equations, a method and the batch-first integration loop, compiled once per key.

The compiled program takes everything about the design as arrays (batch-last)::

    solve(p (P, W), y0 (n, W), lanes, shared)
        lanes:  t0, t_end, dt0, dt_min, dt_max (W,), and the event table / output times when they are per lane
        shared: rtol, atol (n,), and the event table / output times when the batch shares them
        -> states (r, T, W), observables (m, T, W), status (W,), n_steps (W,), n_rejected (W,)

``W`` is a lane bucket, the event rows and output times are padded to size buckets (:mod:`.buckets`), so a new
patient, dose schedule or sampling design of the same buckets runs the program already compiled. Forward-mode
sensitivities are attached (:mod:`.sensitivities`), and the batch is split over the local devices, each device
integrating its own lanes in its own loop.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..equations import equations
from ..model import Model, Names
from ..solvers import AbstractSolver, LoopConfig, StateEvents, VectorField, integrate
from ..solvers.loop import Events, Outputs
from .backend import Backend, Layout, chunking, loop_lanes, pad_lanes
from . import buckets
from .sensitivities import with_sensitivities


class OdeKey(NamedTuple):
    """What a compiled ODE solve is specialised to (besides array shapes, which are buckets)."""

    model: Model
    method: AbstractSolver
    config: LoopConfig
    n_devices: int
    events_per_lane: bool
    times_per_lane: bool
    resets: bool
    occasion_rows: tuple[int, ...]
    initial_rows: tuple[int, ...]  # states whose initial value comes from Model.initial(p) (the caller set the rest)
    sensitivities: tuple[int, ...] | None = None  # parameter rows the derivatives are for (None: every one, and y0)
    lanes: int | None = None  # lanes of the loop on each device (None: one per patient; fewer: lane refill)


def _vector_field_factory(model: Model, occasion_rows: tuple[int, ...]):
    row_rhs = jax.vmap(equations(model).row_rhs, in_axes=(0, 0, 0, 0))
    U = len(model.dosable_states) + len(model.inputs)  # the model's own input channels

    def vector_field(p, u):
        # p (P, B) and u (U, B) as arrays or as tuples of rows (inside the lane kernel)
        p_rows = [p[i] for i in range(len(p))]
        for j, r in enumerate(occasion_rows):
            p_rows[r] = u[U + j]
        u_rows = tuple(u[i] for i in range(U if occasion_rows else len(u)))
        p_rows = tuple(p_rows)
        return VectorField(lambda t, y_rows: row_rhs(t, tuple(y_rows), p_rows, u_rows))

    return vector_field, U


def state_events(model: Model) -> StateEvents | None:
    """The model's state-triggered events as the integration loop runs them (None: it declares none)."""
    if not model.events:
        return None
    eq = equations(model)
    lanes = lambda f: jax.vmap(f, in_axes=(0, 1, 1), out_axes=-1)  # one trajectory per lane, lane axis last
    events = model.events
    # which rows each event sets: the keys of its assignment dict (structural: traced on shapes, nothing computed)
    y = jax.ShapeDtypeStruct((len(model.states),), jnp.float64)
    p = jax.ShapeDtypeStruct((len(model.parameters),), jnp.float64)
    sets = jax.eval_shape(lambda y, p: {k: dict(v) for k, v in model.all_event_assignments(
        0.0, Names(eq.state_index, y, "state"), Names(eq.parameter_index, p, "parameter")).items()}, y, p)
    assigned = tuple(tuple(eq.state_index[k] for k in sets[e.name] if k in eq.state_index) for e in events)
    return StateEvents(
        triggers=lanes(eq.row_triggers), assign=lanes(eq.row_event_states), delays=lanes(eq.row_event_delays),
        priorities=lanes(eq.row_event_priorities), assigned=assigned, delayed=tuple(e.delayed for e in events),
        persistent=tuple(e.persistent for e in events), initial_value=tuple(e.initial_value for e in events),
        values_at_trigger=tuple(e.values_at_trigger for e in events),
    )


def initial_state(model: Model, p, y0, rows: tuple[int, ...]):
    """``y0`` with the rows ``rows`` replaced by ``Model.initial(p)`` (parameter-dependent initial values)."""
    if not rows:
        return y0
    values = equations(model).initial_rows(p)
    return jnp.stack([values[i] if i in rows else y0[i] for i in range(y0.shape[0])])


def _solve_fn(key: OdeKey, integrator=integrate):
    """The solve on one device's lanes, without jit or sensitivities.

    ``integrator(field, p, method, config, t0, y0, t_end, events, outputs, dt0, dt_min, dt_max, rtol, atol, lanes=)``
    integrates the patients (:func:`vhtwin.solvers.integrate` over ``key.lanes`` lanes, or the per-lane GPU kernel
    of :mod:`.kernel`).

    ``occasion_rows`` (inter-occasion variability, :mod:`vhtwin.protocols.occasions`): parameter rows whose values
    come from the trailing input channels of the event table (one channel per row, after the model's own inputs)
    instead of ``p``, so they switch at events like inputs do: in the vector field, in each event's dose fractions,
    and in the observables (the values in force just before each output time). Empty: the plain solve, unchanged.
    """
    model, method, config, occasion_rows = key.model, key.method, key.config, key.occasion_rows
    vector_field, U = _vector_field_factory(model, occasion_rows)
    eq = equations(model)
    triggers = state_events(model)
    observe = jax.vmap(jax.vmap(eq.flat_observables, in_axes=(0, 1, None), out_axes=1), in_axes=(1, 2, 1), out_axes=2)
    observe_per_time = jax.vmap(
        jax.vmap(eq.flat_observables, in_axes=(0, 1, 1), out_axes=1), in_axes=(1, 2, 2), out_axes=2
    )

    def with_tail(p, tail):
        """``p`` (P, ..., B) with the occasion rows replaced by ``tail`` (V, ..., B)."""
        rows = [p[i] for i in range(p.shape[0])]
        for j, r in enumerate(occasion_rows):
            rows[r] = jnp.broadcast_to(tail[j], rows[r].shape)
        return jnp.stack(rows)

    def solve(p, y0, lanes, shared):
        events = lanes["events"] if key.events_per_lane else shared["events"]
        out_times = lanes["out_times"] if key.times_per_lane else shared["out_times"]
        y0 = initial_state(model, p, jnp.broadcast_to(y0, (y0.shape[0], p.shape[1])), key.initial_rows)
        if eq.has_bioavailability and occasion_rows:  # each event's dose fractions from the occasion in force
            E, B = events.times.shape[0], p.shape[1]
            tail = jnp.moveaxis(events.inputs[:, U:, :], 1, 0)  # (V, E, Bt)
            p_ev = with_tail(jnp.broadcast_to(p[:, None, :], (p.shape[0], E, B)), tail)
            events = events._replace(jumps=events.jumps * jnp.moveaxis(eq.dose_fractions(p_ev), 1, 0))
        elif eq.has_bioavailability:  # doses scaled per patient, inside the solve (so differentiable)
            events = events._replace(jumps=events.jumps * eq.dose_fractions(p)[None])
        res = integrator(
            vector_field, p, method, config, lanes["t0"], y0, lanes["t_end"], events, Outputs(out_times),
            lanes["dt0"], lanes["dt_min"], lanes["dt_max"], shared["rtol"], shared["atol"], lanes=key.lanes,
            **({"triggers": triggers} if triggers is not None else {}),
        )
        (n, B), T = y0.shape, out_times.shape[0]
        t_grid = out_times if out_times.ndim == 2 else jnp.broadcast_to(out_times[:, None], (T, B))
        # Observables read only the saved rows (config.save_rows holds every state they depend on); the other rows
        # are filled with zeros that no observable reads. Padded output times (+inf) give values that are dropped.
        rows = range(n) if config.save_rows is None else config.save_rows
        where = {r: k for k, r in enumerate(rows)}
        # Padded output times (+inf) are never written: they hold zeros through the observables and NaN at the end,
        # so that their derivatives are zero (a NaN there would poison a gradient that never reads them).
        real = jnp.isfinite(t_grid)
        saved = jnp.where(real | (res.status != 0), res.saved, 0.0)
        zeros = jnp.zeros((T, B), y0.dtype)
        full = jnp.stack([saved[where[i]] if i in where else zeros for i in range(n)])
        t_finite = jnp.where(real, t_grid, 0.0)
        if occasion_rows:
            observed = observe_in_occasions(t_grid, t_finite, full, p, events)
        else:
            observed = observe(t_finite, full, p)  # (m, T, B)
        padding = lambda a: jnp.where(real, a, jnp.nan)
        return padding(saved), padding(observed), res.status, res.n_steps, res.n_rejected

    def observe_in_occasions(t_grid, t_finite, full, p, events):
        """Observables with the parameters in force just before each output time (the left limit at an event)."""
        T, B = t_grid.shape
        V = len(occasion_rows)
        # the last event strictly before each output (0: none, the initial inputs)
        count = jnp.sum(events.times[:, None, :] < t_grid[None], axis=0)  # (T, B)
        table = jnp.concatenate([events.initial_inputs[None, U:, :], events.inputs[:, U:, :]], axis=0)  # (E+1, V, Bt)
        table = jnp.broadcast_to(table, table.shape[:2] + (B,))
        idx = jnp.broadcast_to(jnp.minimum(count, table.shape[0] - 1)[:, None, :], (T, V, B))
        tail = jnp.moveaxis(jnp.take_along_axis(table, idx, axis=0), 1, 0)  # (V, T, B)
        p_t = with_tail(jnp.broadcast_to(p[:, None, :], (p.shape[0], T, B)), tail)
        return observe_per_time(t_finite, full, p_t)

    return solve


@functools.lru_cache(maxsize=128)
def program(key: OdeKey):
    """The jitted solve for ``key`` (jax.jit adds the per-shape cache: shapes are buckets)."""
    return over_devices(key, with_sensitivities(_solve_fn(key), key.sensitivities))


def over_devices(key: OdeKey, solve):
    """``solve`` jitted, its lanes split over ``key.n_devices`` local devices."""
    if key.n_devices == 1:
        return jax.jit(solve)
    # Each device integrates its own slice of the batch in its own loop (no cross-device step synchronisation):
    # lanes are independent, so a shard finishes when its own slowest lane does.
    from jax.sharding import Mesh, PartitionSpec as S

    mesh = Mesh(np.array(jax.local_devices()[: key.n_devices]), ("batch",))
    lane, row_lane, rep = S("batch"), S(None, "batch"), S()
    if key.events_per_lane:
        events_spec = Events(S(None, "batch"), S(None, None, "batch"), S(None, None, "batch"), S(None, "batch"),
                             S(None, "batch") if key.resets else None, S(None, None, "batch") if key.resets else None)
    else:
        events_spec = Events(rep, rep, rep, rep, rep if key.resets else None, rep if key.resets else None)
    lanes_spec = {"t0": lane, "t_end": lane, "dt0": lane, "dt_min": lane, "dt_max": lane}
    shared_spec = {"rtol": rep, "atol": rep}
    (lanes_spec if key.events_per_lane else shared_spec)["events"] = events_spec
    (lanes_spec if key.times_per_lane else shared_spec)["out_times"] = row_lane if key.times_per_lane else rep
    in_specs = (row_lane, row_lane, lanes_spec, shared_spec)
    out_specs = (S(None, None, "batch"), S(None, None, "batch"), lane, lane, lane)
    return jax.jit(jax.shard_map(solve, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False))


def pad_events(events: Events, rows: int) -> Events:
    """The event table padded to ``rows`` rows: ``+inf`` times (never reached), no jump, inputs held, no reset."""
    E = events.times.shape[0]
    if E == rows:
        return events
    extra = rows - E
    grow = lambda a, fill: np.concatenate([a, np.full((extra,) + a.shape[1:], fill, a.dtype)], axis=0)
    inputs = np.concatenate([events.inputs, np.repeat(events.inputs[-1:], extra, axis=0)], axis=0)
    reset = None if events.reset is None else grow(events.reset, 0.0)
    reset_to = None if events.reset_to is None else grow(events.reset_to, np.nan)
    return Events(grow(events.times, np.inf), grow(events.jumps, 0.0), inputs, events.initial_inputs, reset, reset_to)


def padded_times(out_times: np.ndarray, shared: bool) -> np.ndarray:
    """Output times in the engine's layout: (T',) shared or (T', B) per lane, ``+inf`` padding to a bucket."""
    if shared:
        T = out_times.shape[0]
        return np.concatenate([out_times, np.full(buckets.output_times(T) - T, np.inf)])
    t = np.where(np.isnan(out_times), np.inf, out_times).T  # (T, B)
    T = t.shape[0]
    return np.concatenate([t, np.full((buckets.output_times(T) - T, t.shape[1]), np.inf)], axis=0)


#: Smallest number of patients per device worth a split (below it, one device is faster).
MIN_LANES_PER_DEVICE = 64


def device_split(n_patients: int) -> int:
    """How many local devices share a batch: all of them once each gets at least MIN_LANES_PER_DEVICE lanes."""
    n_dev = len(jax.local_devices())
    return max(1, min(n_dev, n_patients // MIN_LANES_PER_DEVICE))


def place_design(problem, total: int, lanes: dict, shared: dict) -> tuple[Events, bool]:
    """Pad the event table and output times to their buckets and put each in ``lanes`` or ``shared``.

    Any per-patient field of the event table (times, amounts, reset values) makes the whole table per lane, so that
    every field splits over devices alike; a table shared by all lanes stays one column. Returns the padded table
    and whether it is per lane (both key the compiled program).
    """
    pr = problem
    events = pad_events(pr.events, buckets.event_rows(pr.events.times.shape[0]))
    events_per_lane = any(x is not None and x.shape[-1] > 1 for x in events)
    if events_per_lane:
        lanes["events"] = Events(*(None if x is None else pad_lanes(np.broadcast_to(x, x.shape[:-1] + (pr.n_patients,)), total)
                                   for x in events))
    else:
        shared["events"] = events
    out_times = padded_times(pr.out_times, pr.shared_times)
    if pr.shared_times:
        shared["out_times"] = out_times
    else:
        lanes["out_times"] = pad_lanes(out_times, total)
    return events, events_per_lane


class OdeBackend(Backend):
    """The integration loop of the problem's method (Tsit5, Rodas4, RK4, Rush-Larsen)."""

    name = "ode"

    def devices(self, n_patients: int) -> int:
        return device_split(n_patients)

    def layout(self, problem, n_devices: int) -> Layout:
        pr = problem
        width, n_chunks = chunking(pr.n_patients, n_devices)
        total = width * n_chunks
        t0 = pad_lanes(pr.t0, total)
        # padded lanes end where they start: finished before the first step, they never lengthen the loop
        t_end = np.concatenate([pr.t_end, t0[pr.n_patients:]])
        full = lambda v: np.full(total, v)
        lanes = {"t0": t0, "t_end": t_end, "dt0": full(pr.dt0), "dt_min": full(pr.dt_min), "dt_max": full(pr.dt_max)}
        shared = {"rtol": pr.rtol, "atol": pr.atol}
        events, events_per_lane = place_design(pr, total, lanes, shared)
        key = OdeKey(pr.model, pr.method, pr.config, n_devices, events_per_lane, not pr.shared_times,
                     events.reset is not None, pr.occasion_rows, pr.initial_rows,
                     lanes=loop_lanes(width // n_devices))
        return Layout(key, width, n_chunks, lanes, shared)

    def program(self, key: OdeKey):
        return program(key)
