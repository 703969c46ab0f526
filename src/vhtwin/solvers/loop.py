"""The batch-first integration loop.

One ``lax.while_loop`` advances B trajectories at once. Each lane has its own time, step size, next event, next
output and status; a finished lane simply stops changing. Per iteration every running lane

1. applies the event it sits on, if any (a bolus jump, a new set of piecewise-constant inputs), exactly at the
   event time;
2. proposes a step no longer than the time to its next event and its end time -- output times never shorten a
   step, so asking for 2,000 output times takes the same steps as asking for 10;
3. takes the step, measures the error, accepts or rejects it, and picks the next step size;
4. writes every output that falls inside an accepted step by the method's dense interpolation (its continuous
   extension: Tsit5's free 4th-order one, Rodas4's 3rd-order one) into a preallocated buffer.

The step limit ``max_steps`` counts the steps (accepted and rejected) taken since the lane last passed an event or
an output time, as CVODE's ``mxstep`` counts the steps of one call: a long protocol (1,000 paced beats) is not a
reason to stop, a lane stuck between two checkpoints is.

Outputs exactly at an event time are the values *just before* the event (the left limit: a trough at a dose time is
the pre-dose concentration), as with NONMEM when the observation record precedes the dose record.

Layout is batch-last throughout (see :mod:`vhtwin.solvers.base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .base import AbstractSolver
from .controllers import PIController, row_all
from .status import Status


class Events(NamedTuple):
    """Per-trajectory event table (padded with ``+inf`` times), batch-last; a batch axis of 1 is shared by all lanes.

    times : (E, Bt)             event times, increasing along E, ``+inf`` for padding
    jumps : (E, n, Bt)          added to the state at the event (bolus amounts)
    inputs : (E, U, Bt)         value of the piecewise-constant inputs from this event on
    initial_inputs : (U, Bt)    value of the inputs before the first event
    reset : (E, Bt), optional   1 where the event first replaces the state (a reset, a steady-state start), else 0
    reset_to : (E, n, Bt)       the state it is replaced by; NaN entries mean the trajectory's initial value
                                (which may depend on the parameters, so is known only inside the solve)

    At an event the state becomes ``(reset_to if reset else y) + jumps``: a reset and a dose at one time act in
    that order (NONMEM's EVID 4). Without resets both optional fields are None and cost nothing.
    """

    times: Any
    jumps: Any
    inputs: Any
    initial_inputs: Any
    reset: Any = None
    reset_to: Any = None


class Outputs(NamedTuple):
    """Where to save: ``times`` (T,) shared by the batch or (T, B) per trajectory (``+inf`` padding never saved)."""

    times: Any


@dataclass(frozen=True)
class LoopConfig:
    """Static settings of a compiled loop (hashable: part of the compile key)."""

    #: Steps (accepted plus rejected) allowed between two consecutive events or output times of a lane (no default
    #: here: the default of every solver setting is :class:`vhtwin.options.SolverOptions`'s).
    max_steps: int
    #: The state rows saved at output times (None: all). Interpolating and writing only what the requested
    #: outputs need is a large share of the per-step work when few of many states are wanted.
    save_rows: tuple[int, ...] | None = None
    controller: PIController = PIController()


class LoopResult(NamedTuple):
    saved: Any  # (r, T, B) the saved state rows (config.save_rows) at the output times
    status: Any  # (B,) int8
    n_steps: Any  # (B,) accepted steps
    n_rejected: Any  # (B,) rejected steps
    t_final: Any  # (B,)
    y_final: Any  # (n, B)


class _State(NamedTuple):
    t: Any
    y: Any
    dt: Any
    dt_after_event: Any
    carry: Any
    prev_norm: Any
    status: Any
    n_steps: Any
    n_rejected: Any
    event: Any
    u: Any
    out: Any
    saved: Any
    fresh_event: Any
    since: Any  # steps since the lane last passed an event or an output time


_FLOATS = ("t", "dt", "dt_after_event", "prev_norm")
_INTS = ("status", "n_steps", "n_rejected", "event", "out", "fresh_event", "since")


class _Packed(NamedTuple):
    """The loop's carry: the per-lane scalars packed into one float and one integer block, so that XLA updates
    them in a fused pass or two per iteration rather than one small kernel (and one loop-carried copy) each."""

    floats: Any  # (len(_FLOATS), B)
    ints: Any  # (len(_INTS), B) int32
    y: Any
    carry: Any
    u: Any
    saved: Any


def _pack(s: _State) -> _Packed:
    floats = jnp.stack([getattr(s, k) for k in _FLOATS])
    ints = jnp.stack([getattr(s, k).astype(jnp.int32) for k in _INTS])
    return _Packed(floats, ints, s.y, s.carry, s.u, s.saved)


def _unpack(p: _Packed) -> _State:
    named = {k: p.floats[i] for i, k in enumerate(_FLOATS)}
    named.update({k: p.ints[i] for i, k in enumerate(_INTS)})
    named["fresh_event"] = named["fresh_event"] > 0
    return _State(y=p.y, carry=p.carry, u=p.u, saved=p.saved, **named)


def _take(table, index):
    """Row ``index[b]`` of a batch-last table (E, ..., Bt) for every lane b -> (..., B). Out-of-range -> last row."""
    E = table.shape[0]
    idx = jnp.clip(index, 0, E - 1)
    if table.shape[-1] == 1:
        rows = table[idx, ..., 0]  # (B, ...)
        return jnp.moveaxis(rows, 0, -1)
    shape = (1,) * (table.ndim - 1)
    gathered = jnp.take_along_axis(table, idx.reshape((1,) + shape[1:] + (-1,)) if table.ndim > 1 else idx, axis=0)
    return gathered[0]


def _apply_event(events: Events, index, where, y, y0):
    """The state after the event ``index`` in the lanes ``where`` (B,): reset if asked, then the jump."""
    jump = _take(events.jumps, index)
    if events.reset is not None:
        target = _take(events.reset_to, index)
        target = jnp.where(jnp.isnan(target), y0, target)
        y_reset = jnp.where((_take(events.reset, index) > 0)[None, :], target, y)
        return jnp.where(where[None, :], y_reset + jump, y)
    return jnp.where(where[None, :], y + jump, y)


def _event_time(events: Events, index):
    E = events.times.shape[0]
    t = _take(events.times, index)
    return jnp.where(index < E, t, jnp.inf)


def _output_time(outputs: Outputs, index):
    times = outputs.times
    T = times.shape[0]
    idx = jnp.clip(index, 0, T - 1)
    if times.ndim == 1:
        t = times[idx]
    else:
        t = jnp.take_along_axis(times, idx[None, :], axis=0)[0]
    return jnp.where(index < T, t, jnp.inf)


def integrate(
    vf_factory: Callable[[Any], Callable],
    solver: AbstractSolver,
    config: LoopConfig,
    t0,
    y0,
    t_end,
    events: Events,
    outputs: Outputs,
    dt0,
    dt_min,
    dt_max,
    rtol,
    atol,
) -> LoopResult:
    """Integrate B trajectories from ``t0`` to ``t_end`` (both (B,)) and save states at the output times.

    Parameters
    ----------
    vf_factory : callable
        ``vf_factory(u)`` returns the vector field ``vf(t, y)`` with the piecewise-constant inputs ``u`` (U, B).
    solver : AbstractSolver
        The method.
    config : LoopConfig
        Static loop settings.
    t0, t_end : array (B,)
        Start and end time per trajectory.
    y0 : array (n, B)
        Initial state (before any event at ``t0``).
    events : Events
        Discontinuities per trajectory.
    outputs : Outputs
        Output times.
    dt0 : array (B,)
        First step; for adaptive methods ``nan`` asks for an automatic estimate. For fixed-step methods the step.
    dt_min, dt_max : array (B,)
        Bounds on the step size. A step below ``dt_min`` (other than one that lands on an event) fails the
        trajectory with ``STEP_SIZE_UNDERFLOW``.
    rtol, atol : array (n,)
        Tolerances per state.
    """
    dtype = y0.dtype
    n, B = y0.shape
    T = outputs.times.shape[0]
    ctrl = config.controller
    lanes = jnp.arange(B)

    # --- outputs at t0 are the initial state (before any event at t0) -------------------------------------------
    # (Output times increase strictly and t0 is not after the first, so at most the first one equals t0.)
    rows = tuple(range(n)) if config.save_rows is None else config.save_rows
    pick = lambda y: jnp.stack([y[i] for i in rows])  # static rows: XLA drops the work for the others
    # The buffer is kept flat over (time, lane) so that a save is a scatter with one index per lane (j * B + lane),
    # which XLA's CPU scatter handles faster than an index pair.
    saved = jnp.full((len(rows), T * B), jnp.nan, dtype)
    at0 = _output_time(outputs, jnp.zeros((B,), jnp.int32)) <= t0
    saved = saved.at[:, jnp.where(at0, lanes, T * B)].set(pick(y0), mode="drop")
    out = at0.astype(jnp.int32)

    # --- events at t0 apply before the first step ---------------------------------------------------------------
    event = jnp.zeros((B,), jnp.int32)
    first_at_t0 = _event_time(events, event) <= t0
    y = _apply_event(events, event, first_at_t0, y0, y0)
    u_before = jnp.broadcast_to(events.initial_inputs, (events.initial_inputs.shape[0], B))
    u = jnp.where(first_at_t0[None, :], _take(events.inputs, event), u_before)
    event = event + first_at_t0.astype(jnp.int32)
    vf = vf_factory(u)
    carry = solver.init(vf, t0, y)

    if solver.adaptive:
        dt_init = jnp.where(jnp.isnan(dt0), _initial_step(vf, t0, y, solver.order, rtol, atol), dt0)
    else:
        dt_init = dt0
    dt_init = jnp.clip(dt_init, dt_min, dt_max)

    state = _State(
        t=t0,
        y=y,
        dt=dt_init,
        dt_after_event=dt_init,
        carry=carry,
        prev_norm=jnp.ones((B,), dtype),
        status=jnp.where(t0 >= t_end, Status.SUCCESS, Status.RUNNING).astype(jnp.int8),
        n_steps=jnp.zeros((B,), jnp.int32),
        n_rejected=jnp.zeros((B,), jnp.int32),
        event=event,
        u=u,
        out=out,
        saved=saved,
        fresh_event=jnp.zeros((B,), bool),
        since=jnp.zeros((B,), jnp.int32),
    )

    def cond(p: _Packed):
        return jnp.any(p.ints[0] == Status.RUNNING)

    def body(s: _State) -> _State:
        running = s.status == Status.RUNNING

        # 1. the event this lane sits on (it landed there exactly on its previous step)
        t_ev = _event_time(events, s.event)
        at_event = running & (s.t >= t_ev)
        y = _apply_event(events, s.event, at_event, s.y, y0)
        u = jnp.where(at_event[None, :], _take(events.inputs, s.event), s.u)
        event = s.event + at_event.astype(jnp.int32)
        vf = vf_factory(u)
        carry = solver.restart(vf, s.t, y, s.carry, at_event)
        # After a jump, restart from the step that worked after the previous event: dose responses repeat, and a
        # good first guess saves the cascade of rejections that a step fitted to the smooth pre-dose phase causes.
        dt = jnp.where(at_event, s.dt_after_event, s.dt) if solver.adaptive else s.dt

        # 2. the step: never past the next event or the end (outputs are interpolated, so they never limit it)
        t_next_event = _event_time(events, event)
        limit = jnp.minimum(t_next_event, t_end)
        # A step that would stop a few roundings short of the limit is stretched onto it: otherwise rounding in t
        # leaves a sliver of a step (~1e-13) to take before the limit.
        hits_limit = s.t + dt >= limit - 4 * jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(limit), 1.0)
        t1 = jnp.where(hits_limit, limit, s.t + dt)
        h = t1 - s.t
        h = jnp.where(running, h, jnp.ones_like(h))  # keep finished lanes' arithmetic harmless

        # 3. step, error, accept
        y1, err, dense, carry1 = solver.step(vf, s.t, y, h, carry)
        finite = row_all(jnp.isfinite(y1))
        if solver.adaptive:
            norm = ctrl.error_norm(y, y1, err, rtol, atol)
            # After a jump the error history says nothing about the new solution: plain I-control for that step.
            accept, factor = ctrl.factor(norm, jnp.where(at_event, 1.0, s.prev_norm), solver.error_order)
            accept = accept & finite
            dt_next = lax.stop_gradient(jnp.clip(h * factor, dt_min, dt_max))
            # A step shortened to land on a limit says little about the step the solution needs: keep the larger.
            dt_next = jnp.where(accept & hits_limit, jnp.maximum(dt_next, jnp.minimum(dt, dt_max)), dt_next)
            prev_norm = jnp.where(accept, norm, s.prev_norm)
        else:
            accept = finite
            dt_next = dt
            prev_norm = s.prev_norm
        accept = accept & running

        # 4. every output inside (t, t1], by dense interpolation: one per lane per round, as many rounds as the
        # lane with the most outputs in this step needs (usually zero or one)
        def unsaved(c):
            return jnp.any(accept & (_output_time(outputs, c[1]) <= t1))

        def save_next(c):
            saved, out = c
            t_o = _output_time(outputs, out)
            write = accept & (t_o <= t1)
            theta = jnp.where(write, (t_o - s.t) / h, 1.0).astype(dtype)
            y_o = pick(solver.interpolate(dense, theta))
            saved = saved.at[:, jnp.where(write, out * B + lanes, T * B)].set(y_o, mode="drop")
            return saved, out + write.astype(jnp.int32)

        saved, out = lax.while_loop(unsaved, save_next, (s.saved, s.out))

        # 5. commit
        t_new = jnp.where(accept, t1, s.t)
        n_steps = s.n_steps + accept.astype(jnp.int32)
        n_rejected = s.n_rejected + (running & ~accept).astype(jnp.int32)
        fresh_event = jnp.where(running, at_event | (s.fresh_event & ~accept), s.fresh_event)
        # Remember what the controller proposes after the first accepted step following an event: the next dose
        # starts from it (and it grows by up to factor_max per dose until it is right-sized).
        dt_after_event = jnp.where(accept & fresh_event, dt_next, s.dt_after_event) if solver.adaptive else s.dt_after_event
        fresh_event = fresh_event & ~accept

        status = s.status
        status = jnp.where(accept & (t_new >= t_end), Status.SUCCESS, status)
        if solver.adaptive:
            # Underflow: the controller wants a step below dt_min, or so small that t + dt == t in this precision.
            resolution = 16 * jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(s.t), 1.0)
            underflow = running & ~accept & ((h * factor <= dt_min) | (h * factor <= resolution))
            status = jnp.where(underflow, jnp.where(finite, Status.STEP_SIZE_UNDERFLOW, Status.NONFINITE), status)
        else:
            status = jnp.where(running & ~finite, Status.NONFINITE, status)
        # Steps since the last checkpoint: an event applied or an output written in this iteration starts the count
        # again (CVODE's mxstep is per call, i.e. per output interval).
        since = jnp.where(out > s.out, 0, jnp.where(at_event, 1, s.since + 1))
        since = jnp.where(running, since, s.since)
        status = jnp.where(
            (status == Status.RUNNING) & (since >= config.max_steps), Status.MAX_STEPS, status
        ).astype(jnp.int8)

        keep = lambda new, old: jnp.where(accept.reshape((1,) * (new.ndim - 1) + (-1,)), new, old)
        return _State(
            t=t_new,
            y=keep(y1, y),
            dt=jnp.where(running, dt_next, s.dt),
            dt_after_event=dt_after_event,
            carry=jax.tree_util.tree_map(keep, carry1, carry),
            prev_norm=prev_norm,
            status=status,
            n_steps=n_steps,
            n_rejected=n_rejected,
            event=event,
            u=u,
            out=out,
            saved=saved,
            fresh_event=fresh_event,
            since=since,
        )

    final = _unpack(lax.while_loop(cond, lambda p: _pack(body(_unpack(p))), _pack(state)))
    failed = final.status != Status.SUCCESS
    saved = jnp.where(failed[None, None, :], jnp.nan, final.saved.reshape(len(rows), T, B))
    return LoopResult(saved, final.status.astype(jnp.int8), final.n_steps, final.n_rejected, final.t, final.y)


def _initial_step(vf, t0, y0, order, rtol, atol):
    """First step size per trajectory (Hairer, Norsett & Wanner, Solving ODEs I, II.4): two vector-field calls."""
    f0 = vf(t0, y0)
    scale = atol[:, None] + rtol[:, None] * jnp.abs(y0)
    rms = lambda x: jnp.sqrt(jnp.mean((x / scale) ** 2, axis=0))
    d0, d1 = rms(y0), rms(f0)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.maximum(d1, 1e-300))
    y1 = y0 + h0[None, :] * f0
    f1 = vf(t0 + h0, y1)
    d2 = rms(f1 - f0) / h0
    dmax = jnp.maximum(d1, d2)
    h1 = jnp.where(dmax <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3), (0.01 / jnp.maximum(dmax, 1e-300)) ** (1.0 / (order + 1)))
    return jnp.minimum(100 * h0, h1).astype(y0.dtype)
