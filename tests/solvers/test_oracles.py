"""Against an independent JAX ODE library: diffrax's Tsit5 and Kvaerno5 on non-linear problems, tight tolerances."""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh

pytestmark = pytest.mark.slow


class VanDerPol(vh.Model):
    """Van der Pol oscillator, x'' - mu (1 - x^2) x' + x = 0, as a first-order system."""

    time_unit = "s"
    states = (vh.State("x", "1", initial=2.0), vh.State("v", "1", initial=0.0))
    parameters = (vh.Parameter("mu", 1.0, "1", lower=0.0),)

    def rhs(self, t, y, p):
        return {"x": y.v, "v": p.mu * (1.0 - y.x**2) * y.v - y.x}


class MichaelisMentenInfusion(vh.Model):
    """Saturable elimination with a time-dependent (sinusoidal) production term."""

    time_unit = "h"
    states = (vh.State("c", "mg L-1", initial=1.0),)
    parameters = (vh.Parameter("vmax", 3.0, "mg L-1 h-1", positive=True), vh.Parameter("km", 0.5, "mg L-1", positive=True))

    def rhs(self, t, y, p):
        return {"c": 2.0 + jnp.sin(t) - p.vmax * y.c / (p.km + y.c)}


def diffrax_solution(f, y0, times, solver, args):
    term = diffrax.ODETerm(lambda t, y, a: f(t, y, a))
    controller = diffrax.PIDController(rtol=1e-11, atol=1e-12)
    sol = diffrax.diffeqsolve(term, solver, times[0], times[-1], None, y0, args=args, saveat=diffrax.SaveAt(ts=times),
                              stepsize_controller=controller, max_steps=200_000)
    return np.asarray(sol.ys)


@pytest.mark.parametrize("mu", [0.5, 2.0])
def test_van_der_pol_matches_diffrax(mu):
    times = np.linspace(0.0, 20.0, 41)
    ds = vh.simulate(VanDerPol(), params={"mu": mu}, times=times, rtol=1e-11, atol=1e-12, precision="float64")
    with jax.enable_x64(True):
        f = lambda t, y, m: jnp.stack([y[1], m * (1.0 - y[0] ** 2) * y[1] - y[0]])
        ref = diffrax_solution(f, jnp.array([2.0, 0.0]), jnp.asarray(times), diffrax.Tsit5(), mu)
    np.testing.assert_allclose(ds["x"].values, ref[:, 0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(ds["v"].values, ref[:, 1], rtol=0, atol=1e-8)


@pytest.mark.parametrize("solver", ["tsit5", "rodas4"])
def test_time_dependent_nonlinear_model_matches_diffrax(solver):
    times = np.linspace(0.0, 10.0, 21)
    ds = vh.simulate(MichaelisMentenInfusion(), times=times, solver=solver, rtol=1e-10, atol=1e-12, precision="float64")
    with jax.enable_x64(True):
        f = lambda t, y, a: jnp.stack([2.0 + jnp.sin(t) - 3.0 * y[0] / (0.5 + y[0])])
        ref = diffrax_solution(f, jnp.array([1.0]), jnp.asarray(times), diffrax.Kvaerno5(), None)
    np.testing.assert_allclose(ds["c"].values, ref[:, 0], rtol=1e-7)
