"""The prior library: published population models as data, loaded into populations, with the covariate rules and the
out-of-population warnings a clinic needs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import vhtwin.clinic as clinic
from vhtwin.errors import InputError

PRIORS = ["gentamicin_staatz2006", "theophylline_boeckmann1994", "vancomycin_goti2018"]


def test_the_library_and_its_files():
    assert clinic.priors() == PRIORS
    for name in PRIORS:
        p = clinic.prior(name)
        raw = Path(p.path).read_bytes()
        assert p.content_hash == hashlib.sha256(raw).hexdigest()
        assert p.name == name == Path(p.path).stem
        for key, value in p.spec.typical.items():
            assert p.population.typical[key] == value
        assert set(p.population.omega.names) == set(p.spec.omega)
        assert {t.source for t in p.targets} <= set(p.spec.sources)
        assert p.spec.level.observable in p.model.observable_names
        described = p.describe()
        assert described["sha256"] == p.content_hash and described["targets"]


def test_vancomycin_covariate_model_as_published():
    """Goti 2018: CL = 4.5 (CrCL/120)^0.8 0.7^DIAL, V1 = 58.4 (WT/70) 0.5^DIAL."""
    p = clinic.prior("vancomycin_goti2018")
    cov = {"CrCL": np.array([60.0, 120.0, 30.0]), "WT": np.array([70.0, 100.0, 50.0]), "DIAL": np.array([0, 0, 1])}
    tv = p.population.typical_values(cov)
    np.testing.assert_allclose(tv["CL"], [4.5 * 0.5 ** 0.8, 4.5, 4.5 * 0.25 ** 0.8 * 0.7], rtol=1e-12)
    np.testing.assert_allclose(tv["V1"], [58.4, 58.4 * 100 / 70, 58.4 * 50 / 70 * 0.5], rtol=1e-12)
    np.testing.assert_allclose(tv["V2"], 38.4)
    assert p.population.residual.proportional == 0.227 and p.population.residual.additive == 3.4


def test_gentamicin_linear_clearance_and_weight_scaled_volumes():
    """Staatz 2006: CL = 2.81 (1 + 0.0150 (CrCL - 63)), V1 = 0.251 L/kg, V2 = 0.156 L/kg."""
    p = clinic.prior("gentamicin_staatz2006")
    tv = p.population.typical_values({"CrCL": np.array([63.0, 100.0]), "WT": np.array([70.0, 50.0])})
    np.testing.assert_allclose(tv["CL"], [2.81, 2.81 * (1 + 0.0150 * 37)], rtol=1e-12)
    np.testing.assert_allclose(tv["V1"], [0.251 * 70, 0.251 * 50], rtol=1e-12)
    np.testing.assert_allclose(tv["V2"], [0.156 * 70, 0.156 * 50], rtol=1e-12)


def test_cockcroft_gault():
    # (140 - 70) x 60 / (72 x 1.2) x 0.85 = 41.32 mL/min; men without the factor
    assert clinic.cockcroft_gault(70, 60.0, 1.2, "female") == pytest.approx(70 * 60 / (72 * 1.2) * 0.85, rel=1e-12)
    assert clinic.cockcroft_gault(40, 80.0, 1.0, "male") == pytest.approx(100 * 80 / 72, rel=1e-12)
    for args, field in [((12, 40.0, 1.0, "male"), "age"), ((50, 0.0, 1.0, "male"), "weight"),
                        ((50, 70.0, -1.0, "male"), "creatinine"), ((50, 70.0, 1.0, "other"), "sex")]:
        with pytest.raises(InputError, match=field):
            clinic.cockcroft_gault(*args)


def test_covariates_from_a_patients_facts():
    vanc = clinic.prior("vancomycin_goti2018")
    cov = vanc.covariates({"age": 70, "sex": "female", "weight": 60.0, "creatinine": 1.2})
    assert cov == pytest.approx({"CrCL": 70 * 60 / (72 * 1.2) * 0.85, "WT": 60.0, "DIAL": 0.0})
    # the source's cap at 150 mL/min; a dialysis flag given by name is taken as it is
    cov = vanc.covariates({"age": 25, "sex": "male", "weight": 90.0, "creatinine": 0.6, "DIAL": 1})
    assert cov["CrCL"] == 150.0 and cov["DIAL"] == 1.0
    # gentamicin: serum creatinine below 60 umol/L is taken as 60 (0.6786 mg/dL)
    gent = clinic.prior("gentamicin_staatz2006")
    assert gent.covariates({"age": 60, "sex": "male", "weight": 80.0, "creatinine": 0.4})["CrCL"] == pytest.approx(
        80 * 80 / (72 * 60 / 88.42), rel=1e-12)
    with pytest.raises(InputError, match="CrCL.*creatinine"):
        vanc.covariates({"age": 70, "sex": "female", "weight": 60.0})


def test_out_of_population_warnings():
    vanc = clinic.prior("vancomycin_goti2018")
    inside = {"age": 70, "sex": "female", "weight": 60.0, "creatinine": 1.2}
    assert vanc.warnings(vanc.covariates(inside), inside) == []
    heavy = {"age": 45, "sex": "male", "weight": 300.0, "creatinine": 0.9}
    (warning,) = vanc.warnings(vanc.covariates(heavy), heavy)
    assert "WT 300 kg is outside 33-255 kg" in warning and "1812 patients" in warning
    old = {"age": 20, "sex": "male", "weight": 80.0, "creatinine": 1.0}
    gent = clinic.prior("gentamicin_staatz2006")
    assert any(w.startswith("age 20 years is outside 29-83") for w in gent.warnings(gent.covariates(old), old))


def test_bad_prior_files_are_refused(tmp_path):
    good = Path(clinic.prior("vancomycin_goti2018").path).read_text()
    cases = {
        "typo.toml": (good.replace("[typical]\nCL = 4.5", "[typical]\nCLL = 4.5"), "unknown parameter 'CLL'"),
        "extra.toml": (good.replace('version = "1"', 'version = "1"\nsurprise = 2'), "surprise"),
        "cite.toml": (good.replace('source = "rybak2020"', 'source = "nobody2021"'), "nobody2021"),
        "cov.toml": (good.replace('covariate = "WT"', 'covariate = "BW"'), "'BW'"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            clinic.prior(path)
    with pytest.raises(InputError, match="not in the library"):
        clinic.prior("aspirin")
