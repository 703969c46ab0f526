"""Laplace, FOCE-I and FOCE against each other, BLQ records by M3, and recovery of a known truth."""

import numpy as np
import pytest

import vhtwin as vh

from .conftest import simulated_frame

pytestmark = pytest.mark.slow

TRUTH = {"ka": 1.2, "CL": 3.0, "V": 30.0}
OMEGA = {"ka": 0.2, "CL": 0.09, "V": 0.04}


def test_laplace_equals_focei_when_the_model_is_linear_in_the_etas(oral):
    """With the only eta on the bioavailability F (normal: F = tv + eta), the prediction is linear in the eta and the
    residual variance constant, so the first-order Hessian is the exact one: the objectives agree to rounding."""
    frame = simulated_frame(12, 5, typical=TRUTH, omega={}, additive=0.3)
    rng = np.random.default_rng(1)
    scale = 1.0 + rng.normal(0.0, 0.2, 12)
    obs = frame.EVID == 0
    frame.loc[obs, "DV"] = frame.loc[obs, "DV"] * scale[frame.loc[obs, "ID"].to_numpy() - 1]
    data = vh.read_dataset(frame, oral)
    start = vh.Population(oral, typical={**TRUTH, "F": 1.0}, omega={"ka": 0.0, "CL": 0.0, "V": 0.0, "F": 0.05},
                          distribution={"F": "normal"}, residual=vh.Residual(additive=0.3))
    fits = {m: vh.estimate(oral, data, start, method=m, covariance=None) for m in ("focei", "laplace")}
    assert fits["focei"].converged and fits["laplace"].converged
    assert fits["laplace"].ofv == pytest.approx(fits["focei"].ofv, abs=1e-6)
    for name in ("ka", "CL", "V", "F"):
        assert fits["laplace"].theta[name] == pytest.approx(fits["focei"].theta[name], rel=1e-4)
    assert fits["focei"].omega.loc["F", "F"] == pytest.approx(fits["laplace"].omega.loc["F", "F"], rel=1e-3)


def test_foce_equals_focei_with_additive_error(oral):
    """Without a proportional part the residual variance does not depend on the etas: interaction changes nothing."""
    data = vh.read_dataset(simulated_frame(16, 11, typical=TRUTH, omega=OMEGA, additive=0.3), oral)
    start = vh.Population(oral, typical=TRUTH, omega=OMEGA, residual=vh.Residual(additive=0.3))
    a = vh.estimate(oral, data, start, method="focei", covariance=None)
    b = vh.estimate(oral, data, start, method="foce", covariance=None)
    assert a.ofv == pytest.approx(b.ofv, abs=1e-5)
    assert np.allclose(a.estimates, b.estimates, rtol=1e-4)


def test_proportional_error_foce_differs_from_focei(oral):
    frame = simulated_frame(16, 12, typical=TRUTH, omega=OMEGA, additive=0.05)
    obs = frame.EVID == 0
    rng = np.random.default_rng(2)
    frame.loc[obs, "DV"] = frame.loc[obs, "DV"] * (1 + rng.normal(0, 0.15, obs.sum()))
    data = vh.read_dataset(frame, oral)
    start = vh.Population(oral, typical=TRUTH, omega=OMEGA, residual=vh.Residual(additive=0.05, proportional=0.15))
    a = vh.estimate(oral, data, start, method="focei", covariance=None)
    b = vh.estimate(oral, data, start, method="foce", covariance=None)
    assert a.converged and b.converged
    assert a.ofv != pytest.approx(b.ofv, abs=1e-3)
    assert a.sigma["proportional"] == pytest.approx(0.15, rel=0.25)


def test_blq_records_need_laplace_and_use_m3(oral):
    frame = simulated_frame(20, 21, typical=TRUTH, omega=OMEGA, additive=0.2, lloq=1.0)
    assert frame.CENS.sum() > 10
    data = vh.read_dataset(frame, oral)
    start = vh.Population(oral, typical=TRUTH, omega=OMEGA, residual=vh.Residual(additive=0.2))
    with pytest.raises(vh.InputError, match="method = 'focei'.*BLQ.*laplace"):
        vh.estimate(oral, data, start)
    fit = vh.estimate(oral, data, start, method="laplace", covariance=None)
    assert fit.converged
    assert fit.theta["CL"] == pytest.approx(TRUTH["CL"], rel=0.2) and fit.theta["V"] == pytest.approx(TRUTH["V"], rel=0.2)
    res = fit.residuals(npde_simulations=0)
    assert np.isnan(res.CWRES.to_numpy()[res.CENS.to_numpy()]).all()


def test_recovers_a_known_truth_within_its_confidence_intervals(oral):
    """80 simulated subjects with an allometric weight effect on CL; the fit starts 20-30 % off."""
    data = vh.read_dataset(simulated_frame(80, 2024, typical=TRUTH, omega=OMEGA, additive=0.3), oral)
    start = vh.Population(oral, typical={"ka": 1.5, "CL": 2.4, "V": 38.0}, omega={"ka": 0.1, "CL": 0.2, "V": 0.1},
                          covariate_models=[vh.PowerCovariate("CL", "WT", 70.0, 0.5)],
                          residual=vh.Residual(additive=0.5))
    fit = vh.estimate(oral, data, start)
    assert fit.converged and fit.covariance_status == "ok"
    table = fit.table()
    truth = {**TRUTH, "CL~WT": 0.75, "sigma(additive)": 0.3, **{f"omega({k})": v for k, v in OMEGA.items()}}
    for name, value in truth.items():
        assert table.loc[name, "ci_low"] <= value <= table.loc[name, "ci_high"], (name, value, table.loc[name].to_dict())
