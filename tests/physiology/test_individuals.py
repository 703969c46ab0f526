"""Virtual adults as population covariates: deterministic per (seed, i), in a trial spec and TOML, through a run."""

import json

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.trial.toml_spec import parse_trial_toml

SOURCE = dict(age=(30.0, 50.0), sex="female", weight=(50.0, 90.0))


def test_individuals_are_the_physiology_population_patient_by_patient():
    source = vh.physiology.Individuals(**SOURCE)
    ids = np.array([7, 8, 9, 2, 40])
    got = source.sample(5, ids)
    ref = vh.physiology.population(41, 5, age=(30.0, 50.0), sex="female", weight=(50.0, 90.0))
    np.testing.assert_array_equal(got["VOL_liver"], ref["volume"].sel(organ="liver").values[ids])
    np.testing.assert_array_equal(got["FLOW_kidney"], ref["blood_flow"].sel(organ="kidney").values[ids])
    np.testing.assert_array_equal(got["WT"], ref["body_weight"].values[ids])
    assert (got["SEX"] == 1).all() and ((got["WT"] >= 50) & (got["WT"] <= 90)).all()
    assert "FLOW_arterial_blood" not in got and source.units["FLOW_liver"] == "L h-1"
    with pytest.raises(vh.InputError, match="age"):
        vh.physiology.Individuals(age=(5.0, 60.0))


def trial(**overrides):
    m = vh.load_model("pharmacokinetics/one_compartment_iv")
    pop = vh.Population(m, typical={"CL": 5.0, "V": 50.0}, omega={"CL": 0.09},
                        covariates=vh.physiology.Individuals(**SOURCE),
                        covariate_models=[vh.PowerCovariate(param="V", covariate="WT", reference=70.0, exponent=1.0)])
    spec = dict(model=m, population=pop, arms={"100 mg": vh.Regimen.bolus(100.0, into="central")}, n_per_arm=9,
                times=np.arange(0.0, 25.0, 2.0), seed=4)
    spec.update(overrides)
    return vh.Trial(**spec)


def test_a_trial_of_virtual_adults_round_trips_and_runs(tmp_path):
    t = trial()
    again = vh.Trial.from_dict(json.loads(t.to_json()))
    assert again.to_dict() == t.to_dict()
    assert again.population.covariates == t.population.covariates
    ds = t.run(tmp_path / "t.zarr", batch_size=4, progress=False)
    draw = t.population.sample(n=9, seed=4)
    np.testing.assert_allclose(ds["V"].isel(arm=0).values, 50.0 * draw["WT"].values / 70.0, rtol=1e-12)
    np.testing.assert_array_equal(ds["VOL_liver"].isel(arm=0).values, draw["VOL_liver"].values)
    direct = vh.simulate(t.model, draw, times=t.times, protocol=t.arms["100 mg"])
    np.testing.assert_allclose(ds["Cc"].isel(arm=0).values, direct["Cc"].values, rtol=1e-9)


def test_virtual_adults_in_toml():
    doc = {
        "seed": 4, "n_per_arm": 9, "outputs": ["Cc"], "times": [0.0, 1.0, 2.0],
        "model": {"name": "pharmacokinetics/one_compartment_iv"},
        "population": {"typical": {"CL": 5.0, "V": 50.0}, "omega": {"CL": 0.09},
                       "physiology": {"age": [30, 50], "sex": "female", "weight": [50, 90]},
                       "covariate_models": [{"type": "power", "param": "V", "covariate": "WT", "reference": 70.0,
                                             "exponent": 1.0}]},
        "arms": [{"name": "100 mg", "doses": [{"bolus": {"amount": 100.0, "into": "central"}}]}],
    }
    fields = parse_trial_toml(doc)
    assert fields["population"].covariates == vh.physiology.Individuals(**SOURCE)
    assert vh.Trial(**fields).to_dict() == trial(times=np.array([0.0, 1.0, 2.0]), outputs=["Cc"]).to_dict()
    bad = json.loads(json.dumps(doc))
    bad["population"]["physiology"]["age"] = [5, 60]
    with pytest.raises(vh.InputError, match=r"population\.physiology: .*age"):
        parse_trial_toml(bad)
    bad["population"]["covariates"] = {"WT": {"distribution": "normal", "mean": 70, "sd": 10}}
    with pytest.raises(vh.InputError, match="give one source of covariates"):
        parse_trial_toml(bad)
