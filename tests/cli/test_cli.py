"""The ``vhtwin`` command (in-process and as ``python -m vhtwin``) and the Zarr store it writes."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import vhtwin as vh

from vhtwin import InputError
from vhtwin.cli import main
from vhtwin.io import json_safe_attrs, open_zarr, write_zarr

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trial_run(tmp_path_factory):
    """One small run of the built-in trial shared by the tests below: (exit status, stdout, store)."""
    out = tmp_path_factory.mktemp("run")
    buffer = io.StringIO()  # capsys is function-scoped; this output is shared by several tests
    with contextlib.redirect_stdout(buffer):
        status = main(["run", "--out", str(out / "trial.zarr"), "--n-per-arm", "120", "--batch-size", "60",
                       "--target", "0.5", "--quiet"])
    return status, buffer.getvalue(), out / "trial.zarr"


def test_run_writes_the_default_trial_store(trial_run):
    status, _, store = trial_run
    assert status == 0
    assert json.loads((store / "zarr.json").read_text())["zarr_format"] == 3
    ds = vh.open_trial(store)
    assert dict(ds["Cc"].sizes) == {"arm": 2, "patient": 120, "time": 169}
    assert list(ds["arm"].values) == ["100 mg q12h", "200 mg q24h"]
    assert ds["Cc"].attrs["units"] == "mg L-1" and ds["time"].attrs["units"] == "h"
    assert ds["CL"].attrs["units"] == "L h-1"
    assert ds.attrs["model"] == "pharmacokinetics/two_compartment_oral" and ds.attrs["vhtwin_complete"] is True


def test_run_prints_a_summary_table_and_writes_the_figures(trial_run):
    status, text, store = trial_run
    assert "100 mg q12h" in text and "200 mg q24h" in text and "Cmax [mg L-1]" in text
    assert "C(168 h) >= 0.5" in text and "patients/s end to end" in text
    for name in ("trial_Cc_bands.png", "trial_Cc_nca.png"):
        assert (store.parent / name).read_bytes()[:8] == PNG_MAGIC


def test_run_refuses_an_existing_store_and_resumes_a_finished_one(trial_run, capsys):
    _, _, store = trial_run
    assert main(["run", "--out", str(store), "--n-per-arm", "120", "--batch-size", "60", "--quiet"]) == 2
    assert "already exists; pass resume=True" in capsys.readouterr().err
    assert main(["run", "--out", str(store), "--n-per-arm", "120", "--batch-size", "60", "--quiet", "--resume"]) == 0
    assert main(["run", "--out", str(store), "--n-per-arm", "121", "--batch-size", "60", "--quiet", "--resume"]) == 2
    assert "different spec (differs in ['n_per_arm'])" in capsys.readouterr().err


def test_run_a_toml_spec_and_report_its_errors_by_key(tmp_path, capsys):
    spec = tmp_path / "trial.toml"
    text = (ROOT / "examples" / "two_arm_trial.toml").read_text()
    spec.write_text(text)
    assert main(["run", str(spec), "--out", str(tmp_path / "t.zarr"), "--n-per-arm", "40", "--batch-size", "40",
                 "--quiet"]) == 0
    assert vh.open_trial(tmp_path / "t.zarr").sizes["patient"] == 40
    spec.write_text(text.replace("omega = { ka = 0.42", "omega = { kaa = 0.42"))
    assert main(["run", str(spec), "--out", str(tmp_path / "u.zarr")]) == 2
    err = capsys.readouterr().err
    assert "population" in err and "kaa" in err and "Traceback" not in err


def test_info_prints_spec_progress_failures_and_provenance(trial_run, capsys):
    _, _, store = trial_run
    assert main(["info", str(store)]) == 0
    out = capsys.readouterr().out
    for text in ("pharmacokinetics/two_compartment_oral", "120 per arm", "progress: 4 of 4 batches done",
                 "100 mg q12h: none (of 120 done)", "vhtwin_git_revision", "jax_version", "precision"):
        assert text in out, text


def test_plot_writes_svg_with_observed_data(trial_run, tmp_path, capsys):
    _, _, store = trial_run
    observed = tmp_path / "obs.csv"
    observed.write_text("id,time,Cc\n1,2.0,1.1\n1,24.0,0.6\n2,2.0,1.4\n")
    assert main(["plot", str(store), "--out", str(tmp_path), "--format", "svg", "--observed", str(observed)]) == 0
    for name in ("trial_Cc_bands.svg", "trial_Cc_nca.svg"):
        assert (tmp_path / name).read_text().lstrip().startswith("<?xml")
    assert main(["plot", str(store), "--variable", "Cp"]) == 2
    assert "--variable 'Cp' is not in the store" in capsys.readouterr().err


def test_models_lists_the_library(capsys):
    assert main(["models"]) == 0
    assert "pharmacokinetics/two_compartment_oral" in capsys.readouterr().out.splitlines()


def test_models_describe(capsys):
    assert main(["models", "--describe", "pharmacokinetics/two_compartment_oral"]) == 0
    text = capsys.readouterr().out
    assert "CL" in text and "L h-1" in text and "Cc" in text


@pytest.mark.parametrize("argv", [["models", "--describe", "nope"], ["info", "nope/missing.zarr"]])
def test_errors_exit_2_with_a_message_and_no_traceback(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vhtwin: error: ") and "nope" in err and "Traceback" not in err


def test_python_dash_m_vhtwin():
    result = subprocess.run([sys.executable, "-m", "vhtwin", "models"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "pharmacokinetics/two_compartment_oral" in result.stdout.splitlines()


# -- the store ---------------------------------------------------------------------------------------------------------
def small_dataset():
    return xr.Dataset(
        {"Cc": (("patient", "time"), np.arange(12.0).reshape(4, 3), {"units": "mg L-1"}), "status": ("patient", np.zeros(4, np.int8))},
        coords={"time": [0.0, 1.0, 2.0], "patient": np.arange(4)},
        attrs={"rtol": np.array([1e-8, 1e-8]), "seed": np.int64(3), "solver": "tsit5", "flags": (1, 2)},
    )


def test_store_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "run.zarr"
    write_zarr(small_dataset(), path)
    with pytest.raises(InputError, match="run.zarr"):
        write_zarr(small_dataset(), path)
    write_zarr(small_dataset().isel(patient=slice(0, 2)), path, overwrite=True)
    assert open_zarr(path).sizes["patient"] == 2


def test_store_round_trip_with_json_attributes_and_patient_chunks(tmp_path):
    ds = small_dataset()
    path = write_zarr(ds, tmp_path / "run.zarr", patient_chunk=3)
    back = open_zarr(path)
    xr.testing.assert_identical(back[["Cc", "status"]].load(), ds[["Cc", "status"]].assign_attrs(back.attrs))
    assert back.attrs == {"rtol": [1e-8, 1e-8], "seed": 3, "solver": "tsit5", "flags": [1, 2]}
    assert back["Cc"].encoding["chunks"] == (3, 3)
    assert isinstance(ds.attrs["seed"], np.integer)  # the input is not modified


def test_store_refuses_objects():
    with pytest.raises(InputError, match="'model'"):
        json_safe_attrs({"model": object()})
    with pytest.raises(InputError, match="nested"):
        json_safe_attrs({"x": [[1, 2], [3, 4]]})
