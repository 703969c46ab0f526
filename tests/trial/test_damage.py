"""A damaged trial store is detected, named and repaired: chunks deleted, truncated or altered are found by every
read, by ``verify`` and by ``resume``, which computes those batches again to the bytes of an undamaged run; damaged
metadata and attributes are named errors; a store naming a codec that builds Python objects is refused unread."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.io import open_zarr
from vhtwin.trial import store as st

from .helpers import assert_same_store
from .trial_fixture import make_trial

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BATCH = 50


def small(**overrides) -> vh.Trial:
    return make_trial(**{"n_per_arm": 100, **overrides})


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    small().run(path, batch_size=BATCH, progress=False)
    return path


@pytest.fixture
def copy(reference, tmp_path) -> Path:
    path = tmp_path / "t.zarr"
    shutil.copytree(reference, path)
    return path


def damage(path: Path, file: str, how: str) -> None:
    f = path / file
    data = bytearray(f.read_bytes())
    if how == "deleted":
        f.unlink()
    elif how == "truncated":
        f.write_bytes(data[: len(data) // 2])
    elif how == "byte-flipped":
        data[len(data) // 2] ^= 0x10
        f.write_bytes(data)
    elif how == "emptied":
        f.write_bytes(b"")


def vhtwin(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vhtwin", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=300)


HOW = ["deleted", "truncated", "byte-flipped"]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("file, variable, arm, patients", [
    ("Cc/c/1/0/0", "Cc", 1, "0..49"),           # an output
    ("status/c/0/1", "status", 0, "50..99"),    # a per-patient variable
])
def test_a_damaged_chunk_is_named_by_read_and_verify_then_repaired_bit_for_bit(reference, copy, how, file, variable,
                                                                               arm, patients):
    damage(copy, file, how)
    ds = vh.open_trial(copy)  # opening reads no chunk
    says = rf"{variable}: {file} .*\(arm {arm}, patients {patients}\)"
    with pytest.raises(vh.StoreDamagedError, match=says):
        ds[variable].values  # never NaN or the fill value in its place
    other = "Cc" if variable != "Cc" else "status"
    np.testing.assert_array_equal(ds[other].isel(arm=1 - arm).values, vh.open_trial(reference)[other].isel(arm=1 - arm).values)

    report = vh.verify_trial(copy)
    assert report.state == "damaged" and report.exit_code == 2 and report.repairable
    assert [(d.variable, d.file, d.arm, d.patients) for d in report.damaged] == [
        (variable, file, arm, tuple(int(x) for x in patients.split("..")))]
    assert ("is missing" if how == "deleted" else "fails its checksum") in report.damaged[0].reason

    small().run(copy, batch_size=BATCH, resume=True, progress=False)
    assert_same_store(copy, reference)
    assert vh.verify_trial(copy).state == "complete"


def test_verify_reports_complete_incomplete_and_damaged_with_exit_codes(reference, copy, tmp_path):
    done = vhtwin("verify", copy, cwd=tmp_path)
    assert done.returncode == 0 and ": complete (4 of 4 batches done" in done.stdout, done.stdout + done.stderr
    st.unmark(copy, 1, 1)  # as if the run had been killed before the last batch's marker
    done = vhtwin("verify", copy, cwd=tmp_path)
    assert done.returncode == 1 and ": incomplete (3 of 4 batches done" in done.stdout
    assert "batches not done (arm, batch): (1, 1)" in done.stdout
    damage(copy, "CL/c/0/0", "byte-flipped")
    damage(copy, "Cc/c/0/1/0", "deleted")
    done = vhtwin("verify", copy, cwd=tmp_path)
    assert done.returncode == 2 and ": damaged (3 of 4 batches done" in done.stdout
    assert "damaged: CL: CL/c/0/0 fails its checksum" in done.stdout
    assert "damaged: Cc: Cc/c/0/1/0 is missing (arm 0, patients 50..99)" in done.stdout
    quick = vhtwin("verify", "--quick", copy, cwd=tmp_path)  # a look at the files only: sees the deletion alone
    assert quick.returncode == 2 and "Cc/c/0/1/0 is missing" in quick.stdout and "CL/c/0/0" not in quick.stdout
    info = vhtwin("info", copy, cwd=tmp_path)
    assert info.returncode == 0 and "DAMAGED: 1 chunk file(s)" in info.stdout and "; complete" not in info.stdout
    small().run(copy, batch_size=BATCH, resume=True, progress=False)
    assert_same_store(copy, reference)
    assert vhtwin("verify", copy, cwd=tmp_path).returncode == 0


def test_a_batch_of_failed_patients_writes_its_chunks_so_none_is_missing(tmp_path):
    """A batch whose outputs are all NaN (every patient failed) equals the fill value; its chunk is written
    anyway, so that a missing chunk of a done batch is always damage."""
    path = tmp_path / "failed.zarr"
    ds = small(n_per_arm=20, max_steps=3, max_failure_fraction=1.0).run(path, batch_size=10, progress=False)
    assert np.isnan(ds["Cc"].values).all() and (ds["status"].values == 1).all()
    assert sorted(p.name for p in (path / "Cc" / "c" / "0").iterdir()) == ["0", "1"]
    assert vh.verify_trial(path).state == "complete"


def test_a_damaged_coordinate_is_rewritten_by_resume(reference, copy):
    damage(copy, "time/c/0", "byte-flipped")
    with pytest.raises(vh.StoreDamagedError, match="is damaged and cannot be opened"):
        vh.open_trial(copy)
    report = vh.verify_trial(copy)
    assert [d.variable for d in report.damaged] == ["time"] and report.repairable
    small().run(copy, batch_size=BATCH, resume=True, progress=False)
    assert_same_store(copy, reference)


def test_damaged_metadata_is_named_and_not_repaired_by_resume(copy, tmp_path):
    meta = copy / "Cc" / "zarr.json"
    meta.write_text(meta.read_text()[:100])  # truncated
    report = vh.verify_trial(copy)
    assert report.state == "damaged" and not report.repairable
    assert "Cc: Cc/zarr.json is not readable metadata" in report.report()
    with pytest.raises(vh.StoreDamagedError, match="damaged beyond what resume repairs: Cc: Cc/zarr.json.*overwrite=True"):
        small().run(copy, batch_size=BATCH, resume=True, progress=False)
    with pytest.raises(vh.StoreDamagedError, match="is damaged and cannot be opened"):
        vh.open_trial(copy)


@pytest.mark.parametrize("edit, says", [
    (lambda text: text[: len(text) // 2], r"zarr.json\) is damaged: not valid JSON"),
    (lambda text: text.replace('"vhtwin_n_batches": 2', '"vhtwin_n_batches": "two"'),
     r"damaged or edited attribute: attribute 'vhtwin_n_batches' is 'two', not a positive integer"),
    (lambda text: text.replace('"vhtwin_batch_size": 50', '"vhtwin_batch_size": 30'),
     r"inconsistent attributes: 100 patients per arm in batches of 30 is not 2 batches"),
    (lambda text: text.replace('"vhtwin_spec"', '"vhtwin_spec_edited"'), r"lacks the attribute 'vhtwin_spec'"),
])
def test_damaged_or_edited_root_metadata_is_a_named_error_everywhere(copy, tmp_path, edit, says):
    meta = copy / "zarr.json"
    meta.write_text(edit(meta.read_text()))
    for read in (vh.open_trial, vh.verify_trial):
        with pytest.raises(vh.StoreDamagedError, match=says):
            read(copy)
    for command in ("info", "verify", "plot"):
        done = vhtwin(command, copy, cwd=tmp_path)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and "Traceback" not in done.stderr, (command, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("vhtwin: error: "), (command, lines)


def test_a_layout_1_store_still_opens(copy):
    """Stores written before chunk checksums (layout 1) are read; a chunk they left out reads as its fill value."""
    meta = copy / "zarr.json"
    meta.write_text(meta.read_text().replace("vhtwin-trial-store/2", "vhtwin-trial-store/1"))
    (copy / "Cc" / "c" / "1" / "1" / "0").unlink()  # layout 1 did not write chunks equal to the fill value
    ds = vh.open_trial(copy)
    assert np.isnan(ds["Cc"].isel(arm=1, patient=slice(50, 100)).values).all()
    report = vh.verify_trial(copy)
    assert report.state == "complete" and "has no chunk checksums" in report.report()
    with pytest.raises(vh.InputError, match="cannot resume"):
        small().run(copy, batch_size=BATCH, resume=True, progress=False)


class _RunsCode:
    """Unpickling this writes a marker file: what a hostile store's pickled chunk could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"import pathlib; pathlib.Path({self.marker!r}).write_text('unpickling ran code')",))


def plant_pickle(array_folder: Path, marker: Path) -> None:
    """Name a pickling codec in an array's metadata and put a pickle that runs code in its first chunk."""
    import pickle

    meta = json.loads((array_folder / "zarr.json").read_text())
    meta["codecs"] = [{"name": "bytes", "configuration": {"endian": "little"}},
                      {"name": "numcodecs.pickle", "configuration": {"protocol": 5}}]
    (array_folder / "zarr.json").write_text(json.dumps(meta))
    chunk = next(f for f in sorted((array_folder / "c").rglob("*")) if f.is_file())
    chunk.write_bytes(pickle.dumps(np.array([_RunsCode(marker)], dtype=object)))


def test_a_store_naming_a_pickling_codec_is_refused_before_any_read(copy, tmp_path):
    """Where a codec that unpickles is installed (a plugin can register one), zarr would build it from the name in
    the metadata; vhtwin reads only byte-transforming codecs and refuses the store before building any."""
    marker = tmp_path / "marker.txt"
    plant_pickle(copy / "Cc", marker)
    says = r"array 'Cc' of store .* uses codec 'numcodecs.pickle', which vhtwin does not read"
    for read in (vh.open_trial, vh.verify_trial, open_zarr):
        with pytest.raises(vh.InputError, match=says):
            read(copy)
    for command in ("info", "verify", "plot"):
        done = vhtwin(command, copy, cwd=tmp_path)
        assert done.returncode == 2 and "numcodecs.pickle" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(vh.InputError, match=says):
        small().run(copy, batch_size=BATCH, resume=True, progress=False)
    assert not marker.exists()


def test_a_batch_without_its_marker_reads_as_not_computed(copy):
    """Data written, marker not (a run killed in between): not a result yet -- NaN and status -1 -- until resumed."""
    st.unmark(copy, 0, 1)
    ds = vh.open_trial(copy)
    assert ds.attrs["vhtwin_progress"] == "3 of 4 batches done"
    status = ds["status"].values
    assert (status[0, 50:] == -1).all() and (status[0, :50] >= 0).all() and (status[1] >= 0).all()
    assert np.isnan(ds["Cc"].values[0, 50:]).all() and np.isfinite(ds["Cc"].values[0, :50]).all()
