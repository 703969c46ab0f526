"""Stores written by an earlier version (``tests/data/stores``, spec format ``vhtwin-trial/1``) still read."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vhtwin.trial import open_trial, verify_trial
from vhtwin.trial.core import Trial
from vhtwin.trial.spec_codec import decode_design
from vhtwin.trial.toml_spec import parse_trial_toml

from .helpers import assert_same_store

STORES = Path(__file__).resolve().parents[1] / "data" / "stores"
_spec = importlib.util.spec_from_file_location("make_stores", STORES / "make_stores.py")
make_stores = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_stores)


@pytest.mark.parametrize("name", sorted(make_stores.STORES))
def test_a_store_of_the_previous_format_reads_resumes_and_verifies(name, tmp_path):
    path = tmp_path / name
    shutil.copytree(STORES / name, path)
    stored = json.loads(open_trial(path).attrs["vhtwin_spec"])
    assert stored["format"] == "vhtwin-trial/1"

    # the spec decodes, and encodes back to exactly what was stored (so a resume accepts the store)
    trial = Trial.from_dict(stored)
    assert trial.to_dict() == stored
    # the TOML it was made from gives the same spec today
    fields = parse_trial_toml(make_stores.spec_of(name), make_stores.EXAMPLES)
    assert Trial(**fields).to_dict() == stored

    design = decode_design(stored)
    assert design.outputs == fields["outputs"] and design.n_per_arm == fields["n_per_arm"]
    assert np.array_equal(design.times, fields["times"])
    assert design.arms == fields["arms"]

    trial.run(path, batch_size=trial.n_per_arm, resume=True, progress=False)  # complete: nothing to run
    assert_same_store(STORES / name, path)
    assert verify_trial(path).state == "complete"
