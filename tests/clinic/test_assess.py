"""A patient's assessment: the twin of the record, its forecast band, and the probability of target attainment of
each regimen -- checked against vh.calibrate on the same data and against steady-state identities of linear PK
(AUC over an interval = dose / CL; average level = dose / (CL x interval))."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
import vhtwin.clinic as clinic
from vhtwin.clinic.assess import assess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "clinic"


@pytest.fixture(scope="module")
def vancomycin():
    prior = clinic.prior("vancomycin_goti2018")
    record = clinic.read_bundle(EXAMPLES / "vancomycin_bundle.json", prior)
    return prior, record, assess(record, prior, n_samples=200, seed=3)


def test_the_twin_is_vh_calibrate_on_the_record(vancomycin):
    prior, record, a = vancomycin
    twin = vh.calibrate(prior.model, record.data, prior=prior.population, protocol=record.regimen,
                        covariates=record.covariates)
    table = a.parameters.set_index("parameter")
    for name in twin.eta_names:
        assert table.loc[name, "estimate"] == pytest.approx(twin.params[name], rel=1e-10)
        assert table.loc[name, "lower"] < table.loc[name, "estimate"] < table.loc[name, "upper"]
    # the typical value for this patient's covariates (Goti 2018: CL = 4.5 (CrCL/120)^0.8)
    assert table.loc["CL", "typical"] == pytest.approx(4.5 * (record.covariates["CrCL"] / 120) ** 0.8, rel=1e-12)
    assert a.converged and a.warnings == []


def test_target_attainment_follows_dose_over_clearance(vancomycin):
    """At steady state AUC24 = daily dose / CL for a linear model: the probability of 400-600 mg h/L is the share of
    posterior clearances with daily dose / CL in that range."""
    prior, record, a = vancomycin
    twin = vh.calibrate(prior.model, record.data, prior=prior.population, protocol=record.regimen,
                        covariates=record.covariates)
    cl = twin.sample_posterior(200, seed=3)["CL"].values
    for row in a.options.itertuples():
        auc24 = row.daily_dose_mg / cl
        assert row.AUC24_median == pytest.approx(np.median(auc24), rel=1e-4)
        assert row.probability == pytest.approx(np.mean((auc24 >= 400) & (auc24 <= 600)), abs=0.011)
    best = a.options["probability"].max()
    assert a.recommended["probability"] == best
    ties = a.options[a.options["probability"] == best]
    assert a.recommended["daily_dose_mg"] == ties["daily_dose_mg"].min()
    # AUC24 depends on the daily dose only: among equal options, the current interval (12 h) is kept
    assert a.recommended["interval_h"] == 12.0
    # the current regimen, 1 g every 12 h, is far above the target for this patient
    assert a.current["amount_mg"] == 1000.0 and a.current["interval_h"] == 12.0
    assert a.current["AUC24_median"] > 600 and a.current["probability"] < a.recommended["probability"]


def test_forecast_band(vancomycin):
    _, record, a = vancomycin
    f = a.forecast
    assert np.all(f["lower"] <= f["median"] + 1e-9) and np.all(f["median"] <= f["upper"] + 1e-9)
    assert f["time"].iloc[-1] >= record.doses["time"].max() + 48.0
    # the band is wide where there are no levels and covers most of the fitted curve's neighbourhood
    at = np.interp(record.data["time"], f["time"], f["map"])
    assert np.all(np.abs(at - record.data["value"]) < 15.0)


def test_oral_average_level_and_plain_data():
    prior = clinic.prior("theophylline_boeckmann1994")
    record = clinic.read_bundle(EXAMPLES / "theophylline_request_bundle.json", prior)
    a = assess(record, prior, n_samples=100, seed=0)
    twin = vh.calibrate(prior.model, record.data, prior=prior.population, protocol=record.regimen)
    cl = twin.sample_posterior(100, seed=0)["CL"].values
    for row in a.options.itertuples():
        average = row.amount_mg / (cl * row.interval_h)  # F = 1: apparent clearance
        assert row.average_median == pytest.approx(np.median(average), rel=1e-3)  # trapezoids on 97 points
    doc = a.to_dict()
    text = json.dumps(doc, allow_nan=False)  # plain JSON, no NaN
    assert doc["prior"]["sha256"] == prior.content_hash and "recommended" in text
    again = assess(record, prior, n_samples=100, seed=0)
    assert again.to_dict() == doc  # the same seed, the same assessment


def test_a_new_patient_compiles_nothing(vancomycin):
    """The service is resident: once a prior's programs are compiled, another patient (other levels, covariates
    and doses) runs them as they are -- the calibration, the band, the posterior draws and every option."""
    prior, record, _ = vancomycin
    doc = json.loads((EXAMPLES / "vancomycin_bundle.json").read_text())
    for entry in doc["entry"]:
        res = entry["resource"]
        if res.get("id") in ("obs-5", "obs-6", "obs-7"):
            res["valueQuantity"]["value"] *= 0.6
        if res.get("id") == "obs-1":
            res["valueQuantity"]["value"] = 91.0
    other = clinic.read_bundle(doc, prior)
    before = vh.compilation_count()
    a = assess(other, prior, n_samples=200, seed=3)
    assert vh.compilation_count() == before
    assert a.parameters.set_index("parameter").loc["CL", "estimate"] > 0


def test_a_peak_drawn_after_the_infusion_is_read_at_its_time(vancomycin, tmp_path):
    """A target's ``after_infusion_h`` (aminoglycoside peaks are drawn 30 min after the infusion) reads the level at
    that time of the steady-state interval, not the interval's largest level."""
    prior, record, _ = vancomycin
    text = Path(prior.path).read_text()
    timed = '\n[[targets]]\nname = "peak"\ndescription = "30 min after the end of the infusion"\nmetric = "peak"\n' \
            'after_infusion_h = 0.5\nlower = 20.0\nunit = "mg/L"\nsource = "rybak2020"\n'
    highest = timed.replace('name = "peak"', 'name = "highest"').replace("after_infusion_h = 0.5\n", "")
    path = tmp_path / "vancomycin_peaks.toml"
    path.write_text(text + timed + highest)
    pr = clinic.prior(path)
    a = assess(record, pr, n_samples=50, seed=1)
    twin = vh.calibrate(pr.model, record.data, prior=pr.population, protocol=record.regimen,
                        covariates=record.covariates)
    draws = twin.sample_posterior(50, seed=1)
    params = {k: np.full(50, float(v)) for k, v in twin.params.items()} | {k: draws[k].values for k in twin.eta_names}
    row = a.options[(a.options["amount_mg"] == 1000.0) & (a.options["interval_h"] == 12.0)].iloc[0]
    count = int(np.ceil(4096.0 / 12.0))
    at = (count - 1) * 12.0 + 1.0 + 0.5  # the last interval's start + 1 h of infusion + 30 min
    ds = vh.simulate(pr.model, params, times=np.array([at - 0.5, at]), outputs=["Cc"], rtol=1e-8, atol=1e-10,
                     precision="float64",
                     protocol=vh.Regimen.repeated(1000.0, 12.0, count + 1, "central", duration=1.0))
    assert row["peak_median"] == pytest.approx(np.median(ds["Cc"].values[:, 1]), rel=1e-6)
    assert row["highest_median"] == pytest.approx(np.median(ds["Cc"].values[:, 0]), rel=1e-3)  # at the infusion's end
    assert row["highest_median"] > row["peak_median"]
