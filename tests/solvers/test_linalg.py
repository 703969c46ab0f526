"""The batched LU of vhtwin.solvers.linalg against numpy.linalg.solve (float64, batch-last)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vhtwin.solvers.linalg import UNROLL_MAX, lu_factor, lu_solve, solve

pytestmark = pytest.mark.slow

SIZES = (1, 3, UNROLL_MAX, UNROLL_MAX + 1, 10, 41)  # both sides of the unrolled / fori_loop switch
B = 6


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def _batch_last(A_bnn, b_bn):
    return jnp.asarray(np.moveaxis(A_bnn, 0, -1)), jnp.asarray(b_bn.T)


def _well_conditioned(rng, n, batch):
    """Q1 diag(s) Q2 with singular values in [1, 10]: condition number <= 10, no structure LU could exploit."""
    out = np.empty((batch, n, n))
    for k in range(batch):
        q1, _ = np.linalg.qr(rng.standard_normal((n, n)))
        q2, _ = np.linalg.qr(rng.standard_normal((n, n)))
        out[k] = q1 @ np.diag(rng.uniform(1.0, 10.0, n)) @ q2
    return out


def _needs_pivoting(rng, n, batch):
    """Well-conditioned matrices whose rows are shuffled differently per lane and whose (0, 0) entry is zero or tiny.

    Without pivoting the first elimination divides by 0 (or by 1e-14, losing every digit); each lane needs its own
    row exchanges, which is what the per-lane pivot search must get right.
    """
    A = _well_conditioned(rng, n, batch)
    for k in range(batch):
        A[k] = A[k][rng.permutation(n)]
        if n > 1:
            A[k, 0, 0] = 0.0 if k % 2 == 0 else 1e-14
    return A


@pytest.mark.parametrize("kind", ["well_conditioned", "needs_pivoting"])
@pytest.mark.parametrize("n", SIZES)
def test_solve_matches_numpy(n, kind):
    rng = np.random.default_rng(1000 * n + len(kind))
    A = (_well_conditioned if kind == "well_conditioned" else _needs_pivoting)(rng, n, B)
    b = rng.standard_normal((B, n))
    x = np.asarray(jax.jit(solve)(*_batch_last(A, b))).T
    ref = np.linalg.solve(A, b[..., None])[..., 0]
    # backward-stable LU: relative error <= cond(A) * O(n * eps); cond <= 10 here
    err = np.max(np.abs(x - ref)) / np.max(np.abs(ref))
    assert err < 1e-12 * max(n, 1)
    # and the residual is at round-off level in every lane
    resid = np.einsum("bij,bj->bi", A, x) - b
    assert np.max(np.abs(resid)) < 1e-12 * max(n, 1)


@pytest.mark.parametrize("n", (3, 41))
def test_factor_once_solve_many(n):
    rng = np.random.default_rng(n)
    A = _needs_pivoting(rng, n, B)
    Aj, _ = _batch_last(A, np.zeros((B, n)))
    factors = jax.jit(lu_factor)(Aj)
    assert factors.lu.shape == (n, n, B) and factors.perm.shape == (n, B)
    # every lane's permutation is a permutation
    assert np.all(np.sort(np.asarray(factors.perm), axis=0) == np.arange(n)[:, None])
    for seed in range(3):
        b = np.random.default_rng(seed).standard_normal((B, n))
        x = np.asarray(jax.jit(lu_solve)(factors, jnp.asarray(b.T))).T
        np.testing.assert_allclose(x, np.linalg.solve(A, b[..., None])[..., 0], rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("n", (3, 41))
def test_jvp_matches_analytic_derivative(n):
    """d x = A^{-1} (d b - d A x): forward-mode autodiff through the factorisation and the solves."""
    rng = np.random.default_rng(7 + n)
    A = _needs_pivoting(rng, n, B)
    b = rng.standard_normal((B, n))
    dA = rng.standard_normal((B, n, n))
    db = rng.standard_normal((B, n))
    Aj, bj = _batch_last(A, b)
    dAj, dbj = _batch_last(dA, db)
    x, dx = jax.jit(lambda *a: jax.jvp(solve, a[:2], a[2:]))(Aj, bj, dAj, dbj)
    x_ref = np.linalg.solve(A, b[..., None])[..., 0]
    dx_ref = np.linalg.solve(A, (db - np.einsum("bij,bj->bi", dA, x_ref))[..., None])[..., 0]
    np.testing.assert_allclose(np.asarray(dx).T, dx_ref, rtol=1e-10, atol=1e-10 * np.max(np.abs(dx_ref)))


@pytest.mark.parametrize("n", (3, 41))
def test_no_per_matrix_lapack_call(n):
    """The factorisation is plain vectorised jnp/lax: no LU, triangular-solve or custom linear-solve primitive."""
    A = jnp.zeros((n, n, B)) + jnp.eye(n)[:, :, None]
    used = _primitives(jax.make_jaxpr(solve)(A, jnp.ones((n, B))).jaxpr)
    assert not used & {"lu", "triangular_solve", "custom_linear_solve", "lu_pivots_to_permutation", "cholesky"}
    assert bool(used & {"while", "scan"}) == (n > UNROLL_MAX)  # a fori_loop (scan or while) only for larger n


def _primitives(jaxpr) -> set[str]:
    """Names of all primitives in a jaxpr, including those of nested jaxprs (jit, while, cond bodies)."""
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                inner = getattr(sub, "jaxpr", None)
                if inner is not None:
                    names |= _primitives(getattr(inner, "jaxpr", inner))
    return names


def test_singular_lane_is_nonfinite_and_others_unaffected():
    rng = np.random.default_rng(3)
    A = _well_conditioned(rng, 3, 2)
    A[1] = np.ones((3, 3))  # rank one
    b = rng.standard_normal((2, 3))
    x = np.asarray(jax.jit(solve)(*_batch_last(A, b))).T
    np.testing.assert_allclose(x[0], np.linalg.solve(A[0], b[0]), rtol=1e-12)
    assert not np.all(np.isfinite(x[1]))


def test_float32():
    rng = np.random.default_rng(5)
    A = _needs_pivoting(rng, 10, B)
    b = rng.standard_normal((B, 10))
    with jax.enable_x64(False):
        x = jax.jit(solve)(jnp.asarray(np.moveaxis(A, 0, -1), jnp.float32), jnp.asarray(b.T, jnp.float32))
        assert x.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(x).T, np.linalg.solve(A, b[..., None])[..., 0], rtol=1e-4, atol=1e-4)


def test_rejects_bad_shapes():
    S = lambda *shape: jax.ShapeDtypeStruct(shape, jnp.float64)
    with pytest.raises(ValueError):
        jax.eval_shape(lu_factor, S(3, 4, 2))
    with pytest.raises(ValueError):
        jax.eval_shape(lambda A, b: lu_solve(lu_factor(A), b), S(3, 3, 2), S(4, 2))
