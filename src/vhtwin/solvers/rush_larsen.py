"""Generalized Rush--Larsen: exponential Euler for gating variables, forward Euler for the rest (fixed step, order 1).

Cardiac and neuronal membrane models have gating variables ``g`` with ``dg/dt = (g_inf(V) - g) / tau_g(V)``: linear
in ``g`` for a frozen membrane potential, and often much faster than the rest of the model. Rush and Larsen
integrate them exactly over a step with ``V`` frozen, which stays stable (and keeps ``g`` in [0, 1]) at steps far
beyond ``2 tau_g`` where forward Euler diverges.

Generalized form (Sundnes, Artebrant, Skavhaug & Tveito 2009): for a gate row, write the right-hand side at the
start of the step as ``f_g(g) ~ f_g + b (g' - g)`` with ``b = d f_g / d g`` and integrate that linear ODE exactly::

    g_1 = g + (exp(b h) - 1) / b * f_g          (= g + h f_g in the limit b h -> 0)

which for ``f_g = (g_inf - g)/tau`` is ``g_inf + (g - g_inf) exp(-h/tau)``, the classical Rush--Larsen update.
``expm1`` keeps the factor accurate for small ``|b h|``; below machine epsilon the series ``h (1 + b h / 2)`` is used.
Non-gate rows take a forward Euler step. The dense output is linear interpolation between ``y`` and ``y_1``.

Which rows are gates: the ``gates`` field (state indices); :meth:`RushLarsen.for_model` takes the states declared
``State(..., gate=True)``. With no gates the method is forward Euler.

Assumption: all the ``b`` come from ONE Jacobian-vector product with the tangent 1 on every gate row (0 elsewhere),
which yields ``sum_k d f_g / d g_k`` over the gates ``k``. That equals ``d f_g / d g`` only if no gate's derivative
depends on another gate -- true of Hodgkin--Huxley-type gates (each depends on itself and the potential, ion
concentrations and other non-gate states) but not of coupled Markov-chain channel states; do not mark those as
gates.

References
----------
S. Rush, H. Larsen. A practical algorithm for solving dynamic membrane equations. IEEE Transactions on Biomedical
Engineering 25 (1978) 389--392.
J. Sundnes, R. Artebrant, O. Skavhaug, A. Tveito. A second-order algorithm for solving dynamic cell membrane
equations. IEEE Transactions on Biomedical Engineering 56 (2009) 2546--2548.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .base import AbstractSolver


@dataclass(frozen=True)
class RushLarsen(AbstractSolver):
    """Generalized Rush--Larsen at a fixed step: exponential integration of the ``gates`` rows, Euler elsewhere."""

    name = "rush_larsen"
    order = 1

    #: Indices of the gating-variable rows of the state.
    gates: tuple[int, ...] = ()

    def __post_init__(self):
        gates = tuple(self.gates)
        if any(isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g < 0 for g in gates):
            raise ValueError(f"RushLarsen.gates must be non-negative state indices, got {self.gates!r}")
        if len(set(gates)) != len(gates):
            raise ValueError(f"RushLarsen.gates has repeated indices: {self.gates!r}")
        object.__setattr__(self, "gates", tuple(sorted(int(g) for g in gates)))

    @classmethod
    def for_model(cls, model) -> "RushLarsen":
        """The method with the gates of ``model``: the states declared with ``gate=True``."""
        return cls(gates=tuple(i for i, s in enumerate(model.states) if s.gate))

    def init(self, vf, t, y):
        return ()

    def step(self, vf, t, y, dt, carry):
        n, B = y.shape
        dtype = y.dtype
        h = dt[None, :]
        if not self.gates:
            y1 = y + h * vf(t, y)
            return y1, None, (y, y1), carry
        if self.gates[-1] >= n:
            raise ValueError(f"RushLarsen.gates {self.gates} refers to state rows beyond the {n} states")
        is_gate = np.zeros((n, 1), bool)
        is_gate[list(self.gates), 0] = True
        tangent = jnp.broadcast_to(jnp.asarray(is_gate, dtype), (n, B))
        # f and, on the gate rows, b = d f_g / d g (one JVP: see the module docstring for the assumption)
        f, b = jax.jvp(vf, (t, y), (jnp.zeros_like(t), tangent))
        z = b * h
        tiny = jnp.abs(z) < jnp.finfo(dtype).eps
        z_safe = jnp.where(tiny, jnp.ones_like(z), z)
        phi = jnp.where(tiny, 1.0 + 0.5 * z, jnp.expm1(z_safe) / z_safe)  # (exp(z) - 1) / z
        y1 = jnp.where(is_gate, y + h * phi * f, y + h * f)
        return y1, None, (y, y1), carry

    def interpolate(self, dense, theta):
        y0, y1 = dense
        th = theta[None, :].astype(y0.dtype)
        return y0 + th * (y1 - y0)
