"""A batch of twins fitted in one call equals each patient fitted alone; covariates reach the typical values and
per-kilogram doses."""

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh

pytestmark = pytest.mark.slow

WEIGHTS = {7: 55.0, 3: 92.0}  # kg, by patient id (ids need not be contiguous or ordered)
SAMPLES = {
    7: ([0.5, 1.0, 3.0, 6.0, 12.0], [7.1, 9.8, 8.4, 6.0, 3.1]),
    3: ([1.0, 2.0, 4.0, 8.0, 24.0], [3.9, 5.2, 5.0, 3.6, 0.9]),
}


@pytest.fixture(scope="module")
def prior(oral):
    return vh.Population(
        oral, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018},
        covariates=vh.CovariateTable({"WT": np.array([70.0])}),
        covariate_models=[vh.PowerCovariate("CL", "WT", 70.0, 0.75), vh.PowerCovariate("V", "WT", 70.0, 1.0)],
        residual=vh.Residual(additive=0.2, proportional=0.1),
    )


REGIMEN = vh.Regimen.bolus(4.5, into="depot", per="WT")  # 4.5 mg/kg


@pytest.fixture(scope="module")
def batch(oral, prior):
    rows = [(i, t, v) for i, (ts, vs) in SAMPLES.items() for t, v in zip(ts, vs)]
    data = pd.DataFrame(rows, columns=["id", "time", "value"]).assign(unit="mg/L")
    covariates = pd.DataFrame({"id": list(WEIGHTS), "WT": list(WEIGHTS.values())})
    return vh.calibrate(oral, data, prior=prior, protocol=REGIMEN, covariates=covariates)


@pytest.mark.parametrize("pid", [3, 7])
def test_batch_equals_fitting_each_patient_alone(oral, prior, batch, pid):
    times, values = SAMPLES[pid]
    alone = vh.calibrate(oral, {"time": times, "value": values, "unit": "mg/L"}, prior=prior, protocol=REGIMEN,
                         covariates={"WT": WEIGHTS[pid]})
    row = list(batch.ids).index(pid)
    assert alone.converged and batch.converged[row]
    np.testing.assert_allclose(batch.eta[row], alone.eta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(batch.cov[row], alone.cov, rtol=1e-7)
    assert batch.objective[row] == pytest.approx(alone.objective, rel=1e-12)
    for name, value in alone.params.items():
        assert batch.params[name][row] == pytest.approx(value, rel=1e-8)


def test_covariates_set_the_typical_values(batch):
    assert list(batch.ids) == [3, 7]
    for row, pid in enumerate(batch.ids):
        scale = WEIGHTS[pid] / 70.0
        assert batch.params["CL"][row] / np.exp(batch.eta[row, 1]) == pytest.approx(2.8 * scale**0.75, rel=1e-12)
        assert batch.params["V"][row] / np.exp(batch.eta[row, 2]) == pytest.approx(31.5 * scale, rel=1e-12)


def test_per_kilogram_dose_reaches_the_forecast(batch, oral):
    """The MAP forecast equals a plain simulation of each twin's parameters with its own mg/kg dose."""
    forecast = batch.predict(np.array([2.0, 6.0]), n_samples=20)
    for row, pid in enumerate(batch.ids):
        params = {name: values[row] for name, values in batch.params.items()}
        direct = vh.simulate(oral, params, times=np.array([2.0, 6.0]),
                             protocol=vh.Regimen.bolus(4.5 * WEIGHTS[pid], into="depot"), precision="float64")
        np.testing.assert_allclose(forecast["Cc_map"].values[row], direct["Cc"].values, rtol=1e-9)
