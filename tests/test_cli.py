"""The ``vhtwin`` command (in-process and as ``python -m vhtwin``) and the Zarr store it writes."""

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from vhtwin import InputError
from vhtwin.cli import demo_parameters, main
from vhtwin.io import json_safe_attrs, open_zarr, write_zarr

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One small demo run shared by the tests below: (exit status, stdout, output folder)."""
    out = tmp_path_factory.mktemp("demo")
    buffer = io.StringIO()  # capsys is function-scoped; this output is shared by several tests
    with contextlib.redirect_stdout(buffer):
        status = main(["demo", "--out", str(out), "--n", "50"])
    return status, buffer.getvalue(), out


def test_demo_writes_a_zarr_v3_store(demo):
    status, _, out = demo
    assert status == 0
    store = out / "demo.zarr"
    assert json.loads((store / "zarr.json").read_text())["zarr_format"] == 3
    ds = open_zarr(store)
    assert dict(ds["Cc"].sizes) == {"patient": 50, "time": 169}
    assert ds["Cc"].attrs["units"] == "mg L-1"
    assert ds["time"].attrs["units"] == "h"
    assert ds["CL"].attrs["units"] == "L h-1"
    np.testing.assert_allclose(ds["CL"].values, demo_parameters(50, 0)["CL"])
    assert (ds["status"].values == 0).all()
    assert np.isfinite(ds["Cc"].values).all()
    assert ds.attrs["seed"] == 0 and ds.attrs["model"] == "pharmacokinetics/two_compartment_oral"


def test_demo_writes_a_png_and_prints_a_summary(demo):
    _, stdout, out = demo
    figure = out / "demo_Cc.png"
    assert figure.read_bytes()[:8] == PNG_MAGIC
    assert str(out / "demo.zarr") in stdout and str(figure) in stdout
    assert "patients:  50" in stdout and "failures:  none" in stdout and "Cmax" in stdout


def test_demo_cohort_is_deterministic_per_patient():
    small, large = demo_parameters(10, 7), demo_parameters(1000, 7)
    for name in small:
        np.testing.assert_array_equal(small[name], large[name][:10])
    assert not np.allclose(demo_parameters(10, 8)["CL"], small["CL"])
    log_cl = np.log(demo_parameters(20_000, 1)["CL"] / 5.0)
    assert abs(log_cl.std() - 0.3) < 0.01 and abs(log_cl.mean()) < 0.01


def test_info_prints_the_store(demo, capsys):
    _, _, out = demo
    assert main(["info", str(out / "demo.zarr")]) == 0
    text = capsys.readouterr().out
    assert "patient: 50" in text and "50 of 50 trajectories succeeded" in text and "seed: 0" in text


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
