"""The data terms of the objective for every residual model, against scipy's normal distribution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

import vhtwin as vh
from vhtwin.calibration import objective

pytestmark = pytest.mark.slow

RESIDUALS = {
    "additive": (vh.Residual(additive=0.5), lambda f: np.full_like(f, 0.5)),
    "proportional": (vh.Residual(proportional=0.2), lambda f: 0.2 * np.abs(f)),
    "combined": (vh.Residual(additive=0.5, proportional=0.2), lambda f: np.sqrt(0.25 + (0.2 * f) ** 2)),
    "combined_sum": (vh.Residual(additive=0.5, proportional=0.2, combined="sum"), lambda f: 0.5 + 0.2 * np.abs(f)),
}


def terms(residual, f, y, lloq, censored):
    table = objective.residual_table({"C": residual}, ("C",), np.zeros(f.shape, np.int32))
    with jax.enable_x64(True):
        out = objective.data_terms(jnp.asarray(f), jnp.asarray(y), jnp.asarray(lloq), jnp.asarray(censored),
                                   jnp.ones(f.shape, bool), {k: jnp.asarray(v) for k, v in table.items()})
    return np.asarray(out)


@pytest.fixture
def sample():
    rng = np.random.default_rng(0)
    f = rng.uniform(0.2, 10.0, 40)
    y = f * np.exp(rng.normal(0.0, 0.3, 40))
    lloq = np.full(40, 1.0)
    censored = y < lloq
    return f, y, lloq, censored


@pytest.mark.parametrize("kind", list(RESIDUALS))
def test_normal_residual_models(kind, sample):
    f, y, lloq, censored = sample
    residual, sd = RESIDUALS[kind]
    expected = np.where(censored, -norm.logcdf(lloq, loc=f, scale=sd(f)), -norm.logpdf(y, loc=f, scale=sd(f)))
    np.testing.assert_allclose(terms(residual, f, y, lloq, censored), expected, rtol=1e-12, atol=1e-14)


def test_exponential_residual_model(sample):
    f, y, lloq, censored = sample
    c = 0.3
    expected = np.where(censored, -norm.logcdf(np.log(lloq), loc=np.log(f), scale=c),
                        -norm.logpdf(np.log(y), loc=np.log(f), scale=c))  # density of log y: no Jacobian term
    np.testing.assert_allclose(terms(vh.Residual(exponential=c), f, y, lloq, censored), expected, rtol=1e-12, atol=1e-14)


def test_m3_is_stable_far_below_the_limit():
    # a prediction 40 SDs above the limit: log Phi(-40) = -804.6, computed without underflow
    out = terms(vh.Residual(additive=0.1), np.array([5.0]), np.array([0.0]), np.array([1.0]), np.array([True]))
    assert out[0] == pytest.approx(-norm.logcdf(-40.0), rel=1e-10)


def test_derivatives_are_finite_at_a_zero_prediction():
    """A pre-dose sample (prediction 0) with proportional or exponential error keeps the Hessian finite."""
    for residual in (vh.Residual(additive=0.1, proportional=0.1), vh.Residual(additive=0.5)):
        table = objective.residual_table({"C": residual}, ("C",), np.zeros(2, np.int32))
        with jax.enable_x64(True):
            fn = lambda f: jnp.sum(objective.data_terms(f, jnp.array([0.0, 2.0]), jnp.array([1.0, 1.0]),
                                                        jnp.array([False, False]), jnp.array([True, True]),
                                                        {k: jnp.asarray(v) for k, v in table.items()}))
            assert np.all(np.isfinite(np.asarray(jax.jit(jax.hessian(fn))(jnp.array([0.0, 2.0])))))
