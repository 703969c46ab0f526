"""Twins of the 12 Theophylline subjects (R's Theoph, tests/data/theoph.csv): one oral dose of Dose (mg/kg) x Wt at
t = 0, one-compartment oral model, the population prior of one-compartment fits to these data (typical ka 1.5 /h,
CL 2.8 L/h, V 31.5 L; omega 0.42, 0.073, 0.018; additive residual SD 0.7 mg/L), all 12 fitted in one call."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh

pytestmark = pytest.mark.slow  # one long compile and solve shared by the module's tests

DATA = Path(__file__).resolve().parents[1] / "data" / "theoph.csv"


@pytest.fixture(scope="module")
def theoph():
    raw = pd.read_csv(DATA)
    data = pd.DataFrame({"id": raw["subject"], "time": raw["time_h"], "value": raw["conc_mg_per_L"], "unit": "mg/L"})
    first = raw.groupby("subject").first()
    doses = {i: vh.Regimen.bolus(float(row.dose_mg_per_kg * row.weight_kg), into="depot") for i, row in first.iterrows()}
    return data, doses


@pytest.fixture(scope="module")
def twins(oral, theoph_prior, theoph):
    data, doses = theoph
    return vh.calibrate(oral, data, prior=theoph_prior, protocol=doses)


def test_every_subject_converges(twins):
    assert list(twins.ids) == list(range(1, 13))
    assert twins.converged.all()
    assert np.all(twins.iterations < 20)
    assert np.all(np.isfinite(twins.cov)) and np.all(np.linalg.eigvalsh(twins.cov) > 0)
    assert "12/12 converged" in repr(twins)


def test_individual_fits_track_the_data(twins):
    """Residual RMS per subject (mg/L) below 1.5: measured 0.22 - 1.11 (subject 5 highest), against the prior's
    additive SD of 0.7. The population prediction (eta = 0) misses by far more: the twins' pooled RMS is below
    half of it (measured 0.61 vs 1.38 mg/L), and the individual weighted residuals are centred with an SD near 1
    (measured mean -0.05, SD 0.88)."""
    fit = twins.fitted()
    assert len(fit) == 132 and not fit["blq"].any()
    rms = fit.groupby("id").apply(lambda g: np.sqrt(np.mean((g["value"] - g["ipred"]) ** 2)), include_groups=False)
    print("Theoph residual RMS per subject (mg/L):", np.round(rms.values, 2).tolist())
    assert rms.max() < 1.5, rms
    pooled = lambda col: np.sqrt(np.mean((fit["value"] - fit[col]) ** 2))
    assert pooled("ipred") < 0.5 * pooled("pred"), (pooled("ipred"), pooled("pred"))
    assert abs(fit["iwres"].mean()) < 0.3 and 0.5 < fit["iwres"].std() < 1.5


def test_forecast_peaks_match_the_observed_peaks(twins, theoph):
    data, _ = theoph
    forecast = twins.predict(np.linspace(0.0, 25.0, 101), n_samples=200, seed=1)
    assert forecast["Cc"].dims == ("patient", "time") and forecast["Cc"].attrs["units"] == "mg L-1"
    observed_peak = data.groupby("id")["value"].max().values
    ratio = forecast["Cc_map"].max("time").values / observed_peak
    assert np.all((ratio > 0.75) & (ratio < 1.25)), ratio  # peaks within 25 % per subject (measured 0.86 - 1.03)
    inside = (forecast["Cc_lower"] <= forecast["Cc"]) & (forecast["Cc"] <= forecast["Cc_upper"])
    assert bool(inside.all())
    assert int(forecast["n_failed"].sum()) == 0
