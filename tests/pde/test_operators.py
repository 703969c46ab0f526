"""The no-flux finite-difference diffusion operator: exactness, conservation, stability bound."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vhtwin import pde
from vhtwin.pde.operators import row_sum_bound


def _tensor(ndim, fibre, sl=0.3, st=0.05):
    return pde.fibre_tensor(sl, st, fibre, ndim)


CASES = [
    (1, (1.0,)),
    (2, (1.0, 0.0)),
    (2, (np.cos(0.5), np.sin(0.5))),
    (3, (1.0, 0.0, 0.0)),
    (3, (1.0, 2.0, -0.5)),
]


@pytest.mark.parametrize("ndim,fibre", CASES)
def test_exact_on_quadratics_inside(ndim, fibre):
    rng = np.random.default_rng(ndim)
    shape = (7, 6, 5)[:ndim]
    h = (0.3, 0.25, 0.2)[:ndim]
    D = _tensor(ndim, fibre)
    C = rng.normal(size=(ndim, ndim))
    C = C + C.T
    g = rng.normal(size=ndim)
    X = np.meshgrid(*[np.arange(n) * hh for n, hh in zip(shape, h)], indexing="ij")
    V = sum(C[a, b] * X[a] * X[b] for a in range(ndim) for b in range(ndim)) + sum(g[a] * X[a] for a in range(ndim))
    LV = pde.apply_diffusion(V[None], D, h, pde.operators.has_cross_terms(D), xp=np)[0]
    exact = 2.0 * np.sum(D[0] * C)
    inner = LV[tuple(slice(1, -1) for _ in range(ndim))]
    np.testing.assert_allclose(inner, exact, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("ndim,fibre", CASES)
def test_conservative_under_no_flux(ndim, fibre):
    rng = np.random.default_rng(10 + ndim)
    grid = pde.Grid((9, 7, 5)[:ndim], 0.2)
    D = _tensor(ndim, fibre)
    V = rng.normal(size=(1,) + grid.shape)
    LV = pde.apply_diffusion(V, D, grid.spacing, pde.operators.has_cross_terms(D), xp=np)[0]
    assert abs(np.sum(grid.weights() * LV)) < 1e-11 * np.sum(np.abs(LV))


def test_row_sum_bound_is_the_classical_limit_for_axis_fibres():
    D = _tensor(3, (1.0, 0.0, 0.0))
    h = (0.1,) * 3
    expected = 4 * np.trace(D[0]) / 0.01  # 4 sum(D_aa) / h^2
    assert row_sum_bound(D, h, False) == pytest.approx(expected, rel=1e-12)
    assert pde.max_stable_dt(_tensor(1, (1.0,)), (0.1,), False) == pytest.approx(0.01 / (2 * 0.3), rel=1e-12)


def test_explicit_step_at_the_limit_is_stable_with_cross_terms():
    D = _tensor(2, (1.0, 1.0), sl=0.4, st=0.02)
    grid = pde.Grid((15, 12), 0.1)
    dt = pde.max_stable_dt(D, grid.spacing, True)
    V = np.random.default_rng(3).normal(size=(1,) + grid.shape)
    with jax.enable_x64(True):
        Dj = jnp.asarray(D)
        step = jax.jit(lambda v0: jax.lax.fori_loop(0, 2000, lambda i, v: v + dt * pde.apply_diffusion(v, Dj, grid.spacing, True), v0))
        out = step(jnp.asarray(V))
        once = np.asarray(jax.jit(lambda v: pde.apply_diffusion(v, Dj, grid.spacing, True))(jnp.asarray(V)))
    np.testing.assert_allclose(once, pde.apply_diffusion(V, D, grid.spacing, True, xp=np), rtol=1e-12, atol=1e-9)  # jax == numpy
    assert np.all(np.abs(np.asarray(out)) <= np.max(np.abs(V)) * 1.0001)
