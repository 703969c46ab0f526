"""A trial store as tables: long-format results (one row per arm, patient and time) or one row per patient, streamed
batch by batch into CSV or Parquet with the units in the column names -- memory bounded by one batch, whatever
the cohort size.

The tables come from the opened store (:func:`vhtwin.open_trial`), so every read is checked: a damaged chunk stops
the export with the error naming it, and a patient not computed yet (an unfinished run) is left out, never written
as NaN.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

#: Table layouts.
TABLES = ("long", "patients")
#: File formats.
FORMATS = ("csv", "parquet")


def header(name: str, attrs: dict) -> str:
    """A column name with its unit, ``"Cc [mg L-1]"`` (a name without units stays as it is)."""
    unit = attrs.get("units")
    return f"{name} [{unit}]" if unit else name


def iter_dataframes(trial: xr.Dataset, table: str = "long") -> Iterator[pd.DataFrame]:
    """The results of an opened trial store as pandas DataFrames, one per batch of one arm.

    Parameters
    ----------
    trial : xarray.Dataset
        A trial store opened with :func:`vhtwin.open_trial` (or a selection of one: fewer arms, patients, times).
    table : {"long", "patients"}
        ``"long"``: one row per arm, patient and output time -- columns ``arm``, ``patient_id``, ``patient``,
        ``time [unit]``, each output ``name [unit]`` and ``status``. ``"patients"``: one row per patient -- ``arm``,
        ``patient_id``, ``patient``, then every per-patient variable (parameters, etas, covariates, ``status``,
        step counts) with its unit.

    Yields
    ------
    pandas.DataFrame
        Batch by batch (the store's chunks), so memory holds one batch at a time. Patients not computed yet
        (status -1) are left out.
    """
    if table not in TABLES:
        raise InputError(f"table {table!r} must be one of {TABLES}")
    if "status" not in trial or trial["status"].dims != ("arm", "patient"):
        raise InputError("iter_dataframes needs a trial store opened with vhtwin.open_trial (variables over arm, "
                         "patient and time, with a status per patient)")
    outputs = [v for v in trial.data_vars if trial[v].dims == ("arm", "patient", "time")]
    per_patient = [v for v in trial.data_vars if trial[v].dims == ("arm", "patient") and v != "patient_id"]
    step = _batch_rows(trial)
    times = np.asarray(trial["time"].values)
    time_name = header("time", trial["time"].attrs)
    for a, arm in enumerate(np.asarray(trial["arm"].values)):
        for start in range(0, trial.sizes["patient"], step):
            block = trial.isel(arm=a, patient=slice(start, start + step))
            status = np.asarray(block["status"].values)
            keep = status >= 0
            if not keep.any():
                continue
            ids = np.asarray(block["patient_id"].values)[keep]
            index = np.asarray(block["patient"].values)[keep]
            if table == "patients":
                columns = {"arm": np.full(ids.size, str(arm)), "patient_id": ids, "patient": index}
                for v in per_patient:
                    columns[header(v, block[v].attrs)] = np.asarray(block[v].values)[keep]
            else:
                T = times.size
                columns = {"arm": np.full(ids.size * T, str(arm)), "patient_id": np.repeat(ids, T),
                           "patient": np.repeat(index, T), time_name: np.tile(times, ids.size)}
                for v in outputs:
                    columns[header(v, block[v].attrs)] = np.asarray(block[v].values)[keep].reshape(-1)
                columns["status"] = np.repeat(status[keep], T)
            yield pd.DataFrame(columns)


def export_trial(store, out, *, format: str | None = None, table: str = "long", overwrite: bool = False) -> dict:
    """Write a trial store's results to a CSV or Parquet file, batch by batch (bounded memory).

    Parameters
    ----------
    store : path
        The trial store.
    out : path
        The file to write (``.csv`` or ``.parquet``; written beside itself and renamed into place when complete).
    format : {"csv", "parquet"}, optional
        Default: from the suffix of ``out``.
    table : {"long", "patients"}
        See :func:`iter_dataframes`.
    overwrite : bool
        Replace ``out`` if it exists (a file; a folder is never replaced).

    Returns
    -------
    dict
        ``path``, ``rows``, ``batches`` and ``complete`` (whether every batch of the store was done).
    """
    from .reading import open_trial

    out = Path(out)
    format = format or out.suffix.lstrip(".").lower()
    if format not in FORMATS:
        raise InputError(f"export format {format!r} must be one of {FORMATS} (or give a file ending .csv or .parquet)")
    if table not in TABLES:
        raise InputError(f"table {table!r} must be one of {TABLES}")
    if out.is_dir():
        raise InputError(f"export target {str(out)!r} is a folder; give a file name")
    if out.exists() and not overwrite:
        raise InputError(f"export target {str(out)!r} already exists; pass overwrite=True (--overwrite) to replace it")
    try:
        import pyarrow  # noqa: F401  (a dependency of vhtwin; checked so that its absence is a sentence)
    except ImportError:
        raise InputError("export needs the pyarrow package (pip install pyarrow)") from None
    trial = open_trial(store)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = batches = 0
    try:
        with _TableWriter(partial, format) as writer:
            for frame in iter_dataframes(trial, table):
                writer.write(frame)
                rows += len(frame)
                batches += 1
            if batches == 0:
                writer.write(_empty(trial, table))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    progress = trial.attrs.get("vhtwin_progress", "")
    done, _, total = progress.partition(" of ")
    complete = bool(progress) and done.strip() == total.split()[0]
    return {"path": out, "rows": rows, "batches": batches, "complete": complete, "progress": progress}


def _batch_rows(trial: xr.Dataset) -> int:
    chunks = trial["status"].chunks
    return int(chunks[1][0]) if chunks else max(1, int(trial.attrs.get("vhtwin_batch_size", 1000)))


def _empty(trial: xr.Dataset, table: str) -> pd.DataFrame:
    """The header alone (a store with no batch done yet)."""
    small = trial.isel(patient=slice(0, 0))
    names = ["arm", "patient_id", "patient"]
    if table == "patients":
        names += [header(v, small[v].attrs) for v in small.data_vars
                  if small[v].dims == ("arm", "patient") and v != "patient_id"]
    else:
        names += [header("time", trial["time"].attrs)]
        names += [header(v, small[v].attrs) for v in small.data_vars if small[v].dims == ("arm", "patient", "time")]
        names += ["status"]
    return pd.DataFrame({n: [] for n in names})


class _TableWriter:
    """Batches appended to one file through Arrow: Parquet (one row group per batch, zstd) or CSV (Arrow's writer:
    several times faster than pandas', with floats in their shortest round-trip form -- read back, each value is
    the stored one, bit for bit). The schema, units in the column names, comes from the first batch."""

    def __init__(self, path: Path, format: str):
        self.path, self.format, self.writer, self.schema = path, format, None, None

    def __enter__(self):
        return self

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.schema = table.schema
            if self.format == "parquet":
                import pyarrow.parquet as pq

                self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            else:
                import pyarrow.csv as pc

                self.writer = pc.CSVWriter(self.path, table.schema, write_options=pc.WriteOptions(quoting_style="needed"))
        self.writer.write_table(table.cast(self.schema))

    def __exit__(self, *exc):
        if self.writer is not None:
            self.writer.close()
