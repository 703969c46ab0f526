"""The coupled PK -> heart trial arm (``vh.cipa.DrugExposure``): refusals before any compute, the spec, the label PK,
and one small trial into a Zarr store checked against its own pieces."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin import cipa
from vhtwin.cipa.coupling import multirate_coupling, paced_windows
from vhtwin.cli import main
from vhtwin.errors import InputError
from vhtwin.trial.spec_codec import decode_design
from vhtwin.trial.toml_spec import load_trial_toml, parse_trial_toml

CELL = "cardio/ohara_rudy_cipa2017"
HOUR = 3.6e6  # ms


@pytest.fixture(scope="module")
def cell():
    return vh.load_model(CELL)


@pytest.fixture(scope="module")
def cells(cell):
    return vh.Population(cell, omega={"GKr": 0.04, "GKs": 0.04, "PCa": 0.04})


def exposure(dose=0.5, **kw):
    return cipa.DrugExposure.from_label("dofetilide", vh.Regimen.repeated(dose, 12.0, 2, into="depot"), **kw)


@pytest.mark.parametrize("change, message", [
    (dict(fraction_unbound=0.0), "fraction_unbound 0.0 must be in (0, 1]"),
    (dict(fraction_unbound=1.5), "fraction_unbound 1.5 must be in (0, 1]"),
    (dict(molar_mass=-1.0), "molar_mass -1.0 must be a finite number > 0 (g/mol)"),
    (dict(concentration="Ce"), "concentration 'Ce' is not an observable"),
    (dict(beats_per_point=0), "beats_per_point 0 must be a whole number >= 1"),
    (dict(sample=2001), "sample 2001 must be a whole number from 0 to 2000"),
    (dict(coupling="weak"), "coupling 'weak' must be 'multirate' or 'full'"),
    (dict(accelerate_binding=1), "accelerate_binding 1 must be True or False"),
    (dict(drug="aspirin"), "drug 'aspirin' is not one of the 28 CiPA drugs"),
    (dict(regimen=vh.Regimen.bolus(0.5, into="gut")), "doses into 'gut', which is not a dosable state"),
])
def test_an_exposure_refuses_bad_fields_in_a_sentence(change, message):
    arm = exposure()
    fields = dict(drug=arm.drug, pk=arm.pk, regimen=arm.regimen, fraction_unbound=arm.fraction_unbound,
                  molar_mass=arm.molar_mass)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        cipa.DrugExposure(**{**fields, **change})


def test_a_drug_without_a_pk_file_is_named_with_those_that_have_one():
    with pytest.raises(InputError, match=r"drug 'quinidine' has no PK file in vhtwin; those with one: \['dofetilide'\]"):
        cipa.DrugExposure.from_label("quinidine", vh.Regimen.bolus(1.0, into="depot"))


def test_a_trial_refuses_what_an_exposure_arm_cannot_run_before_any_compute(cell, cells):
    arm, times = exposure(), np.array([0.0, 3.0]) * HOUR
    base = dict(model=cell, population=cells, n_per_arm=2, times=times)
    with pytest.raises(InputError, match="cannot share a trial with dose or pacing arms"):
        vh.Trial(arms={"drug": arm, "paced": vh.Pacing(period=2000.0, duration=0.5, count=2)}, **base)
    with pytest.raises(InputError, match=r"Trial outputs \['V'\]: this trial's arms give \['C_free', 'APD90'"):
        vh.Trial(arms={"drug": arm}, outputs=["V"], **base)
    varied = vh.Population(cell, omega={"GKr": 0.04, "IC50_ICaL": 0.1})
    with pytest.raises(InputError, match=r"varies \['IC50_ICaL'\], which the arm's drug sets"):
        vh.Trial(**{**base, "population": varied}, arms={"drug": arm})
    ord2011 = vh.load_model("cardio/ohara_rudy2011")
    with pytest.raises(InputError, match="a DrugExposure arm drives cardio/ohara_rudy_cipa2017"):
        vh.Trial(model=ord2011, population=vh.Population(ord2011), n_per_arm=2, times=times, arms={"drug": arm})
    with pytest.raises(InputError, match="with full coupling measures one beat per time point"):
        vh.Trial(**{**base, "times": np.array([0.0, 1000.0])}, arms={"drug": exposure(coupling="full")})
    with pytest.raises(InputError, match="a residual error model applies to the model's outputs"):
        vh.Trial(**{**base, "population": vh.Population(cell, residual=vh.Residual(additive=1.0))}, arms={"drug": arm})


def test_the_spec_stores_the_arm_and_a_store_reader_does_not_load_its_pk_model(cell, cells):
    trial = vh.Trial(model=cell, population=cells, n_per_arm=2, times=np.array([0.0, 3.0]) * HOUR,
                     arms={"500 ug bid": exposure(beats_per_point=7)}, outputs=["APD90", "dAPD90"])
    spec = trial.to_dict()
    again = vh.Trial.from_dict(spec)
    assert again.to_dict() == spec
    assert again.arms["500 ug bid"] == trial.arms["500 ug bid"]
    assert again.arms["500 ug bid"].beats_per_point == 7
    assert again.arms["500 ug bid"].accelerate_binding is False
    stored = decode_design(spec).arms["500 ug bid"]
    assert isinstance(stored, dict) and stored["kind"] == "cipa.DrugExposure"
    assert stored["pk_model"]["name"] == "pharmacokinetics/one_compartment_oral"


def test_the_label_pk_of_dofetilide_peaks_at_2_to_3_h_near_the_cipa_free_cmax():
    """500 ug twice daily for 5 days: peak 2-3 h after the first dose; the steady-state free peak within a factor of
    2 of the free Cmax of the FDA's CiPA data (2 nM)."""
    arm = cipa.DrugExposure.from_label("dofetilide", vh.Regimen.repeated(0.5, 12.0, 10, into="depot"))
    t = np.arange(0.0, 120.01, 0.25)
    ds = vh.simulate(arm.pk.model, dict(arm.pk.typical), times=t, protocol=arm.regimen, outputs=["Cc"])
    free = ds["Cc"].values.ravel() * 1e6 / arm.molar_mass * arm.fraction_unbound  # nM
    assert 2.0 <= t[np.argmax(np.where(t < 12, free, 0))] <= 3.0
    assert 0.5 <= free[t >= 108].max() / cipa.drug("dofetilide").cmax <= 2.0


@pytest.mark.parametrize("call, message", [
    (lambda: paced_windows({"D": 1.0}, [1.0], [2], [0]), "params must not hold 'D'"),
    (lambda: paced_windows({}, [[1.0, 2.0]], [2], [0]), r"expected \(lanes, 1\) or \(1,\)"),
    (lambda: paced_windows({}, [1.0, -2.0], [2, 2], [0]), "concentration must be finite and >= 0 nM"),
    (lambda: paced_windows({}, [1.0], [0], [0]), "window_beats .* must be one or more whole numbers >= 1"),
    (lambda: paced_windows({}, [1.0, 1.0], [1, 1], [1, 0]), "analysed .* must be increasing window numbers"),
    (lambda: multirate_coupling({}, [[1.0]], beats_per_point=0), "beats_per_point 0 must be a whole number"),
    (lambda: cipa.full_coupling({}, [[1.0, 1.0]], [2]), r"points \[2\] must be beat numbers from 0 to 1"),
])
def test_coupling_refuses_bad_input_before_any_compute(call, message):
    with pytest.raises(InputError, match=message):
        call()


COUPLED_SPEC = """
seed = 3
n_per_arm = 3
outputs = ["C_free", "APD90", "APD50", "qNet", "EAD", "dAPD90"]
times = [0.0, 1.08e7, 5.4e7]   # ms: 0, 3 and 15 h
solver = "rodas4"
rtol = 1e-4
atol = 1e-7
max_steps = 10_000_000

[model]
name = "cardio/ohara_rudy_cipa2017"

[population]
omega = { GKr = 0.04, GKs = 0.04, PCa = 0.04 }

[[arms]]
name = "label"
doses = [ { repeated = { amount = 0.5, interval = 12.0, count = 2, into = "depot" } } ]
exposure = { drug = "dofetilide", beats_per_point = 3, baseline_beats = 3 }

[[arms]]
name = "label, binding sped up"
doses = [ { repeated = { amount = 0.5, interval = 12.0, count = 2, into = "depot" } } ]
exposure = { drug = "dofetilide", beats_per_point = 3, baseline_beats = 3, accelerate_binding = true }

[[arms]]
name = "100x"
doses = [ { repeated = { amount = 50.0, interval = 12.0, count = 2, into = "depot" } } ]
exposure = { drug = "dofetilide", beats_per_point = 3, baseline_beats = 3 }
"""


def _spec(**changes):
    """COUPLED_SPEC parsed, its first arm's exposure table changed (None removes a key); "arm" changes the arm."""
    doc = tomllib.loads(COUPLED_SPEC)
    for key, value in changes.pop("arm", {}).items():
        doc["arms"][0].pop(key) if value is None else doc["arms"][0].__setitem__(key, value)
    for key, value in changes.items():
        doc["arms"][0]["exposure"].pop(key) if value is None else doc["arms"][0]["exposure"].__setitem__(key, value)
    return doc


OWN_PK = dict(pk_model={"name": "pharmacokinetics/one_compartment_oral"}, fraction_unbound=0.5, molar_mass=400.0,
              pk={"typical": {"ka": 1.0, "CL": 10.0, "V": 100.0, "F": 1.0}, "omega": {"CL": 0.09}})


def test_a_toml_exposure_arm_takes_a_pk_model_of_its_own(tmp_path):
    arms = parse_trial_toml(_spec(**OWN_PK), tmp_path)["arms"]
    own = arms["label"]
    assert own.pk.model.name == "pharmacokinetics/one_compartment_oral" and own.molar_mass == 400.0
    assert own.pk.typical["CL"] == 10.0 and list(own.pk.omega.names) == ["CL"]
    assert [d.amount for d in own.regimen.doses] == [0.5, 0.5] and own.beats_per_point == 3
    label = parse_trial_toml(_spec(omega={"CL": 0.01}), tmp_path)["arms"]["label"]
    assert list(label.pk.omega.names) == ["CL"] and label.pk.model.name == arms["100x"].pk.model.name


@pytest.mark.parametrize("changes, message", [
    (dict(drug="aspirin"), r"arms\[0\].exposure: drug 'aspirin' is not one of the 28 CiPA drugs"),
    (dict(drug="quinidine"), r"arms\[0\].exposure: drug 'quinidine' has no PK file in vhtwin"),
    (dict(molar_mass=400.0), r"arms\[0\].exposure = .*molar_mass: these describe a PK model of your own; give pk_model"),
    (dict(pk_model={"name": "pharmacokinetics/one_compartment_oral"}),
     r"arms\[0\].exposure = .*with pk_model, give pk, fraction_unbound, molar_mass too"),
    ({**OWN_PK, "pk": {"omega": {"Q": 0.1}}}, r"arms\[0\].exposure.pk.omega.Q = 'Q': unknown parameter"),
    ({**OWN_PK, "pk_model": {"name": "pharmacokinetics/nonesuch"}}, r"arms\[0\].exposure.pk_model.name = "),
    ({**OWN_PK, "omega": {"CL": 0.1}}, r"with pk_model, give them in pk.omega"),
    (dict(beats_per_point=0), r"arms\[0\].exposure.beats_per_point = 0: input should be greater than or equal to 1"),
    (dict(sample=2001), r"arms\[0\].exposure: DrugExposure sample 2001 must be a whole number from 0 to 2000"),
    (dict(cycle_length=5.0), r"arms\[0\].exposure: DrugExposure cycle_length 5.0 must be a number of ms > 10"),
    (dict(arm={"doses": [{"bolus": {"amount": 1.0, "into": "gut"}}]}),
     r"arms\[0\].doses\[0\].bolus.into = 'gut': unknown dose target \(a dosable state of pharmacokinetics/"),
    (dict(arm={"pacing": {"period": 2000.0, "duration": 0.5, "count": 2}}), r"arms\[0\].pacing = .*has doses only"),
    (dict(arm={"doses": None}), r"arms\[0\].doses = None: an arm with an exposure table needs doses"),
    (dict(arm={"exposure": None}), r"arms\[0\] = 'label': a trial's arms are all exposure arms or none"),
])
def test_a_toml_exposure_arm_refuses_bad_keys_naming_the_key(changes, message, tmp_path):
    with pytest.raises(InputError, match=message):
        parse_trial_toml(_spec(**changes), tmp_path)


def test_a_toml_exposure_trial_checks_its_model_outputs_and_population(tmp_path):
    doc = _spec()
    with pytest.raises(InputError, match=r"outputs\[0\] = 'V': unknown output of an exposure arm; allowed: \['C_free'"):
        parse_trial_toml({**doc, "outputs": ["V"]}, tmp_path)
    with pytest.raises(InputError, match=r"arms\[0\].exposure: a DrugExposure arm drives cardio/ohara_rudy_cipa2017; the "
                                         r"trial's model is cardio/ohara_rudy2011"):
        parse_trial_toml({**doc, "model": {"name": "cardio/ohara_rudy2011"}, "population": {}}, tmp_path)
    with pytest.raises(InputError, match=r"arms\[0\].exposure: the trial population varies \['IC50_INa'\]"):
        parse_trial_toml({**doc, "population": {"omega": {"IC50_INa": 0.1}}}, tmp_path)


def test_the_exposure_example():
    """examples/cipa_exposure_trial.toml: two doses of dofetilide's label PK driving varied cells for three days (the
    run itself is the coupled trial above, at its sizes)."""
    fields = load_trial_toml(Path(__file__).resolve().parents[2] / "examples" / "cipa_exposure_trial.toml")
    trial = vh.Trial(**fields)
    assert list(trial.arms) == ["500 ug bid", "1000 ug bid"] and trial.outputs[0] == "dAPD90"
    low, high = trial.arms.values()
    assert [d.amount for d in high.regimen.doses] == [1.0] * 6 and [d.time for d in low.regimen.doses] == \
        [0.0, 12.0, 24.0, 36.0, 48.0, 60.0]
    assert low.accelerate_binding and low.beats_per_point == 30 and low.pk.model.name.endswith("one_compartment_oral")
    np.testing.assert_allclose(trial.times, np.arange(0.0, 73.0, 3.0) * HOUR)
    assert set(fields["population"].omega.names) == {"GKr", "GKs", "PCa", "GNaL"}


def test_vhtwin_run_refuses_a_concentration_target_for_an_exposure_trial_before_any_compute(tmp_path, capsys):
    spec = tmp_path / "coupled.toml"
    spec.write_text(COUPLED_SPEC)
    assert main(["run", str(spec), "--out", str(tmp_path / "x.zarr"), "--target", "1.0"]) != 0
    assert "--target 1 is a concentration target: it needs an arm with doses of the trial's model" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


@pytest.mark.slow
def test_a_coupled_trial_stores_what_its_pieces_give(cell, cells, tmp_path, capsys):
    """Two arms (the label dose, its binding sped up by the real beats per point over 3, and 100 x it, plain),
    three patients in batches of two, three time points, 3 beats per point, written as a TOML spec and run by
    ``vhtwin run``: the spec gives the trial of the Python API, and the store holds the free concentration of each
    patient's own PK draw, the cell's beat at that concentration as multi-rate coupling gives it, dAPD90 from the
    patient's baseline, and the drug's block as simulated."""
    times = np.array([0.0, 3.0, 15.0]) * HOUR
    arms = {"label": exposure(0.5, beats_per_point=3, baseline_beats=3),
            "label, binding sped up": exposure(0.5, beats_per_point=3, baseline_beats=3, accelerate_binding=True),
            "100x": exposure(50.0, beats_per_point=3, baseline_beats=3)}
    trial = vh.Trial(model=cell, population=cells, arms=arms, n_per_arm=3, times=times, seed=3, solver="rodas4",
                     rtol=1e-4, atol=1e-7, max_steps=10_000_000)
    spec = tmp_path / "coupled.toml"
    spec.write_text(COUPLED_SPEC)
    assert vh.Trial(**load_trial_toml(spec)).to_dict() == trial.to_dict()  # the same trial, in every field
    assert main(["run", str(spec), "--out", str(tmp_path / "coupled.zarr"), "--batch-size", "2", "--quiet",
                 "--figures", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert (tmp_path / "coupled_C_free_bands.png").read_bytes()[:4] == b"\x89PNG"
    assert vh.verify_trial(tmp_path / "coupled.zarr").damaged == []
    ds = vh.open_trial(tmp_path / "coupled.zarr")
    # the summary: per arm, each patient's largest APD90 change and free concentration (median, 5-95 %), and the
    # patients with an EAD -- the numbers of the store
    header = next(line for line in table.splitlines() if "dAPD90_max [ms] median (5-95%)" in line)
    assert "C_free_max [nM] median (5-95%)" in header and "patients with an EAD" in header
    row = next(line for line in table.splitlines() if line.startswith("100x "))
    top = ds["dAPD90_max"].sel(arm="100x").values
    assert f"{np.percentile(top, 50):.3g} ({np.percentile(top, 5):.3g} to {np.percentile(top, 95):.3g})" in row
    ead = ds["EAD"].sel(arm="100x").transpose("patient", "time").values
    assert row.split()[-1] == str(int(ead.any(axis=1).sum()))
    assert (ds["status"].values == 0).all()
    arm = arms["label"]
    x = ds.sel(arm="label").load()

    # each patient's PK: their own draw from (seed, id), its concentration made free nM (two patients per call: the
    # trial's batch shape, so nothing compiles again)
    for first in (0, 1):
        two = arm.pk.sample(n=2, seed=3, first_patient=first)
        np.testing.assert_array_equal(x["pk_CL"].values[first:first + 2], two["CL"].values)
        pk = vh.simulate(arm.pk.model, two, times=times / HOUR, protocol=arm.regimen, outputs=["Cc"])
        free = pk["Cc"].transpose("patient", "time").values * 1e6 / arm.molar_mass * arm.fraction_unbound
        np.testing.assert_allclose(x["C_free"].values[first:first + 2], free, rtol=1e-9, atol=1e-12)
    assert x["C_free"].values[:, 0].tolist() == [0.0, 0.0, 0.0]  # before the first dose

    # the cell of patients 0 and 1 (one batch): the coupling called directly on their parameters
    block = {k: v for k, v in cipa.drug("dofetilide").parameters(0.0).items() if k != "D"}
    own = {q: x[q].values[:2] for q in ("GKr", "GKs", "PCa")}
    direct = multirate_coupling({**own, **block}, x["C_free"].values[:2], beats_per_point=3, baseline_beats=3,
                                rtol=1e-4, atol=1e-7, max_steps=10_000_000)
    np.testing.assert_allclose(x["APD90"].values[:2], direct["APD90"][:, 1:], rtol=1e-10)
    np.testing.assert_allclose(x["qNet"].values[:2], direct["qNet"][:, 1:], rtol=1e-10)
    np.testing.assert_allclose(x["APD90_baseline"].values[:2], direct["APD90"][:, 0], rtol=1e-10)
    np.testing.assert_allclose(x["dAPD90"].values, x["APD90"].values - x["APD90_baseline"].values[:, None], rtol=1e-12)
    np.testing.assert_allclose(x["dAPD90_max"].values, x["dAPD90"].values.max(axis=1), rtol=1e-12)

    # the drug's block as simulated, not the population's defaults; D varies over time (C_free), so NaN
    assert np.all(x["IC50_ICaL"].values == cipa.drug("dofetilide").hill["ICaL"][0])
    assert np.all(np.isnan(x["D"].values))
    assert len(set(x["GKr"].values.tolist())) == 3  # the conductances vary between patients

    # 100 x the dose: 100 x the free concentration, and the longer action potential 3 h after the dose
    hi = ds.sel(arm="100x").load()
    np.testing.assert_allclose(hi["C_free"].values, 100 * x["C_free"].values, rtol=1e-6)
    assert np.all(hi["dAPD90"].values[:, 1] > x["dAPD90"].values[:, 1] + 5.0), (hi["dAPD90"].values, x["dAPD90"].values)

    # binding sped up by the real beats per point (5,400 and 21,600) over 3, at most 60 x: the same cells, the
    # direct call with real_beats; the drug binds further than in 3 plain beats, so the beats are longer
    fast = ds.sel(arm="label, binding sped up").load()
    real = np.diff(np.concatenate([[0.0], times])) / 2000.0
    direct = multirate_coupling({**own, **block}, x["C_free"].values[:2], beats_per_point=3, baseline_beats=3,
                                real_beats=real, rtol=1e-4, atol=1e-7, max_steps=10_000_000)
    np.testing.assert_allclose(fast["APD90"].values[:2], direct["APD90"][:, 1:], rtol=1e-10)
    assert np.all(fast["dAPD90"].values[:, 1:] > x["dAPD90"].values[:, 1:] + 1.0), (fast["dAPD90"].values,
                                                                                   x["dAPD90"].values)

    # the command line describes the store from its data (the PK model is not loaded) and draws its bands
    assert main(["info", str(tmp_path / "coupled.zarr")]) == 0
    assert "arm 'label': cipa.DrugExposure dofetilide, 2 doses, 1 in all" in capsys.readouterr().out
    assert main(["plot", str(tmp_path / "coupled.zarr"), "--variable", "dAPD90", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "coupled_dAPD90_bands.png").read_bytes()[:4] == b"\x89PNG"
