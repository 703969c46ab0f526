"""Finite-difference diffusion ``div(D grad V)`` on a node-centred grid with no-flux boundaries.

Discretisation (flux form, second order)
----------------------------------------
For each axis ``a`` the flux through the face between nodes ``i`` and ``i + 1`` is::

    F_a = D_aa (V_{i+1} - V_i) / h_a  +  sum_{b != a} D_ab * mean(dV/dx_b at nodes i and i+1)

with ``dV/dx_b`` at nodes by central differences (one-sided at the boundary nodes). The flux through every boundary
face is zero (no-flux, ``n . D grad V = 0``), and the divergence at a node is ``(F_{i+1/2} - F_{i-1/2}) / h_a``
over its control volume, which is half a cell at a boundary node. Consequences (all tested):

- exact for quadratic fields at interior nodes (also with the cross terms of off-axis fibres);
- conservative: ``sum_i w_i (L V)_i = 0`` for the trapezoid weights ``w`` of :meth:`Grid.weights`, whatever ``V``;
- with a diagonal tensor it is the classical 3-point stencil per axis with mirror ghost nodes, and ``W L`` is
  symmetric negative semi-definite (``W = diag(w)``), which is what lets conjugate gradients solve the implicit steps.

With off-axis fibres the operator is not symmetric (the one-sided tangential derivatives at the boundary) and the
implicit steps use BiCGStab instead.

Units
-----
``D`` here is a diffusivity in mm^2/ms acting on V directly, ``dV/dt = div(D grad V)``. From a conductivity ``sigma``
in S/m, a surface-to-volume ratio ``beta`` in 1/mm and a capacitance ``Cm`` in uF/cm^2 (:func:`diffusivity`)::

    D [mm^2/ms] = sigma / (beta Cm) = 100 * sigma[S/m] / (beta[mm^-1] * Cm[uF cm^-2])

(``sigma / (beta Cm)`` in SI: 0.1334 S/m / (1.4e5 m^-1 * 0.01 F/m^2) = 9.53e-5 m^2/s = 0.0953 mm^2/ms.)
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def diffusivity(sigma, beta: float, Cm: float):
    """Diffusivity in mm^2/ms from a conductivity in S/m, ``beta`` in 1/mm and ``Cm`` in uF/cm^2 (see module doc)."""
    return 100.0 * np.asarray(sigma, float) / (beta * Cm)


def fibre_tensor(longitudinal, transverse, fibre, ndim: int) -> np.ndarray:
    """``sigma_t I + (sigma_l - sigma_t) f f^T`` for each tissue: (B, ndim, ndim) from (B,) or scalar values.

    ``fibre`` is a direction with ``ndim`` (or 3, the extra components must then be zero) entries; it is normalised.
    """
    f = np.asarray(fibre, float).reshape(-1)
    if f.size > ndim:
        if np.any(f[ndim:] != 0):
            raise InputError(f"fibre direction {tuple(fibre)!r} points out of the {ndim}D grid")
        f = f[:ndim]
    if f.size != ndim or not np.all(np.isfinite(f)) or np.linalg.norm(f) == 0:
        raise InputError(f"fibre direction {tuple(np.atleast_1d(fibre))!r} must be a non-zero vector with {ndim} components")
    f = f / np.linalg.norm(f)
    sl = np.atleast_1d(np.asarray(longitudinal, float))
    st = np.atleast_1d(np.asarray(transverse, float))
    sl, st = np.broadcast_arrays(sl, st)
    return st[:, None, None] * np.eye(ndim) + (sl - st)[:, None, None] * np.outer(f, f)


def has_cross_terms(D: np.ndarray) -> bool:
    """Whether a (B, d, d) tensor has off-diagonal entries that matter (off-axis fibres)."""
    D = np.asarray(D)
    off = D - D * np.eye(D.shape[-1])
    scale = np.max(np.abs(D)) if D.size else 0.0
    return bool(np.max(np.abs(off), initial=0.0) > 1e-12 * max(scale, 1e-300))


def apply_diffusion(V, D, h, cross: bool, xp=None):
    """``div(D grad V)`` with no-flux boundaries (module docstring).

    ``V``: (B, *grid) array; ``D``: (Bd, d, d) with Bd in {1, B} (mm^2/ms); ``h``: spacing per axis (mm);
    ``cross``: include the off-diagonal terms (static). ``xp``: the array module (``jax.numpy`` by default;
    ``numpy`` gives the same operator without JAX).
    """
    if xp is None:
        import jax.numpy as jnp
    else:
        jnp = xp

    d = V.ndim - 1
    shape1 = (-1,) + (1,) * d

    def coef(a, b):
        return D[:, a, b].reshape(shape1)

    grads = [jnp.gradient(V, h[b], axis=1 + b) for b in range(d)] if cross else None
    out = None
    for a in range(d):
        ax = 1 + a
        n = V.shape[ax]
        flux = coef(a, a) * (jnp.diff(V, axis=ax) / h[a])
        if cross:
            for b in range(d):
                if b != a:
                    g = grads[b]
                    lo = jnp.take(g, jnp.arange(n - 1), axis=ax)
                    hi = jnp.take(g, jnp.arange(1, n), axis=ax)
                    flux = flux + coef(a, b) * (0.5 * (lo + hi))
        pad = [(0, 0)] * V.ndim
        pad[ax] = (1, 1)
        div = jnp.diff(jnp.pad(flux, pad), axis=ax) / h[a]
        scale = np.ones(n, dtype=np.float64)
        scale[[0, -1]] = 2.0  # half control volumes at the boundary
        div = div * jnp.asarray(scale, dtype=V.dtype).reshape([-1 if k == ax else 1 for k in range(V.ndim)])
        out = div if out is None else out + div
    return out


def row_sum_bound(D: np.ndarray, h, cross: bool) -> float:
    """``max_i sum_j |L_ij|`` (the infinity norm of the operator matrix), over every tissue's tensor.

    It bounds every eigenvalue of the operator (Gershgorin), and forward Euler is stable when
    ``dt <= 2 / row_sum_bound``. Computed exactly on a 5^d grid, where every kind of row (interior, face, edge,
    corner, next to a boundary) already occurs with its full-size coefficients.
    """
    d = len(h)
    small = (5,) * d
    n = int(np.prod(small))
    worst = 0.0
    eye = np.eye(n).reshape((n,) + small)
    for Db in np.unique(np.asarray(D, float).reshape(-1, d, d), axis=0):
        M = apply_diffusion(eye, Db[None], tuple(h), cross, xp=np).reshape(n, n)  # column k = L e_k
        worst = max(worst, float(np.max(np.sum(np.abs(M), axis=0))))
    return worst


def max_stable_dt(D: np.ndarray, h, cross: bool) -> float:
    """The largest forward-Euler diffusion step (ms) that :func:`row_sum_bound` guarantees stable."""
    rho = row_sum_bound(D, h, cross)
    return np.inf if rho == 0 else 2.0 / rho
