"""The batch-first integration loop.

One ``lax.while_loop`` advances B trajectories at once. Each lane has its own time, step size, next event, next
output and status; a finished lane simply stops changing. Per iteration every running lane

1. applies the event it sits on, if any (a bolus jump, a new set of piecewise-constant inputs), exactly at the
   event time;
2. proposes a step no longer than the time to its next event and its end time -- output times never shorten a
   step, so asking for 2,000 output times takes the same steps as asking for 10 (except with state-triggered
   events: then no step spans two output times, so that a trigger switching on and off between a step's ends is
   missed only below the output times' resolution);
3. takes the step, measures the error, accepts or rejects it, and picks the next step size;
4. writes every output that falls inside an accepted step by the method's dense interpolation (its continuous
   extension: Tsit5's free 4th-order one, Rodas4's 3rd-order one) into a preallocated buffer.

With more trajectories than lanes (``lanes=``), the rest wait in a queue: a lane whose trajectory is done (or has
failed) records its results and takes the next waiting one (lane refill), so the loop runs about the mean number of
steps per lane rather than batches each as long as their slowest member. Refills wait for a sixteenth of the lanes to
be idle (a refill costs a first-step estimate over every lane). Every trajectory starts through the same code, so
its steps and values do not depend on its lane, the iteration it starts in, the number of lanes or its neighbours.

The step limit ``max_steps`` counts the steps (accepted and rejected) taken since the lane last passed an event or
an output time, as CVODE's ``mxstep`` counts the steps of one call: a long protocol (1,000 paced beats) is not a
reason to stop, a lane stuck between two checkpoints is.

State-triggered events (``triggers=``, :class:`StateEvents`, run by :mod:`.state_events`) are looked for after
every accepted step: a trigger that turned true inside the step has its crossing located by bisection on the step's
dense output, the step is cut there, and the event is executed at the start of the next iteration -- without a
step, so that events cascading at one time (one event's assignment triggering another) run one per iteration in
priority order, each trigger looked at again after each.

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
from .state_events import EventRunner, StateEvents
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
    iterations: Any = None  # () iterations of the loop (each advances every running lane by one step attempt)


class _State(NamedTuple):
    t: Any
    y: Any
    dt: Any
    dt_after_event: Any
    carry: Any
    prev_norm: Any
    dt_accepted: Any  # the last accepted step since the lane's start or last event (0: none), for prediction
    rejected: Any  # 1 where the lane's last attempt was rejected
    status: Any
    n_steps: Any
    n_rejected: Any
    event: Any
    u: Any
    out: Any
    saved: Any
    fresh_event: Any
    since: Any  # steps since the lane last passed an event or an output time
    cut: Any  # 1 where the last step was cut at a state event's trigger (the method restarts there)
    # -- lane refill: which patient a lane holds, and that patient's own settings
    pid: Any  # the patient (column of the inputs) the lane integrates
    active: Any  # 1 while the lane holds a patient whose results are not recorded yet
    p: Any  # (P, W) the lane's parameters
    t_end: Any
    dt_min: Any
    dt_max: Any
    head: Any  # () the next waiting patient
    iterations: Any  # () loop iterations so far
    results: Any  # (1 + n, N) per patient: final time and state
    counts: Any  # (3, N) int32 per patient: status, accepted and rejected steps
    # -- state-triggered events (G of them; empty arrays without)
    ev_true: Any  # (G, W) int32: 1 where the trigger was true when last looked at
    ev_pending: Any  # (G, Q, W) when each of a delayed event's pending executions is due (+inf: a free slot)
    ev_values: Any  # (G, Q, n, W) the state each pending execution computed when it triggered (slot 0: a waiting
    # event without delay)


_FLOATS = ("t", "dt", "dt_after_event", "prev_norm", "dt_accepted", "t_end", "dt_min", "dt_max")
_INTS = ("status", "n_steps", "n_rejected", "event", "out", "fresh_event", "since", "pid", "active", "cut", "rejected")


class _Packed(NamedTuple):
    """The loop's carry: the per-lane scalars packed into one float and one integer block, so that XLA updates
    them in a fused pass or two per iteration rather than one small kernel (and one loop-carried copy) each."""

    floats: Any  # (len(_FLOATS), W)
    ints: Any  # (len(_INTS), W) int32
    y: Any
    carry: Any
    u: Any
    p: Any
    saved: Any
    head: Any
    iterations: Any
    results: Any
    counts: Any
    ev_true: Any
    ev_pending: Any
    ev_values: Any


def _pack(s: _State) -> _Packed:
    floats = jnp.stack([getattr(s, k) for k in _FLOATS])
    ints = jnp.stack([getattr(s, k).astype(jnp.int32) for k in _INTS])
    return _Packed(floats, ints, s.y, s.carry, s.u, s.p, s.saved, s.head, s.iterations, s.results, s.counts,
                   s.ev_true, s.ev_pending, s.ev_values)


def _unpack(p: _Packed) -> _State:
    named = {k: p.floats[i] for i, k in enumerate(_FLOATS)}
    named.update({k: p.ints[i] for i, k in enumerate(_INTS)})
    named["fresh_event"] = named["fresh_event"] > 0
    return _State(y=p.y, carry=p.carry, u=p.u, p=p.p, saved=p.saved, head=p.head, iterations=p.iterations,
                  results=p.results, counts=p.counts, ev_true=p.ev_true, ev_pending=p.ev_pending,
                  ev_values=p.ev_values, **named)


def _take(table, index, pid):
    """Row ``index[w]`` of patient ``pid[w]``'s column of a batch-last table (E, ..., Bt) for every lane w ->
    (..., W); a table with one column is every patient's. Out-of-range rows -> the last row."""
    E = table.shape[0]
    idx = jnp.clip(index, 0, E - 1)
    rows = table[idx, ..., 0] if table.shape[-1] == 1 else table[idx, ..., pid]  # (W, ...)
    return jnp.moveaxis(rows, 0, -1)


def _column(a, pid):
    """Patient ``pid[w]``'s column of (..., Bt) for every lane -> (..., W); one column is every patient's."""
    return jnp.broadcast_to(a[..., :1], a.shape[:-1] + pid.shape) if a.shape[-1] == 1 else a[..., pid]


def _apply_event(events: Events, index, where, y, y0, pid):
    """The state after the event ``index`` in the lanes ``where`` (W,): reset if asked, then the jump. ``y0`` (n, W)
    is each lane's initial state (what a reset to NaN means)."""
    jump = _take(events.jumps, index, pid)
    if events.reset is not None:
        target = _take(events.reset_to, index, pid)
        target = jnp.where(jnp.isnan(target), y0, target)
        y_reset = jnp.where((_take(events.reset, index, pid) > 0)[None, :], target, y)
        return jnp.where(where[None, :], y_reset + jump, y)
    return jnp.where(where[None, :], y + jump, y)


def _event_time(events: Events, index, pid):
    E = events.times.shape[0]
    t = _take(events.times, index, pid)
    return jnp.where(index < E, t, jnp.inf)


def _output_time(outputs: Outputs, index, pid):
    times = outputs.times
    T = times.shape[0]
    idx = jnp.clip(index, 0, T - 1)
    t = times[idx] if times.ndim == 1 else times[idx, pid]
    return jnp.where(index < T, t, jnp.inf)


#: Lane refill: a compiled loop of W lanes refills its idle lanes from the waiting patients once at least 1/REFILL
#: of them are idle (or none is running). Refilling costs a first-step estimate and a method start over all W lanes
#: (three vector-field calls), so it waits for a batch of idle lanes rather than running every iteration.
REFILL = 16
#: A loop with fewer lanes than trajectories has a multiple of this many.
LANE_BLOCK = 8


def integrate(
    field: Callable[[Any, Any], Callable],
    p,
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
    *,
    lanes: int | None = None,
    triggers: StateEvents | None = None,
) -> LoopResult:
    """Integrate N trajectories from ``t0`` to ``t_end`` and save states at the output times.

    Parameters
    ----------
    field : callable
        ``field(p, u)`` returns the vector field ``vf(t, y)`` of the parameters ``p`` (P, W) with the
        piecewise-constant inputs ``u`` (U, W), for W lanes.
    p : array (P, N)
        Parameters per trajectory.
    solver : AbstractSolver
        The method.
    config : LoopConfig
        Static loop settings.
    t0, t_end : array (N,)
        Start and end time per trajectory.
    y0 : array (n, N)
        Initial state (before any event at ``t0``).
    events : Events
        Discontinuities per trajectory.
    outputs : Outputs
        Output times.
    dt0 : array (N,)
        First step; for adaptive methods ``nan`` asks for an automatic estimate. For fixed-step methods the step.
    dt_min, dt_max : array (N,)
        Bounds on the step size. A step below ``dt_min`` (other than one that lands on an event) fails the
        trajectory with ``STEP_SIZE_UNDERFLOW``.
    rtol, atol : array (n,)
        Tolerances per state.
    lanes : int, optional
        Trajectories integrated at once (W, static; default all N; rounded up to a multiple of
        :data:`LANE_BLOCK`). With fewer lanes than trajectories, the rest wait in a queue and a lane whose
        trajectory is done takes the next one (lane refill), so the loop runs about
        ``N / W`` times the mean number of steps rather than W-lane batches each as long as their slowest member.
        A trajectory's steps and values do not depend on its lane, its start iteration or W (bit for bit).
    triggers : StateEvents, optional
        The model's state-triggered events (static).
    """
    dtype = y0.dtype
    n, N = y0.shape
    P = p.shape[0]
    T = outputs.times.shape[0]
    # Lanes come in whole vector blocks: measured on CPU, rows one element past a multiple of the vector width (5, 9
    # or 13 lanes in float64) rounded some trajectories' last digit differently from wider rows.
    W = N if lanes is None else min(-(-max(1, int(lanes)) // LANE_BLOCK) * LANE_BLOCK, N)
    ctrl = config.controller
    rows = tuple(range(n)) if config.save_rows is None else config.save_rows
    pick = lambda y: jnp.stack([y[i] for i in rows])  # static rows: XLA drops the work for the others
    per_patient = lambda a: jnp.broadcast_to(a, (N,))
    t0, t_end, dt0, dt_min, dt_max = map(per_patient, (t0, t_end, dt0, dt_min, dt_max))
    zeros_i = jnp.zeros((W,), jnp.int32)
    lane = lambda new, old, where: jnp.where(where.reshape((1,) * (new.ndim - 1) + (-1,)), new, old)
    ev = None if triggers is None else EventRunner(triggers, n, solver, dtype)
    G, Q = (0, 1) if ev is None else (ev.G, ev.Q)

    def begin(s: _State, take, patient) -> _State:
        """The lanes ``take`` start the patients ``patient``: outputs at t0, an event at t0, the method's start and
        the first step. Every patient starts here (the first ones too), so its arithmetic never depends on when."""
        pid = jnp.where(take, patient, s.pid)
        p_l = lane(p[:, pid], s.p, take)
        y_init = y0[:, pid]
        t0_l = t0[pid]
        at0 = _output_time(outputs, zeros_i, pid) <= t0_l  # saved before the loop
        # events at t0 apply before the first step
        first = _event_time(events, zeros_i, pid) <= t0_l
        y = _apply_event(events, zeros_i, first, y_init, y_init, pid)
        u = jnp.where(first[None, :], _take(events.inputs, zeros_i, pid), _column(events.initial_inputs, pid))
        vf = field(p_l, u)
        carry = solver.init(vf, t0_l, y)
        dt_given = dt0[pid]
        if solver.adaptive:
            dt_init = jnp.where(jnp.isnan(dt_given), _initial_step(vf, t0_l, y, solver.order, rtol, atol), dt_given)
        else:
            dt_init = dt_given
        dt_init = jnp.clip(dt_init, dt_min[pid], dt_max[pid])
        status = jnp.where(t0_l >= t_end[pid], Status.SUCCESS, Status.RUNNING).astype(jnp.int32)
        new = dict(
            t=t0_l, y=y, dt=dt_init, dt_after_event=dt_init, prev_norm=jnp.ones((W,), dtype),
            dt_accepted=jnp.zeros((W,), dtype), rejected=zeros_i, status=status,
            n_steps=zeros_i, n_rejected=zeros_i, event=first.astype(jnp.int32), u=u, out=at0.astype(jnp.int32),
            fresh_event=jnp.zeros((W,), bool), since=zeros_i, pid=pid, active=take.astype(jnp.int32),
            t_end=t_end[pid], dt_min=dt_min[pid], dt_max=dt_max[pid], cut=zeros_i,
        )
        if triggers is not None:
            new.update(ev_true=ev_first[:, pid], ev_pending=jnp.full((G, Q, W), jnp.inf, dtype),
                       ev_values=jnp.zeros((G, Q, n, W), dtype))
        merged = {k: lane(v, getattr(s, k), take) for k, v in new.items()}
        merged["carry"] = jax.tree_util.tree_map(lambda a, b: lane(a, b, take), carry, s.carry)
        return s._replace(p=p_l, **merged)

    def record(s: _State, which) -> _State:
        """The results of the patients the lanes ``which`` hold, written to their columns."""
        col = jnp.where(which, s.pid, N)
        counts = s.counts.at[:, col].set(jnp.stack([s.status.astype(jnp.int32), s.n_steps, s.n_rejected]), mode="drop")
        results = s.results.at[:, col].set(jnp.concatenate([s.t[None], s.y]), mode="drop")
        return s._replace(counts=counts, results=results, active=jnp.where(which, 0, s.active))

    def refill(s: _State) -> _State:
        """Idle lanes record their patient's results, then take the next waiting patients in lane order."""
        idle = s.status != Status.RUNNING
        s = record(s, idle & (s.active > 0))
        rank = jnp.cumsum(idle.astype(jnp.int32)) - 1
        patient = s.head + rank
        take = idle & (patient < N)
        s = begin(s, take, patient)
        return s._replace(head=(s.head + jnp.sum(take.astype(jnp.int32))).astype(jnp.int32))

    if triggers is not None and not all(triggers.initial_value):
        y0, ev_first = ev.start(t0, y0, p)
    elif triggers is not None:
        ev_first = jnp.broadcast_to(ev.start_records, (G, N))

    # Outputs at t0 are the initial state (before any event at t0): output times increase strictly and t0 is not
    # after the first, so at most the first one equals t0. They are written here for every patient at once, so that
    # a lane's start never touches the output buffer. The buffer is kept flat over (time, patient) so that a save
    # is a scatter with one index per lane (j * N + patient), which XLA's CPU scatter handles faster than an index
    # pair.
    every = jnp.arange(N, dtype=jnp.int32)
    at0 = _output_time(outputs, jnp.zeros((N,), jnp.int32), every) <= t0
    saved0 = jnp.full((len(rows), N, T), jnp.nan, dtype).at[:, :, 0].set(jnp.where(at0, pick(y0), jnp.nan))
    saved0 = saved0.reshape(len(rows), N * T)
    # Every lane starts idle (SUCCESS, holding no patient): the first refill fills them all.
    vf_shape = lambda: field(jnp.zeros((P, W), dtype), jnp.zeros((events.initial_inputs.shape[0], W), dtype))
    carry0 = jax.tree_util.tree_map(
        lambda a: jnp.zeros(a.shape, a.dtype),
        jax.eval_shape(lambda: solver.init(vf_shape(), jnp.zeros((W,), dtype), jnp.zeros((n, W), dtype))),
    )
    zeros_f = jnp.zeros((W,), dtype)
    state = _State(
        t=zeros_f, y=jnp.zeros((n, W), dtype), dt=zeros_f, dt_after_event=zeros_f, carry=carry0, prev_norm=zeros_f,
        dt_accepted=zeros_f, rejected=zeros_i,
        status=zeros_i + Status.SUCCESS, n_steps=zeros_i, n_rejected=zeros_i, event=zeros_i,
        u=jnp.zeros((events.initial_inputs.shape[0], W), dtype), out=zeros_i,
        saved=saved0, fresh_event=jnp.zeros((W,), bool), since=zeros_i,
        pid=zeros_i, active=zeros_i, p=jnp.zeros((P, W), p.dtype), t_end=zeros_f, dt_min=zeros_f, dt_max=zeros_f,
        head=jnp.zeros((), jnp.int32), iterations=jnp.zeros((), jnp.int32), results=jnp.full((1 + n, N), jnp.nan, dtype),
        counts=jnp.zeros((3, N), jnp.int32), cut=zeros_i, ev_true=jnp.zeros((G, W), jnp.int32),
        ev_pending=jnp.full((G, Q, W), jnp.inf, dtype), ev_values=jnp.zeros((G, Q, n, W), dtype),
    )
    threshold = max(1, W // REFILL)

    def cond(p: _Packed):
        return jnp.any(p.ints[_INTS.index("status")] == Status.RUNNING) | (p.head < N)

    def body(q: _Packed) -> _Packed:
        n_idle = jnp.sum((q.ints[_INTS.index("status")] != Status.RUNNING).astype(jnp.int32))
        wanted = ((n_idle >= threshold) | (n_idle == W)) & (q.head < N)
        # The output buffer, the loop's largest array, stays out of the branch: a refill never writes it.
        fill = lambda x: _pack(refill(_unpack(x)))
        q = lax.cond(wanted, fill, lambda x: x, q._replace(saved=None))._replace(saved=q.saved)
        return _pack(step(_unpack(q)))

    def step(s: _State) -> _State:
        running = s.status == Status.RUNNING
        pid = s.pid

        # 1. the event this lane sits on (it landed there exactly on its previous step)
        t_ev = _event_time(events, s.event, pid)
        at_event = running & (s.t >= t_ev)
        y_start = y0[:, pid] if events.reset is not None else None
        y = _apply_event(events, s.event, at_event, s.y, y_start, pid)
        u = jnp.where(at_event[None, :], _take(events.inputs, s.event, pid), s.u)
        event = s.event + at_event.astype(jnp.int32)
        ev_true, ev_pending, ev_values = s.ev_true, s.ev_pending, s.ev_values
        if triggers is not None:
            y, executed, ev_true, ev_pending, ev_values, overflow = ev.execute(
                s.t, s.p, y, running, s.ev_true, s.ev_pending, s.ev_values)
            # a lane that executed a state event takes no step this iteration: the next looks at the triggers again
            stepping = running & ~executed & ~overflow
            restart = at_event | executed | (s.cut > 0)
        else:
            stepping, restart, overflow = running, at_event, None
        vf = field(s.p, u)
        carry = solver.restart(vf, s.t, y, s.carry, restart)
        # After a jump, restart from the step that worked after the previous event: dose responses repeat, and a
        # good first guess saves the cascade of rejections that a step fitted to the smooth pre-dose phase causes.
        dt = jnp.where(at_event, s.dt_after_event, s.dt) if solver.adaptive else s.dt

        # 2. the step: never past the next event or the end (outputs are interpolated, so they never limit it)
        t_next_event = _event_time(events, event, pid)
        limit = jnp.minimum(t_next_event, s.t_end)
        if triggers is not None:
            # with state events a step never spans two output times: a trigger that turns true and false again
            # between a step's ends is missed, and this bounds what can be missed by the resolution asked for
            limit = jnp.minimum(limit, _output_time(outputs, s.out, pid))
            if ev.pending_limit(ev_pending) is not None:
                limit = jnp.minimum(limit, ev.pending_limit(ev_pending))
        # A step that would stop a few roundings short of the limit is stretched onto it: otherwise rounding in t
        # leaves a sliver of a step (~1e-13) to take before the limit.
        hits_limit = s.t + dt >= limit - 4 * jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(limit), 1.0)
        t1 = jnp.where(hits_limit, limit, s.t + dt)
        h = t1 - s.t
        h = jnp.where(stepping, h, jnp.ones_like(h))  # keep idle lanes' arithmetic harmless

        # 3. step, error, accept
        y1, err, dense, carry1 = solver.step(vf, s.t, y, h, carry)
        finite = row_all(jnp.isfinite(y1))
        if solver.adaptive:
            norm = ctrl.error_norm(y, y1, err, rtol, atol)
            # After a jump the error history says nothing about the new solution: plain I-control for that step.
            accept, factor = ctrl.factor(norm, jnp.where(at_event, 1.0, s.prev_norm), solver.error_order)
            accept = accept & finite
            if ctrl.predictive:
                # after a jump there is no trend to extrapolate, and a rejection before it is forgotten
                factor = ctrl.predict(factor, accept, norm, h, s.prev_norm, jnp.where(at_event, 0.0, s.dt_accepted),
                                      (s.rejected > 0) & ~at_event, solver.error_order)
            dt_next = lax.stop_gradient(jnp.clip(h * factor, s.dt_min, s.dt_max))
            # A step shortened to land on a limit says little about the step the solution needs: keep the larger.
            dt_next = jnp.where(accept & hits_limit, jnp.maximum(dt_next, jnp.minimum(dt, s.dt_max)), dt_next)
            prev_norm = jnp.where(accept, norm, s.prev_norm)
        else:
            accept = finite
            dt_next = dt
            prev_norm = s.prev_norm
        accept = accept & stepping
        if triggers is not None:
            t1, y1, cut, ev_true = ev.locate(s.t, s.p, h, t1, y1, dense, accept, ev_true)
        else:
            cut = jnp.zeros((W,), bool)

        # 4. every output inside (t, t1], by dense interpolation: one per lane per round, as many rounds as the
        # lane with the most outputs in this step needs (usually zero or one)
        def unsaved(c):
            return jnp.any(accept & (_output_time(outputs, c[1], pid) <= t1))

        def save_next(c):
            saved, out = c
            t_o = _output_time(outputs, out, pid)
            write = accept & (t_o <= t1)
            theta = jnp.where(write, (t_o - s.t) / h, 1.0).astype(dtype)
            y_o = pick(solver.interpolate(dense, theta))
            saved = saved.at[:, jnp.where(write, pid * T + out, T * N)].set(y_o, mode="drop")
            return saved, out + write.astype(jnp.int32)

        saved, out = lax.while_loop(unsaved, save_next, (s.saved, s.out))

        # 5. commit
        t_new = jnp.where(accept, t1, s.t)
        n_steps = s.n_steps + accept.astype(jnp.int32)
        n_rejected = s.n_rejected + (stepping & ~accept).astype(jnp.int32)
        fresh_event = jnp.where(running, at_event | (s.fresh_event & ~accept), s.fresh_event)
        # Remember what the controller proposes after the first accepted step following an event: the next dose
        # starts from it (and it grows by up to factor_max per dose until it is right-sized).
        dt_after_event = jnp.where(accept & fresh_event, dt_next, s.dt_after_event) if solver.adaptive else s.dt_after_event
        fresh_event = fresh_event & ~accept

        status = s.status
        status = jnp.where(accept & (t_new >= s.t_end), Status.SUCCESS, status)
        if solver.adaptive:
            # Underflow: the controller wants a step below dt_min, or so small that t + dt == t in this precision.
            resolution = 16 * jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(s.t), 1.0)
            underflow = stepping & ~accept & ((h * factor <= s.dt_min) | (h * factor <= resolution))
            status = jnp.where(underflow, jnp.where(finite, Status.STEP_SIZE_UNDERFLOW, Status.NONFINITE), status)
        else:
            status = jnp.where(stepping & ~finite, Status.NONFINITE, status)
        if overflow is not None:
            status = jnp.where(overflow, Status.EVENT_OVERFLOW, status)
        # Steps since the last checkpoint: an event applied or an output written in this iteration starts the count
        # again (CVODE's mxstep is per call, i.e. per output interval).
        since = jnp.where(out > s.out, 0, jnp.where(at_event, 1, s.since + 1))
        since = jnp.where(running, since, s.since)
        status = jnp.where((status == Status.RUNNING) & (since >= config.max_steps), Status.MAX_STEPS, status)

        keep = lambda new, old: lane(new, old, accept)
        return s._replace(
            iterations=s.iterations + 1,
            t=t_new,
            y=keep(y1, y),
            dt=jnp.where(running, dt_next, s.dt),
            dt_after_event=dt_after_event,
            carry=jax.tree_util.tree_map(keep, carry1, carry),
            prev_norm=prev_norm,
            dt_accepted=jnp.where(accept, lax.stop_gradient(h), jnp.where(at_event, 0.0, s.dt_accepted)),
            rejected=jnp.where(stepping, ~accept, s.rejected).astype(jnp.int32),
            status=status.astype(jnp.int32),
            n_steps=n_steps,
            n_rejected=n_rejected,
            event=event,
            u=u,
            out=out,
            saved=saved,
            fresh_event=fresh_event,
            since=since,
            cut=cut.astype(jnp.int32),  # the next iteration restarts the method where a step was cut
            ev_true=ev_true,
            ev_pending=ev_pending,
            ev_values=ev_values,
        )

    if W == N:
        # Every trajectory has a lane: all start before the loop, which then only steps (no queue to watch).
        state = refill(state)
        final = _unpack(lax.while_loop(cond, lambda q: _pack(step(_unpack(q))), _pack(state)))
    else:
        final = _unpack(lax.while_loop(cond, body, _pack(state)))
    final = record(final, final.active > 0)
    status = final.counts[0].astype(jnp.int8)
    failed = status != Status.SUCCESS
    saved = jnp.where(failed[None, None, :], jnp.nan, jnp.swapaxes(final.saved.reshape(len(rows), N, T), 1, 2))
    return LoopResult(saved, status, final.counts[1], final.counts[2], final.results[0], final.results[1:],
                      final.iterations)


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
    # a step size is the controller's choice, not a function to differentiate (dt_next is not differentiated
    # either): without this, an exactly integrated step (f1 == f0) gives d2 a NaN tangent through sqrt(0)
    return lax.stop_gradient(jnp.minimum(100 * h0, h1).astype(y0.dtype))
