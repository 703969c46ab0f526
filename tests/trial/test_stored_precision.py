"""``stored_precision``: a float64 solve stored as float32 (half the bytes to write), kept on resume, checked."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh
from vhtwin import InputError
from vhtwin.cli import main

from .trial_fixture import make_trial


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("stored")
    trial = make_trial(n_per_arm=80)
    full = trial.run(root / "f64.zarr", batch_size=40, progress=False)
    half = trial.run(root / "f32.zarr", batch_size=40, progress=False, stored_precision="float32")
    return trial, root, full, half


def test_outputs_are_the_float64_solve_rounded_to_float32(stores):
    trial, _, full, half = stores
    assert trial.precision == "float64"
    assert full["Cc"].dtype == np.float64 and half["Cc"].dtype == np.float32
    np.testing.assert_array_equal(half["Cc"].values, full["Cc"].values.astype(np.float32))
    # what is not an output keeps its own type: the draws, statuses and step counts are identical
    for name in ("CL", "status", "n_steps", "patient_id"):
        np.testing.assert_array_equal(half[name].values, full[name].values)
    assert half.attrs["vhtwin_stored_precision"] == "float32" and half.attrs["precision"] == "float64"


def test_the_store_is_smaller(stores):
    _, root, _, _ = stores
    size = lambda p: sum(f.stat().st_size for f in p.rglob("c/**/*") if f.is_file())
    cc = lambda name: size(root / name / "Cc")
    assert cc("f32.zarr") < 0.6 * cc("f64.zarr")


def test_resume_keeps_the_stored_precision(stores):
    trial, root, _, half = stores
    again = trial.run(root / "f32.zarr", batch_size=40, progress=False, stored_precision="float32", resume=True)
    np.testing.assert_array_equal(again["Cc"].values, half["Cc"].values)
    with pytest.raises(InputError, match="holds float32 values, not float64; resume with stored_precision='float32'"):
        trial.run(root / "f32.zarr", batch_size=40, progress=False, resume=True)
    with pytest.raises(InputError, match="holds float64 values, not float32"):
        trial.run(root / "f64.zarr", batch_size=40, progress=False, resume=True, stored_precision="float32")


def test_bad_value_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(InputError, match="stored_precision 'float16' must be 'float64', 'float32' or None"):
        make_trial(n_per_arm=10).run(tmp_path / "x.zarr", stored_precision="float16", progress=False)
    assert not (tmp_path / "x.zarr").exists()


def test_command_line(tmp_path):
    out = tmp_path / "t.zarr"
    assert main(["run", "--out", str(out), "--n-per-arm", "20", "--batch-size", "20", "--quiet",
                 "--stored-precision", "float32"]) == 0
    assert vh.open_trial(out)["Cc"].dtype == np.float32
