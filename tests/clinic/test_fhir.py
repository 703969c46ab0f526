"""FHIR R4 bundles in: levels, doses and covariates read from exports shaped like a health record's, identifiers
left behind, units converted, and every unreadable resource refused naming the resource and the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh
import vhtwin.clinic as clinic
from vhtwin.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "examples" / "clinic"
VANCOMYCIN = DATA / "vancomycin_bundle.json"
THEOPHYLLINE = DATA / "theophylline_request_bundle.json"


@pytest.fixture(scope="module")
def vanc():
    return clinic.prior("vancomycin_goti2018")


@pytest.fixture
def bundle():
    return json.loads(VANCOMYCIN.read_text())


def entry(bundle, resource_id):
    return next(e["resource"] for e in bundle["entry"] if e["resource"].get("id") == resource_id)


def test_levels_doses_and_facts(vanc):
    rec = clinic.read_bundle(VANCOMYCIN, vanc)
    # levels in h from the first dose (08:00 on 1 March), ug/mL read as mg/L; glucose and the encounter skipped
    np.testing.assert_allclose(rec.data["time"], [3.0, 23.75, 30.0])
    np.testing.assert_allclose(rec.data["value"], [31.2, 14.8, 21.5])
    assert list(rec.data["unit"]) == ["mg/L"] * 3 and list(rec.data["observable"]) == ["Cc"] * 3
    # three 1-h infusions of 1 g, 12 h apart
    np.testing.assert_allclose(rec.doses[["time", "amount", "duration"]].to_numpy(),
                               [[0, 1000, 1], [12, 1000, 1], [24, 1000, 1]])
    assert [d.into for d in rec.regimen.doses] == ["central"] * 3
    # born 14 Sep 1951, first dose 1 Mar 2024: 72 years; the latest creatinine, 106.1 umol/L = 1.2 mg/dL
    assert rec.facts == pytest.approx({"age": 72, "sex": "female", "weight": 68.0, "height": 164.0,
                                       "creatinine": 106.1 / 88.42})
    assert rec.covariates == pytest.approx(
        {"CrCL": (140 - 72) * 68.0 / (72 * 106.1 / 88.42) * 0.85, "WT": 68.0, "DIAL": 0.0})
    assert rec.warnings == []


def test_no_identifier_is_kept(vanc, bundle):
    rec = clinic.read_bundle(bundle, vanc)
    kept = repr((rec.data.to_dict(), rec.doses.to_dict(), rec.covariates, rec.facts, rec.warnings, rec.regimen))
    for identifier in ("Doe-Testperson", "Jane", "MRN-00424242", "1951", "Springfield", "Example Street", "555-0100",
                       "pat-1", "2024-03"):
        assert identifier not in kept


def test_a_twin_from_the_record_is_the_twin_from_the_same_numbers_typed_in(vanc):
    rec = clinic.read_bundle(VANCOMYCIN, vanc)
    twin = vh.calibrate(vanc.model, rec.data, prior=vanc.population, protocol=rec.regimen, covariates=rec.covariates)
    typed = pd.DataFrame({"time": [3.0, 23.75, 30.0], "value": [31.2, 14.8, 21.5], "unit": "mg/L"})
    regimen = vh.Regimen.repeated(1000.0, 12.0, 3, into="central", duration=1.0)
    crcl = (140 - 72) * 68.0 / (72 * 1.2) * 0.85 * (1.2 / (106.1 / 88.42))
    by_hand = vh.calibrate(vanc.model, typed, prior=vanc.population, protocol=regimen,
                           covariates={"CrCL": crcl, "WT": 68.0, "DIAL": 0})
    assert twin.converged and by_hand.converged
    for name in ("CL", "V1", "V2"):
        assert twin.params[name] == pytest.approx(by_hand.params[name], rel=1e-9)


def test_an_ordered_oral_regimen_and_units_of_weight():
    rec = clinic.read_bundle(THEOPHYLLINE.read_text(), "theophylline_boeckmann1994")
    np.testing.assert_allclose(rec.doses["time"], np.arange(6) * 12.0)  # twice a day, count 6
    assert set(rec.doses["amount"]) == {300.0} and set(rec.doses["duration"]) == {0.0}
    assert {d.into for d in rec.regimen.doses} == {"depot"}
    np.testing.assert_allclose(rec.data["time"], [2.0, 23.5, 59.5])
    assert rec.facts["weight"] == pytest.approx(165 * 0.45359237) and rec.facts["age"] == 44
    assert rec.covariates == {}


def test_levels_below_the_limit_and_other_units(vanc, bundle):
    entry(bundle, "obs-7")["valueQuantity"].update(value=5.0, comparator="<")
    entry(bundle, "obs-5")["valueQuantity"].update(value=31200, unit="ng/mL", code="ng/mL")
    rec = clinic.read_bundle(bundle, vanc)
    assert rec.data["value"][0] == pytest.approx(31.2)
    assert np.isnan(rec.data["value"][2]) and rec.data["lloq"][2] == 5.0
    twin = vh.calibrate(vanc.model, rec.data, prior=vanc.population, protocol=rec.regimen, covariates=rec.covariates)
    assert twin.converged


def test_out_of_population_warning(vanc, bundle):
    entry(bundle, "obs-1")["valueQuantity"]["value"] = 290.0
    rec = clinic.read_bundle(bundle, vanc)
    assert any("WT 290 kg is outside 33-255 kg" in w for w in rec.warnings)


def _bad(bundle, edit):
    b = copy.deepcopy(bundle)
    edit(b)
    return b


BAD = {
    "level without a value": (lambda b: entry(b, "obs-6")["valueQuantity"].pop("value"),
                               r"entry\[10\] Observation 'obs-6': field valueQuantity.value is missing"),
    "level in a molar unit": (lambda b: entry(b, "obs-6")["valueQuantity"].update(unit="umol/L", code="umol/L"),
                              r"'obs-6'.*unit 'umol/L'.*not a mass concentration"),
    "weight in stones": (lambda b: entry(b, "obs-1")["valueQuantity"].update(unit="stone", code="[stone_av]"),
                         r"'obs-1'.*unit '\[stone_av\]' of weight"),
    "a level above a limit": (lambda b: entry(b, "obs-6")["valueQuantity"].update(comparator=">"),
                              r"'obs-6'.*'>'"),
    "dose without a time": (lambda b: entry(b, "ma-2").pop("effectivePeriod"),
                            r"'ma-2'.*effectiveDateTime"),
    "time without a zone": (lambda b: entry(b, "obs-5").update(effectiveDateTime="2024-03-01T11:00:00"),
                            r"'obs-5': field effectiveDateTime"),
    "time without a time of day": (lambda b: entry(b, "obs-5").update(effectiveDateTime="2024-03-01"),
                                   r"'obs-5'.*no time of day"),
    "dose without an amount": (lambda b: entry(b, "ma-1")["dosage"].pop("dose"), r"'ma-1': field dosage.dose"),
    "an oral dose of an intravenous model": (
        lambda b: entry(b, "ma-3")["dosage"].update(route={"coding": [{"code": "26643006", "display": "Oral route"}]}),
        r"'ma-3'.*route.*oral"),
    "a value that is not a number": (lambda b: entry(b, "obs-6")["valueQuantity"].update(value="fifteen"),
                                     r"entry\[10\] Observation 'obs-6': field valueQuantity.value"),
    "no dose at all": (lambda b: b.update(entry=[e for e in b["entry"]
                                                if e["resource"]["resourceType"] != "MedicationAdministration"]),
                       r"no dose of the drug"),
    "no level": (lambda b: b.update(entry=[e for e in b["entry"] if e["resource"].get("id") not in ("obs-5", "obs-6", "obs-7")]),
                 r"no level of vancomycin"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_bundles_are_refused_naming_resource_and_field(vanc, bundle, case):
    edit, message = BAD[case]
    with pytest.raises(InputError, match=message):
        clinic.read_bundle(_bad(bundle, edit), vanc)


def test_schema_errors_do_not_repeat_the_value(vanc, bundle):
    entry(bundle, "pat-1")["name"] = "Doe-Testperson"  # a name that breaks the schema (a list is required)
    with pytest.raises(InputError, match=r"entry\[0\] Patient 'pat-1': field name") as err:
        clinic.read_bundle(bundle, vanc)
    assert "Doe-Testperson" not in str(err.value)


def test_what_is_not_a_bundle(vanc, tmp_path):
    with pytest.raises(InputError, match="resourceType is 'Patient'"):
        clinic.read_bundle({"resourceType": "Patient"}, vanc)
    with pytest.raises(InputError, match="not JSON"):
        clinic.read_bundle(b"{not json", vanc)
    with pytest.raises(InputError, match="neither a file nor FHIR JSON"):
        clinic.read_bundle(str(tmp_path / "missing.json"), vanc)
    big = tmp_path / "big.json"
    big.write_bytes(b"{" + b" " * 5_000_001 + b"}")
    with pytest.raises(InputError, match="at most 5000000"):
        clinic.read_bundle(big, vanc)


SYNTHEA = Path(__file__).resolve().parents[1] / "data" / "fhir" / "synthea_sample_complete_patient.json"


def test_a_complete_ehr_export_nobody_here_wrote(vanc):
    """Synthea's complete sample patient (tests/data/fhir/README.md): 314 resources of 16 kinds, other drugs given.
    Read for vancomycin, it has no vancomycin dose; with a vancomycin course added, the patient's facts come from its
    own observations and none of its identifiers is kept."""
    doc = json.loads(SYNTHEA.read_text())
    with pytest.raises(InputError, match="no dose of the drug"):  # cefazolin, heparin, ... are not vancomycin
        clinic.read_bundle(doc, vanc)
    patient = next(e["resource"]["id"] for e in doc["entry"] if e["resource"]["resourceType"] == "Patient")
    subject = {"reference": f"urn:uuid:{patient}"}
    doc["entry"] += [
        {"resource": {"resourceType": "MedicationAdministration", "id": "vanc-1", "status": "completed",
                      "medicationCodeableConcept": {"text": "vancomycin 1000 MG Injection"}, "subject": subject,
                      "effectivePeriod": {"start": "2020-06-01T08:00:00-04:00", "end": "2020-06-01T09:30:00-04:00"},
                      "dosage": {"dose": {"value": 1000, "unit": "mg", "system": "http://unitsofmeasure.org",
                                          "code": "mg"}}}},
        {"resource": {"resourceType": "Observation", "id": "vanc-level", "status": "final", "subject": subject,
                      "code": {"coding": [{"system": "http://loinc.org", "code": "20578-1"}]},
                      "effectiveDateTime": "2020-06-01T20:00:00-04:00",
                      "valueQuantity": {"value": 12.0, "unit": "ug/mL", "system": "http://unitsofmeasure.org",
                                        "code": "ug/mL"}}},
    ]
    rec = clinic.read_bundle(doc, vanc)
    np.testing.assert_allclose(rec.doses[["time", "amount", "duration"]].to_numpy(), [[0.0, 1000.0, 1.5]])
    np.testing.assert_allclose(rec.data["time"], [12.0])
    # born 24 Oct 1950: 69 on 1 June 2020; the later of its two weights; its creatinine (38483-4, mg/dL)
    assert rec.facts == pytest.approx({"age": 69, "sex": "male", "weight": 79.7, "height": 162.1, "creatinine": 0.88})
    kept = repr((rec.data.to_dict(), rec.doses.to_dict(), rec.covariates, rec.facts, rec.warnings))
    for identifier in ("Gerlach374", "Lindsay928", "999-34-2070", "S99966502", "Raynor", "555-450-5873", "1950",
                       patient):
        assert identifier not in kept


def test_the_reader_is_vh_fhir_read_bundle():
    import vhtwin as vh

    assert vh.fhir.read_bundle is clinic.read_bundle and vh.clinic is clinic
