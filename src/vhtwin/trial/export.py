"""A trial store written to CSV or Parquet, batch by batch (:mod:`vhtwin.trial.tables`): memory bounded by one
batch, whatever the cohort size.

The tables come from the opened store (:func:`vhtwin.open_trial`), so every read is checked: a damaged chunk stops
the export with the error naming it (and no file is left), and a patient not computed yet (an unfinished run) is
left out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import InputError
from . import store as st
from .reading import open_trial
from .tables import TABLES, empty_table, iter_dataframes

#: File formats.
FORMATS = ("csv", "parquet")


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
                writer.write(empty_table(trial, table))
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    sizes = st.store_shape(Path(store), trial.attrs)
    complete = len(st.done_batches(Path(store))) == sizes["arms"] * sizes["n_batches"]
    return {"path": out, "rows": rows, "batches": batches, "complete": complete,
            "progress": trial.attrs.get("vhtwin_progress", "")}


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
