"""Structured node-centred grids: a 1D cable, a 2D sheet, a 3D slab, uniform spacing ``dx`` in mm.

Nodes sit at ``x_i = i dx``, ``i = 0 .. n - 1``, so a tissue of length ``L`` has ``L / dx + 1`` nodes and its first and
last nodes lie on the boundary. The boundary nodes own half a control volume (a quarter at an edge, an eighth at a
corner): that is what makes the no-flux finite-difference operator of :mod:`vhtwin.pde.operators` conserve
``sum_i w_i V_i`` with the trapezoid weights ``w`` of :meth:`Grid.weights`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

AXES = ("x", "y", "z")


@dataclass(frozen=True)
class Grid:
    """A uniform node-centred grid of ``shape`` nodes (1 to 3 axes, each with at least 3 nodes), spacing ``dx`` mm."""

    shape: tuple[int, ...]
    dx: float

    def __post_init__(self):
        shape = tuple(self.shape) if np.ndim(self.shape) else (self.shape,)
        if not 1 <= len(shape) <= 3:
            raise InputError(f"Grid shape {self.shape!r} must have 1, 2 or 3 axes")
        for n in shape:
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
                raise InputError(f"Grid shape {self.shape!r}: every axis needs an integer count of at least 3 nodes")
        dx = self.dx
        if isinstance(dx, bool) or not isinstance(dx, (int, float, np.floating)) or not math.isfinite(dx) or dx <= 0:
            raise InputError(f"Grid dx {dx!r} must be a finite number > 0 (mm)")
        object.__setattr__(self, "shape", tuple(int(n) for n in shape))
        object.__setattr__(self, "dx", float(dx))

    # -- constructors ------------------------------------------------------------------------------------------------
    @classmethod
    def from_lengths(cls, lengths, dx: float) -> "Grid":
        """The grid covering ``lengths`` (mm per axis) with spacing ``dx``; each length must be a multiple of ``dx``."""
        if isinstance(dx, bool) or not isinstance(dx, (int, float, np.floating)) or not math.isfinite(dx) or dx <= 0:
            raise InputError(f"Grid dx {dx!r} must be a finite number > 0 (mm)")
        shape = []
        for axis, length in zip(AXES, lengths):
            if not isinstance(length, (int, float, np.floating)) or not math.isfinite(length) or length <= 0:
                raise InputError(f"Grid length along {axis} {length!r} must be a finite number > 0 (mm)")
            cells = length / dx
            if abs(cells - round(cells)) > 1e-6 * max(1.0, cells):
                raise InputError(f"Grid length along {axis} {length!r} mm is not a whole multiple of dx {dx!r} mm")
            shape.append(int(round(cells)) + 1)
        if len(shape) != len(tuple(lengths)):
            raise InputError(f"Grid lengths {lengths!r} must have 1, 2 or 3 entries")
        return cls(tuple(shape), float(dx))

    @classmethod
    def cable(cls, length: float, dx: float) -> "Grid":
        """A 1D cable of ``length`` mm."""
        return cls.from_lengths((length,), dx)

    @classmethod
    def sheet(cls, lx: float, ly: float, dx: float) -> "Grid":
        """A 2D sheet of ``lx`` by ``ly`` mm."""
        return cls.from_lengths((lx, ly), dx)

    @classmethod
    def slab(cls, lx: float, ly: float, lz: float, dx: float) -> "Grid":
        """A 3D slab of ``lx`` by ``ly`` by ``lz`` mm."""
        return cls.from_lengths((lx, ly, lz), dx)

    # -- derived -----------------------------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def n_nodes(self) -> int:
        return int(np.prod(self.shape))

    @property
    def axes(self) -> tuple[str, ...]:
        return AXES[: self.ndim]

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple((n - 1) * self.dx for n in self.shape)

    @property
    def spacing(self) -> tuple[float, ...]:
        return (self.dx,) * self.ndim

    def coords(self) -> dict[str, np.ndarray]:
        """Node coordinates per axis, in mm."""
        return {a: np.arange(n) * self.dx for a, n in zip(self.axes, self.shape)}

    def weights(self) -> np.ndarray:
        """Trapezoid control-volume weights (1 inside, 1/2 per boundary the node lies on), grid-shaped."""
        w = np.ones(self.shape)
        for ax, n in enumerate(self.shape):
            edge = np.ones(n)
            edge[[0, -1]] = 0.5
            w = w * edge.reshape([-1 if a == ax else 1 for a in range(self.ndim)])
        return w

    def box(self, *bounds) -> np.ndarray:
        """Boolean mask of the nodes inside a box: one ``(lo, hi)`` pair in mm per axis (nodes on a face included).

        ``grid.box((0, 1.5), (0, 1.5), (0, 1.5))``; ``None`` for a pair means the whole axis.
        """
        if len(bounds) == 1 and self.ndim > 1 and np.ndim(bounds[0]) == 2:
            bounds = tuple(bounds[0])
        if len(bounds) != self.ndim:
            raise InputError(f"box needs one (lo, hi) pair per grid axis ({self.ndim}), got {bounds!r}")
        mask = np.ones(self.shape, bool)
        eps = 1e-9 * max(1.0, self.dx)
        for ax, (name, c) in enumerate(self.coords().items()):
            pair = bounds[ax]
            if pair is None:
                continue
            lo, hi = pair
            if not lo <= hi:
                raise InputError(f"box bounds along {name} {pair!r} need lo <= hi (mm)")
            inside = (c >= lo - eps) & (c <= hi + eps)
            mask &= inside.reshape([-1 if a == ax else 1 for a in range(self.ndim)])
        return mask

    def nearest(self, point) -> tuple[int, ...]:
        """Index of the node nearest ``point`` (mm, one coordinate per axis)."""
        point = tuple(np.atleast_1d(point))
        if len(point) != self.ndim:
            raise InputError(f"point {point!r} needs {self.ndim} coordinates (mm)")
        return tuple(int(np.clip(round(p / self.dx), 0, n - 1)) for p, n in zip(point, self.shape))
