"""The whole-body PBPK model over virtual adults from physiology, through simulate and the trial runner."""

import json

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.models.pharmacokinetics import pbpk_whole_body as pb

pytestmark = pytest.mark.slow

ADULTS = vh.physiology.Individuals(age=(20.0, 60.0), weight=(50.0, 100.0))


@pytest.fixture(scope="module")
def population():
    return pb.population("midazolam", ADULTS, omega={"CLint": 0.09})


def test_each_patient_has_his_own_organs_and_flows(population):
    draw = population.sample(n=6, seed=2)
    cov = ADULTS.sample(2, np.arange(6))
    for organ in ("liver", "fat", "brain", "venous_blood"):
        np.testing.assert_allclose(draw[f"V_{organ}"].values, cov[f"VOL_{organ}"], rtol=1e-12)
    np.testing.assert_allclose(draw["Q_kidney"].values, cov["FLOW_kidney"], rtol=1e-12)
    # The systemic flows of the model add up to each individual's cardiac output
    params = {k: draw[k].values for k in population.model.parameter_names}
    systemic = pb._liver_flow(params) + sum(params[f"Q_{o}"] for o in pb.SYSTEMIC if o != "liver")
    np.testing.assert_allclose(systemic, cov["CO"], rtol=1e-9)
    assert np.std(np.log(draw["CLint"].values)) > 0.05  # drug variability on top


def test_a_pbpk_trial_of_virtual_adults(population, tmp_path):
    # Fine sampling at first: an intravenous bolus passes the venous pool within minutes
    times = np.concatenate([np.arange(0.0, 0.5, 0.001), np.arange(0.5, 4.0, 0.05), np.arange(4.0, 96.25, 0.25)])
    arms = {"2 mg iv": vh.Regimen.bolus(2.0, into="venous_blood"), "7.5 mg oral": vh.Regimen.bolus(7.5, into="gut_lumen")}
    trial = vh.Trial(model=population.model, population=population, arms=arms, n_per_arm=6, times=times,
                     outputs=["Cp"], seed=2)
    assert vh.Trial.from_dict(json.loads(trial.to_json())).to_dict() == trial.to_dict()
    ds = trial.run(tmp_path / "pbpk.zarr", batch_size=4, progress=False)
    draw = population.sample(n=6, seed=2)
    np.testing.assert_array_equal(ds["VOL_liver"].isel(arm=0).values, draw["VOL_liver"].values)
    for i, protocol in enumerate(arms.values()):
        direct = vh.simulate(population.model, draw, times=times, protocol=protocol, outputs=["Cp"])
        np.testing.assert_allclose(ds["Cp"].isel(arm=i).values, direct["Cp"].values, rtol=1e-9)
    # Each patient's intravenous AUC is the dose over his own model clearance (96 h covers the profile)
    params = {k: draw[k].values for k in population.model.parameter_names}
    auc = np.trapezoid(ds["Cp"].isel(arm=0).values, times, axis=1)
    np.testing.assert_allclose(auc, 2.0 / pb.clearance(params), rtol=1e-2)
    # Oral exposure over IV exposure is each patient's bioavailability
    ratio = np.trapezoid(ds["Cp"].isel(arm=1).values, times, axis=1) / auc * 2.0 / 7.5
    np.testing.assert_allclose(ratio, pb.oral_bioavailability(params), rtol=2e-2)
