"""A batched, compiled Newton trust-region minimiser for independent lanes (one MAP problem per patient).

``minimise(objective, eta0)`` minimises ``objective: (L, k) -> (L,)`` lane by lane, all lanes in one
``lax.while_loop``: each iteration evaluates the objective, its gradient and its Hessian at a candidate point for
every lane at once (the gradient of the summed objective is each lane's gradient; the Hessian's ``k`` columns are
``k`` forward-mode directional derivatives of that gradient, each set in every lane), and accepts or rejects the
candidate per lane.

The step is a Levenberg--Marquardt-damped Newton step on the Hessian's absolute eigenvalues (``|lambda_i| + mu``):
a descent direction even where the Hessian is indefinite (far from the optimum, or with BLQ data), Newton's step
near it. ``mu`` grows after a rejected or poor step and shrinks after a good one (the ratio of actual to predicted
decrease, as in a trust-region method), and the step length is capped. A lane stops when it has converged -- the
Hessian is positive definite and either the gradient is below ``gtol``, or the Newton decrement ``g^T H^-1 g`` is
at the rounding level of the objective, or a step promising less than the objective's resolution (``noise``, the
solver's tolerance) was rejected -- or when it stalls (damping beyond any use); the loop stops when every
lane has stopped or after ``max_iter`` iterations. Failure is a value: a lane that did not converge keeps its best
point and reports ``converged = False``.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Result(NamedTuple):
    """Per lane: the minimiser, its objective, gradient, Hessian, and how the search ended."""

    x: jax.Array  # (L, k)
    value: jax.Array  # (L,)
    gradient: jax.Array  # (L, k)
    hessian: jax.Array  # (L, k, k)
    converged: jax.Array  # (L,) bool
    iterations: jax.Array  # (L,) int: Newton steps tried (accepted or rejected)


def laplace_covariance(hessian) -> np.ndarray:
    """Per lane, the inverse of the Hessian at the optimum (symmetrised), NaN where it is not positive definite."""
    hessian = np.asarray(hessian)
    cov = np.full_like(hessian, np.nan)
    positive = np.linalg.eigvalsh(hessian)[:, 0] > 0
    if positive.any():
        cov[positive] = np.linalg.inv(hessian[positive])
    return 0.5 * (cov + np.swapaxes(cov, 1, 2))


def derivatives(objective: Callable, x):
    """Objective (L,), gradient (L, k) and Hessian (L, k, k) of independent lanes."""
    L, k = x.shape

    def gradient(y):
        value, pullback = jax.vjp(objective, y)
        return pullback(jnp.ones_like(value))[0], value

    (g, value), tangent = jax.linearize(gradient, x)
    basis = jnp.broadcast_to(jnp.eye(k, dtype=x.dtype)[:, None, :], (k, L, k))
    columns, _ = jax.vmap(tangent)(basis)  # (k, L, k): columns[j, l, i] = H_l[i, j]
    hessian = jnp.transpose(columns, (1, 2, 0))
    return value, g, 0.5 * (hessian + jnp.swapaxes(hessian, 1, 2))


def gauss_newton(residuals: Callable, omega_inv):
    """Derivatives for a least-squares objective ``1/2 |r(x)|^2 + 1/2 x^T Omega^-1 x`` with the Gauss--Newton
    Hessian ``J^T J + Omega^-1``: first derivatives only (one forward-sensitivity solve, not the second-order one a
    full Hessian needs), exact at a zero residual and the usual Laplace approximation of a twin's posterior.

    ``residuals(x)`` maps ``(L, k)`` to ``((L, M) scaled residuals, (L,) bool finite/solved)``; lanes independent.
    Returns a function ``x -> (value, gradient, hessian)`` for :func:`minimise` (``derivatives=``).
    """

    def derivatives_of(x):
        L, k = x.shape
        (r, ok), tangent = jax.linearize(residuals, x)
        basis = jnp.broadcast_to(jnp.eye(k, dtype=x.dtype)[:, None, :], (k, L, k))
        columns, _ = jax.vmap(tangent)(basis)  # (k, L, M): columns[j, l, m] = dr_lm / dx_lj
        J = jnp.transpose(columns, (1, 2, 0))  # (L, M, k)
        prior = x @ omega_inv
        value = 0.5 * jnp.sum(r * r, axis=1) + 0.5 * jnp.sum(prior * x, axis=1)
        g = jnp.einsum("lmk,lm->lk", J, r) + prior
        hessian = jnp.einsum("lmi,lmj->lij", J, J) + omega_inv[None]
        return jnp.where(ok & jnp.isfinite(value), value, jnp.inf), g, hessian

    return derivatives_of


def _finite(value, g, hessian):
    return jnp.isfinite(value) & jnp.all(jnp.isfinite(g), axis=1) & jnp.all(jnp.isfinite(hessian), axis=(1, 2))


def _converged(value, g, hessian, gtol, ftol):
    w, v = jnp.linalg.eigh(hessian)
    positive = w[:, 0] > 0
    gv = jnp.einsum("lki,lk->li", v, g)
    decrement = jnp.sum(gv**2 / jnp.where(positive[:, None], w, 1.0), axis=1)
    small = (jnp.max(jnp.abs(g), axis=1) < gtol) | (decrement < ftol * (1.0 + jnp.abs(value)))
    return positive & small & jnp.isfinite(value)


def minimise(objective: Callable | None, x0, *, max_iter: int = 50, gtol: float = 1e-6, ftol: float = 1e-13,
             max_step: float = 2.0, noise: float = 0.0, derivatives_of: Callable | None = None) -> Result:
    """Minimise each lane of ``objective`` from ``x0`` (L, k); jit-compatible (call it inside ``jax.jit``).

    Parameters
    ----------
    objective : callable
        ``(L, k) -> (L,)``, lane ``l``'s value depending only on row ``l``; +inf (or NaN) where undefined.
    x0 : array (L, k)
        Starting points (etas: 0, the population typical values).
    max_iter : int
        Most iterations (each one batched objective, gradient and Hessian evaluation).
    gtol : float
        Converged when every gradient component is below this (objective units per eta unit) ...
    ftol : float
        ... or the Newton decrement is below ``ftol * (1 + |objective|)``, with a positive definite Hessian.
    max_step : float
        Longest step (Euclidean norm, eta units): a few prior SDs, so that one step cannot leave the region where
        the model is trusted.
    noise : float
        Relative resolution of the objective (an ODE solve at tolerance ``rtol`` resolves it to about that): a
        lane whose step is rejected although it promised a decrease below ``noise * (1 + |objective|)``, at a
        positive definite Hessian, has converged as far as the objective can tell.
    derivatives_of : callable, optional
        ``x -> (value, gradient, hessian)`` in place of the exact derivatives of ``objective`` (e.g.
        :func:`gauss_newton`); ``objective`` is then not used.
    """
    derive = derivatives_of if derivatives_of is not None else (lambda x: derivatives(objective, x))
    # The first iteration evaluates the starting point (a zero step from an infinite objective), so that the
    # derivatives appear once in the compiled loop.
    L, k = x0.shape
    inf = jnp.full((L,), jnp.inf, x0.dtype)
    state = (0, x0, inf, jnp.zeros_like(x0), jnp.broadcast_to(jnp.eye(k, dtype=x0.dtype), (L, k, k)),
             jnp.zeros(L, x0.dtype), jnp.zeros(L, bool), jnp.zeros(L, bool), jnp.zeros(L, jnp.int32))

    def keep_going(state):
        it, *_, done, _, _ = state
        return (it <= max_iter) & ~jnp.all(done)

    def step(state):
        it, x, value, g, hessian, mu, done, conv, count = state
        w, v = jnp.linalg.eigh(hessian)
        scale = jnp.maximum(jnp.max(jnp.abs(w), axis=1), 1e-300)
        shifted = jnp.maximum(jnp.abs(w), 1e-10 * scale[:, None]) + mu[:, None]
        p = -jnp.einsum("lik,lk->li", v, jnp.einsum("lki,lk->li", v, g) / shifted)
        norm = jnp.linalg.norm(p, axis=1)
        p = p * jnp.minimum(1.0, max_step / jnp.maximum(norm, 1e-300))[:, None]
        p = jnp.where(done[:, None], 0.0, p)
        predicted = -(jnp.einsum("li,li->l", g, p) + 0.5 * jnp.einsum("li,lij,lj->l", p, hessian, p))

        x_new = x + p
        value_new, g_new, hessian_new = derive(x_new)
        first = it == 0
        accept = ~done & _finite(value_new, g_new, hessian_new) & (value_new <= value)
        rho = jnp.where(first, 1.0, (value - value_new) / jnp.maximum(predicted, 1e-300))
        floor = 1e-3 * scale
        mu_new = jnp.where(
            accept,
            jnp.where(rho > 0.75, mu * 0.25, jnp.where(rho < 0.25, jnp.maximum(4.0 * mu, floor), mu)),
            jnp.maximum(4.0 * mu, floor),
        )
        mu_new = jnp.where(mu_new < 1e-10 * scale, 0.0, mu_new)
        pick = lambda new, old: jnp.where(accept.reshape(accept.shape + (1,) * (new.ndim - 1)), new, old)
        x, value, g, hessian = pick(x_new, x), pick(value_new, value), pick(g_new, g), pick(hessian_new, hessian)
        conv_now = _converged(value, g, hessian, gtol, ftol)
        # (A step rejected because the objective is undefined there -- the model failed -- says nothing about
        # resolution: such a lane goes on shrinking its step, and stalls unconverged if it is held at the edge.)
        resolved = ~first & ~done & ~accept & jnp.isfinite(value_new) & (w[:, 0] > 0) & \
            (predicted <= noise * (1.0 + jnp.abs(value)))
        conv_now = conv_now | resolved
        stalled = (mu_new > 1e12 * scale) | (first & ~accept)  # damping beyond use, or no finite start
        count = count + (~done & ~first).astype(jnp.int32)
        conv = conv | (~done & conv_now)
        done = done | conv_now | stalled
        return (it + 1, x, value, g, hessian, mu_new, done, conv, count)

    _, x, value, g, hessian, _, _, conv, count = jax.lax.while_loop(keep_going, step, state)
    return Result(x, value, g, hessian, conv, count)
