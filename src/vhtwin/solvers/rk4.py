"""The classical fixed-step 4th-order Runge--Kutta method, with its 3rd-order continuous extension."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from .base import AbstractSolver


@dataclass(frozen=True)
class RK4(AbstractSolver):
    """Classical RK4 at a fixed step (``dt0``); steps are shortened only to land on events and the end time."""

    name = "rk4"
    order = 4

    def init(self, vf, t, y):
        return ()

    def step(self, vf, t, y, dt, carry):
        # Stacked form: RK4 serves as the simple, readable reference method.
        h = dt[None, :]
        k1 = vf(t, y)
        k2 = vf(t + 0.5 * dt, y + 0.5 * h * k1)
        k3 = vf(t + 0.5 * dt, y + 0.5 * h * k2)
        k4 = vf(t + dt, y + h * k3)
        y1 = y + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        return y1, None, (y, dt, k1, k2, k3, k4), carry

    def interpolate(self, dense, theta):
        # Continuous extension of order 3 (Hairer, Norsett & Wanner, Solving ODEs I, II.6).
        y0, dt, k1, k2, k3, k4 = dense
        th = theta[None, :]
        b1 = th - 1.5 * th**2 + (2.0 / 3.0) * th**3
        b23 = th**2 - (2.0 / 3.0) * th**3
        b4 = -0.5 * th**2 + (2.0 / 3.0) * th**3
        return y0 + dt[None, :] * (b1 * k1 + b23 * (k2 + k3) + b4 * k4)
