"""Step-size controllers: how the next step is chosen from the error estimate of the last one."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp


@dataclass(frozen=True)
class PIController:
    """Proportional--integral step-size control (Gustafsson; Hairer & Wanner, Solving ODEs II, IV.2).

    The error of a step is the RMS over states of ``err / (atol + rtol * max(|y0|, |y1|))``; a step is accepted when
    that norm is <= 1. The next step is ``dt * safety * norm**(-beta1/q) * prev_norm**(beta2/q)`` with ``q`` the
    order of the embedded estimate plus one, clipped to ``[factor_min, factor_max]`` (to ``<= 1`` after a rejection).
    Tolerances are traced arrays, so changing them never recompiles.
    """

    safety: float = 0.9
    beta1: float = 0.7
    beta2: float = 0.4
    factor_min: float = 0.2
    factor_max: float = 10.0

    def error_norm(self, y0, y1, err, rtol, atol):
        scale = atol[:, None] + rtol[:, None] * jnp.maximum(jnp.abs(y0), jnp.abs(y1))
        return jnp.sqrt(jnp.mean((err / scale) ** 2, axis=0))

    def factor(self, norm, prev_norm, error_order: int):
        q = error_order + 1.0
        dtype = norm.dtype
        tiny = jnp.asarray(jnp.finfo(dtype).tiny, dtype)
        n = jnp.maximum(norm, tiny)
        fac = self.safety * n ** (-self.beta1 / q) * jnp.maximum(prev_norm, tiny) ** (self.beta2 / q)
        accept = norm <= 1.0
        fac = jnp.where(accept, jnp.clip(fac, self.factor_min, self.factor_max), jnp.clip(fac, self.factor_min, 1.0))
        # A non-finite error (overflow, NaN) shrinks the step as hard as allowed.
        fac = jnp.where(jnp.isfinite(norm), fac, self.factor_min)
        return accept & jnp.isfinite(norm), fac.astype(dtype)
