"""Trial spec encoding: exact, JSON-safe round trips of models, populations, regimens and whole trials."""

import json
import textwrap

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.trial import spec_codec as sc

ORAL = "pharmacokinetics/one_compartment_oral"


def _json(x):
    y = json.loads(json.dumps(x, allow_nan=False))
    assert y == x
    return y


@pytest.fixture(scope="module")
def model():
    return vh.load_model(ORAL)


@pytest.fixture(scope="module")
def rich_population(model):
    cov = vh.Covariates(
        WT=vh.LogNormal(median=75, cv=0.2, lower=40, upper=150, unit="kg"),
        HT=vh.LogNormal(median=172.0, sd_log=0.05, unit="cm"),
        AGE=vh.Uniform(18, 80, unit="y"),
        ALB=vh.Normal(4.2, 0.4, lower=2.5, unit="g dL-1"),
        SEX=vh.Bernoulli(0.5),
        SCR=vh.LogNormal(median=0.9, sd_log=0.25, lower=0.4, upper=3.0, unit="mg dL-1"),
        CRCL=vh.CockcroftGault(), BMI=vh.BodyMassIndex(),
        correlation={("WT", "HT"): 0.6, ("AGE", "SCR"): 0.2},
    )
    return vh.Population(
        model,
        typical={"ka": 1.5, "CL": 2.8, "V": 31.5, "F": 0.7},
        omega=vh.Omega({"ka": 0.42, "F": 0.1}, blocks=[(("CL", "V"), [[0.073, 0.02], [0.02, 0.018]])]),
        covariates=cov,
        covariate_models=[
            vh.PowerCovariate("CL", "WT", 70, 0.75), vh.PowerCovariate("CL", "CRCL", 100.0, 0.5),
            vh.LinearCovariate("V", "AGE", 40.0, 0.004), vh.ExponentialCovariate("V", "ALB", 4.0, -0.1),
            vh.CategoricalCovariate("ka", "SEX", {0: 1.0, 1: 0.8}),
        ],
        residual=vh.Residual(additive=0.7, proportional=0.1, combined="sum"),
        distribution={"F": ("logit", 0.0, 1.0), "ALAG": "normal"},
        iov=vh.IOV({"CL": 0.02, "ka": 0.1}, 3),
    )


def test_rich_population_round_trip_is_bit_for_bit(model, rich_population):
    enc = _json(sc.encode_population(rich_population))
    again = sc.decode_population(enc, model)
    assert sc.encode_population(again) == enc
    a, b = rich_population.sample(257, seed=11, first_patient=3), again.sample(257, seed=11, first_patient=3)
    assert a.identical(b)
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values)


def test_covariate_table_population_round_trip(model):
    rng = np.random.default_rng(0)
    table = vh.CovariateTable(
        {"WT": rng.uniform(50, 100, 40), "AGE": rng.integers(20, 70, 40), "SEX": rng.integers(0, 2, 40),
         "SCR": np.r_[rng.uniform(0.6, 1.5, 39), np.nan], "SITE": np.array(["a", "b"] * 20)},
        units={"WT": "kg", "AGE": "y"}, resample=True, derived={"CRCL": vh.CockcroftGault()},
    )
    pop = vh.Population(model, typical={"CL": 3.0}, omega={"CL": 0.1}, covariates=table,
                        covariate_models=[vh.CategoricalCovariate("V", "SITE", {"a": 1.0, "b": 1.2}),
                                          vh.PowerCovariate("CL", "WT", 70.0, 0.75)])
    enc = _json(sc.encode_population(pop))
    again = sc.decode_population(enc, model)
    assert again.covariates.columns["AGE"].dtype == table.columns["AGE"].dtype
    assert pop.sample(100, seed=5).identical(again.sample(100, seed=5))


def test_equivalent_populations_encode_equally(model):
    a = vh.Population(model, typical={}, omega={"CL": 0.1})
    b = vh.Population(model, typical=model.default_parameters(), omega=vh.Omega({"CL": 0.1}), distribution="lognormal")
    assert sc.encode_population(a) == sc.encode_population(b)
    c = vh.Population(model, omega={"CL": 0.2})
    assert sc.encode_population(a) != sc.encode_population(c)


def test_code_covariates_are_refused(model):
    cov = vh.Covariates(WT=vh.Uniform(50, 90), LBW=vh.Derived(lambda v: v["WT"] * 0.8, ["WT"]))
    with pytest.raises(vh.InputError, match="Derived covariate"):
        sc.encode_population(vh.Population(model, covariates=cov))


def test_regimen_round_trip():
    reg = (
        vh.Regimen.infusion(500.0, into="central", duration=0.5)
        + vh.Regimen.repeated(2.0, interval=12.0, count=4, into="depot", start=24.0, per="WT", steady_state=True)
        + vh.Regimen.repeated(100, interval=24.0, count=2, into="central", rate="model")
        + vh.Regimen.infusion(50.0, into="central", duration="model", at=3.0)
        + vh.Regimen.reset(48.0)
        + vh.Regimen((), (vh.protocols.Reset(60.0, {"central": 10.0}),))
    )
    enc = _json(sc.encode_regimen(reg))
    assert [e["kind"] for e in enc].count("reset") == 2
    again = sc.decode_regimen(enc)
    assert again == reg
    assert sc.encode_regimen(again) == enc


def test_per_patient_amounts_are_refused():
    with pytest.raises(vh.InputError, match="per-patient amounts"):
        sc.encode_regimen(vh.Regimen.bolus(np.array([1.0, 2.0]), into="depot"))


def _trial(model, population, **kw):
    fields = dict(
        model=model, population=population,
        arms={"b": vh.Regimen.repeated(100.0, 12.0, 14, into="depot"), "a": vh.Regimen.bolus(200.0, into="central")},
        n_per_arm=50, times=np.arange(0.0, 24.5, 0.5), outputs=["Cc", "central"], seed=3,
    )
    fields.update(kw)
    return fields


def test_trial_round_trip_through_json(model, rich_population):
    fields = _trial(model, rich_population, rtol={"central": 1e-8}, atol=1e-10, precision="float64",
                    independent_arms=True, max_failure_fraction=0.05, solver="tsit5")
    enc = sc.encode_trial(**fields)
    assert enc["format"] == "vhtwin-trial/1"
    text = json.dumps(enc, allow_nan=False)
    dec = sc.decode_trial(json.loads(text))
    assert list(dec) == list(sc.TRIAL_FIELDS)
    assert list(dec["arms"]) == ["b", "a"]
    assert dec["model"] is model
    assert np.array_equal(dec["times"], fields["times"])
    assert sc.encode_trial(**dec) == enc
    assert dec["population"].sample(20, 1).identical(rich_population.sample(20, 1))
    for key in ("rtol", "atol", "precision", "independent_arms", "max_failure_fraction", "solver", "seed", "n_per_arm"):
        assert dec[key] == fields[key]


def test_trial_defaults_and_difference(model):
    pop = vh.Population(model, omega={"CL": 0.1})
    enc = sc.encode_trial(**_trial(model, pop))
    assert {k: enc[k] for k in sc.DEFAULTS} == sc.DEFAULTS
    assert sc.encode_trial(**_trial(model, pop, seed=4)) != enc
    assert sc.encode_trial(**_trial(model, pop, times=np.arange(0.0, 25.0, 0.5))) != enc


def test_trial_errors(model):
    pop = vh.Population(model)
    with pytest.raises(vh.InputError, match="format"):
        sc.decode_trial({"format": "other"})
    with pytest.raises(vh.InputError, match="solver"):
        sc.encode_trial(**_trial(model, pop, solver=object()))
    other = vh.load_model("pharmacokinetics/one_compartment_iv")
    with pytest.raises(vh.InputError, match="population is of model"):
        sc.encode_trial(**_trial(other, pop))
    enc = sc.encode_trial(**_trial(model, pop))
    enc["model"]["source_sha256"] = "0" * 64
    with pytest.raises(vh.InputError, match="changed since the spec was written"):
        sc.decode_trial(enc)


def test_library_model_encoding(model):
    enc = sc.encode_model(model)
    assert enc == {"name": ORAL, "source_sha256": model.source_hash()}
    assert sc.decode_model(_json(enc)) is model


def test_file_model_encoding(tmp_path):
    path = tmp_path / "decay_for_spec.py"
    path.write_text(textwrap.dedent('''
        from vhtwin import Model, Observable, Parameter, State

        class DecayForSpec(Model):
            time_unit = "h"
            states = (State("A", "mg", 0.0, dosable=True),)
            parameters = (Parameter("k", 0.1, "h-1", positive=True),)
            observed = (Observable("X", "mg"),)

            def rhs(self, t, y, p):
                return {"A": -p.k * y.A}

            def observables(self, t, y, p):
                return {"X": y.A}
    '''))
    m = vh.load_model(str(path))
    enc = _json(sc.encode_model(m))
    assert enc["path"] == str(path.resolve()) and enc["name"] == "DecayForSpec"
    assert sc.decode_model(enc) == m
    with pytest.raises(vh.InputError, match="changed since the spec was written"):
        sc.decode_model({**enc, "source_sha256": "f" * 64})


def test_model_without_file_is_refused():
    class Local(vh.Model):
        time_unit = "h"
        states = (vh.State("A", "mg", 0.0, dosable=True),)
        parameters = (vh.Parameter("k", 0.1, "h-1", positive=True),)

        def rhs(self, t, y, p):
            return {"A": -p.k * y.A}

        def observables(self, t, y, p):
            return {}

    with pytest.raises(vh.InputError, match="the library, from a .py file .* or from an SBML or CellML file"):
        sc.encode_model(Local())
