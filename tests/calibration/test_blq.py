"""Samples below the limit of quantification enter by Beal's M3 likelihood (Beal 2001, J Pharmacokinet
Pharmacodyn 28:481): the probability that the measurement is below the LLOQ."""

import numpy as np
import pytest
from scipy.stats import norm

import vhtwin as vh

from .conftest import bateman

pytestmark = pytest.mark.slow

DOSE = 320.0
TIMES = np.array([1.0, 2.0, 4.0, 8.0, 12.0, 24.0])
LLOQ = 1.0
ADD = 0.3
TYPICAL = {"ka": 1.5, "CL": 2.8, "V": 31.5}
OMEGA = {"ka": 0.42, "CL": 0.073, "V": 0.018}
# A fast eliminator: the 12 h and 24 h samples are reported below the LLOQ (their values are not used, only < LLOQ).
VALUES = np.array([6.35, 7.49, 6.25, 3.12, 0.6, 0.2])


@pytest.fixture(scope="module")
def prior(oral):
    return vh.Population(oral, typical=TYPICAL, omega=OMEGA, residual=vh.Residual(additive=ADD))


@pytest.fixture(scope="module")
def both(oral, prior):
    """The same patient fitted with the BLQ samples (M3) and without them (dropped), in one batched call."""
    keep = VALUES >= LLOQ
    data = {
        "id": np.r_[np.zeros(TIMES.size, int), np.ones(keep.sum(), int)],
        "time": np.r_[TIMES, TIMES[keep]],
        "value": np.r_[VALUES, VALUES[keep]],
        "lloq": np.r_[np.full(TIMES.size, LLOQ), np.full(keep.sum(), LLOQ)],
        "unit": "mg/L",
    }
    return vh.calibrate(oral, data, prior=prior, protocol=vh.Regimen.bolus(DOSE, into="depot"))


def hand_objective(eta):
    ka, CL, V = (TYPICAL[n] * np.exp(e) for n, e in zip(("ka", "CL", "V"), eta))
    f = bateman(TIMES, DOSE, ka, CL, V)
    blq = VALUES < LLOQ
    quantified = 0.5 * ((VALUES - f) / ADD) ** 2 + np.log(ADD) + 0.5 * np.log(2 * np.pi)
    below = -norm.logcdf((LLOQ - f) / ADD)
    prior = 0.5 * np.sum(np.asarray(eta) ** 2 / np.array(list(OMEGA.values())))
    return np.sum(np.where(blq, below, quantified)) + prior


def test_objective_is_the_m3_likelihood(both):
    for eta in ([0.0, 0.0, 0.0], [0.2, 0.5, -0.1], [-0.3, 0.9, 0.2]):
        got = both.negative_log_posterior(np.array([eta, eta]))[0]
        assert got == pytest.approx(hand_objective(np.array(eta)), rel=1e-10)


def test_blq_samples_are_flagged(both):
    fit = both.fitted()
    assert fit.loc[fit["id"] == 0, "blq"].tolist() == [False, False, False, False, True, True]
    assert fit.loc[fit["blq"], "iwres"].isna().all()


def test_censored_samples_pull_clearance_up(both):
    """Dropping the BLQ samples leaves the late phase to the prior, which predicts concentrations above the LLOQ
    at 12 and 24 h; M3 knows they were below it and raises the clearance until the predictions fall near or
    below the limit."""
    assert both.converged.all()
    cl_m3, cl_dropped = both.params["CL"]
    assert cl_m3 > 1.1 * cl_dropped, (cl_m3, cl_dropped)
    late = both.predict(TIMES[4:], n_samples=50)["Cc_map"].values  # (patient, time)
    assert np.all(late[0] < late[1])
    assert late[0, 1] < LLOQ  # the 24 h prediction is below the limit with M3 ...
    assert late[1, 1] > late[0, 1] * 1.5  # ... and well above it without


def test_m3_map_is_the_hand_objective_minimum(both):
    from scipy import optimize

    reference = optimize.minimize(hand_objective, np.zeros(3), method="BFGS", options={"gtol": 1e-9})
    np.testing.assert_allclose(both.eta[0], reference.x, atol=1e-5)
