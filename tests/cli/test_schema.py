"""``vhtwin schema``: the JSON Schema of the spec files, which the example specs satisfy."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from vhtwin.cli import main
from vhtwin.trial.spec_schema import TrialSpec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def _schema(kind, capsys) -> dict:
    assert main(["schema", kind]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_trial_schema_declares_every_key(capsys):
    schema = _schema("trial", capsys)
    assert schema["$schema"].endswith("2020-12/schema")
    assert list(schema["properties"]) == list(TrialSpec.model_fields)
    assert set(schema["required"]) == {"seed", "n_per_arm", "outputs", "times", "model", "population", "arms"}
    assert schema["additionalProperties"] is False
    assert schema["properties"]["max_steps"]["default"] == 100_000


@pytest.mark.parametrize("kind", ["prior", "protocol", "estimate"])
def test_the_calibration_and_estimation_schemas_are_json(kind, capsys):
    assert _schema(kind, capsys)["title"] == f"vhtwin {kind} spec"


def test_an_unknown_schema_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["schema", "estimation"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_the_examples_satisfy_the_schema_and_a_typo_does_not(path, capsys):
    jsonschema = pytest.importorskip("jsonschema")
    doc = tomllib.loads(path.read_text())
    schema = _schema("estimate" if "estimation" in doc else "trial", capsys)
    jsonschema.validate(doc, schema)
    with pytest.raises(jsonschema.ValidationError, match="sed"):
        jsonschema.validate({**doc, "sed": 1}, schema)
