"""Exact solution of linear time-invariant models between events: the matrix exponential.

A model that declares ``linear = True`` promises ``dy/dt = A(p) y + c(p, u)``: affine in the states, with
coefficients that depend on the parameters and the piecewise-constant inputs but not on time (the linear
compartmental models of pharmacokinetics). Between two consecutive time points (outputs and events merged) the
solution is exact:

    y(t + d) = E(d) y(t) + F(d) c,    with  [[E, F], [0, I]] = expm([[A d, I d], [0, 0]]).

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


def expm(M):
    """Matrix exponential of a batch of small matrices (m, m, B), batch-last.

    Each lane is scaled by its own power of two ``2^-s`` (from its largest column sum), so that a lane's result
    depends on that lane alone -- bit for bit the same in any batch. The squarings run to the batch's largest
    ``s``; a lane stops squaring once it has done its own ``s``.
    """
    m = M.shape[0]
    norm = jnp.max(jnp.sum(jnp.abs(M), axis=0), axis=0)  # (B,) largest column sum per lane
    s = jnp.maximum(0, jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-300) / _THETA))).astype(jnp.int32)
    X = M * jnp.ldexp(jnp.ones((), M.dtype), -s)  # exact scaling by a power of two
    eye = jnp.broadcast_to(jnp.eye(m, dtype=M.dtype)[:, :, None], M.shape)
    R = eye
    for k in range(_DEGREE, 0, -1):  # Horner: I + X/1 (I + X/2 (I + ... ))
        R = eye + matmul(X, R) / k
    return lax.fori_loop(0, jnp.max(s), lambda k, A: jnp.where(k < s, matmul(A, A), A), R)


def propagators(A, steps, with_input: bool = True, n_distinct=None):
    """E(d) and F(d) for each step length d in ``steps`` (D, Bs) -- shared (Bs = 1) or per lane -- for every lane:
    A (n, n, B) -> two (D, n, n, B).

    With ``n_distinct`` (a traced count) only the first ``n_distinct`` step lengths are computed, in a loop, and the
    padding beyond them costs nothing: the right choice for a grid shared by a large batch. Without it every entry
    is computed at once (a vmap): a loop nested around the squarings' loop makes second derivatives several times
    slower to trace and compile, which calibration, with its per-patient grids, would pay. Without inputs
    (``with_input=False``: no infusion, no constant production) F is not needed and only the n x n exponential is
    computed, which is several times cheaper than the augmented 2n x 2n one.
    """
    n, _, B = A.shape
    dtype = A.dtype
    eye = jnp.broadcast_to(jnp.eye(n, dtype=dtype)[:, :, None], (n, n, B))
    zeros = jnp.zeros((n, 2 * n, B), dtype)

    def one(d):
        # E always from the n x n exponential (not from the augmented one's corner, equal but rounded differently):
        # a patient's E is then the same bit for bit whether or not some other patient of its batch has an input.
        E = expm(A * d)
        if not with_input:
            return E, jnp.zeros_like(A)
        top = jnp.concatenate([A * d, eye * d], axis=1)  # (n, 2n, B)
        phi = expm(jnp.concatenate([top, zeros], axis=0))  # (2n, 2n, B)
        return E, phi[:n, n:]

    if n_distinct is None:
        return jax.vmap(one)(steps)

    def body(k, tables):
        E, F = one(steps[k])
        return tables[0].at[k].set(E), tables[1].at[k].set(F)

    empty = jnp.zeros((steps.shape[0], n, n, B), dtype)
    return lax.fori_loop(0, n_distinct, body, (empty, empty))
