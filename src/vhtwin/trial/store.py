"""A trial's Zarr store: the template, batch regions, completion markers, provenance, and opening it.

Layout (Zarr format 3, written through xarray):

* dims ``arm``, ``patient`` (index within the arm, 0 .. n_per_arm - 1), ``time``;
* every output ``(arm, patient, time)`` with ``units``; per patient ``(arm, patient)``: ``patient_id`` (the global
  id the draws come from), the parameters, etas and covariates of the draw, ``status``, ``n_steps``, ``n_rejected``;
* chunks: one batch of patients by all times, so each batch writes its own chunk files and nothing else;
* attributes: provenance (versions, git revision, device, precision, solver, tolerances, seed, the model's source
  hash) and the full spec as JSON (``vhtwin_spec``), which a resumed run must match.

A batch counts as done only when its marker exists: a Zarr group ``batches/arm<a>-batch<k>`` whose attributes
(patients, status counts, step counts) are written after the batch's data, by an atomic rename. A run killed at any
moment leaves at worst a batch with data but no marker, which a resumed run computes and writes again -- to the
same bytes, since patient i depends on (seed, i) only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import asyncio
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError, StoreDamagedError
from ..io import quiet_zarr
from .lock import process_alive
from .paths import MARKERS, marker_name, replacement, sibling

#: Version of this layout (a reader refuses a store written in a layout it does not know). Layout 2 added a
#: checksum to every chunk and writes every chunk of a batch, even one that holds only the fill value.
LAYOUT = "vhtwin-trial-store/2"
#: Layouts this version opens and verifies (it writes and resumes only :data:`LAYOUT`).
READABLE_LAYOUTS = ("vhtwin-trial-store/1", LAYOUT)


def create(path: Path, template: xr.Dataset, attrs: dict, encoding: dict) -> None:
    """Write the template (metadata and coordinates; no data) and the empty marker group -- atomically.

    The store is made in a hidden sibling folder and renamed to ``path`` once its metadata is complete, so a process
    killed while creating it leaves no store at ``path`` (only the hidden folder, swept by the next creation).
    """
    path = Path(path)
    ds = template.copy()
    ds.attrs = attrs
    _arrays.cache_clear()  # a store at this path may have been removed and is made anew
    sweep_abandoned(path)
    making = sibling(path, f"creating-{os.getpid()}")
    try:
        with quiet_zarr():
            ds.to_zarr(making, mode="w-", compute=False, zarr_format=3, consolidated=False, encoding=encoding)
        _write_json_atomic(making / MARKERS / "zarr.json", {"zarr_format": 3, "node_type": "group", "attributes": {}})
    except BaseException:
        shutil.rmtree(making, ignore_errors=True)
        raise
    try:
        os.rename(making, path)  # atomic; refuses a non-empty folder that appeared at path meanwhile
    except OSError as err:
        shutil.rmtree(making, ignore_errors=True)
        raise InputError(f"store {str(path)!r} appeared while it was being created ({err.strerror}); "
                         "another run may be writing there") from None


def is_trial_store(path: Path) -> bool:
    """Whether ``path`` is a vhtwin trial store: a folder whose root metadata says so (any layout version).

    Only such a folder is ever replaced or deleted by vhtwin; anything else at a store's path is left alone.
    """
    meta = Path(path) / "zarr.json"
    try:
        attrs = json.loads(meta.read_text()).get("attributes", {}) if meta.is_file() else {}
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(attrs, dict) and str(attrs.get("vhtwin_layout", "")).startswith("vhtwin-trial-store/")


def swap_in(path: Path, new: Path) -> None:
    """Put the finished store ``new`` at ``path`` and delete the store it replaces.

    The old store is first renamed aside, then ``new`` renamed to ``path``: at every moment both stores exist
    somewhere, and a run killed between the two renames is completed by :func:`finish_swap` on the next run.
    """
    path = Path(path)
    old = sibling(path, f"replaced-{os.getpid()}")
    _arrays.cache_clear()
    if path.exists():
        os.rename(path, old)
    os.rename(new, path)
    _arrays.cache_clear()
    if old.exists() and is_trial_store(old):
        shutil.rmtree(old)


def finish_swap(path: Path) -> None:
    """Complete a swap that a killed run left half done: the replacement finished but not yet at ``path``."""
    path = Path(path)
    asides = sorted(path.parent.glob(f".{path.name}.replaced-*"))
    new = replacement(path)
    if not path.exists() and asides and new.is_dir() and is_trial_store(new):
        os.rename(new, path)
    if path.exists():
        for old in asides:
            if is_trial_store(old):
                shutil.rmtree(old)


def sweep_abandoned(path: Path) -> list[Path]:
    """Delete the hidden creation folders of ``path`` whose creating process is gone (killed while creating)."""
    gone = []
    for folder in Path(path).parent.glob(f".{Path(path).name}.creating-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    return gone


def write_region(path: Path, batch: xr.Dataset, arm: int, start: int) -> None:
    """Write one batch's variables ``(1, m, ...)`` into their region; the coordinates are already in the store.

    Straight into the Zarr arrays, opened once per process and store: the template fixed dtypes, chunks and fill
    values, so there is nothing for xarray to encode, and reopening the group for every batch costs more than
    writing a small batch.
    """
    from zarr.core.sync import sync

    m = batch.sizes["patient"]
    arrays = _arrays(str(Path(path).resolve()))

    def put(name):
        target = arrays[name].async_array
        values = np.asarray(batch[name].values, dtype=target.dtype)
        return target.setitem((slice(arm, arm + 1), slice(start, start + m)) + (slice(None),) * (values.ndim - 2), values)

    async def put_all():
        await asyncio.gather(*(put(name) for name in batch.data_vars))

    # Every Zarr write has a fixed cost of a few milliseconds of Python in Zarr's event loop, and a batch has one
    # output array and many small per-patient ones: all of a batch's writes go to the loop at once, as one task
    # (measured on 10,000 patients: 28 ms of CPU per batch instead of 50 with one write per variable from a thread
    # pool).
    with quiet_zarr():
        sync(put_all())


@lru_cache(maxsize=8)
def _arrays(path: str) -> dict:
    """The store's arrays by name (cached per process; a store is re-created only through :func:`create`)."""
    import zarr

    with quiet_zarr():
        group = zarr.open_group(path, mode="r+", zarr_format=3)
        # Every chunk is written, even one equal to the fill value (a batch whose patients all failed): a chunk
        # file missing from a done batch is then always damage, never an empty chunk left out.
        return {name: array.with_config({"write_empty_chunks": True}) for name, array in group.arrays()}


def rewrite_array(path: Path, name: str, values: np.ndarray) -> None:
    """Write a whole array again (a damaged coordinate, from the spec that made it)."""
    array = _arrays(str(Path(path).resolve()))[name]
    with quiet_zarr():
        array[...] = np.asarray(values, dtype=array.dtype)


def compressors():
    """Blosc LZ4 with byte shuffle, then a CRC-32C checksum of the compressed bytes.

    LZ4 is as small as zstd on these float arrays and several times faster to write (measured in
    ``benchmarks/trial_throughput.py``), so the write keeps up with the solve; the checksum makes every read detect
    a truncated or altered chunk (:mod:`vhtwin.trial.integrity`)."""
    from zarr.codecs import BloscCodec, Crc32cCodec

    return [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"), Crc32cCodec()]


def mark_done(path: Path, arm: int, batch: int, info: dict) -> None:
    """The batch's completion marker, written last and atomically (a complete file or none)."""
    doc = {"zarr_format": 3, "node_type": "group", "attributes": {"vhtwin_batch": info}}
    _write_json_atomic(path / MARKERS / marker_name(arm, batch) / "zarr.json", doc)


def unmark(path: Path, arm: int, batch: int) -> None:
    """Remove a batch's completion marker (its data was found damaged: the batch is computed again)."""
    shutil.rmtree(Path(path) / MARKERS / marker_name(arm, batch), ignore_errors=True)


def done_batches(path: Path) -> dict[tuple[int, int], dict]:
    """``{(arm, batch): marker info}`` of the batches whose marker exists."""
    root = path / MARKERS
    out = {}
    if not root.is_dir():
        return out
    for entry in root.iterdir():
        meta = entry / "zarr.json"
        if not entry.name.startswith("arm") or not meta.is_file():
            continue
        try:
            info = json.loads(meta.read_text())["attributes"]["vhtwin_batch"]
            out[(int(info["arm"]), int(info["batch"]))] = info
        except (ValueError, KeyError, TypeError):
            continue  # cannot happen with atomic writes; a damaged marker means "not done"
    return out


def read_attrs(path: Path) -> dict:
    """The root group's attributes; a missing, unparsable or hand-broken metadata file is a named error."""
    meta = Path(path) / "zarr.json"
    if not meta.is_file():
        raise InputError(f"{str(path)!r} is not a Zarr v3 store (no zarr.json)")
    try:
        doc = json.loads(meta.read_text())
    except ValueError as err:
        raise StoreDamagedError(f"the metadata of store {str(path)!r} (zarr.json) is damaged: not valid JSON "
                                f"({err.msg} at line {err.lineno}); the store cannot be opened") from None
    attrs = doc.get("attributes", {}) if isinstance(doc, dict) else None
    if not isinstance(attrs, dict):
        raise StoreDamagedError(f"the metadata of store {str(path)!r} (zarr.json) is damaged: its attributes are "
                                "not a mapping; the store cannot be opened")
    return attrs


def update_attrs(path: Path, extra: dict) -> None:
    """Add attributes to the root group (atomically: the whole metadata document is replaced)."""
    meta = path / "zarr.json"
    doc = json.loads(meta.read_text())
    doc.setdefault("attributes", {}).update(extra)
    _write_json_atomic(meta, doc)


def sweep_leftovers(path: Path) -> list[str]:
    """Delete the temporary files of writes that never finished, and return their relative paths.

    Chunk and metadata writes go to a temporary file that is renamed into place, so a writer killed mid-write
    (a Dask worker lost to SIGKILL or to its memory limit) leaves that temporary file behind. The batch it was
    writing has no marker and is written again in full, so the leftover is garbage; it is swept once every batch
    is done, when no writer can still be running.
    """
    gone = []
    for f in path.rglob("*"):
        name = f.name
        temporary = name.endswith(".partial") or (name.startswith(".") and name.endswith(".tmp"))
        if temporary and f.is_file():
            f.unlink(missing_ok=True)
            gone.append(str(f.relative_to(path)))
    return sorted(gone)


def remove(path: Path) -> None:
    """Delete a trial store -- only a trial store (:func:`is_trial_store`): anything else is refused, untouched."""
    _arrays.cache_clear()
    if not path.exists():
        return
    if not is_trial_store(path):
        raise InputError(f"{str(path)!r} is not a vhtwin trial store; vhtwin deletes only the stores it wrote")
    shutil.rmtree(path)


def _write_json_atomic(target: Path, doc: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, target)


def store_shape(path: Path, attrs: dict) -> dict:
    """The attributes that size a trial store, checked: ``arms``, ``n_batches``, ``batch_size``, ``n_per_arm``.

    A store's attributes are data that anyone can edit; a value that is missing or not what the layout writes is
    a named error here, not a traceback later.
    """
    sizes = {}
    try:
        spec = json.loads(attrs["vhtwin_spec"])
        sizes["arms"] = len(spec["arms"])
        for key, attr in (("n_batches", "vhtwin_n_batches"), ("batch_size", "vhtwin_batch_size"),
                          ("n_per_arm", "n_per_arm")):
            value = attrs[attr]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"attribute {attr!r} is {value!r}, not a positive integer")
            sizes[key] = value
    except KeyError as err:
        raise StoreDamagedError(f"store {str(path)!r} lacks the attribute {err.args[0]!r} that its layout writes; "
                                "it was edited or damaged and cannot be read as a trial") from None
    except (ValueError, TypeError) as err:
        raise StoreDamagedError(f"store {str(path)!r} has a damaged or edited attribute: {err}; it cannot be read "
                                "as a trial") from None
    if -(-sizes["n_per_arm"] // sizes["batch_size"]) != sizes["n_batches"]:
        raise StoreDamagedError(f"store {str(path)!r} has inconsistent attributes: {sizes['n_per_arm']} patients "
                                f"per arm in batches of {sizes['batch_size']} is not {sizes['n_batches']} batches")
    return sizes


@lru_cache(maxsize=1)
def git_revision() -> str:
    """The git revision of the vhtwin source, when it runs from a git checkout ("unknown" otherwise)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if out.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def per_patient_variables(draw: xr.Dataset) -> list[str]:
    """The draw's variables with one value per patient (parameters, etas, covariates) that the store holds."""
    return [v for v in draw.data_vars if draw[v].dims == ("patient",)]


def status_counts(status: np.ndarray) -> dict[str, int]:
    """Counts of each status name (success, max_steps, ...) in an int8 status array."""
    from ..solvers import Status

    values, counts = np.unique(np.asarray(status), return_counts=True)
    return {Status(int(v)).name.lower(): int(c) for v, c in zip(values, counts)}
