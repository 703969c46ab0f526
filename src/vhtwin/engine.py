"""The compiled solve behind ``simulate``: model equations + method + loop, jitted once, split over devices.

``compiled_solve(model, method, config, ...)`` returns a jitted function of flat arrays

    solve(p (P, B), y0 (n, B), t0 (B,), t_end (B,), events, out_times, dt0, dt_min, dt_max, rtol (n,), atol (n,))
        -> states (n, T, B), observables (m, T, B), status (B,), n_steps (B,), n_rejected (B,)

with forward-mode sensitivities attached (``jax.custom_jvp`` with respect to ``p`` and ``y0``), so ``jax.jacfwd``
*and* ``jax.grad`` work through it although the loop is a ``while_loop`` (which has no reverse-mode rule). The
derivative is that of the discrete solution for the step sequence the solve chose (step sizes are held fixed:
``stop_gradient`` on the controller), computed by propagating one tangent per parameter and initial state through
the same loop. That costs about (1 + P + n) solves, which is right for the few-parameter problems of calibration.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .model import Model
from .solvers import AbstractSolver, LoopConfig, VectorField, integrate
from .solvers.loop import Events, Outputs

#: Smallest number of patients per device worth a split (below it, one device is faster).
MIN_LANES_PER_DEVICE = 64


def device_split(n_patients: int) -> int:
    """How many local devices share a batch: all of them once each gets at least MIN_LANES_PER_DEVICE lanes."""
    n_dev = len(jax.local_devices())
    return max(1, min(n_dev, n_patients // MIN_LANES_PER_DEVICE))


def _solve_fn(model: Model, method: AbstractSolver, config: LoopConfig, occasion_rows: tuple[int, ...] = ()):
    """The solve on one device's lanes, without jit or sensitivities.

    ``occasion_rows`` (inter-occasion variability, :mod:`vhtwin.protocols.occasions`): parameter rows whose values come from
    the trailing input channels of the event table (one channel per row, after the model's own inputs) instead of
    ``p``, so they switch at events like inputs do: in the vector field, in each event's dose fractions, and in the
    observables (the values in force just before each output time). Empty: the plain solve, unchanged.
    """
    row_rhs = jax.vmap(model.row_rhs, in_axes=(0, 0, 0, 0))
    observe = jax.vmap(jax.vmap(model.flat_observables, in_axes=(0, 1, None), out_axes=1), in_axes=(1, 2, 1), out_axes=2)
    U = len(model.dosable_states) + len(model.inputs)  # the model's own input channels

    def vector_field(p, u):
        p_rows = [p[i] for i in range(p.shape[0])]
        for j, r in enumerate(occasion_rows):
            p_rows[r] = u[U + j]
        u_rows = tuple(u[i] for i in range(U if occasion_rows else u.shape[0]))
        p_rows = tuple(p_rows)
        return VectorField(lambda t, y_rows: row_rhs(t, tuple(y_rows), p_rows, u_rows))

    def with_tail(p, tail):
        """``p`` (P, ..., B) with the occasion rows replaced by ``tail`` (V, ..., B)."""
        rows = [p[i] for i in range(p.shape[0])]
        for j, r in enumerate(occasion_rows):
            rows[r] = jnp.broadcast_to(tail[j], rows[r].shape)
        return jnp.stack(rows)

    def solve(p, y0, t0, t_end, events, out_times, dt0, dt_min, dt_max, rtol, atol):
        if model.has_bioavailability and occasion_rows:  # each event's dose fractions from the occasion in force
            E, B = events.times.shape[0], p.shape[1]
            tail = jnp.moveaxis(events.inputs[:, U:, :], 1, 0)  # (V, E, Bt)
            p_ev = with_tail(jnp.broadcast_to(p[:, None, :], (p.shape[0], E, B)), tail)
            events = events._replace(jumps=events.jumps * jnp.moveaxis(model.dose_fractions(p_ev), 1, 0))
        elif model.has_bioavailability:  # doses scaled per patient, inside the solve (so differentiable)
            events = events._replace(jumps=events.jumps * model.dose_fractions(p)[None])
        res = integrate(
            lambda u: vector_field(p, u), method, config, t0, y0, t_end, events, Outputs(out_times),
            dt0, dt_min, dt_max, rtol, atol,
        )
        (n, B), T = y0.shape, out_times.shape[0]
        t_grid = out_times if out_times.ndim == 2 else jnp.broadcast_to(out_times[:, None], (T, B))
        # Observables read only the saved rows (config.save_rows holds every state they depend on); the other rows
        # are filled with zeros that no observable reads.
        rows = range(n) if config.save_rows is None else config.save_rows
        where = {r: k for k, r in enumerate(rows)}
        zeros = jnp.zeros((T, B), y0.dtype)
        full = jnp.stack([res.saved[where[i]] if i in where else zeros for i in range(n)])
        if occasion_rows:
            observed = observe_in_occasions(t_grid, full, p, events)
        else:
            observed = observe(t_grid, full, p)  # (m, T, B)
        return res.saved, observed, res.status, res.n_steps, res.n_rejected

    observe_per_time = jax.vmap(
        jax.vmap(model.flat_observables, in_axes=(0, 1, 1), out_axes=1), in_axes=(1, 2, 2), out_axes=2
    )

    def observe_in_occasions(t_grid, full, p, events):
        """Observables with the parameters in force just before each output time (the left limit at an event)."""
        T, B = t_grid.shape
        V = len(occasion_rows)
        # the last event strictly before each output (0: none, the initial inputs)
        count = jnp.sum(events.times[:, None, :] < t_grid[None], axis=0)  # (T, B)
        table = jnp.concatenate([events.initial_inputs[None, U:, :], events.inputs[:, U:, :]], axis=0)  # (E+1, V, Bt)
        table = jnp.broadcast_to(table, table.shape[:2] + (B,))
        idx = jnp.broadcast_to(count[:, None, :], (T, V, B))
        tail = jnp.moveaxis(jnp.take_along_axis(table, idx, axis=0), 1, 0)  # (V, T, B)
        p_t = with_tail(jnp.broadcast_to(p[:, None, :], (p.shape[0], T, B)), tail)
        return observe_per_time(t_grid, full, p_t)

    return solve


def _with_sensitivities(solve):
    """Attach forward-mode sensitivities with respect to ``p`` and ``y0`` (see the module docstring)."""

    @jax.custom_jvp
    def differentiable(p, y0, *rest):
        return solve(p, y0, *rest)

    @differentiable.defjvp
    def _jvp(primals, tangents):
        p, y0, *rest = primals
        dp, dy0 = tangents[0], tangents[1]
        P, B = p.shape
        n = y0.shape[0]

        def directional(vp, vy):
            return jax.jvp(lambda a, b: solve(a, b, *rest)[:2], (p, y0), (vp, vy))

        # One tangent per parameter and per initial state, all in one batched loop, each set in every lane at once
        # (lanes are independent, so lane b's tangent output is lane b's column of the Jacobian).
        eye = jnp.eye(P + n, dtype=p.dtype)
        basis_p = jnp.broadcast_to(eye[:, :P, None], (P + n, P, B))
        basis_y = jnp.broadcast_to(eye[:, P:, None], (P + n, n, B))
        _, jac = jax.vmap(directional)(basis_p, basis_y)
        primal_out = solve(p, y0, *rest)
        direction = jnp.concatenate([dp, dy0], axis=0)  # (P + n, B)
        t_states = jnp.einsum("jxtb,jb->xtb", jac[0], direction)
        t_obs = jnp.einsum("jxtb,jb->xtb", jac[1], direction)
        int_zero = lambda a: np.zeros(a.shape, dtype=jax.dtypes.float0)
        return primal_out, (t_states, t_obs, *(int_zero(a) for a in primal_out[2:]))

    return differentiable


@functools.lru_cache(maxsize=64)
def compiled_solve(
    model: Model,
    method: AbstractSolver,
    config: LoopConfig,
    n_devices: int = 1,
    events_batched: bool = False,
    times_batched: bool = False,
    resets: bool = False,
    occasion_rows: tuple[int, ...] = (),
):
    """One jitted solve per (model, method, loop settings, device split); jax.jit adds the per-shape cache."""
    solve = _with_sensitivities(_solve_fn(model, method, config, occasion_rows))
    if n_devices == 1:
        return jax.jit(solve)
    # Each device integrates its own slice of the batch in its own loop (no cross-device step synchronisation):
    # lanes are independent, so a shard finishes when its own slowest lane does.
    from jax.sharding import Mesh, PartitionSpec as S

    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("batch",))
    lane, row_lane, rep = S("batch"), S(None, "batch"), S()
    if events_batched:
        events_spec = Events(S(None, "batch"), S(None, None, "batch"), S(None, None, "batch"), S(None, "batch"),
                             S(None, "batch") if resets else None, S(None, None, "batch") if resets else None)
    else:
        events_spec = Events(rep, rep, rep, rep, rep if resets else None, rep if resets else None)
    in_specs = (row_lane, row_lane, lane, lane, events_spec, row_lane if times_batched else rep, lane, lane, lane, rep, rep)
    out_specs = (S(None, None, "batch"), S(None, None, "batch"), lane, lane, lane)
    return jax.jit(jax.shard_map(solve, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False))
