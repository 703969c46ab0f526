"""Derivatives of outputs with respect to parameters: jax.grad and jax.jacfwd against central differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh

pytestmark = pytest.mark.slow

P0 = {"ka": 1.2, "CL": 4.0, "V1": 40.0, "Q": 8.0, "V2": 90.0}


@pytest.fixture(scope="module")
def sim():
    m = vh.load_model("pharmacokinetics/two_compartment_oral")
    reg = vh.Regimen.repeated(amount=100.0, interval=12.0, count=3, into="depot")
    return vh.Simulator(m, times=np.arange(0.0, 37.0, 3.0), protocol=reg, rtol=1e-10, atol=1e-12, precision="float64",
                        solver="tsit5")


def central_difference(f, p, name, rel=1e-5):
    h = rel * p[name]
    up, down = dict(p), dict(p)
    up[name] += h
    down[name] -= h
    return (np.asarray(f(up)) - np.asarray(f(down))) / (2 * h)


def test_grad_matches_central_differences(sim):
    with jax.enable_x64(True):
        loss = lambda p: jnp.sum(sim(p)["Cc"] ** 2)
        grad = jax.grad(loss)({k: jnp.float64(v) for k, v in P0.items()})
        for name in P0:
            fd = central_difference(loss, P0, name)
            assert float(grad[name]) == pytest.approx(float(fd), rel=1e-6), name


def test_jacfwd_matches_central_differences(sim):
    with jax.enable_x64(True):
        cc = lambda p: sim(p)["Cc"]
        jac = jax.jacfwd(cc)({k: jnp.float64(v) for k, v in P0.items()})
        for name in P0:
            fd = central_difference(cc, P0, name)
            np.testing.assert_allclose(np.asarray(jac[name]), fd, rtol=1e-5, atol=1e-7 * np.abs(fd).max())


def test_gradient_with_respect_to_initial_state():
    from ..helpers import Decay

    sim = vh.Simulator(Decay(), times=np.array([0.0, 1.0, 5.0]), rtol=1e-11, atol=1e-13, precision="float64")
    with jax.enable_x64(True):
        # remaining(t) = a0 exp(-k t): d/da0 = exp(-k t), d/dk = -t a0 exp(-k t)
        jac = jax.jacfwd(lambda a0, k: sim({"k": k}, {"amount": a0})["remaining"], argnums=(0, 1))(3.0, 0.2)
        t = np.array([0.0, 1.0, 5.0])
        np.testing.assert_allclose(np.asarray(jac[0]), np.exp(-0.2 * t), rtol=1e-8)
        np.testing.assert_allclose(np.asarray(jac[1]), -t * 3.0 * np.exp(-0.2 * t), rtol=1e-7, atol=1e-12)


def test_batched_gradients_are_per_patient(sim):
    m = vh.load_model("pharmacokinetics/two_compartment_oral")
    reg = vh.Regimen.bolus(100.0, into="depot")
    batch = vh.Simulator(m, times=np.array([1.0, 4.0, 12.0]), protocol=reg, n_patients=3, rtol=1e-10, atol=1e-12,
                         precision="float64", solver="tsit5")
    with jax.enable_x64(True):
        cl = jnp.array([3.0, 5.0, 7.0])
        jac = jax.jacfwd(lambda c: batch({"CL": c})["Cc"])(cl)  # (patient, time, patient)
        assert jac.shape == (3, 3, 3)
        off_diagonal = jac * (1 - jnp.eye(3))[:, None, :]
        assert float(jnp.max(jnp.abs(off_diagonal))) == 0.0


def test_exact_path_gradients_match_the_ode_path(sim):
    """The matrix-exponential path (linear models, solver="auto") is differentiable too, and agrees."""
    m = vh.load_model("pharmacokinetics/two_compartment_oral")
    reg = vh.Regimen.repeated(amount=100.0, interval=12.0, count=3, into="depot")
    exact = vh.Simulator(m, times=np.arange(0.0, 37.0, 3.0), protocol=reg, precision="float64")
    assert exact.problem.method.name == "exact"
    with jax.enable_x64(True):
        p = {k: jnp.float64(v) for k, v in P0.items()}
        loss = lambda f: (lambda q: jnp.sum(f(q)["Cc"] ** 2))
        g_exact, g_ode = jax.grad(loss(exact))(p), jax.grad(loss(sim))(p)
        for name in P0:
            assert float(g_exact[name]) == pytest.approx(float(g_ode[name]), rel=1e-6), name


class Ramp(vh.Model):
    """dx/dt = k: integrated exactly by every step, so the first step's curvature estimate is exactly zero."""

    time_unit = "h"
    states = (vh.State("x", "mg", 0.0),)
    parameters = (vh.Parameter("k", 2.0, "mg h-1"),)

    def rhs(self, t, y, p):
        return {"x": p.k + 0.0 * y.x}


@pytest.mark.parametrize("solver", ["tsit5", "rodas4"])
def test_an_exactly_integrated_solution_has_finite_derivatives(solver):
    """The first step size is the controller's choice: differentiating its heuristic (sqrt of a zero curvature
    estimate) once made every derivative of such a model NaN."""
    times = np.linspace(0.0, 2.0, 5)
    with jax.enable_x64(True):
        sim = vh.Simulator(Ramp(), times=times, rtol=1e-10, atol=1e-12, precision="float64", solver=solver)
        _, tangent = jax.jvp(lambda k: sim({"k": k})["x"], (jnp.float64(2.0),), (jnp.float64(1.0),))
    np.testing.assert_allclose(np.asarray(tangent), times, rtol=1e-12)
