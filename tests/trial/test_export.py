"""A trial store as tables: long format and one row per patient, CSV and Parquet, units in the header, streamed one
batch at a time; what is not computed is left out, damage stops the export, and an existing file is kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh
from vhtwin.trial import store as st
from vhtwin.trial.tables import iter_dataframes

from .trial_fixture import make_trial

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "t.zarr"
    make_trial(n_per_arm=120).run(path, batch_size=50, progress=False)  # batches of 50, 50, 20 per arm
    return path


def vhtwin(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vhtwin", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=300)


def read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_long_table_holds_every_value_of_the_store_with_units_in_the_header(store, tmp_path, fmt):
    out = tmp_path / f"t.{fmt}"
    done = vh.export_trial(store, out)
    ds = vh.open_trial(store)
    A, n, T = ds.sizes["arm"], ds.sizes["patient"], ds.sizes["time"]
    assert done["rows"] == A * n * T and done["batches"] == 6 and done["complete"]
    table = read(out)
    assert list(table.columns) == ["arm", "patient_id", "patient", "time [h]", "Cc [mg L-1]", "Cc_obs [mg L-1]", "status"]
    cc = table["Cc [mg L-1]"].to_numpy().reshape(A, n, T)
    np.testing.assert_array_equal(cc, ds["Cc"].values)  # every value, exactly (CSV writes floats round-trip)
    np.testing.assert_array_equal(table["time [h]"].to_numpy().reshape(A, n, T)[0, 0], ds["time"].values)
    np.testing.assert_array_equal(table["patient_id"].to_numpy().reshape(A, n, T)[:, :, 0], ds["patient_id"].values)
    assert list(table["arm"].unique()) == list(ds["arm"].values)


def test_the_patient_table_holds_the_draws_and_statuses(store, tmp_path):
    out = tmp_path / "p.parquet"
    vh.export_trial(store, out, table="patients")
    ds = vh.open_trial(store)
    table = read(out)
    assert {"CL [L h-1]", "V [L]", "ka [h-1]", "eta_CL [1]", "status", "n_steps"} <= set(table.columns)
    np.testing.assert_array_equal(table["CL [L h-1]"].to_numpy().reshape(2, 120), ds["CL"].values)
    np.testing.assert_array_equal(table["status"].to_numpy().reshape(2, 120), ds["status"].values)


def test_frames_stream_one_batch_at_a_time(store):
    ds = vh.open_trial(store)
    sizes = [len(frame) for frame in ds.vhtwin.iter_dataframes()]
    assert sizes == [50 * 37, 50 * 37, 20 * 37] * 2  # one frame per batch: memory holds one batch
    assert [len(f) for f in iter_dataframes(ds.isel(arm=[1], time=slice(0, 3)), "patients")] == [50, 50, 20]


def test_an_unfinished_store_exports_only_what_is_computed(store, tmp_path):
    copy = tmp_path / "t.zarr"
    shutil.copytree(store, copy)
    st.unmark(copy, 1, 0)
    done = vh.export_trial(copy, tmp_path / "t.csv")
    table = read(tmp_path / "t.csv")
    assert not done["complete"] and done["batches"] == 5
    assert sorted(table.loc[table["arm"] == "200 mg q24h", "patient"].unique()) == list(range(50, 120))
    assert (table["status"] >= 0).all()


def test_a_damaged_chunk_stops_the_export_and_leaves_no_file(store, tmp_path):
    copy = tmp_path / "t.zarr"
    shutil.copytree(store, copy)
    (copy / "Cc" / "c" / "1" / "2" / "0").unlink()
    with pytest.raises(vh.StoreDamagedError, match=r"Cc: Cc/c/1/2/0 is missing \(arm 1, patients 100..119\)"):
        vh.export_trial(copy, tmp_path / "t.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.zarr"]


def test_the_command_line_exports_and_keeps_an_existing_file(store, tmp_path):
    done = vhtwin("export", store, "--out", tmp_path / "t.parquet", cwd=tmp_path)
    assert done.returncode == 0 and "exported:" in done.stdout and "8,880 rows from 6 batches" in done.stdout
    (tmp_path / "mine.csv").write_text("my own results\n")
    done = vhtwin("export", store, "--out", tmp_path / "mine.csv", cwd=tmp_path)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "already exists; pass overwrite=True (--overwrite)" in lines[0]
    assert (tmp_path / "mine.csv").read_text() == "my own results\n"
    done = vhtwin("export", store, "--out", tmp_path / "mine.csv", "--table", "patients", "--overwrite", cwd=tmp_path)
    assert done.returncode == 0 and len(read(tmp_path / "mine.csv")) == 240
