"""Input of :func:`vhtwin.analysis.nca`: every accepted form of concentration data becomes padded
``(patient, sample)`` arrays of times and concentrations, and every form of dose one dose per patient.

A DataArray over ``("patient", "time")`` or ``("time",)`` and a table with columns ``id``, ``time``, ``conc``
(unequal sampling per patient) are both accepted; anything that is not a number, an infinite value or times that do
not increase within a patient are refused with the row or patient named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

__all__ = ["TABLE_COLUMNS", "doses_per_patient", "from_dataarray", "from_table", "pack_left"]

#: The columns a table of observations needs.
TABLE_COLUMNS = ("id", "time", "conc")


def from_dataarray(conc: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], bool]:
    """Ids, times and concentrations (patient, sample), the units given, and whether the input was 1-D."""
    if "time" not in conc.dims:
        raise InputError(
            f"conc: DataArray dims {conc.dims} have no 'time'; allowed are ('patient', 'time') or ('time',)"
        )
    single = conc.ndim == 1
    if single:
        conc = conc.expand_dims("patient")
    if set(conc.dims) != {"patient", "time"}:
        raise InputError(f"conc: DataArray dims {conc.dims} are not allowed; use ('patient', 'time') or ('time',)")
    conc = conc.transpose("patient", "time")
    if "time" not in conc.coords:
        raise InputError("conc: the DataArray has no 'time' coordinate; give the sampling times (in h) as coordinate")
    times = np.asarray(conc["time"].values, dtype=float)
    if not np.all(np.isfinite(times)):
        raise InputError(f"conc.time: times must be finite, got {times[~np.isfinite(times)][:5].tolist()}")
    ids = np.asarray(conc["patient"].values) if "patient" in conc.coords else np.arange(conc.sizes["patient"])
    t = np.broadcast_to(times, conc.shape).astype(float)
    try:
        c = np.asarray(conc.values, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"conc: values must be numbers (NaN for a missing sample), got dtype {conc.dtype}") from None
    _refuse_infinite(c.ravel(), np.arange(c.size))
    units = {"time": conc["time"].attrs.get("units"), "conc": conc.attrs.get("units")}
    _check_increasing(t, ids)
    return ids, t, c, units, single


def _concentrations(column: pd.Series) -> np.ndarray:
    """A table's concentrations as floats: a missing value (empty, NaN, None) is a missing sample; text that is not a
    number (a "BLQ" flag, a typing error) is refused naming its row, never silently made missing; so is inf."""
    value = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    blank = column.isna() | column.astype(str).str.strip().str.lower().isin(["", "nan", "na", "."])
    given = np.isnan(value) & ~blank.to_numpy()  # NaN after conversion, but something was written there
    if given.any():
        row = int(np.flatnonzero(given)[0])
        raise InputError(f"conc: row {row} holds {column.iloc[row]!r}, which is not a number; give numbers, with NaN "
                         "or an empty cell for a missing sample (a value below the limit of quantification as 0 or "
                         "NaN, as your analysis plan says)")
    _refuse_infinite(value, np.arange(value.size))
    return value


def _refuse_infinite(value: np.ndarray, rows: np.ndarray) -> None:
    bad = np.isinf(value)
    if bad.any():
        row = int(rows[np.flatnonzero(bad)[0]])
        raise InputError(f"conc: value {row} is {value[bad][0]}; concentrations must be finite numbers (NaN for a "
                         "missing sample), not infinite")


def from_table(table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], bool]:
    """As :func:`from_dataarray` for a DataFrame or mapping of columns ``id``, ``time``, ``conc``; patients in order
    of first appearance, each padded with NaN to the longest."""
    if isinstance(table, pd.DataFrame):
        frame = table
        attrs = dict(table.attrs)
    elif isinstance(table, Mapping):
        attrs = {}
        missing = [k for k in TABLE_COLUMNS if k not in table]
        if missing:
            raise InputError(f"conc: the table is missing column(s) {missing}; it needs columns {list(TABLE_COLUMNS)}")
        try:
            frame = pd.DataFrame({k: np.asarray(table[k]) for k in TABLE_COLUMNS})
        except ValueError as err:
            raise InputError(
                f"conc: the table columns {list(TABLE_COLUMNS)} must have equal lengths ({err})"
            ) from None
    else:
        raise InputError(
            f"conc: type {type(table).__name__} is not allowed; give an xarray.DataArray with dims ('patient', 'time'),"
            " a pandas DataFrame or a mapping with columns 'id', 'time', 'conc'"
        )
    missing = [k for k in TABLE_COLUMNS if k not in frame.columns]
    if missing:
        raise InputError(f"conc: the table is missing column(s) {missing}; it needs columns {list(TABLE_COLUMNS)}")
    if len(frame) == 0:
        raise InputError("conc: the table has no rows")
    time = pd.to_numeric(frame["time"], errors="coerce").to_numpy(dtype=float)
    value = _concentrations(frame["conc"])
    if not np.all(np.isfinite(time)):
        bad = frame["time"][~np.isfinite(time)].tolist()[:5]
        raise InputError(f"conc.time: times must be finite numbers, got {bad}")
    codes, ids = pd.factorize(frame["id"], sort=False)
    if np.any(codes < 0):
        raise InputError("conc.id: ids must not be missing (NaN)")
    position = pd.Series(codes).groupby(codes).cumcount().to_numpy()
    shape = (len(ids), int(position.max()) + 1)
    t = np.full(shape, np.nan)
    c = np.full(shape, np.nan)
    t[codes, position] = time
    c[codes, position] = value
    ids = np.asarray(ids)
    _check_increasing(t, ids)
    units = {"time": attrs.get("time_units"), "conc": attrs.get("conc_units")}
    return ids, t, c, units, False


def _check_increasing(t: np.ndarray, ids: np.ndarray) -> None:
    with np.errstate(invalid="ignore"):
        step = np.diff(t, axis=1)
    bad = np.isfinite(step) & (step <= 0)
    if np.any(bad):
        p, j = np.argwhere(bad)[0]
        raise InputError(
            f"conc.time: times must be strictly increasing within each patient; patient {ids.tolist()[p]!r} has time "
            f"{t[p, j]:g} followed by {t[p, j + 1]:g}"
        )


def pack_left(t: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move each patient's valid samples (finite time and concentration) to the front; pad with NaN."""
    valid = np.isfinite(t) & np.isfinite(c)
    order = np.argsort(~valid, axis=1, kind="stable")
    t = np.where(np.take_along_axis(valid, order, 1), np.take_along_axis(t, order, 1), np.nan)
    c = np.where(np.take_along_axis(valid, order, 1), np.take_along_axis(c, order, 1), np.nan)
    return t, c, valid.sum(axis=1)


def doses_per_patient(dose: Any, ids: np.ndarray) -> np.ndarray:
    """One dose per patient from a scalar, an array in patient order or a Series/mapping id -> dose (NaN: none)."""
    n = len(ids)
    if dose is None:
        return np.full(n, np.nan)
    if isinstance(dose, (pd.Series, Mapping)):
        lookup = dose if isinstance(dose, pd.Series) else pd.Series(dict(dose))
        missing = [i for i in ids.tolist() if i not in lookup.index]
        if missing:
            raise InputError(f"dose: no dose for patient id(s) {missing[:5]}; give one dose per patient id")
        dose = lookup.loc[list(ids)].to_numpy()
    try:
        value = np.asarray(dose, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"dose: {dose!r} is not a number or an array of numbers") from None
    if value.ndim == 0:
        value = np.full(n, float(value))
    elif value.shape != (n,):
        raise InputError(f"dose: shape {value.shape} does not match the {n} patient(s); give a scalar or shape ({n},)")
    if np.any(~np.isfinite(value) | (value < 0)):
        raise InputError(f"dose: doses must be finite and >= 0, got {value[~np.isfinite(value) | (value < 0)][:5]}")
    return value
