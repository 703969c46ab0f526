"""Batched small dense LU factorisation with partial pivoting, batch-last.

A stiff method needs one linear solve per stage with the same matrix ``E = I/(h*gamma) - J`` for every trajectory
of the batch, each with its own ``J`` and ``h``. ``jnp.linalg.solve`` on a stack of small matrices dispatches to
LAPACK once per matrix on CPU (a loop over trajectories); here the elimination runs over the pivot columns and every
operation is vectorised over the batch axis, which is last and contiguous, like everywhere else in the solvers.

- ``lu_factor(A)`` with ``A`` of shape ``(n, n, B)`` returns :class:`LU` (packed factors, row permutation and the
  reciprocals of the pivots): ``P A = L U`` per lane, ``L`` unit lower triangular.
- ``lu_solve(factors, b)`` with ``b`` of shape ``(n, B)`` returns ``x`` of shape ``(n, B)`` with ``A x = b``.

For ``n <= UNROLL_MAX`` the loop over pivot columns is unrolled in Python (static indices, cheapest code); above it,
a ``lax.fori_loop`` keeps the traced program -- and the compile time -- independent of ``n`` (models with ~40 states).

Everything is plain ``jnp``/``lax``, so it is differentiable in forward mode (``jax.jvp``) and reverse mode; the
pivot choice (``argmax``) is piecewise constant and carries no derivative, as usual for LU. A singular matrix gives
``inf``/``nan`` entries (no exception inside a compiled loop): the integration loop rejects a non-finite step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
from jax import lax

#: Largest ``n`` for which the pivot loop is unrolled in Python; larger systems use ``lax.fori_loop``.
UNROLL_MAX = 8


class LU(NamedTuple):
    """Packed LU factors of a batch of matrices (batch-last).

    lu : (n, n, B)      strictly lower part: the multipliers of ``L`` (unit diagonal implied); upper part: ``U``
    perm : (n, B) int   row ``i`` of ``P A`` is row ``perm[i]`` of ``A``
    inv_diag : (n, B)   ``1 / U[i, i]`` (six solves per factorisation reuse them)
    """

    lu: Any
    perm: Any
    inv_diag: Any


def _row(a, k):
    """Row ``k`` (static or traced) of a batch-last array: ``a[k]``."""
    return lax.dynamic_index_in_dim(a, k, axis=0, keepdims=False)


def _col(a, k):
    """Column ``k`` of an ``(n, n, B)`` array: ``a[:, k, :]``."""
    return lax.dynamic_index_in_dim(a, k, axis=1, keepdims=False)


def _loop(n: int, body, init, reverse: bool = False):
    """``for k in range(n): carry = body(k, carry)``, unrolled for small ``n``, a ``fori_loop`` otherwise."""
    if n <= UNROLL_MAX:
        carry = init
        for k in (reversed(range(n)) if reverse else range(n)):
            carry = body(k, carry)
        return carry
    if reverse:
        return lax.fori_loop(0, n, lambda j, c: body(n - 1 - j, c), init)
    return lax.fori_loop(0, n, body, init)


def lu_factor(A) -> LU:
    """LU factorisation with partial (row) pivoting of every matrix of the batch ``A`` (n, n, B)."""
    if A.ndim != 3 or A.shape[0] != A.shape[1]:
        raise ValueError(f"lu_factor expects a batch-last stack of square matrices (n, n, B), got shape {A.shape}")
    n, _, B = A.shape
    rows = jnp.arange(n)
    perm0 = jnp.broadcast_to(rows[:, None], (n, B)).astype(jnp.int32)

    def body(k, carry):
        a, perm = carry
        # pivot: the largest |a[i, k]| over rows i >= k, per lane
        col = _col(a, k)  # (n, B)
        p = jnp.argmax(jnp.where(rows[:, None] >= k, jnp.abs(col), -1.0), axis=0)  # (B,)
        row_k = _row(a, k)  # (n, B)
        row_p = jnp.take_along_axis(a, jnp.broadcast_to(p[None, None, :], (1, n, B)), axis=0)[0]  # (n, B)
        is_k = rows[:, None] == k  # (n, 1) over rows
        is_p = rows[:, None] == p[None, :]  # (n, B)
        perm_p = jnp.take_along_axis(perm, p[None, :], axis=0)  # (1, B)
        perm = jnp.where(is_k, perm_p, jnp.where(is_p, _row(perm, k)[None, :], perm))
        # Column k after the row exchange, and the multipliers (zero on and above the pivot row): all (n, B)
        pivot = _row(row_p, k)
        col = jnp.where(is_k, pivot[None, :], jnp.where(is_p, _row(row_k, k)[None, :], col))
        below = rows[:, None] > k
        mult = jnp.where(below, col / pivot[None, :], 0.0)
        pivot_row = jnp.where(rows[:, None] > k, row_p, 0.0)  # the pivot row right of column k (rows = j here)
        # One elementwise pass over (n, n, B) -- exchange rows k and p, eliminate below the pivot, store the
        # multipliers in column k -- written as a single expression of `a` and (n, B) vectors so that XLA fuses it
        # into one loop (three separate passes were twice as slow at n = 41, B = 256 on CPU).
        swapped = jnp.where(is_k[:, :, None], row_p[None], jnp.where(is_p[:, None, :], row_k[None], a))
        at_col_k = (rows == k)[None, :, None]
        a = jnp.where(at_col_k & below[:, :, None], mult[:, None, :], swapped - mult[:, None, :] * pivot_row[None])
        return a, perm

    lu, perm = _loop(n, body, (A, perm0))
    inv_diag = 1.0 / jnp.diagonal(lu, axis1=0, axis2=1).T  # (n, B)
    return LU(lu, perm, inv_diag)


def lu_solve(factors: LU, b):
    """Solve ``A x = b`` per lane from :func:`lu_factor`'s factors; ``b`` and ``x`` are (n, B)."""
    lu, perm, inv_diag = factors
    n = lu.shape[0]
    if b.shape[0] != n:
        raise ValueError(f"lu_solve: right-hand side has {b.shape[0]} rows, the factors are {n} x {n}")
    rows = jnp.arange(n)[:, None]
    x = jnp.take_along_axis(b, perm, axis=0)  # P b

    def forward(k, x):  # L z = P b, unit diagonal, column-oriented
        return x - jnp.where(rows > k, _col(lu, k) * _row(x, k)[None, :], 0.0)

    def backward(k, x):  # U x = z, from the last row up
        xk = _row(x, k) * _row(inv_diag, k)
        x = jnp.where(rows == k, xk[None, :], x)
        return x - jnp.where(rows < k, _col(lu, k) * xk[None, :], 0.0)

    x = _loop(n, forward, x)
    return _loop(n, backward, x, reverse=True)


def solve(A, b):
    """``x`` with ``A x = b`` for a batch ``A`` (n, n, B), ``b`` (n, B): factorise and solve once."""
    return lu_solve(lu_factor(A), b)


__all__ = ["LU", "UNROLL_MAX", "lu_factor", "lu_solve", "solve"]
