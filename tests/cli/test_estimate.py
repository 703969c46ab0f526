"""``vhtwin estimate``: a spec in, a checked fit store, table and figures out; a killed run resumes."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh
from vhtwin.cli import main
from vhtwin.estimation.store import read_fit

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

SPEC = """
[model]
name = "pharmacokinetics/one_compartment_oral"
[data]
path = "{data}"
[population]
typical = {{ ka = 1.5, CL = 2.8, V = 31.5 }}
omega = {{ ka = 0.4, CL = 0.07, V = 0.02 }}
residual = {{ additive = 0.7 }}
[estimation]
method = "focei"
npde_simulations = 0
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("estimate")
    path = folder / "theoph.toml"
    path.write_text(SPEC.format(data=ROOT / "examples" / "datasets" / "theophylline.csv"))
    return path


def command(spec, out, *options):
    """``vhtwin estimate`` as a process of its own, with a persistent compilation cache shared by this module's
    processes: the first compiles, the others load its programs (as a user's second run does)."""
    env = {**os.environ, "JAX_NUM_CPU_DEVICES": "1", "VHTWIN_CACHE_DIR": str(spec.parent / "jax-cache")}
    return [sys.executable, "-m", "vhtwin", "estimate", str(spec), "--out", str(out), *options], env


@pytest.fixture(scope="module")
def fitted(spec):
    out = spec.parent / "fit.zarr"
    args, env = command(spec, out, "--vpc-replicates", "20")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OFV 116.803" in done.stdout and "sigma(additive)" in done.stdout
    return out


def test_writes_a_checked_store_table_and_figures(fitted, capsys):
    ds = read_fit(fitted)
    assert ds.attrs["format"] == "vhtwin-fit/1" and ds.attrs["converged"] and ds.attrs["covariance_status"] == "ok"
    assert ds.attrs["ofv"] == pytest.approx(116.803, abs=0.01)
    assert list(ds.parameter.values) == ["ka", "CL", "V", "omega(ka)", "omega(CL)", "omega(V)", "sigma(additive)"]
    assert ds.etas.shape == (12, 3) and ds.record_CWRES.shape == (132,)
    assert len(ds.attrs["data_sha256"]) == 64 and '"method": "focei"' in ds.attrs["spec"]
    table = pd.read_csv(fitted.parent / "fit_table.csv", index_col=0)
    assert np.allclose(table["estimate"], ds.estimate.values)
    for name in ("fit_gof.png", "fit_etas.png", "fit_vpc.png"):
        assert (fitted.parent / name).stat().st_size > 10_000
    assert not (fitted.parent / "fit.zarr.checkpoint.json").exists()


def test_refuses_to_overwrite_and_says_so_in_one_line(fitted, spec, capsys):
    assert main(["estimate", str(spec), "--out", str(fitted)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already exists; pass --overwrite" in err
    assert main(["estimate", str(spec), "--out", str(fitted), "--resume"]) == 0
    assert "is complete" in capsys.readouterr().out


def test_a_damaged_store_is_detected(fitted, tmp_path):
    import shutil

    copy = tmp_path / "copy.zarr"
    shutil.copytree(fitted, copy)
    chunk = next((copy / "estimate" / "c").rglob("*"))
    chunk.unlink()  # a missing chunk would read as the fill value (NaN)
    with pytest.raises(vh.StoreDamagedError, match="'estimate' differs"):
        read_fit(copy)


def test_bad_spec_is_one_sentence(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(SPEC.format(data="nowhere.csv").replace('method = "focei"', 'method = "fo"'))
    assert main(["estimate", str(bad), "--out", str(tmp_path / "x.zarr")]) == 2
    err = capsys.readouterr().err
    assert "estimation.method = 'fo'" in err and "Traceback" not in err
    bad.write_text(SPEC.format(data="nowhere.csv"))
    assert main(["estimate", str(bad), "--out", str(tmp_path / "x.zarr")]) == 2
    assert "data.path = 'nowhere.csv': no such file" in capsys.readouterr().err


def test_a_killed_run_resumes_to_the_same_fit(fitted, spec, tmp_path):
    out = tmp_path / "killed.zarr"
    checkpoint = tmp_path / "killed.zarr.checkpoint.json"
    args, env = command(spec, out, "--vpc-replicates", "0")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the first checkpoint comes after one iteration; the fit has about twenty more
    assert checkpoint.exists(), proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    done = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    resumed, whole = read_fit(out), read_fit(fitted)
    assert np.allclose(resumed.estimate.values, whole.estimate.values, rtol=1e-8)
    assert not checkpoint.exists()


def test_overwrite_leaves_a_file_it_did_not_write(spec, tmp_path, capsys):
    foreign = tmp_path / "mine.zarr.checkpoint.json"
    foreign.write_text("my own notes")
    assert main(["estimate", str(spec), "--out", str(tmp_path / "mine.zarr"), "--overwrite"]) == 2
    assert "is not a vhtwin estimation checkpoint" in capsys.readouterr().err
    assert foreign.read_text() == "my own notes"
