"""State-triggered events inside the batched integration loop (:mod:`.loop`).

A model's events reach the loop as :class:`StateEvents` (functions of W lanes and static flags, built by the engine
from :class:`vhtwin.Event` declarations); :class:`EventRunner` holds what the loop does with them on each lane:

* after every accepted step, :meth:`EventRunner.locate` looks at the triggers at the step's end; a trigger that
  turned true inside the step has its crossing located by bisection on the step's dense output (keeping the end of
  the bracket where it is true), and the step is cut there;
* at the start of every iteration, :meth:`EventRunner.execute` looks at the triggers again, schedules delayed events,
  and executes the first due event by priority -- one per iteration, without a step, so that events cascading at
  one time run one after the other, each trigger looked at again after each;
* before the loop, :meth:`EventRunner.start` executes the events that fire at the start (initial value false) as
  part of the initial state.

Each lane keeps a record per event (``ev_true``): 0 trigger false, 1 true, 2 turned true at the end of the last
step (fire at the next look), 3 triggered at this time and waiting for an event of higher priority (its values,
computed when it triggered, kept in slot 0). Delayed executions wait in :data:`EVENT_QUEUE` slots per event.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax


class StateEvents(NamedTuple):
    """A model's G state-triggered events, as the loop runs them (functions of W lanes, static flags per event).

    triggers : ``(t (W,), y (n, W), p (P, W)) -> (G, W)``; event k's trigger is true where row k is ``>= 0``
    assign : ``(t, y, p) -> (G, n, W)``: the state after event k computed from ``y`` (rows it does not set: ``y``'s)
    delays : ``(t, y, p) -> (G, W)``: the delays of delayed events (other rows unused)
    priorities : ``(t, y, p) -> (G, W)``: events at one time run highest first (ties: the lower index first)
    assigned : per event, the state rows it sets
    delayed, persistent, initial_value, values_at_trigger : per event, see :class:`vhtwin.Event`
    """

    triggers: Callable
    assign: Callable
    delays: Callable
    priorities: Callable
    assigned: tuple[tuple[int, ...], ...]
    delayed: tuple[bool, ...]
    persistent: tuple[bool, ...]
    initial_value: tuple[bool, ...]
    values_at_trigger: tuple[bool, ...]


#: Executions of one delayed event that may be pending at once on a trajectory (a trigger that turns true again
#: while this many wait stops the trajectory with ``EVENT_OVERFLOW``).
EVENT_QUEUE = 8

#: Bisection halvings of a step to locate a trigger's crossing: the step's fraction to below float64's resolution.
ROOT_HALVINGS = 56



class EventRunner:
    """What the loop does with a model's :class:`StateEvents` on W lanes of an n-state system (see the module
    docstring). ``G`` events, ``Q`` slots of pending executions per event (1 without delayed events)."""

    def __init__(self, events: StateEvents, n: int, solver, dtype):
        self.events, self.solver, self.dtype = events, solver, dtype
        self.G = len(events.delayed)
        self.Q = EVENT_QUEUE if any(events.delayed) else 1
        flags = lambda xs: jnp.asarray(xs, bool)[:, None]
        self.delayed, self.persistent = flags(events.delayed), flags(events.persistent)
        self.at_trigger = flags(events.values_at_trigger)[:, :, None]
        self.mask = jnp.asarray([[r in events.assigned[k] for r in range(n)] for k in range(self.G)], bool)[:, :, None]
        self.start_records = jnp.asarray(events.initial_value, jnp.int32)[:, None]

    def first_of(self, which, t, y, p):
        """Per lane, the event of highest priority among ``which`` (G, W) (ties: the first declared)."""
        return jnp.argmax(jnp.where(which, self.events.priorities(t, y, p), -jnp.inf), axis=0)

    def pending_limit(self, ev_pending):
        """The earliest pending execution per lane (a step never passes it), or None without delayed events."""
        return jnp.min(ev_pending, axis=(0, 1)) if any(self.events.delayed) else None

    def execute(self, t, p, y, running, ev_true, ev_pending, ev_values):
        """State events at the lane's current time: triggers looked at, delayed ones scheduled, and the first due
        event in order of precedence executed. Returns the state, which lanes executed one, the trigger records,
        the pending executions, their values, and which lanes overflowed (an event triggered while pending).

        ``ev_true`` holds 0 (trigger false), 1 (true), 2 (turned true: a crossing located at the end of the last
        step) or 3 (triggered at this time, waiting for an event before it in precedence; its values computed
        then are kept)."""
        now = self.events.triggers(t, y, p) >= 0
        fresh = running[None] & (((ev_true == 0) & now) | (ev_true == 2))  # triggers turning true now
        # events that triggered at this time but waited for one before them: still to run (a non-persistent one
        # only while its trigger holds)
        held = running[None] & (ev_true == 3) & (self.persistent | now)
        newly = fresh | held
        schedule = fresh & self.delayed
        pending = ev_pending  # (G, Q, W)
        free = ~jnp.isfinite(pending)
        # the first free slot of each event that triggers now
        slot = (jnp.arange(self.Q)[None, :, None] == jnp.argmax(free, axis=1)[:, None, :])
        slot = slot & jnp.any(free, axis=1)[:, None] & schedule[:, None]
        overflow = jnp.any(schedule & ~jnp.any(free, axis=1), axis=0)
        if any(self.events.delayed):
            pending = jnp.where(slot, (t + self.events.delays(t, y, p))[:, None], pending)
        # the pending executions of a non-persistent event are dropped when its trigger turns false
        pending = jnp.where((~self.persistent & ~(now | fresh) & running[None])[:, None], jnp.inf, pending)
        due_slots = running[None, None] & (pending <= t)
        due = jnp.any(due_slots, axis=1)
        candidates = (newly & ~self.delayed) | due
        executed = jnp.any(candidates, axis=0)
        # each event's earliest due execution
        first = jnp.argmin(jnp.where(due_slots, pending, jnp.inf), axis=1)  # (G, W)
        first_slot = (jnp.arange(self.Q)[None, :, None] == first[:, None, :])

        def fire(_):
            computed = self.events.assign(t, y, p)  # (G, n, W)
            best = self.first_of(candidates, t, y, p)  # (W,)
            chosen = (jnp.arange(self.G)[:, None] == best[None]) & executed[None]
            # values kept from the trigger: a delayed execution's slot, a waiting event's slot 0
            keep = slot | (fresh & ~self.delayed)[:, None] & (jnp.arange(self.Q) == 0)[None, :, None]
            values = jnp.where(keep[:, :, None], computed[:, None], ev_values)
            kept = jnp.where(due[:, None], jnp.take_along_axis(values, first[:, None, None, :], axis=1)[:, 0],
                             values[:, 0])
            source = jnp.where((due | held)[:, None] & self.at_trigger, kept, computed)
            after = jnp.where(self.mask, source, y[None])
            y_new = jnp.take_along_axis(after, best[None, None, :], axis=0)[0]
            return jnp.where(executed[None], y_new, y), chosen, values

        def rest(_):
            return y, jnp.zeros_like(candidates), ev_values

        y, chosen, values = lax.cond(jnp.any(candidates | schedule), fire, rest, None)
        pending = jnp.where((chosen & self.delayed)[:, None] & first_slot, jnp.inf, pending)
        waiting = candidates & ~chosen & ~self.delayed
        record = jnp.where(waiting, 3, jnp.where(newly, 1, now.astype(jnp.int32)))
        ev_true = jnp.where(running[None], record, ev_true)
        return y, executed, ev_true, pending, values, overflow & running

    def start(self, t0, y, p):
        """Events that fire at the start (trigger true there, initial value false, no delay) are part of the initial
        state: executed on every trajectory before anything is saved, one per round in order of precedence (each
        round looks at every trigger again, so they may cascade). Returns the state and the trigger records."""
        t, p_all, N = t0, p, y.shape[1]

        def round_(carry):
            k, y, record, values, _ = carry
            now = self.events.triggers(t, y, p_all) >= 0
            fresh = (record == 0) & now & ~self.delayed
            held = (record == 3) & (self.persistent | now)  # triggered in an earlier round, waiting for its turn
            candidates = fresh | held
            computed = self.events.assign(t, y, p_all)
            values = jnp.where(fresh[:, None], computed, values)
            source = jnp.where(held[:, None] & self.at_trigger, values, computed)
            best = self.first_of(candidates, t, y, p_all)
            any_fire = jnp.any(candidates, axis=0)
            after = jnp.where(self.mask, source, y[None])
            y = jnp.where(any_fire[None], jnp.take_along_axis(after, best[None, None, :], axis=0)[0], y)
            chosen = (jnp.arange(self.G)[:, None] == best[None]) & any_fire[None]
            record = jnp.where(chosen, 1, jnp.where(candidates, 3, jnp.where(self.delayed, record,
                                                                                 now.astype(jnp.int32))))
            return k + 1, y, record, values, jnp.any(any_fire)

        record = jnp.broadcast_to(self.start_records, (self.G, N)).astype(jnp.int32)
        # each round runs one event per trajectory, until none is left to run
        rounds = 2 * sum(not d for d in self.events.delayed)
        start = (0, y, record, jnp.zeros((self.G,) + y.shape, y.dtype), jnp.asarray(True))
        _, y, record, _, _ = lax.while_loop(lambda c: (c[0] < rounds) & c[4], round_, start)
        return y, record

    def locate(self, t, p, h, t1, y1, dense, accept, ev_true):
        """A trigger turned true inside the accepted step: the step cut at the earliest crossing (bisection on the
        dense output, keeping the end where a trigger is true) and the crossed events armed for the next look."""
        g1 = self.events.triggers(t1, y1, p)
        cross = accept[None] & (ev_true == 0) & (g1 >= 0)
        crossing = jnp.any(cross, axis=0)
        ones = jnp.ones_like(h)

        def bisect(_):
            def worst(theta):
                g = self.events.triggers(t + theta * h, self.solver.interpolate(dense, theta), p)
                return jnp.max(jnp.where(cross, g, -jnp.inf), axis=0)

            def halve(_, bounds):
                lo, hi = bounds
                mid = (0.5 * (lo + hi)).astype(self.dtype)
                up = worst(mid) >= 0
                return jnp.where(up, lo, mid), jnp.where(up, mid, hi)

            _, theta = lax.fori_loop(0, ROOT_HALVINGS, halve, (jnp.zeros_like(h), ones))
            theta = lax.stop_gradient(jnp.where(crossing, theta, ones))
            cut = theta < 1
            y_b, dy = jax.jvp(lambda th: self.solver.interpolate(dense, th), (theta,), (ones,))
            g_b, dg = jax.jvp(lambda th: self.events.triggers(t + th * h, self.solver.interpolate(dense, th), p),
                              (theta,), (ones,))
            # How the crossing moves with the parameters (implicit function theorem on g(t*, y(t*), p) = 0): a shift
            # that is zero, with derivative -(dg/dp) / (dg/dt) -- so derivatives through the solve (calibration,
            # sensitivities) see the event move. A trigger flat in time (a step function) moves nothing.
            which = jnp.argmax(jnp.where(cross, lax.stop_gradient(g_b), -jnp.inf), axis=0)
            g_k = jnp.take_along_axis(g_b, which[None], axis=0)[0]
            slope = lax.stop_gradient(jnp.take_along_axis(dg, which[None], axis=0)[0] / h)
            steep = jnp.isfinite(slope) & (slope != 0)
            shift = jnp.where(steep, -(g_k - lax.stop_gradient(g_k)) / jnp.where(steep, slope, 1.0), 0.0)
            t_cut = jnp.where(cut, t + theta * h + shift, t1)
            y_cut = jnp.where(cut[None], y_b + lax.stop_gradient(dy / h) * shift, y1)
            return t_cut, y_cut, cut, self.events.triggers(t_cut, y_cut, p)

        t_cut, y_cut, cut, g_end = lax.cond(jnp.any(crossing), bisect, lambda _: (t1, y1, crossing & False, g1), None)
        true_end = g_end >= 0
        record = jnp.where(ev_true == 1, true_end, jnp.where(true_end, 2, 0)).astype(jnp.int32)
        return t_cut, y_cut, cut, jnp.where(accept[None], record, ev_true)
