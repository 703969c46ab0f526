"""The contract between a :class:`~vhtwin.engine.problem.Problem` and the backends that solve it.

A backend (the integration loop, :mod:`.ode`; the exact linear path, :mod:`.exact`) does two things:

* ``layout(problem, n_devices)`` -- on the host, lays the problem's design out as the arrays its compiled program
  reads, padded to buckets (:mod:`.buckets`), and says what keys that program (a :class:`Layout`);
* ``program(key)`` -- the jitted program for a key: ``(p (P, W), y0 (n, W), lanes, shared) -> (states (r, T, W),
  observables (m, T, W), status (W,), n_steps (W,), n_rejected (W,))`` over ``W`` lanes, where ``lanes`` holds
  the per-lane arrays (lane axis last) and ``shared`` the arrays every lane reads.

:func:`vhtwin.engine.run.run` does the rest the same way for every backend: padding the parameters to the lanes,
running the chunks, dropping the padding. Which backend runs a problem is a property of its method
(``AbstractSolver.backend``), looked up in a registry -- no type checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Hashable

import numpy as np

from .buckets import lane_bucket

#: Patients per CPU device in one compiled solve; larger batches run in chunks of this width.
LANES_PER_DEVICE = 65536
#: Lanes of the integration loop per CPU device: a solve of more patients than this integrates this many at a time,
#: each lane taking the next waiting patient when its own is done (lane refill, :func:`vhtwin.solvers.integrate`).
LOOP_LANES = 8208
#: Lanes per accelerator (GPU, TPU) in one compiled solve: a GPU needs hundreds of thousands of threads in flight
#: to hide its latencies, and a chunk of 2**20 lanes of a few-state model holds well under a gigabyte.
ACCELERATOR_LANES_PER_DEVICE = 1 << 20


def lanes_per_device() -> int:
    """The chunk width per device on the default JAX backend."""
    import jax

    return LANES_PER_DEVICE if jax.default_backend() == "cpu" else ACCELERATOR_LANES_PER_DEVICE


@dataclass(frozen=True)
class Layout:
    """A problem laid out for one backend's compiled program."""

    key: Hashable  # what the program is specialised to (with the shapes of the arrays below)
    width: int  # lanes per chunk: a lane bucket, a multiple of the device split
    n_chunks: int
    lanes: dict  # per-lane arrays, lane axis last, n_chunks * width lanes (padded)
    shared: dict  # arrays shared by every lane

    @property
    def total(self) -> int:
        return self.width * self.n_chunks


class Backend:
    """Base of the engine's backends (see the module docstring)."""

    name: ClassVar[str]

    def devices(self, n_patients: int) -> int:
        """Most devices this backend splits ``n_patients`` over."""
        return 1

    def layout(self, problem, n_devices: int) -> Layout:
        raise NotImplementedError

    def program(self, key) -> Callable:
        raise NotImplementedError


#: Lane refill pays once a device has this many patients per lane: with fewer, the patients who wait start late and
#: the queue's drain outlasts the lockstep batch it replaces (measured: 1.2 patients per lane ran 0.65x as fast).
REFILL_DEPTH = 2


def loop_lanes(patients_per_device: int) -> int | None:
    """Lanes of the integration loop for a solve of ``patients_per_device`` patients on each device: on a CPU,
    :data:`LOOP_LANES` (lane refill) from :data:`REFILL_DEPTH` patients per lane, else None (one lane per patient).
    Accelerators keep one lane per patient (their chunks are already as wide as the device holds)."""
    import jax

    if jax.default_backend() != "cpu" or patients_per_device < REFILL_DEPTH * LOOP_LANES:
        return None
    return LOOP_LANES


def chunking(n_patients: int, n_devices: int, chunked: bool = True) -> tuple[int, int]:
    """``(width, n_chunks)``: equal chunks of at most :func:`lanes_per_device` ``* n_devices`` lanes, each a lane
    bucket divisible by the device count (``chunked=False``: one chunk)."""
    n_chunks = -(-n_patients // (lanes_per_device() * n_devices)) if chunked else 1
    return lane_bucket(-(-n_patients // n_chunks), n_devices), n_chunks


def pad_lanes(a: np.ndarray, total: int) -> np.ndarray:
    """``a`` (..., B) widened to ``total`` lanes with copies of its last lane (a single lane is shared: kept)."""
    B = a.shape[-1]
    if B == total or B == 1:
        return a
    return np.concatenate([a, np.repeat(a[..., -1:], total - B, axis=-1)], axis=-1)


def as_dtype(tree: Any, dtype) -> Any:
    """Floating arrays of a (nested) layout cast to ``dtype``; integer arrays kept."""
    if tree is None:
        return None
    if isinstance(tree, dict):
        return {k: as_dtype(v, dtype) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(as_dtype(v, dtype) for v in tree))
    a = np.asarray(tree)
    return np.ascontiguousarray(a, dtype) if np.issubdtype(a.dtype, np.floating) else a
