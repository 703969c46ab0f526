"""Results on disk: xarray Datasets as Zarr format 3 stores.

A store holds numbers, strings and JSON attributes only. Opening one runs no code: there are no pickled objects, no
object codecs and no ``eval``; :func:`write_zarr` turns every attribute into JSON (numbers, strings, booleans and
lists of them) before writing, so a store written here can be read by any Zarr v3 implementation.

Chunks: one chunk along ``time`` (and every dimension other than ``patient``); along ``patient`` a chunk holds
``patient_chunk`` patients (default: as many as fit in about 2**20 values per variable), so a reader of a few
patients touches a few chunks and a cohort of millions never needs one huge chunk.

Metadata is not consolidated: consolidated metadata is not part of the Zarr v3 specification (zarr-python marks
it experimental), and a store of a few dozen arrays opens quickly without it.

Examples
--------
>>> from vhtwin.io import write_zarr, open_zarr
>>> write_zarr(ds, "out/run.zarr", overwrite=True)        # doctest: +SKIP
>>> ds = open_zarr("out/run.zarr")                        # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .errors import InputError
from .store_safety import check_codecs

#: Target number of values in one chunk when ``patient_chunk`` is not given (8 MiB of float64).
_VALUES_PER_CHUNK = 2**20


@contextmanager
def quiet_zarr():
    """Silence zarr's notice that fixed-length strings (names: arms, parameters) have no Zarr v3 specification yet."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have a Zarr V3 specification.*")
        yield


def write_zarr(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False, patient_chunk: int | None = None) -> Path:
    """Write a Dataset to a new Zarr format 3 store.

    Parameters
    ----------
    ds : xarray.Dataset
        E.g. the result of :func:`vhtwin.simulate`. Not modified.
    path : str or path-like
        Directory of the store (by convention ending in ``.zarr``).
    overwrite : bool
        Replace an existing Zarr store at ``path`` (anything else there -- a folder, a file -- is refused and left
        untouched). The new store is written beside the old one and swapped in once complete. Without it an
        existing path is an error, so a result is never lost by accident.
    patient_chunk : int, optional
        Patients per chunk along ``patient`` (default: about 2**20 values per chunk, at most all patients).

    Returns
    -------
    pathlib.Path
        The store's path.

    Raises
    ------
    InputError
        If ``path`` exists and ``overwrite`` is False or it is not a Zarr store, if ``ds`` is not a Dataset, if ``patient_chunk`` is not a
        positive integer, or if a variable holds Python objects (which a store must not carry).
    """
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"write_zarr needs an xarray.Dataset, got {type(ds).__name__}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"store {str(path)!r} already exists; pass overwrite=True to replace it")
    if path.exists() and not _is_zarr_store(path):
        raise InputError(f"{str(path)!r} exists and is not a Zarr store; overwrite replaces only a store, so it was "
                         "left untouched -- choose another path, or move it away yourself")
    if patient_chunk is not None and (isinstance(patient_chunk, bool) or not isinstance(patient_chunk, (int, np.integer)) or patient_chunk < 1):
        raise InputError(f"patient_chunk {patient_chunk!r} must be a positive integer")

    out = ds.copy(deep=False)
    out.attrs = json_safe_attrs(ds.attrs, "dataset")
    encoding = {}
    for name, var in out.variables.items():
        if var.dtype == object:
            raise InputError(f"variable {name!r} holds Python objects (dtype object); store numbers or fixed strings only")
        var.attrs = json_safe_attrs(var.attrs, f"variable {name!r}")
        var.encoding = {}
        if var.ndim:
            encoding[name] = {"chunks": _chunks(var, patient_chunk)}
    # A new store is written beside the one it replaces and swapped in once complete: a failed write loses nothing.
    target = path.parent / f".{path.name}.replacement-{os.getpid()}" if path.exists() else path
    try:
        out.to_zarr(target, mode="w-", zarr_format=3, consolidated=False, encoding=encoding)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)  # only ever what this call created
        raise
    if target != path:
        aside = path.parent / f".{path.name}.replaced-{os.getpid()}"
        os.rename(path, aside)
        os.rename(target, path)
        shutil.rmtree(aside)
    return path


def _is_zarr_store(path: Path) -> bool:
    """A folder whose root ``zarr.json`` is Zarr metadata (what ``overwrite`` may replace)."""
    meta = path / "zarr.json"
    try:
        doc = json.loads(meta.read_text()) if path.is_dir() and meta.is_file() else None
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "zarr_format" in doc


def open_zarr(path: str | os.PathLike) -> xr.Dataset:
    """Open a Zarr format 3 store lazily as an xarray Dataset (nothing in the store is executed).

    Raises
    ------
    InputError
        If there is no store at ``path``, or it names a codec that could run code
        (:mod:`vhtwin.store_safety`).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"store {str(path)!r} does not exist")
    check_codecs(path)  # before zarr builds any codec the store names
    return xr.open_zarr(path, zarr_format=3, consolidated=False, decode_timedelta=False)


def json_safe_attrs(attrs: dict, where: str = "attributes") -> dict[str, Any]:
    """A copy of ``attrs`` in which every value is JSON: str, int, float, bool, or a flat list of them.

    numpy scalars become Python numbers, arrays and tuples become lists, ``None`` becomes ``""``; anything else
    (an object, a dict, a nested list) raises :class:`InputError` rather than being silently stringified.
    """
    safe = {}
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise InputError(f"{where}: attribute name {key!r} must be a string")
        safe[key] = _json_value(value, f"{where} attribute {key!r}")
    return safe


def _json_value(value, where: str):
    if value is None:
        return ""
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        items = np.asarray(value).ravel().tolist() if isinstance(value, np.ndarray) else list(value)
        scalars = [_json_value(v, where) for v in items]
        if any(isinstance(v, list) for v in scalars):
            raise InputError(f"{where}: nested lists are not allowed in attributes")
        return scalars
    raise InputError(f"{where}: value of type {type(value).__name__} cannot be stored; use numbers, strings or lists of them")


def _chunks(var: xr.Variable, patient_chunk: int | None) -> tuple[int, ...]:
    sizes = dict(zip(var.dims, var.shape))
    if "patient" not in sizes:
        return tuple(max(1, n) for n in var.shape)
    n = sizes["patient"]
    per_patient = math.prod(s for d, s in sizes.items() if d != "patient")
    rows = patient_chunk if patient_chunk is not None else max(1, _VALUES_PER_CHUNK // max(1, per_patient))
    rows = max(1, min(n, rows))
    return tuple(rows if d == "patient" else max(1, s) for d, s in sizes.items())


def read_toml(path: str | os.PathLike, what: str) -> dict:
    """A TOML file as a dict (``tomllib``: data only); a missing or unparsable file is one sentence naming ``what``."""
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"{what} {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{what} {str(path)!r} is not valid TOML: {err}") from None


def read_csv_table(path: str | os.PathLike, what: str):
    """A CSV file as a pandas DataFrame; a missing, empty or unparsable file is one sentence naming ``what``.

    Parsing reads text only (no converters, no evaluation).
    """
    import pandas as pd

    if not Path(path).is_file():
        raise InputError(f"{what} {str(path)!r} does not exist")
    try:
        table = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{what} {str(path)!r} is empty: it needs a header line and at least one row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{what} {str(path)!r} is not a readable CSV file ({' '.join(str(err).split())[:160]})") from None
    if table.empty:
        raise InputError(f"{what} {str(path)!r} has a header but no rows")
    return table
