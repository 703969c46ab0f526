"""The whole adaptive solve of each lane in one GPU kernel (Pallas): one patient per lane, state in registers.

:func:`vhtwin.solvers.loop.integrate` advances a batch in an XLA ``while_loop``: every iteration is a handful of
kernels over the whole batch, launched from the host side of the loop, with the state going through memory between
them. On a GPU that costs more than the arithmetic of a small model. Here the loop runs *inside* one kernel: a
program of ``block`` lanes (one patient per GPU thread) keeps its time, step size, state and stages in registers,
loads its doses and output times when it reaches them, and writes each saved value to the output buffer from the
kernel. Each program serves a queue of patients: a lane whose patient is done writes its results and takes the next
waiting one (lane refill), so a program ends when its queue is empty and its slowest lane done, independently of the
other programs.

The algorithm is the loop's, step for step: the same events (applied exactly at their time, outputs at an event time
are the pre-event values), the same Tsit5 step (:meth:`vhtwin.solvers.Tsit5.step_rows`), error norm, controller,
step limit and status codes. So its results agree with the loop's to rounding, which the tests check in Pallas'
interpret mode on CPU (how CI runs the kernel; it is slow there and meant for GPUs).

Supported: explicit adaptive methods with ``step_rows``/``interpolate_rows`` (Tsit5), event tables and output times
shared by the batch or per lane, piecewise-constant inputs. Not supported (the XLA loop runs them): state resets
(steady-state starts), derivatives through the solve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from .base import AbstractSolver, VectorField
from .loop import Events, LoopConfig, LoopResult, Outputs
from .status import Status
from .tsit5 import Tsit5

#: Lanes per kernel program on a GPU (one warp: a lane's divergence costs at most its warp's 31 neighbours).
BLOCK = 32
#: Kernel programs a batch is split into at least, when it is large enough: each program is one warp, and an H200
#: holds 132 x 64 warps at once (fewer programs would leave it idle); beyond that, programs serve longer queues
#: (lane refill) instead. Not yet tuned by measurement (benchmarks/gpu.py --kernel-blocks 32x1,32x3,32x8 does).
PROGRAMS = 8192


def default_depth(n_patients: int, block: int) -> int:
    """Patients per lane in each program's queue: 1 until the batch fills :data:`PROGRAMS` programs, then more."""
    return max(1, n_patients // (block * PROGRAMS))


def on_gpu() -> bool:
    """Whether JAX's default backend is a GPU (elsewhere the kernel runs in Pallas' interpret mode)."""
    return jax.default_backend() == "gpu"


class _Table:
    """A per-lane view of one flattened table: row ``index`` (B,) of a (rows, width) table shared or per lane."""

    def __init__(self, ref, rows: int, width: int, per_lane: bool, n_lanes: int):
        self.ref, self.rows, self.width, self.per_lane, self.n_lanes = ref, rows, width, per_lane, n_lanes

    def __call__(self, index, column: int, lanes):
        """Entry ``(index[b], column)`` for every lane b; ``index`` is clipped to the table (callers mask beyond)."""
        row = jnp.clip(index, 0, self.rows - 1)
        offset = row * self.width + column
        if self.per_lane:
            offset = offset * self.n_lanes + lanes
        return self.ref[offset]


def _flat(a, per_lane: bool):
    """A table (rows, [width,] Bt) flattened for :class:`_Table`: (rows*width,) shared or (rows*width*B,) per lane."""
    return a.reshape(-1) if per_lane else a[..., 0].reshape(-1)


def integrate(
    field: Callable[[tuple, tuple], VectorField],
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
    block: int | None = None,
    depth: int | None = None,
    interpret: bool | None = None,
) -> LoopResult:
    """Integrate B trajectories in one Pallas kernel; same arguments and result as :func:`vhtwin.solvers.integrate`
    except the vector field: ``field(p_rows, u_rows)`` builds it from tuples of per-lane rows inside the kernel.

    ``p`` (P, B) are the parameters; ``block`` the lanes per kernel program (a power of two, default
    :data:`BLOCK`); ``depth`` the patients per lane of a program's queue (default :func:`default_depth`);
    ``interpret`` runs the kernel in Pallas' interpret mode (default: unless on a GPU).
    """
    from jax.experimental import pallas as pl

    if events.reset is not None:
        raise ValueError("the lane kernel does not apply state resets; the integration loop does")
    if not solver.adaptive or not hasattr(solver, "step_rows"):
        raise ValueError(f"the lane kernel runs explicit adaptive methods with a row form; {solver.name!r} is not one")
    interpret = (not on_gpu()) if interpret is None else interpret
    block = BLOCK if block is None else int(block)
    if block < 1 or block & (block - 1):
        raise ValueError(f"block {block} must be a power of two (lanes per kernel program)")
    dtype = y0.dtype
    n, B = y0.shape
    P = p.shape[0]
    U = events.inputs.shape[1]
    E = events.times.shape[0]
    T = outputs.times.shape[0]
    rows = tuple(range(n)) if config.save_rows is None else tuple(config.save_rows)
    r = len(rows)
    ctrl = config.controller

    # Each kernel program serves a queue of `block * depth` patients with `block` lanes: a lane whose patient is done
    # takes the next waiting one (lane refill), so a lane idles only once its program's queue is empty. Patients are
    # padded to whole queues with copies of the last patient (solved, then dropped).
    depth = default_depth(B, block) if depth is None else max(1, int(depth))
    queue = block * depth
    width = -(-B // queue) * queue
    grow = lambda a: a if a.shape[-1] in (1, width) else jnp.concatenate(
        [a, jnp.repeat(a[..., -1:], width - a.shape[-1], axis=-1)], axis=-1)
    lane_rows = lambda a: grow(jnp.broadcast_to(a, a.shape[:-1] + (B,)) if a.shape[-1] == 1 else a)
    per = {name: getattr(events, name).shape[-1] > 1 for name in ("times", "jumps", "inputs", "initial_inputs")}
    times_per_lane = outputs.times.ndim == 2
    tables = [
        _flat(grow(events.times), per["times"]),
        _flat(grow(events.jumps), per["jumps"]),
        _flat(grow(events.inputs), per["inputs"]),
        _flat(grow(events.initial_inputs), per["initial_inputs"]),
        grow(outputs.times).reshape(-1) if times_per_lane else outputs.times,
    ]
    per_lane_arrays = [lane_rows(p).reshape(-1), lane_rows(y0).reshape(-1)] + [
        grow(jnp.broadcast_to(a, (B,))) for a in (t0, t_end, dt0, dt_min, dt_max)
    ]
    tolerances = [rtol, atol]
    saved0 = jnp.full((r * T * width,), jnp.nan, dtype)

    def kernel(times_ref, jumps_ref, inputs_ref, initial_ref, out_times_ref, p_ref, y0_ref, t0_ref, t_end_ref,
               dt0_ref, dt_min_ref, dt_max_ref, rtol_ref, atol_ref, saved_in_ref,
               saved_ref, status_ref, n_steps_ref, n_rejected_ref, t_final_ref, y_final_ref):
        del saved_in_ref  # aliased to saved_ref
        first = pl.program_id(0) * queue
        local = lax.broadcasted_iota(jnp.int32, (block,), 0)
        ev_time_tab = _Table(times_ref, E, 1, per["times"], width)
        jump_tab = _Table(jumps_ref, E, n, per["jumps"], width)
        input_tab = _Table(inputs_ref, E, U, per["inputs"], width)
        initial_tab = _Table(initial_ref, 1, U, per["initial_inputs"], width)
        out_tab = _Table(out_times_ref, T, 1, times_per_lane, width)
        rtol_s = tuple(rtol_ref[i] for i in range(n))
        atol_s = tuple(atol_ref[i] for i in range(n))
        inf = jnp.asarray(jnp.inf, dtype)
        zeros_i = jnp.zeros((block,), jnp.int32)
        zeros_f = jnp.zeros((block,), dtype)

        # Everything below reads the tables of the patient ``pid`` (B,) each lane holds.
        def event_time(index, pid):
            return jnp.where(index < E, ev_time_tab(index, 0, pid), inf)

        def output_time(index, pid):
            return jnp.where(index < T, out_tab(index, 0, pid), inf)

        def apply_event(index, where, y, pid):
            return tuple(jnp.where(where, y[i] + jump_tab(index, i, pid), y[i]) for i in range(n))

        def event_inputs(index, where, u, pid):
            return tuple(jnp.where(where, input_tab(index, c, pid), u[c]) for c in range(U))

        def save(index, write, values, pid):
            # Each lane writes its own patient's column; a masked lane's index stays inside that column.
            j = jnp.minimum(index, T - 1)
            for k in range(r):
                _store(saved_ref, (k * T + j) * width + pid, values[k], write, interpret)

        def begin(s, pid, take):
            """The lanes ``take`` start the patients ``pid``: outputs at t0, an event at t0, the first step.

            The other lanes keep their own patient: everything here reads and writes that patient's entries (a
            masked lane never touches another lane's patient, and never reads outside the tables)."""
            pid = jnp.where(take, pid, s["pid"])
            pick = lambda new, old: tuple(jnp.where(take, a, b) for a, b in zip(new, old))
            p_rows = pick([p_ref[i * width + pid] for i in range(P)], s["p"])
            y_init = tuple(y0_ref[i * width + pid] for i in range(n))
            t0_l = t0_ref[pid]
            at0 = take & (output_time(zeros_i, pid) <= t0_l)
            save(zeros_i, at0, tuple(y_init[i] for i in rows), pid)
            first_at_t0 = event_time(zeros_i, pid) <= t0_l
            y = apply_event(zeros_i, first_at_t0, y_init, pid)
            u_before = tuple(initial_tab(zeros_i, c, pid) for c in range(U))
            u = event_inputs(zeros_i, first_at_t0, u_before, pid)
            vf = field(p_rows, u)
            f0 = tuple(vf.rows(t0_l, y))
            dt_given, dt_min_l, dt_max_l = dt0_ref[pid], dt_min_ref[pid], dt_max_ref[pid]
            dt = jnp.where(jnp.isnan(dt_given), _initial_step(vf, t0_l, y, f0, solver.order, rtol_s, atol_s), dt_given)
            dt = jnp.clip(dt, dt_min_l, dt_max_l)
            t_end_l = t_end_ref[pid]
            new = dict(
                pid=pid, active=zeros_i + 1, p=p_rows, t_end=t_end_l, dt_min=dt_min_l, dt_max=dt_max_l,
                t=t0_l, y=y, dt=dt, dt_after_event=dt, k=f0, prev_norm=jnp.ones((block,), dtype),
                status=jnp.where(t0_l >= t_end_l, Status.SUCCESS, Status.RUNNING).astype(jnp.int32),
                n_steps=zeros_i, n_rejected=zeros_i, event=first_at_t0.astype(jnp.int32), u=u,
                out=at0.astype(jnp.int32), fresh_event=zeros_i, since=zeros_i,
            )
            out = dict(s)
            for key, value in new.items():
                out[key] = pick(value, s[key]) if isinstance(value, (tuple, list)) else jnp.where(take, value, s[key])
            return out

        empty = dict(
            pid=first + local, active=zeros_i, next=zeros_i + first + block, p=(zeros_f,) * P, t_end=zeros_f, dt_min=zeros_f,
            dt_max=zeros_f, t=zeros_f, y=(zeros_f,) * n, dt=zeros_f, dt_after_event=zeros_f, k=(zeros_f,) * n,
            prev_norm=zeros_f, status=zeros_i, n_steps=zeros_i, n_rejected=zeros_i, event=zeros_i,
            u=(zeros_f,) * U, out=zeros_i, fresh_event=zeros_i, since=zeros_i,
        )
        state = begin(empty, first + local, local >= 0)

        def cond(s):  # some lane holds a patient whose results are not written yet
            return jnp.max(s["active"]) > 0

        def body(s):
            pid = s["pid"]
            running = s["status"] == Status.RUNNING
            t_end_l, dt_min_l, dt_max_l = s["t_end"], s["dt_min"], s["dt_max"]

            # 1. the event this lane sits on
            at_event = running & (s["t"] >= event_time(s["event"], pid))
            y = apply_event(s["event"], at_event, s["y"], pid)
            u = event_inputs(s["event"], at_event, s["u"], pid)
            event = s["event"] + at_event.astype(jnp.int32)
            vf = field(s["p"], u)
            fresh = tuple(vf.rows(s["t"], y))
            k0 = tuple(jnp.where(at_event, a, b) for a, b in zip(fresh, s["k"]))
            dt = jnp.where(at_event, s["dt_after_event"], s["dt"])

            # 2. the step: never past the next event or the end
            limit = jnp.minimum(event_time(event, pid), t_end_l)
            hits_limit = s["t"] + dt >= limit - 4 * jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(limit), 1.0)
            t1 = jnp.where(hits_limit, limit, s["t"] + dt)
            h = t1 - s["t"]
            h = jnp.where(running, h, jnp.ones_like(h))

            # 3. step, error, accept
            y1, err, dense, k1 = solver.step_rows(vf, s["t"], y, h, k0)
            finite = _all([jnp.isfinite(v) for v in y1])
            norm = ctrl.error_norm_rows(y, y1, err, rtol_s, atol_s)
            accept, factor = ctrl.factor(norm, jnp.where(at_event, 1.0, s["prev_norm"]), solver.error_order)
            accept = accept & finite
            dt_next = jnp.clip(h * factor, dt_min_l, dt_max_l)
            dt_next = jnp.where(accept & hits_limit, jnp.maximum(dt_next, jnp.minimum(dt, dt_max_l)), dt_next)
            prev_norm = jnp.where(accept, norm, s["prev_norm"])
            accept = accept & running

            # 4. every output inside (t, t1], written from the kernel
            def unsaved(o):
                return jnp.max((accept & (output_time(o, pid) <= t1)).astype(jnp.int32)) > 0

            def save_next(o):
                t_o = output_time(o, pid)
                write = accept & (t_o <= t1)
                theta = jnp.where(write, (t_o - s["t"]) / h, 1.0).astype(dtype)
                save(o, write, solver.interpolate_rows(dense, theta, rows), pid)
                return o + write.astype(jnp.int32)

            out = lax.while_loop(unsaved, save_next, s["out"])

            # 5. commit
            t_new = jnp.where(accept, t1, s["t"])
            fresh_event = jnp.where(running, at_event | ((s["fresh_event"] > 0) & ~accept), s["fresh_event"] > 0)
            dt_after_event = jnp.where(accept & fresh_event, dt_next, s["dt_after_event"])
            fresh_event = fresh_event & ~accept
            status = s["status"]
            status = jnp.where(accept & (t_new >= t_end_l), Status.SUCCESS, status)
            resolution = 16 * jnp.finfo(dtype).eps * jnp.maximum(jnp.abs(s["t"]), 1.0)
            underflow = running & ~accept & ((h * factor <= dt_min_l) | (h * factor <= resolution))
            status = jnp.where(underflow, jnp.where(finite, Status.STEP_SIZE_UNDERFLOW, Status.NONFINITE), status)
            since = jnp.where(out > s["out"], 0, jnp.where(at_event, 1, s["since"] + 1))
            since = jnp.where(running, since, s["since"])
            status = jnp.where((status == Status.RUNNING) & (since >= config.max_steps), Status.MAX_STEPS, status)
            keep = lambda new, old: jnp.where(accept, new, old)
            s = dict(
                s, t=t_new, y=tuple(keep(a, b) for a, b in zip(y1, y)), dt=jnp.where(running, dt_next, s["dt"]),
                dt_after_event=dt_after_event, k=tuple(keep(a, b) for a, b in zip(k1, k0)), prev_norm=prev_norm,
                status=status.astype(jnp.int32), n_steps=s["n_steps"] + accept.astype(jnp.int32),
                n_rejected=s["n_rejected"] + (running & ~accept).astype(jnp.int32), event=event, u=u, out=out,
                fresh_event=fresh_event.astype(jnp.int32), since=since,
            )

            # 6. a finished patient's results are written and its lane takes the next waiting patient, if any
            done = (s["active"] > 0) & (s["status"] != Status.RUNNING)
            _store(status_ref, pid, s["status"], done, interpret)
            _store(n_steps_ref, pid, s["n_steps"], done, interpret)
            _store(n_rejected_ref, pid, s["n_rejected"], done, interpret)
            _store(t_final_ref, pid, s["t"], done, interpret)
            for i in range(n):
                _store(y_final_ref, i * width + pid, s["y"][i], done, interpret)
            rank = (jnp.cumsum(done.astype(jnp.int32)) - 1).astype(jnp.int32)
            wanted = s["next"] + rank
            take = done & (wanted < first + queue)
            s = dict(s, active=jnp.where(done & ~take, 0, s["active"]),
                     next=s["next"] + jnp.sum(done.astype(jnp.int32)).astype(jnp.int32))
            return lax.cond(jnp.max(take.astype(jnp.int32)) > 0, lambda x: begin(x, wanted, take), lambda x: x, s)

        lax.while_loop(cond, body, state)

    ins = tables + per_lane_arrays + tolerances + [saved0]
    out_shape = (
        jax.ShapeDtypeStruct((r * T * width,), dtype),
        jax.ShapeDtypeStruct((width,), jnp.int32),
        jax.ShapeDtypeStruct((width,), jnp.int32),
        jax.ShapeDtypeStruct((width,), jnp.int32),
        jax.ShapeDtypeStruct((width,), dtype),
        jax.ShapeDtypeStruct((n * width,), dtype),
    )
    call = pl.pallas_call(
        kernel,
        out_shape=out_shape,
        grid=(width // queue,),
        input_output_aliases={len(ins) - 1: 0},
        interpret=interpret,
        compiler_params=None if interpret else _gpu_params(block),
        name="vhtwin_lane_kernel",
    )
    saved, status, n_steps, n_rejected, t_final, y_final = call(*ins)
    failed = status[:B] != Status.SUCCESS
    saved = jnp.where(failed[None, None, :], jnp.nan, saved.reshape(r, T, width)[..., :B])
    return LoopResult(saved, status[:B].astype(jnp.int8), n_steps[:B], n_rejected[:B], t_final[:B],
                      y_final.reshape(n, width)[:, :B])


def _store(ref, offset, value, mask, interpret: bool):
    """``ref[offset] = value`` where ``mask`` (a scatter from the kernel; masked lanes write nothing)."""
    from jax.experimental.pallas import triton as plgpu

    if not interpret:
        plgpu.store(ref.at[offset], value, mask=mask)
    else:
        # interpret mode: a read-modify-write of the lane's own entries (equal to a masked store)
        ref[offset] = jnp.where(mask, value, ref[offset])


def _gpu_params(block: int):
    from jax.experimental.pallas import triton as plgpu

    # one GPU thread per lane: a warp per 32 lanes
    return plgpu.CompilerParams(num_warps=max(1, block // 32), num_stages=1)


def _all(flags):
    total = flags[0]
    for f in flags[1:]:
        total = total & f
    return total


def _initial_step(vf, t0, y0, f0, order, rtol, atol):
    """The loop's first-step estimate (Hairer, Norsett & Wanner II.4) on rows."""
    n = len(y0)
    scale = [atol[i] + rtol[i] * jnp.abs(y0[i]) for i in range(n)]
    rms = lambda x: jnp.sqrt(sum((x[i] / scale[i]) ** 2 for i in range(n)) / n)
    d0, d1 = rms(y0), rms(f0)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.maximum(d1, 1e-300))
    y1 = tuple(y0[i] + h0 * f0[i] for i in range(n))
    f1 = tuple(vf.rows(t0 + h0, y1))
    d2 = rms(tuple(f1[i] - f0[i] for i in range(n))) / h0
    dmax = jnp.maximum(d1, d2)
    h1 = jnp.where(dmax <= 1e-15, jnp.maximum(1e-6, h0 * 1e-3), (0.01 / jnp.maximum(dmax, 1e-300)) ** (1.0 / (order + 1)))
    return jnp.minimum(100 * h0, h1).astype(y0[0].dtype)


@dataclass(frozen=True)
class Tsit5Kernel(Tsit5):
    """Tsit5 with every lane's whole solve in one GPU kernel (:func:`integrate`): ``solver="tsit5_kernel"``.

    The same method, step control and results as ``"tsit5"`` (to rounding); the integration runs as a Pallas kernel
    (Triton on NVIDIA GPUs, interpret mode elsewhere, which is slow and meant for tests).
    """

    name = "tsit5_kernel"
    backend = "kernel"
