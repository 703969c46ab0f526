"""Trial specs written in TOML: the examples load and sample; every mistake names its key path."""

import json
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.trial import spec_codec as sc
from vhtwin.trial.toml_spec import load_trial_toml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_two_arm_example():
    fields = load_trial_toml(EXAMPLES / "two_arm_trial.toml")
    assert list(fields) == list(sc.TRIAL_FIELDS)
    assert fields["model"].name == "pharmacokinetics/one_compartment_oral"
    assert list(fields["arms"]) == ["100 mg q12h", "200 mg q24h"]
    assert fields["arms"]["100 mg q12h"] == vh.Regimen.repeated(100.0, 12.0, 14, into="depot")
    assert fields["arms"]["200 mg q24h"] == vh.Regimen.repeated(200.0, 24.0, 7, into="depot")
    assert np.array_equal(fields["times"], np.arange(0.0, 169.0))
    assert (fields["n_per_arm"], fields["seed"], fields["outputs"]) == (5000, 1, ["Cc"])
    pop = fields["population"]
    assert pop.omega.diagonal == {"ka": 0.42, "CL": 0.073, "V": 0.018} and pop.residual == vh.Residual(additive=0.7)
    expected = vh.Population(fields["model"], typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
                             omega={"ka": 0.42, "CL": 0.073, "V": 0.018}, residual=vh.Residual(additive=0.7))
    assert pop.sample(50, 1).identical(expected.sample(50, 1))
    assert {k: fields[k] for k in sc.DEFAULTS} == sc.DEFAULTS


def test_covariate_example():
    fields = load_trial_toml(EXAMPLES / "covariate_trial.toml")
    pop = fields["population"]
    draw = pop.sample(200, fields["seed"])
    assert {"WT", "AGE", "SEX", "SCR", "CRCL"} <= set(draw.data_vars)
    assert np.all(np.isfinite(draw["CL"].values)) and np.all((draw["F"] > 0) & (draw["F"] < 1))
    assert pop.omega.blocks[0][0] == ("CL", "V")
    assert any(d.ss_interval == 24.0 for d in fields["arms"]["4 mg/kg q24h at steady state"].doses)
    assert all(d.per == "WT" for reg in fields["arms"].values() for d in reg.doses)
    enc = sc.encode_trial(**fields)
    assert sc.encode_trial(**sc.decode_trial(json.loads(json.dumps(enc)))) == enc


def test_model_path_relative_to_toml_and_table_and_resets(tmp_path):
    (tmp_path / "decay_toml.py").write_text(
        "from vhtwin import Model, Observable, Parameter, State\n"
        "class DecayToml(Model):\n"
        "    time_unit = 'h'\n"
        "    states = (State('A', 'mg', 0.0, dosable=True),)\n"
        "    parameters = (Parameter('k', 0.1, 'h-1', positive=True),)\n"
        "    observed = (Observable('X', 'mg'),)\n"
        "    def rhs(self, t, y, p):\n        return {'A': -p.k * y.A}\n"
        "    def observables(self, t, y, p):\n        return {'X': y.A}\n"
    )
    (tmp_path / "cov.csv").write_text("WT,GRP\n60.0,1\n80.5,2\n")
    (tmp_path / "t.toml").write_text('''
seed = 0
n_per_arm = 2
outputs = ["X"]
times = [0.0, 1.0, 2.5]
rtol = { A = 1e-8 }
[model]
path = "decay_toml.py"
[population]
omega = { k = 0.1 }
distribution = { k = "normal" }
iov = { n_occasions = 2, variances = { k = 0.01 } }
[population.covariate_table]
csv = "cov.csv"
units = { WT = "kg" }
[[population.covariate_models]]
type = "categorical"
param = "k"
covariate = "GRP"
factors = [ { level = 1, factor = 1.0 }, { level = 2, factor = 1.5 } ]
[[arms]]
name = "x"
doses = [ { dose = { time = 0.0, amount = 1.0, into = "A", duration = 2.0, per = "WT" } },
          { infusion = { amount = 3.0, into = "A", rate = 1.5, at = 5.0 } } ]
resets = [ { at = 10.0, state = { A = 0.5 } } ]
''')
    fields = load_trial_toml(tmp_path / "t.toml")
    assert fields["model"].name == "DecayToml"
    assert fields["rtol"] == {"A": 1e-8}
    reg = fields["arms"]["x"]
    assert reg.doses[1].duration == 2.0 and reg.resets[0].state == {"A": 0.5}
    draw = fields["population"].sample(2, 0)
    assert draw["WT"].values.tolist() == [60.0, 80.5]
    enc = sc.encode_trial(**fields)
    assert enc["model"]["path"] == str((tmp_path / "decay_toml.py").resolve())
    assert sc.decode_trial(json.loads(json.dumps(enc)))["population"].sample(2, 0).identical(draw)


BASE = (EXAMPLES / "covariate_trial.toml").read_text()

BAD = [
    # (replace, with, key path expected in the message)
    ("seed = 20240601", "sed = 1\nseed = 1", "sed"),
    ("seed = 20240601\n", "", "seed"),
    ("n_per_arm = 2000", "n_per_arm = 0", "n_per_arm"),
    ('outputs = ["Cc", "central"]', 'outputs = ["Cp"]', "outputs[0]"),
    ("times = { start = 0.0, stop = 72.0, step = 0.5 }", "times = [0.0, 1.0, 1.0, 2.0]", "times[2]"),
    ("times = { start = 0.0, stop = 72.0, step = 0.5 }", "times = { start = 0.0, stop = 72.0, every = 0.5 }", "times.every"),
    ('name = "pharmacokinetics/one_compartment_oral"', 'name = "pharmacokinetics/one_compartment_orl"', "model.name"),
    ("omega = { ka = 0.3, F = 0.05 }", "omega = { ka = 0.3, CLx = 0.05 }", "population.omega.CLx"),
    ("omega = { ka = 0.3, F = 0.05 }", "omega = { ka = -0.3, F = 0.05 }", "population.omega.ka"),
    ("omega = { ka = 0.3, F = 0.05 }", "omega = { ka = 30.0, F = 0.05 }", "population.omega"),
    ("omega = { ka = 0.3, F = 0.05 }", "omega = { F = 0.05 }\ncv = { ka = 30.0 }", "population.cv"),
    ("omega = { ka = 0.3, F = 0.05 }", "omega = { F = 0.05 }\ncv = { kaa = 0.3 }", "population.cv.kaa"),
    ("typical = { ka = 1.2,", 'typical = { ka = "fast",', "population.typical.ka"),
    ("typical = { ka = 1.2,", "typical = { ka = -1.2,", "population.typical.ka"),
    ("[0.03, 0.04]]", "[0.03, -0.04]]", "population.omega_blocks[0]"),
    ('distribution = "bernoulli", p = 0.5', 'distribution = "binomial", p = 0.5', "population.covariates.SEX.distribution"),
    ('median = 75.0, cv = 0.2,', 'median = 75.0, cv = 0.2, mean = 1.0,', "population.covariates.WT.mean"),
    ('between = ["WT", "SCR"]', 'between = ["WT", "HT"]', "population.covariate_correlation[0].between[1]"),
    ("covariate = \"CRCL\"", "covariate = \"GFR\"", "population.covariate_models[2].covariate"),
    ('type = "power"\nparam = "V"', 'type = "cubic"\nparam = "V"', "population.covariate_models[1].type"),
    ("residual = { additive = 0.05,", "residual = { additive = -0.05,", "population.residual.additive"),
    ("atol = { depot = 1e-9, central = 1e-9 }", "atol = { depot = 1e-9, blood = 1e-9 }", "atol.blood"),
    ('interval = 12.0, count = 6, into = "depot" }', 'interval = 12.0, count = 6, into = "gut" }',
     "arms[0].doses[0].repeated.into"),
    ("amount = 4.0, per = \"WT\", interval = 24.0", "amount = 4.0, per = \"WT\", interval = -24.0",
     "arms[1].doses[0].repeated.interval"),
    ("amount = 4.0, per = \"WT\"", "amount = 4.0, per = \"BSA\"", "arms[1].doses[0].repeated.per"),
    ("{ infusion = { amount = 5.0", "{ infuse = { amount = 5.0", "arms[2].doses[0]"),
    ("duration = 0.5, into", "duratio = 0.5, into", "arms[2].doses[0].infusion.duratio"),
    ('name = "2 mg/kg q12h"', 'name = "4 mg/kg q24h at steady state"', "arms[1].name"),
    ("max_failure_fraction = 0.01", "max_failure_fraction = 1.5", "max_failure_fraction"),
    ("independent_arms = false", 'independent_arms = "no"', "independent_arms"),
    ('solver = "auto"', 'solver = "rk99"', "solver"),
]


@pytest.mark.parametrize("old, new, key", BAD, ids=[b[2] + f"#{i}" for i, b in enumerate(BAD)])
def test_bad_toml_names_the_key(tmp_path, old, new, key):
    assert old in BASE, old
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace(old, new, 1))
    with pytest.raises(vh.InputError) as info:
        load_trial_toml(path)
    assert str(info.value).startswith(key) or f"{key}:" in str(info.value), str(info.value)


def test_invalid_toml_and_missing_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("seed = = 1\n")
    with pytest.raises(vh.InputError, match="not valid TOML"):
        load_trial_toml(path)
    with pytest.raises(vh.InputError, match="does not exist"):
        load_trial_toml(tmp_path / "nope.toml")


def test_paced_cells_example():
    fields = load_trial_toml(EXAMPLES / "paced_cells.toml")
    assert fields["model"].name == "cardio/tentusscher2006"
    assert fields["arms"] == {"1 Hz": vh.Pacing(period=1000.0, duration=1.0, count=10),
                              "2 Hz": vh.Pacing(period=500.0, duration=1.0, count=19)}
    assert fields["max_steps"] == 200_000 and fields["times"][0] == 9000.0
    draw = fields["population"].sample(n=50, seed=fields["seed"])
    assert 0.1 < float(np.std(np.log(draw["g_Kr"].values))) < 0.3  # sd of the log conductance near 0.2


def test_cv_in_a_toml_spec_is_the_omega_of_that_cv(tmp_path):
    text = (EXAMPLES / "two_arm_trial.toml").read_text()
    assert "omega = { ka = 0.42, CL = 0.073, V = 0.018 }" in text
    path = tmp_path / "cv.toml"
    path.write_text(text.replace("omega = { ka = 0.42, CL = 0.073, V = 0.018 }", "omega = { ka = 0.42, V = 0.018 }\ncv = { CL = 0.3 }"))
    pop = load_trial_toml(path)["population"]
    assert pop.omega.diagonal["CL"] == pytest.approx(np.log1p(0.3**2))


@pytest.mark.parametrize("old, new, message", [
    ("n_per_arm = 2000", "n_per_arm = 0", "n_per_arm = 0: input should be greater than or equal to 1"),
    ("duration = 0.5, into", "duratio = 0.5, into",
     "arms[2].doses[0].infusion.duratio = 0.5: unknown key; allowed here: ['amount', 'into', 'at', 'per', 'duration', 'rate']"),
    ('distribution = "bernoulli", p = 0.5', 'distribution = "binomial", p = 0.5',
     "population.covariates.SEX.distribution = 'binomial': allowed: 'normal', 'lognormal', 'uniform', 'bernoulli'"),
    ("omega = { ka = 0.3, F = 0.05 }", "omega = { ka = 0.3, CLx = 0.05 }",
     "population.omega.CLx = 'CLx': unknown parameter of pharmacokinetics/one_compartment_oral; allowed: ['ka', 'CL'"),
])
def test_a_message_is_one_sentence_of_key_path_value_and_what_is_allowed(tmp_path, old, new, message):
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace(old, new, 1))
    with pytest.raises(vh.InputError) as info:
        load_trial_toml(path)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
