"""External validation against real data: R's ``Theoph`` (12 subjects, one oral dose of theophylline at t = 0).

The one-compartment oral model at the published typical values (one-compartment fits to Theoph: ka 1.5 /h, CL/F 0.040
L/h/kg, V/F 0.46 L/kg; between-subject CV 70 % ka, 28 % CL, 13 % V; additive residual SD 0.7 mg/L) must reproduce
the data: the typical-value prediction per subject lies close to the observations, and a population simulation
with those omegas covers them (a visual predictive check written as assertions). Nothing is fitted here.

The bounds were set from what this code observes, with a margin, and the observed values are noted next to each:
a change of the model, solver or dosing semantics that moves the predictions by tens of percent fails them.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "data" / "theoph.csv"

KA, CL_PER_KG, V_PER_KG = 1.5, 0.040, 0.46  # h-1, L h-1 kg-1, L kg-1
CV = {"ka": 0.70, "CL": 0.28, "V": 0.13}
ADDITIVE_SD = 0.7  # mg L-1


@pytest.fixture(scope="module")
def study():
    """Per-subject design and observations, subjects in id order, padded with NaN to a (subject, sample) array."""
    df = pd.read_csv(DATA)
    groups = [g.sort_values("time_h") for _, g in df.groupby("subject", sort=True)]
    width = max(len(g) for g in groups)
    times = np.full((len(groups), width), np.nan)
    conc = np.full((len(groups), width), np.nan)
    for i, g in enumerate(groups):
        times[i, : len(g)] = g["time_h"].to_numpy()
        conc[i, : len(g)] = g["conc_mg_per_L"].to_numpy()
    weight = np.array([g["weight_kg"].iloc[0] for g in groups])
    dose = np.array([g["dose_mg_per_kg"].iloc[0] for g in groups]) * weight  # mg, given once at t = 0
    return {"times": times, "conc": conc, "weight": weight, "dose": dose}


@pytest.fixture(scope="module")
def model():
    return vh.load_model("pharmacokinetics/one_compartment_oral")


def _oral(doses):
    return [vh.Regimen.bolus(float(d), into="depot") for d in doses]


@pytest.fixture(scope="module")
def typical_prediction(study, model):
    """Typical-value concentrations of each subject at that subject's own sampling times (one simulate call)."""
    w = study["weight"]
    ds = vh.simulate(
        model, params={"ka": KA, "CL": CL_PER_KG * w, "V": V_PER_KG * w}, times=study["times"],
        protocol=_oral(study["dose"]),
    )
    assert (ds["status"] == 0).all()
    return ds["Cc"].values  # (subject, sample), NaN where the times are padded


def test_data_file_is_theoph(study):
    assert study["conc"].shape == (12, 11)
    assert np.isfinite(study["conc"]).sum() == 132


def test_typical_cmax_per_subject_within_factor_two(study, typical_prediction):
    # Observed/predicted Cmax ratios: 0.79 .. 1.60 (subjects 1 and 9, fast absorbers, are the highest). A factor of
    # 2 either way per subject leaves a margin over the largest deviation.
    ratio = np.nanmax(study["conc"], axis=1) / np.nanmax(typical_prediction, axis=1)
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


def test_typical_prediction_median_error(study, typical_prediction):
    # Relative prediction error (obs - pred) / pred at t > 0.5 h (105 observations): median observed -3.5 %.
    # Bound +-15 %: typical CL x 1.5 gives +25 %, CL / 1.5 gives -18 %, CL x 1.3 gives +16 % -- all fail.
    after = study["times"] > 0.5
    rel = (study["conc"][after] - typical_prediction[after]) / typical_prediction[after]
    assert abs(np.median(rel)) < 0.15, np.median(rel)


def test_typical_prediction_within_factor_two_of_most_observations(study, typical_prediction):
    # Share of observations at t > 0.5 h within [0.5, 2] x the typical prediction: observed 103 of 105 (98 %).
    after = study["times"] > 0.5
    obs, pred = study["conc"][after], typical_prediction[after]
    inside = (obs >= 0.5 * pred) & (obs <= 2.0 * pred)
    assert inside.size == 105
    assert inside.mean() >= 0.90, inside.mean()


def test_population_prediction_band_covers_the_data(study, model):
    """VPC-style: 200 replicates of the study design (each subject's weight, dose and sampling times) drawn from
    the population with the published omegas and residual error; each observation must lie in the 2.5--97.5 %
    band of the simulated observations for its own subject and time."""
    replicates = 200
    n_subjects = study["weight"].size
    pop = vh.Population(
        model,
        typical={"ka": KA, "CL": CL_PER_KG * 70.0, "V": V_PER_KG * 70.0},
        omega={name: float(np.log1p(cv**2)) for name, cv in CV.items()},  # variance of log = log(1 + CV^2)
        covariates=vh.CovariateTable({"WT": np.tile(study["weight"], replicates)}, units={"WT": "kg"}),
        covariate_models=[vh.PowerCovariate("CL", "WT", 70.0, 1.0), vh.PowerCovariate("V", "WT", 70.0, 1.0)],
        residual=vh.Residual(additive=ADDITIVE_SD),
    )
    draw = pop.sample(n=n_subjects * replicates, seed=2024)  # patient r * 12 + i is a replicate of subject i
    np.testing.assert_allclose(draw["CL"].values[:n_subjects] / np.exp(draw["eta_CL"].values[:n_subjects]),
                               CL_PER_KG * study["weight"])
    ds = vh.simulate(model, params=draw, times=np.tile(study["times"], (replicates, 1)),
                     protocol=_oral(np.tile(study["dose"], replicates)))
    assert (ds["status"] == 0).all()
    noisy = pop.residual.apply(ds["Cc"].values, seed=7, patient_ids=draw["patient"].values, name="Cc")
    noisy = noisy.reshape(replicates, n_subjects, -1)
    low, high = np.nanpercentile(noisy, [2.5, 97.5], axis=0)
    observed = np.isfinite(study["conc"])
    inside = (study["conc"] >= low) & (study["conc"] <= high)
    # Observed with these seeds: 124 of 132 observations (93.9 %) inside; the ones outside are subject 1's high
    # plateau (6 samples) and two of subject 9's early samples (very fast absorption). With other seeds (0-4) the
    # share is 0.92-0.93. A 95 % band should hold ~95 % of the points. The bound 0.90 fails a mis-specified typical
    # V (x 1.5: 0.74; / 1.5: 0.87) or CL x 1.5 (0.89); a VPC is weak against CL / 1.5 (0.92), which the
    # median-error test above catches.
    assert inside[observed].mean() >= 0.90, inside[observed].mean()
    # The band is not trivially wide: median width at t > 0.5 h observed 4.8 mg/L (V / 1.5 widens it to 6.6).
    width = (high - low)[study["times"] > 0.5]
    assert 3.0 < np.median(width) < 6.5, np.median(width)
