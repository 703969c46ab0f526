"""Exact solution of linear time-invariant models between events: the matrix exponential.

A model that declares ``linear = True`` promises ``dy/dt = A(p) y + c(p, u)``: affine in the states, with
coefficients that depend on the parameters and the piecewise-constant inputs but not on time (the linear
compartmental models of pharmacokinetics). Between two consecutive time points (outputs and events merged) the
solution is exact:

    y(t + d) = E(d) y(t) + F(d) c,    with  E(d) = exp(A d),  F(d) = integral_0^d exp(A u) du.

Every patient has its own A; the step lengths d are shared when the output grid and the dose times are, so one
exponential per patient and *distinct* step length serves the whole time course. The exponential is computed here,
batch-last, by scaling and squaring a degree-12 Taylor polynomial with plain multiply-adds (a few hundred per
patient for a three-compartment model), which is what makes this path two orders of magnitude cheaper than
integrating.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

from .base import AbstractSolver

#: Taylor degree and target norm after scaling: the remainder ||X||^13 / 13! < 2e-16 for ||X|| <= 0.5.
_DEGREE = 12
_THETA = 0.5


@dataclass(frozen=True)
class Exact(AbstractSolver):
    """Matrix-exponential solution of a linear time-invariant model (``Model.linear = True``).

    Not a stepping method: the exact backend (:mod:`vhtwin.engine.exact`) runs it over the merged grid of output and event times.
    """

    name = "exact"
    order = 0  # exact up to round-off
    backend = "exact"


def matmul(a, b):
    """(m, k, B) @ (k, n, B) -> (m, n, B), batch-last, as explicit multiply-adds for small matrices."""
    m, k, _ = a.shape
    n = b.shape[1]
    if m * k * n > 64:  # larger blocks: XLA's dot (unrolled products would bloat the program and its compile)
        return jnp.einsum("ikb,kjb->ijb", a, b)
    rows = []
    for i in range(m):
        row = []
        for j in range(n):
            total = a[i, 0] * b[0, j]
            for q in range(1, k):
                total = total + a[i, q] * b[q, j]
            row.append(total)
        rows.append(jnp.stack(row))
    return jnp.stack(rows)


def _scaling(M):
    """Per lane, the power of two ``s`` that brings ``M``'s largest column sum to at most ``_THETA``."""
    norm = jnp.max(jnp.sum(jnp.abs(M), axis=0), axis=0)  # (B,) largest column sum per lane
    return jnp.maximum(0, jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-300) / _THETA))).astype(jnp.int32)


def _horner(X, shift: int):
    """sum_k X^k / (k + shift)! * shift!, k = 0 .. _DEGREE, by Horner: exp(X) for shift 0, phi_1(X) for shift 1."""
    m = X.shape[0]
    eye = jnp.broadcast_to(jnp.eye(m, dtype=X.dtype)[:, :, None], X.shape)
    R = eye
    for k in range(_DEGREE, 0, -1):  # I + X/(1+shift) (I + X/(2+shift) (I + ... ))
        R = eye + matmul(X, R) / (k + shift)
    return R


def expm(M):
    """Matrix exponential of a batch of small matrices (m, m, B), batch-last.

    Each lane is scaled by its own power of two ``2^-s`` (from its largest column sum), so that a lane's result
    depends on that lane alone -- bit for bit the same in any batch. The squarings run to the batch's largest
    ``s``; a lane stops squaring once it has done its own ``s``.
    """
    s = _scaling(M)
    R = _horner(M * jnp.ldexp(jnp.ones((), M.dtype), -s), 0)  # exact scaling by a power of two
    return lax.fori_loop(0, jnp.max(s), lambda k, A: jnp.where(k < s, matmul(A, A), A), R)


def expm_and_integral(A, d):
    """``E = exp(A d)`` and ``F = integral_0^d exp(A u) du`` for a batch (n, n, B), d a scalar or per lane (B,).

    E is :func:`expm` of ``A d``, the same bit for bit. F comes from the same scaling: with ``h = d 2^-s`` and
    ``X = A h``, ``F(h) = h phi_1(X)`` (``phi_1(X) = sum X^k / (k+1)!``), then each squaring doubles the interval:
    ``F(2h) = F(h) + E(h) F(h)``. Only n x n products, where the augmented exponential ``expm([[A d, I d], [0, 0]])``
    would need 2n x 2n ones -- eight times the multiply-adds, and past the size below which they are unrolled.
    """
    M = A * d
    s = _scaling(M)
    scale = jnp.ldexp(jnp.ones((), M.dtype), -s)
    X = M * scale
    E = _horner(X, 0)
    F = _horner(X, 1) * (d * scale)

    def square(k, EF):
        E, F = EF
        go = k < s
        return jnp.where(go, matmul(E, E), E), jnp.where(go, F + matmul(E, F), F)

    return lax.fori_loop(0, jnp.max(s), square, (E, F))


def propagators(A, steps, with_input: bool = True, n_distinct=None):
    """E(d) and F(d) for each step length d in ``steps`` (D, Bs) -- shared (Bs = 1) or per lane -- for every lane:
    A (n, n, B) -> two (D, n, n, B).

    With ``n_distinct`` (a traced count) only the first ``n_distinct`` step lengths are computed, in a loop, and the
    padding beyond them costs nothing: the right choice for a grid shared by a large batch. Without it every entry
    is computed at once (a vmap): a loop nested around the squarings' loop makes second derivatives several times
    slower to trace and compile, which calibration, with its per-patient grids, would pay. Without inputs
    (``with_input=False``: no infusion, no constant production) F is not needed and only the exponential is
    computed (:func:`expm_and_integral` computes both).
    """
    n, _, B = A.shape
    dtype = A.dtype

    def one(d):
        # E is the same bit for bit with or without F: a patient's result does not depend on whether some other
        # patient of its batch has an input.
        if not with_input:
            return expm(A * d), jnp.zeros_like(A)
        return expm_and_integral(A, d)

    if n_distinct is None:
        return jax.vmap(one)(steps)

    def body(k, tables):
        E, F = one(steps[k])
        return tables[0].at[k].set(E), tables[1].at[k].set(F)

    empty = jnp.zeros((steps.shape[0], n, n, B), dtype)
    return lax.fori_loop(0, n_distinct, body, (empty, empty))
