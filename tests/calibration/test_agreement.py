"""The MAP estimate agrees with an independent optimiser on the same objective written in numpy."""

import numpy as np
import pytest
from scipy import optimize
from scipy.stats import norm

import vhtwin as vh

from .conftest import bateman

pytestmark = pytest.mark.slow

DOSE = 320.0  # mg, oral, at t = 0
TIMES = np.array([0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 24.0])  # h
VALUES = np.array([4.9, 7.6, 9.1, 7.7, 6.9, 5.6, 4.0, 1.2])  # mg/L
OMEGA = vh.Omega({"ka": 0.42}, blocks=[(("CL", "V"), [[0.073, 0.02], [0.02, 0.018]])])
TYPICAL = {"ka": 1.5, "CL": 2.8, "V": 31.5}
ADD, PROP = 0.3, 0.1  # combined residual error: SD sqrt(ADD^2 + (PROP f)^2)


def numpy_objective(eta):
    """-log p(y | eta) + 1/2 eta' Omega^-1 eta with the closed form, as the objective's documentation defines it."""
    ka, CL, V = (TYPICAL[n] * np.exp(e) for n, e in zip(("ka", "CL", "V"), eta))
    f = bateman(TIMES, DOSE, ka, CL, V)
    sd = np.sqrt(ADD**2 + (PROP * f) ** 2)
    nll = np.sum(0.5 * ((VALUES - f) / sd) ** 2 + np.log(sd) + 0.5 * np.log(2 * np.pi))
    _, omega = OMEGA.matrix()
    return nll + 0.5 * eta @ np.linalg.solve(omega, eta)


# the exact linear path, and the ODE path with forward sensitivities (a longer compile)
@pytest.mark.parametrize("solver", ["auto", pytest.param("tsit5", marks=pytest.mark.slow)])
def test_map_matches_scipy_on_the_closed_form(oral, solver):
    prior = vh.Population(oral, typical=TYPICAL, omega=OMEGA, residual=vh.Residual(additive=ADD, proportional=PROP))
    twin = vh.calibrate(oral, {"time": TIMES, "value": VALUES, "unit": "mg/L"}, prior=prior,
                        protocol=vh.Regimen.bolus(DOSE, into="depot"), solver=solver)
    assert twin.eta_names == ("ka", "CL", "V")
    reference = optimize.minimize(numpy_objective, np.zeros(3), method="Nelder-Mead",
                                  options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000, "maxfev": 40000})
    reference = optimize.minimize(numpy_objective, reference.x, method="BFGS", options={"gtol": 1e-9})
    assert twin.converged
    np.testing.assert_allclose(twin.eta, reference.x, atol=1e-5)
    assert twin.objective == pytest.approx(reference.fun, abs=1e-8)
    # the objective itself, away from the optimum
    for eta in (np.zeros(3), np.array([0.3, -0.2, 0.1])):
        assert twin.negative_log_posterior(eta) == pytest.approx(numpy_objective(eta), rel=1e-9)
    assert twin.params["CL"] == pytest.approx(2.8 * np.exp(reference.x[1]), rel=1e-5)
    # Laplace covariance: the inverse of the numerical Hessian of the numpy objective
    h = 1e-4
    hessian = np.array([[(numpy_objective(reference.x + h * (np.eye(3)[i] + np.eye(3)[j]))
                          - numpy_objective(reference.x + h * (np.eye(3)[i] - np.eye(3)[j]))
                          - numpy_objective(reference.x - h * (np.eye(3)[i] - np.eye(3)[j]))
                          + numpy_objective(reference.x - h * (np.eye(3)[i] + np.eye(3)[j]))) / (4 * h * h)
                         for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(twin.cov, np.linalg.inv(hessian), rtol=1e-4)
    assert twin.gradient_norm < 1e-5
    assert 1 <= twin.iterations <= 50
