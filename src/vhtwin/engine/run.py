"""Run a prepared :class:`~vhtwin.engine.problem.Problem` on its backend: one compiled program per key, the design
passed to it as data.

The backend comes from the problem's method (``method.backend``, a name in :data:`BACKENDS`). Its layout (padded
numpy arrays) is built once per problem and device split and kept on the problem. Parameters and initial states are
either the problem's own (numpy: the arrays go to the program as they are, nothing else is compiled) or JAX arrays
inside a caller's trace (``vh.Simulator``: calibration, gradients), padded to the lanes with ``jnp`` there.
"""

from __future__ import annotations

from typing import Hashable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..solvers import Status
from .backend import Backend, Layout, as_dtype
from .exact import ExactBackend
from .kernel import KernelBackend
from .ode import OdeBackend

#: Backends by name; a method names its backend (``AbstractSolver.backend``).
BACKENDS: dict[str, Backend] = {b.name: b for b in (OdeBackend(), ExactBackend(), KernelBackend())}


def backend_of(problem) -> Backend:
    return BACKENDS[problem.method.backend]


def layout(problem, n_devices: int | None = None) -> Layout:
    """The problem's layout for its backend and a device split (default: what the backend chooses), cached."""
    backend = backend_of(problem)
    n_dev = backend.devices(problem.n_patients) if n_devices is None else min(n_devices, backend.devices(problem.n_patients))
    key = ("layout", backend.name, n_dev)
    if key not in problem.cache:
        problem.cache[key] = backend.layout(problem, n_dev)
    return problem.cache[key]


def host_design(problem, n_devices: int | None = None) -> tuple[dict, dict]:
    """The problem's design as the arrays its program reads, ``(lanes, shared)``, in its precision (cached).

    Pass them (or another design of the same layout key and shapes) to :func:`run` as ``design=`` from inside a
    trace to make them arguments of the traced program rather than constants compiled into it.
    """
    lay = layout(problem, n_devices)
    key = ("design", lay.key, lay.total)
    if key not in problem.cache:
        dtype = np.float64 if problem.precision == "float64" else np.float32
        problem.cache[key] = (as_dtype(lay.lanes, dtype), as_dtype(lay.shared, dtype))
    return problem.cache[key]


def run(problem, params=None, y0=None, *, n_devices: int | None = None, design=None, states: bool = True):
    """Outputs of ``problem`` in the engine's layout, for its real patients.

    ``params`` (P, B) and ``y0`` (n, B) default to the problem's; given, they may be JAX arrays (traced,
    differentiable). ``design`` (default: the problem's own, :func:`host_design`) may be traced too. Returns states
    (r, T, B), observables (m, T, B), status (B,), n_steps (B,), n_rejected (B,): numpy arrays when nothing was
    traced, JAX arrays otherwise. ``states=False``: the caller needs no state, so none is copied to the host (the
    states are then None) -- on a GPU, copying outputs to the host takes longer than the solve.
    """
    pr = problem
    lay = layout(pr, n_devices)
    dtype = np.float64 if pr.precision == "float64" else np.float32
    traced = params is not None or y0 is not None or design is not None
    n, total = pr.n_patients, lay.total
    lanes, shared = host_design(pr, n_devices) if design is None else design
    if traced:
        xp = jnp
        p = jnp.asarray(pr.params if params is None else params).astype(dtype)
        y = jnp.asarray(pr.y0 if y0 is None else y0).astype(dtype)
    else:
        xp = np
        p, y = pr.params.astype(dtype), pr.y0.astype(dtype)
    p, y = _widen(xp, p, n, total), _widen(xp, y, n, total)
    skip = () if states or traced else (0,)
    result = execute(Compiled(backend_of(pr).name, lay.key, lay.width, lay.n_chunks), p, y, lanes, shared,
                     numpy=not traced, skip=skip)
    T = pr.out_times.shape[-1]  # the program's output axis is a bucket: keep the real output times
    saved, observed, *per_lane = result
    result = (None if saved is None else saved[:, :T, :n], observed[:, :T, :n], *(x[..., :n] for x in per_lane))
    return _flag_unreached(pr, result, xp)


class Compiled(NamedTuple):
    """Everything static about a compiled solve: the backend, its program's key and the lane chunks (hashable)."""

    backend: str
    key: Hashable
    width: int
    n_chunks: int

    @classmethod
    def of(cls, problem, n_devices: int | None = None, sensitivities: tuple[int, ...] | None = None) -> "Compiled":
        """The compiled solve of ``problem``; ``sensitivities``: differentiable only with respect to those parameter
        rows (:func:`vhtwin.engine.sensitivities.with_sensitivities`), for callers that hold the rest constant."""
        lay = layout(problem, n_devices)
        key = lay.key if sensitivities is None else lay.key._replace(sensitivities=tuple(sensitivities))
        return cls(backend_of(problem).name, key, lay.width, lay.n_chunks)


def execute(compiled: Compiled, p, y0, lanes, shared, *, numpy: bool = False, skip: tuple[int, ...] = ()):
    """The program of ``compiled`` over all its lanes ``(P, width * n_chunks)``, chunk by chunk: the padded outputs
    (output axis a bucket, every lane). Any argument may be traced: inside a ``jax.jit`` the design is then data
    of the caller's program, which is how calibration reuses one compiled search for every patient. With
    ``numpy``, the outputs are copied to the host, except those at the positions ``skip`` (returned as None)."""
    program = BACKENDS[compiled.backend].program(compiled.key)
    chunks = []
    for c in range(compiled.n_chunks):
        cut = slice(c * compiled.width, (c + 1) * compiled.width)
        part = lambda a: a[..., cut]
        chunk_lanes = jax.tree_util.tree_map(lambda a: a if np.ndim(a) == 0 else part(a), lanes)
        chunks.append(program(part(p), part(y0), chunk_lanes, shared))
    if numpy:
        chunks = [[None if i in skip else np.asarray(x) for i, x in enumerate(out)] for out in chunks]
    xp = np if numpy else jnp
    join = lambda parts: None if parts[0] is None else xp.concatenate(parts, axis=-1)
    return chunks[0] if len(chunks) == 1 else [join(parts) for parts in zip(*chunks)]


def _widen(xp, a, n: int, total: int):
    """(rows, 1) or (rows, n) -> (rows, total): a shared column is broadcast, extra lanes copy the last patient."""
    if a.shape[-1] == 1:
        return xp.broadcast_to(a, a.shape[:-1] + (total,))
    if a.shape[-1] == total:
        return a
    last = a[..., -1:] if xp is np else jax.lax.stop_gradient(a[..., -1:])  # padding lanes carry no derivative
    return xp.concatenate([a, xp.repeat(last, total - a.shape[-1], axis=-1)], axis=-1)


def _flag_unreached(pr, result, xp):
    """Patients whose steady state was not found: status ``no_steady_state`` and NaN outputs (never a guess)."""
    if pr.unreached is None:
        return result
    bad = pr.unreached
    states, observed, status, *rest = result
    nan = lambda a: None if a is None else xp.where(bad, np.nan, a)
    return (nan(states), nan(observed), xp.where(bad, Status.NO_STEADY_STATE, status).astype(status.dtype), *rest)
