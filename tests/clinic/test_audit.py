"""The audit trail: appended entries form a hash chain that any edit, removal, insertion or reordering breaks; no
identifiers get in; exports in JSON and CSV; a broken log is never appended to."""

from __future__ import annotations

import csv
import json

import pytest

import vhtwin.clinic as clinic
from vhtwin.clinic.audit import GENESIS, AuditTrail, digest
from vhtwin.errors import InputError


@pytest.fixture
def trail(tmp_path):
    log = AuditTrail(tmp_path / "audit")
    prior = clinic.prior("vancomycin_goti2018").describe()
    inputs = {"time": [3.0, 23.75], "value": [31.2, 14.8], "covariates": {"CrCL": 45.5, "WT": 68.0}}
    log.append("calibration", prior=prior, inputs=inputs, results={"CL": 2.14, "V1": 20.2, "warnings": []})
    log.append("recommendation", prior=prior, inputs=inputs,
               results={"amount_mg": 750.0, "interval_h": 12.0, "probability_of_target_attainment": 0.81})
    log.append("calibration", prior=prior, inputs={**inputs, "value": [30.0, 14.8]}, results={"CL": 2.2})
    return log


def test_entries_chain_and_record_what_was_done(trail):
    entries = trail.entries()
    assert [e["seq"] for e in entries] == [0, 1, 2]
    assert entries[0]["previous"] == GENESIS
    for before, after in zip(entries, entries[1:]):
        assert after["previous"] == before["hash"]
    for e in entries:
        body = {k: v for k, v in e.items() if k != "hash"}
        assert e["hash"] == digest(body)
        assert e["prior"]["sha256"] == clinic.prior("vancomycin_goti2018").content_hash
        assert e["software"]["vhtwin"]
    assert entries[0]["inputs_sha256"] == entries[1]["inputs_sha256"] != entries[2]["inputs_sha256"]
    assert entries[1]["results"]["amount_mg"] == 750.0
    assert trail.verify() == [] and trail.head() == entries[-1]["hash"]
    # a new trail on the same directory continues the log
    again = AuditTrail(trail.directory)
    again.append("calibration", prior=entries[0]["prior"], inputs={}, results={})
    assert again.entries()[-1]["seq"] == 3 and again.verify() == []


def _lines(trail):
    return trail.path.read_bytes().splitlines(keepends=True)


@pytest.mark.parametrize("tamper, message", [
    (lambda lines: [lines[0], lines[1].replace(b'"amount_mg":750.0', b'"amount_mg":1750.0'), lines[2]],
     "line 2: its hash does not match"),
    (lambda lines: [lines[0], lines[2]], "line 2: .*does not follow"),
    (lambda lines: [lines[1], lines[0], lines[2]], "line 1: .*does not follow"),
    (lambda lines: lines + [lines[2]], "line 4: .*does not follow"),
    (lambda lines: lines[:2] + [lines[2][:40]], "line 3: not JSON"),
])
def test_any_change_breaks_the_chain(trail, tamper, message):
    trail.path.write_bytes(b"".join(tamper(_lines(trail))))
    problems = trail.verify()
    assert problems and any(__import__("re").search(message, p) for p in problems), problems
    with pytest.raises(InputError, match="does not append to a broken chain"):
        trail.append("calibration", prior=trail.entries()[0]["prior"], inputs={}, results={})


def test_no_identifier_gets_in(trail):
    prior = trail.entries()[0]["prior"]
    for results in ({"patient_name": "Jane"}, {"fit": {"DOB": "1951-09-14"}}, {"rows": [{"MRN": "1"}]},
                    {"address": "12 Example Street"}):
        with pytest.raises(InputError, match="direct identifier"):
            trail.append("calibration", prior=prior, inputs={}, results=results)
    assert len(trail.entries()) == 3  # nothing written
    # the inputs enter by their hash only
    assert "31.2" not in trail.path.read_text()
    with pytest.raises(InputError, match="kind"):
        trail.append("deletion", prior=prior, inputs={}, results={})


def test_exports(trail, tmp_path):
    out = trail.export(tmp_path / "log.json")
    doc = json.loads(out.read_text())
    assert doc["verified"] is True and doc["head"] == trail.head() and len(doc["entries"]) == 3
    rows = list(csv.DictReader(open(trail.export(tmp_path / "log.csv"))))
    assert [r["kind"] for r in rows] == ["calibration", "recommendation", "calibration"]
    assert json.loads(rows[1]["results"])["interval_h"] == 12.0
    with pytest.raises(InputError, match="does not overwrite"):
        trail.export(tmp_path / "log.csv")
    with pytest.raises(InputError, match=".json or .csv"):
        trail.export(tmp_path / "log.txt")
