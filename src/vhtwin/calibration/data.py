"""Observations for calibration: a table of measurements checked and laid out per patient.

A table has one row per measurement with columns ``time`` (model time unit), ``value``, ``unit`` (the unit of
``value`` and ``lloq``, a string per row or one for all) and optionally ``observable`` (name; default the model's
first observable), ``lloq`` (lower limit of quantification) and ``id`` (patient). Values in a mass concentration
other than the observable's (``ng/mL`` for a model in ``mg L-1``) are converted; any other unit must be the
observable's own, or the table is refused -- a unit left implicit is how a twin ends up 1000 times off. A row with ``value < lloq`` -- or a missing value with a finite
``lloq`` -- is below the limit of quantification (BLQ) and enters the likelihood by Beal's M3 method.

Everything is checked here, before any compute, and refused with an :class:`~vhtwin.errors.InputError` that names
the column, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError
from ..identifiers import refuse_identifiers
from ..model import Model
from ..units import conversion_factor

REQUIRED = ("time", "value", "unit")
OPTIONAL = ("observable", "lloq", "id")


@dataclass(frozen=True)
class Observations:
    """Measurements of ``B`` patients padded to ``N`` per patient (numpy; ``mask`` marks the real ones).

    Patients are in sorted ``id`` order. Within a patient, rows are sorted by time (stable).
    """

    ids: np.ndarray  # (B,) patient ids (sorted); [0] when the table has no id column
    has_id: bool  # the table had an id column (a batch of twins, even with one patient)
    observables: tuple[str, ...]  # the observables measured, in the model's order
    time: np.ndarray  # (B, N) model time unit; padding repeats the patient's last time
    value: np.ndarray  # (B, N) observed value; 0 at padding and at BLQ rows without a value
    observable: np.ndarray  # (B, N) int index into ``observables``
    lloq: np.ndarray  # (B, N) lower limit of quantification, NaN where none was given
    censored: np.ndarray  # (B, N) bool: BLQ (M3)
    mask: np.ndarray  # (B, N) bool: a real measurement (not padding)
    grid: np.ndarray  # (B, T) each patient's distinct sampling times, NaN-padded
    grid_index: np.ndarray  # (B, N) int: position of each measurement's time in ``grid``

    @property
    def n_patients(self) -> int:
        return int(self.ids.shape[0])

    def counts(self) -> np.ndarray:
        """Measurements per patient (B,)."""
        return self.mask.sum(axis=1)


def as_frame(data) -> pd.DataFrame:
    """The data as a DataFrame (a copy), from a DataFrame, a dict of columns or an xarray Dataset."""
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=data.index.name is None or data.index.name not in OPTIONAL).copy()
    if isinstance(data, Mapping):
        try:
            columns = {k: v if np.ndim(v) == 0 else np.asarray(v) for k, v in data.items()}  # scalars broadcast
            if all(np.ndim(v) == 0 for v in columns.values()):
                columns = {k: [v] for k, v in columns.items()}
            return pd.DataFrame(columns)
        except ValueError as err:
            raise InputError(f"calibrate data: the columns of the dict must have one length ({err})") from None
    to_frame = getattr(data, "to_dataframe", None)
    if callable(to_frame):
        return to_frame().reset_index()
    raise InputError(
        f"calibrate data must be a pandas DataFrame or a dict of columns (time, value, optional observable, lloq, "
        f"id), got {type(data).__name__}"
    )


def _numeric(df: pd.DataFrame, column: str) -> np.ndarray:
    try:
        return pd.to_numeric(df[column], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError):
        bad = next(v for v in df[column] if not _is_number(v))
        raise InputError(f"calibrate data column {column!r}: value {bad!r} is not a number") from None


def plain(value):
    """A numpy scalar as the Python value it holds, for messages (``1``, not ``np.int64(1)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _row(df: pd.DataFrame, where: np.ndarray) -> str:
    """A readable pointer to the first offending row: its position and patient id when there is one."""
    i = int(np.flatnonzero(where)[0])
    who = f" (id {plain(df['id'].iloc[i])!r})" if "id" in df.columns else ""
    return f"row {i}{who}"


def read(model: Model, data) -> Observations:
    """Check a measurement table against ``model`` and lay it out per patient.

    Raises
    ------
    InputError
        On a missing ``time`` or ``value`` column, a non-finite time or value, a missing value without an
        ``lloq``, a negative or non-finite ``lloq``, an unknown observable, no rows, or a patient whose every
        measurement is below the limit of quantification.
    """
    df = as_frame(data)
    refuse_identifiers(df.columns, "calibrate data")
    if "unit" not in df.columns and {"time", "value"} <= set(df.columns):
        first = model.observed[0] if model.observed else None
        example = f" (the model's {first.name} is in {first.unit!r})" if first is not None else ""
        raise InputError(
            f"calibrate data: no 'unit' column; declare the unit of the values{example}, e.g. a column unit = "
            f"{first.unit if first is not None else 'mg L-1'!r}, or 'ng/mL' and vhtwin converts: data in another unit "
            "than the model's would fit a twin off by that factor"
        )
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"calibrate data: missing column(s) {missing}; the table needs {list(REQUIRED)} and may have "
            f"{list(OPTIONAL)} (it has {list(df.columns)})"
        )
    if len(df) == 0:
        raise InputError("calibrate data has no rows; give at least one measurement")
    time = _numeric(df, "time")
    if not np.all(np.isfinite(time)):
        raise InputError(
            f"calibrate data column 'time': {_row(df, ~np.isfinite(time))} has time {plain(time[~np.isfinite(time)][0])!r}; "
            "every measurement needs a finite time (drop rows without one)"
        )
    value = _numeric(df, "value")
    lloq = _numeric(df, "lloq") if "lloq" in df.columns else np.full(len(df), np.nan)
    bad = ~np.isnan(lloq) & ~(np.isfinite(lloq) & (lloq >= 0))
    if bad.any():
        raise InputError(f"calibrate data column 'lloq': {_row(df, bad)} has lloq {plain(lloq[bad][0])!r}; it must be a "
                         "finite number >= 0, or empty (NaN) where there is no limit")
    no_value = np.isnan(value)
    if (no_value & np.isnan(lloq)).any():
        raise InputError(
            f"calibrate data column 'value': {_row(df, no_value & np.isnan(lloq))} has no value and no lloq; give "
            "the measured value, or the lloq of a sample below the limit of quantification (or drop the row)"
        )
    if np.isinf(value).any():
        raise InputError(f"calibrate data column 'value': {_row(df, np.isinf(value))} has value {plain(value[np.isinf(value)][0])!r}; it must be finite")
    # A negative value is kept: an assay's noise near zero can read below it, and additive or combined error gives
    # it a likelihood (exponential error refuses values <= 0 where the residual models are known).
    censored = no_value | (value < lloq)  # NaN lloq compares False: no censoring

    names = model.observable_names
    if not names:
        raise InputError(f"calibrate: model {model.name} has no observables to compare with data")
    if "observable" in df.columns:
        labels = df["observable"].astype(str).to_numpy()
        unknown = ~np.isin(labels, names)
        if unknown.any():
            raise InputError(
                f"calibrate data column 'observable': {_row(df, unknown)} names {labels[unknown][0]!r}, which model "
                f"{model.name} does not have; its observables are {list(names)}"
            )
    else:
        labels = np.full(len(df), names[0], dtype=object)
    observables = tuple(n for n in names if n in set(labels))
    which = np.array([observables.index(x) for x in labels], dtype=np.int32)
    factor = _unit_factors(model, df, labels)
    value, lloq = value * factor, lloq * factor

    has_id = "id" in df.columns
    ids_raw = df["id"].to_numpy() if has_id else np.zeros(len(df), dtype=np.int64)
    if has_id and pd.isna(df["id"]).any():
        raise InputError(f"calibrate data column 'id': {_row(df, pd.isna(df['id']).to_numpy())} has no id")
    ids = np.unique(ids_raw)
    for pid in ids:
        rows = ids_raw == pid
        if censored[rows].all():
            label = f"patient id {plain(pid)!r}" if has_id else "the patient"
            raise InputError(
                f"calibrate data: every one of the {int(rows.sum())} measurements of {label} is below the limit of "
                "quantification (value < lloq); with no quantified value the twin would be the population prior "
                "bounded from above only -- add a quantified measurement, or use the prior (Population) directly"
            )
    return _layout(ids, ids_raw, has_id, observables, time, np.where(no_value, 0.0, value), which, lloq, censored)


def _unit_factors(model: Model, df: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """Per row, the factor that turns the row's value (in its ``unit``) into its observable's unit."""
    units = df["unit"].astype(str).str.strip().to_numpy()
    declared = {x.name: x.unit for x in (*model.states, *model.observed)}
    factor = np.ones(len(df))
    for given, name in sorted(set(zip(units, labels))):
        wanted = declared[name]
        f = conversion_factor(given, wanted)
        if f is None:
            rows = (units == given) & (labels == name)
            raise InputError(
                f"calibrate data column 'unit': {_row(df, rows)} gives {name} in {given!r}, but the model's {name} is in "
                f"{wanted!r}; vhtwin converts between mass concentrations (ng/mL, ug/L, mg/L, g/L, ...) only -- "
                f"convert the values to {wanted!r} first"
            )
        factor[(units == given) & (labels == name)] = f
    return factor


def _layout(ids, ids_raw, has_id, observables, time, value, which, lloq, censored) -> Observations:
    B = ids.shape[0]
    rows = [np.flatnonzero(ids_raw == pid) for pid in ids]
    rows = [r[np.argsort(time[r], kind="stable")] for r in rows]
    N = max(len(r) for r in rows)
    grids = [np.unique(time[r]) for r in rows]
    T = max(len(g) for g in grids)
    out = {k: np.zeros((B, N)) for k in ("time", "value")}
    out_obs = np.zeros((B, N), np.int32)
    out_lloq = np.full((B, N), np.nan)
    out_cens = np.zeros((B, N), bool)
    mask = np.zeros((B, N), bool)
    grid = np.full((B, T), np.nan)
    grid_index = np.zeros((B, N), np.int32)
    for b, r in enumerate(rows):
        n = len(r)
        out["time"][b, :n], out["time"][b, n:] = time[r], time[r][-1]
        out["value"][b, :n] = value[r]
        out_obs[b, :n] = which[r]
        out_lloq[b, :n] = lloq[r]
        out_cens[b, :n] = censored[r]
        mask[b, :n] = True
        grid[b, : len(grids[b])] = grids[b]
        grid_index[b, :n] = np.searchsorted(grids[b], time[r])
    return Observations(ids, has_id, observables, out["time"], out["value"], out_obs, out_lloq, out_cens, mask, grid,
                        grid_index)
