"""Non-compartmental analysis (NCA) of concentration-time data, following PKNCA's conventions.

The analysis runs on the host with numpy, vectorised over patients: the only Python loop is over the candidate
numbers of points for the terminal slope, which is bounded by the number of samples.

Conventions (PKNCA, Denney et al., the open reference):

* AUC and AUMC by linear-up/log-down trapezoids: the log trapezoid on an interval where the concentration
  decreases and both ends are positive, the linear trapezoid otherwise. Zeros before the first positive
  concentration are included. AUClast and AUMClast run from the first sample to Tlast, the time of the last
  positive concentration.
* Cmax is the largest observed concentration, Tmax the *first* time it is observed.
* lambda_z by ordinary least squares of log(concentration) on time over the last k positive samples after Tmax
  (Tmax itself excluded unless ``lambda_z_exclude_tmax=False``), k = ``lambda_z_min_points`` upwards. The fit with
  the largest adjusted R² is taken; among fits whose adjusted R² exceeds the best minus ``lambda_z_adj_r2_factor``
  (1e-4), the one with the most points. A fit is only accepted with lambda_z > 0; otherwise lambda_z is NaN.
* AUCinf,obs = AUClast + Clast/lambda_z; AUCinf,pred = AUClast + Clast,pred/lambda_z with Clast,pred the fitted
  concentration at Tlast; AUMCinf,obs = AUMClast + Clast·Tlast/lambda_z + Clast/lambda_z².
* MRT,obs = AUMCinf,obs / AUCinf,obs for an extravascular dose and for an IV bolus alike (no correction for an
  infusion duration, which this function does not model). For an IV bolus no C0 is back-extrapolated: give the
  concentration at the dosing time as a sample if the AUC should start there.
* CL,obs = dose / AUCinf,obs (CL/F for an extravascular dose); Vz,obs = dose / (lambda_z · AUCinf,obs) (Vz/F);
  Vss,obs = MRT,obs · CL,obs for an IV bolus only.
* With a dosing interval ``tau`` (dose at time 0, interval [0, tau]): Ctrough is the concentration observed at
  exactly t = tau (NaN when there is no sample there, as PKNCA), Cmin the smallest concentration in [0, tau],
  AUCtau by the same trapezoids (interpolating inside an interval, extrapolating with lambda_z beyond Tlast),
  Cavg = AUCtau/tau, fluctuation = 100·(Cmax,tau − Cmin)/Cavg and swing = 100·(Cmax,tau − Cmin)/Cmin with
  Cmax,tau the largest concentration in [0, tau]. Without ``tau`` Cmin is the smallest observed concentration and
  Ctrough, AUCtau, Cavg, fluctuation and swing are NaN.
* Flags are True where a quantity fails its check *or cannot be computed* (it cannot be shown to pass):
  ``flag_lambda_z_r2`` (adjusted R² < 0.9), ``flag_span_ratio`` (span ratio < 2), ``flag_aucpext`` (AUC
  extrapolated > 20 %).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

__all__ = ["nca", "ROUTES"]

#: Routes this function knows. ``iv_bolus`` changes only Vss (computed) and the documentation of CL and Vz.
ROUTES = ("extravascular", "iv_bolus")

_TABLE_COLUMNS = ("id", "time", "conc")


# ---------------------------------------------------------------------------------------------------------------
# Input normalisation: every accepted input becomes padded (patient, sample) arrays, valid samples packed left.
# ---------------------------------------------------------------------------------------------------------------


def _from_dataarray(conc: xr.DataArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], bool]:
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


def _from_table(table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any], bool]:
    if isinstance(table, pd.DataFrame):
        frame = table
        attrs = dict(table.attrs)
    elif isinstance(table, Mapping):
        attrs = {}
        missing = [k for k in _TABLE_COLUMNS if k not in table]
        if missing:
            raise InputError(f"conc: the table is missing column(s) {missing}; it needs columns {list(_TABLE_COLUMNS)}")
        try:
            frame = pd.DataFrame({k: np.asarray(table[k]) for k in _TABLE_COLUMNS})
        except ValueError as err:
            raise InputError(
                f"conc: the table columns {list(_TABLE_COLUMNS)} must have equal lengths ({err})"
            ) from None
    else:
        raise InputError(
            f"conc: type {type(table).__name__} is not allowed; give an xarray.DataArray with dims ('patient', 'time'),"
            " a pandas DataFrame or a mapping with columns 'id', 'time', 'conc'"
        )
    missing = [k for k in _TABLE_COLUMNS if k not in frame.columns]
    if missing:
        raise InputError(f"conc: the table is missing column(s) {missing}; it needs columns {list(_TABLE_COLUMNS)}")
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


def _pack_left(t: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move each patient's valid samples (finite time and concentration) to the front; pad with NaN."""
    valid = np.isfinite(t) & np.isfinite(c)
    order = np.argsort(~valid, axis=1, kind="stable")
    t = np.where(np.take_along_axis(valid, order, 1), np.take_along_axis(t, order, 1), np.nan)
    c = np.where(np.take_along_axis(valid, order, 1), np.take_along_axis(c, order, 1), np.nan)
    return t, c, valid.sum(axis=1)


def _doses(dose: Any, ids: np.ndarray) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------------------------
# The calculations, each on packed (patient, sample) arrays.
# ---------------------------------------------------------------------------------------------------------------


def _segments(t: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC and AUMC of every interval between consecutive samples, linear-up/log-down (NaN on padding)."""
    t1, t2, c1, c2 = t[:, :-1], t[:, 1:], c[:, :-1], c[:, 1:]
    dt = t2 - t1
    with np.errstate(divide="ignore", invalid="ignore"):
        use_log = (c2 < c1) & (c2 > 0)
        log_ratio = np.log(np.where(use_log, c1 / c2, 2.0))  # ln(c1/c2) > 0 where used
        auc = np.where(use_log, dt * (c1 - c2) / log_ratio, 0.5 * dt * (c1 + c2))
        aumc_log = dt * (c1 * t1 - c2 * t2) / log_ratio + dt**2 * (c1 - c2) / log_ratio**2
        aumc = np.where(use_log, aumc_log, 0.5 * dt * (c1 * t1 + c2 * t2))
    return auc, aumc


def _last_positive(c: np.ndarray) -> np.ndarray:
    """Index of the last positive concentration per patient, -1 where there is none."""
    positive = c > 0
    width = c.shape[1]
    return np.where(positive.any(axis=1), width - 1 - np.argmax(positive[:, ::-1], axis=1), -1)


def _lambda_z(
    t: np.ndarray, c: np.ndarray, imax: np.ndarray, ilast: np.ndarray,
    min_points: int, factor: float, exclude_tmax: bool,
) -> dict[str, np.ndarray]:
    """Terminal slope by log-linear least squares on the last k eligible points, chosen by adjusted R²."""
    n_patients, width = c.shape
    index = np.arange(width)
    after = index > imax[:, None] if exclude_tmax else index >= imax[:, None]
    with np.errstate(invalid="ignore"):
        eligible = (c > 0) & after & (index <= ilast[:, None])
    # rank from the end: 1 for the last eligible sample, 2 for the one before, ...
    rank = np.cumsum(eligible[:, ::-1], axis=1)[:, ::-1]
    n_eligible = eligible.sum(axis=1)
    x = np.where(eligible, t, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(eligible, np.log(np.where(eligible, c, 1.0)), 0.0)

    # Every candidate fit at once: the fit on the last k eligible points starts at the eligible sample of rank k,
    # and its sums are sums from that sample to the end -- reverse cumulative sums, so O(n * width) for all k
    # together. Times and logs are taken relative to the last eligible point to keep the sums well conditioned.
    out = {name: np.full(n_patients, np.nan) for name in ("lambda_z", "r2", "adj", "tfirst", "ymean", "xmean")}
    out["n_points"] = np.zeros(n_patients, dtype=int)
    if not np.any(n_eligible >= min_points):
        return out
    last = np.where(n_eligible > 0, width - 1 - np.argmax(eligible[:, ::-1], axis=1), 0)
    rows = np.arange(n_patients)
    x0, y0 = x[rows, last][:, None], y[rows, last][:, None]
    u, v = np.where(eligible, x - x0, 0.0), np.where(eligible, y - y0, 0.0)
    tail = lambda a: np.cumsum(a[:, ::-1], axis=1)[:, ::-1]
    su, sv, suu, suv, svv = tail(u), tail(v), tail(u * u), tail(u * v), tail(v * v)
    k = rank.astype(float)
    candidate = eligible & (rank >= min_points)
    with np.errstate(divide="ignore", invalid="ignore"):
        um, vm = su / k, sv / k
        sxx = np.maximum(suu - k * um * um, 0.0)
        sxy = suv - k * um * vm
        syy = np.maximum(svv - k * vm * vm, 0.0)
        slope = sxy / sxx
        r2 = np.where(syy > 0, sxy**2 / (sxx * syy), np.nan)
        adj = 1.0 - (1.0 - r2) * (k - 1) / (k - 2)
    adj = np.where(candidate, adj, np.nan)
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(adj)
        best = np.where(finite.any(axis=1), np.max(np.where(finite, adj, -np.inf), axis=1), np.nan)
        accepted = candidate & (-slope > 0) & (adj > best[:, None] - factor)
    has = accepted.any(axis=1)
    # most points among the accepted fits: the leftmost accepted sample
    j = np.argmax(accepted, axis=1)
    out["lambda_z"] = np.where(has, -slope[rows, j], np.nan)
    out["r2"] = np.where(has, r2[rows, j], np.nan)
    out["adj"] = np.where(has, adj[rows, j], np.nan)
    out["tfirst"] = np.where(has, (t[rows, j] if np.ndim(t) == 2 else t[j]), np.nan)
    out["xmean"] = np.where(has, um[rows, j] + x0[:, 0], np.nan)
    out["ymean"] = np.where(has, vm[rows, j] + y0[:, 0], np.nan)
    out["n_points"] = np.where(has, rank[rows, j], 0)
    return out


def _interval(
    t: np.ndarray, c: np.ndarray, n: np.ndarray, ilast: np.ndarray, auc_seg: np.ndarray, lambda_z: np.ndarray,
    tau: float,
) -> dict[str, np.ndarray]:
    """Quantities over the dosing interval [0, tau]: Ctrough, Cmin, Cmax, AUCtau."""
    n_patients, width = c.shape
    pick = np.arange(n_patients)
    inside = np.isfinite(t) & (t >= 0) & (t <= tau)
    with np.errstate(invalid="ignore"):
        cmin = np.where(inside.any(1), np.where(inside, c, np.inf).min(1), np.nan)
        cmax = np.where(inside.any(1), np.where(inside, c, -np.inf).max(1), np.nan)
        at_tau = np.isfinite(t) & np.isclose(t, tau, rtol=1e-12, atol=1e-12)
    ctrough = np.where(at_tau.any(1), np.where(at_tau, c, 0.0).sum(1), np.nan)

    # AUC from 0 to tau: whole intervals up to the sample at or before tau, a partial interval, or extrapolation
    cum = np.concatenate([np.zeros((n_patients, 1)), np.cumsum(np.nan_to_num(auc_seg), axis=1)], axis=1)
    j = np.sum(np.isfinite(t) & (t <= tau), axis=1) - 1  # last sample at or before tau
    jc = np.clip(j, 0, width - 1)
    auc = cum[pick, jc]
    tj, cj = t[pick, jc], c[pick, jc]
    nxt = np.clip(jc + 1, 0, width - 1)
    t2, c2 = t[pick, nxt], c[pick, nxt]
    partial = (j + 1 < n) & (j + 1 <= ilast) & (tj < tau)
    with np.errstate(divide="ignore", invalid="ignore"):
        use_log = (c2 < cj) & (c2 > 0)
        frac = (tau - tj) / (t2 - tj)
        c_tau = np.where(use_log, cj * np.exp(frac * np.log(c2 / cj)), cj + frac * (c2 - cj))
        part = np.where(use_log, (tau - tj) * (cj - c_tau) / np.log(cj / c_tau), 0.5 * (tau - tj) * (cj + c_tau))
        tlast = t[pick, np.clip(ilast, 0, width - 1)]
        clast = c[pick, np.clip(ilast, 0, width - 1)]
        beyond = (ilast >= 0) & (j >= ilast) & (tau > tlast)
        extra = clast / lambda_z * (1.0 - np.exp(-lambda_z * (tau - tlast)))
        auc_beyond = cum[pick, np.clip(ilast, 0, width - 1)] + extra
    auc = np.where(partial, auc + part, auc)
    auc = np.where(beyond, auc_beyond, auc)
    starts_at_zero = np.isclose(t[:, 0], 0.0, atol=1e-12) | (t[:, 0] <= 0)
    auc = np.where((j >= 0) & starts_at_zero & (n > 0), auc, np.nan)
    if not np.any(np.isfinite(t[:, 0])):
        auc = np.full(n_patients, np.nan)
    return {"ctrough": ctrough, "cmin": cmin, "cmax_tau": cmax, "auctau": auc}


# ---------------------------------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------------------------------


def _volume_unit(conc_unit: str | None, dose_unit: str | None) -> str | None:
    """'L' from a concentration 'mg L-1' or 'mg/L' with dose in 'mg'; a generic quotient otherwise."""
    if conc_unit is None or dose_unit is None:
        return None
    match = re.fullmatch(r"\s*(\S+)\s*(?:/\s*(\S+)|\s+(\S+)-1)\s*", conc_unit)
    if match and match.group(1) == dose_unit:
        return match.group(2) or match.group(3)
    return f"{dose_unit}/({conc_unit})"


def _units(time: str, conc: str | None, dose: str | None) -> dict[str, str | None]:
    volume = _volume_unit(conc, dose)
    auc = f"{conc} {time}" if conc else None
    return {
        "cmax": conc, "tmax": time, "clast": conc, "tlast": time, "cmin": conc, "ctrough": conc, "cavg": conc,
        "auclast": auc, "aucinf_obs": auc, "aucinf_pred": auc, "auctau": auc, "aucpext_obs": "%",
        "aumclast": f"{conc} {time}2" if conc else None, "aumcinf_obs": f"{conc} {time}2" if conc else None,
        "mrt_obs": time, "lambda_z": f"{time}-1", "lambda_z_r2": "1", "lambda_z_adj_r2": "1",
        "lambda_z_n_points": "1", "lambda_z_span_ratio": "1", "half_life": time,
        "cl_obs": f"{volume} {time}-1" if volume and "/" not in volume else (f"{volume}/{time}" if volume else None),
        "vz_obs": volume, "vss_obs": volume, "fluctuation": "%", "swing": "%",
    }


# ---------------------------------------------------------------------------------------------------------------
# The public function
# ---------------------------------------------------------------------------------------------------------------


def nca(
    conc: xr.DataArray | pd.DataFrame | Mapping[str, Any],
    dose: float | np.ndarray | pd.Series | Mapping[Any, float] | None = None,
    *,
    route: str = "extravascular",
    tau: float | None = None,
    lambda_z_min_points: int = 3,
    lambda_z_adj_r2_factor: float = 1e-4,
    lambda_z_exclude_tmax: bool = True,
    time_units: str | None = None,
    conc_units: str | None = None,
    dose_units: str = "mg",
) -> xr.Dataset:
    """Non-compartmental analysis of one or many patients' concentration-time profiles (PKNCA conventions).

    Parameters
    ----------
    conc
        Either an :class:`xarray.DataArray` with dims ``("patient", "time")`` or ``("time",)``, a ``time``
        coordinate (``attrs["units"]``, default ``"h"``) and the concentration unit in ``attrs["units"]``; NaN
        entries are missing samples. Or a table (pandas DataFrame or mapping of equal-length columns) with columns
        ``id``, ``time``, ``conc``, rows of each patient in increasing time; patients may be sampled at different
        times. Units of a DataFrame may be given in ``frame.attrs["time_units"]`` / ``["conc_units"]``.
    dose
        The dose given at time 0: a scalar for every patient, an array aligned with the patients (DataArray order,
        or order of first appearance of the ids in a table), or a Series/mapping from id to dose. ``None`` leaves
        CL, Vz and Vss NaN.
    route
        ``"extravascular"`` (CL and Vz are CL/F and Vz/F) or ``"iv_bolus"`` (adds Vss = MRT·CL).
    tau
        Dosing interval (time units) for Ctrough, Cmin over [0, tau], AUCtau, Cavg, fluctuation and swing.
    lambda_z_min_points
        The smallest number of points in a terminal-slope fit (>= 3).
    lambda_z_adj_r2_factor
        Fits whose adjusted R² is within this of the best count as ties; the one with most points wins.
    lambda_z_exclude_tmax
        Exclude the sample at Tmax from the terminal-slope fit (PKNCA's default).
    time_units, conc_units, dose_units
        Override the units read from the input (used only to label the result; nothing is converted).

    Returns
    -------
    xarray.Dataset
        One variable per NCA parameter over ``patient`` (the ids for a table; dropped for a 1-D DataArray), each
        with a ``units`` attribute where it can be derived. See the module docstring for the definitions and the
        ``attrs`` of the result for the settings used.

    Raises
    ------
    InputError
        Times not strictly increasing within a patient, negative concentrations, a dose array of the wrong length,
        missing table columns, an unknown route or bad settings.
    """
    if route not in ROUTES:
        raise InputError(f"route: {route!r} is not allowed; use one of {list(ROUTES)}")
    if isinstance(lambda_z_min_points, bool) or not isinstance(lambda_z_min_points, (int, np.integer)) \
            or lambda_z_min_points < 3:
        raise InputError(f"lambda_z_min_points: {lambda_z_min_points!r} is not allowed; use an integer >= 3")
    if not (np.isfinite(lambda_z_adj_r2_factor) and lambda_z_adj_r2_factor >= 0):
        raise InputError(f"lambda_z_adj_r2_factor: {lambda_z_adj_r2_factor!r} is not allowed; use a number >= 0")
    if tau is not None and not (np.isfinite(tau) and tau > 0):
        raise InputError(f"tau: {tau!r} is not allowed; use a positive dosing interval or None")

    if isinstance(conc, xr.DataArray):
        ids, t, c, units, single = _from_dataarray(conc)
    else:
        ids, t, c, units, single = _from_table(conc)
    with np.errstate(invalid="ignore"):
        negative = c < 0
    if np.any(negative):
        p, j = np.argwhere(negative)[0]
        raise InputError(
            f"conc: concentrations must be >= 0; patient {ids.tolist()[p]!r} has {c[p, j]:g} at time {t[p, j]:g}"
        )
    doses = _doses(dose, ids)
    time_unit = time_units or units["time"] or "h"
    conc_unit = conc_units or units["conc"]

    t, c, n = _pack_left(t, c)
    n_patients, width = c.shape
    pick = np.arange(n_patients)
    has_data = n > 0

    # Cmax, Tmax (first occurrence), Tlast, Clast
    imax = np.argmax(np.where(np.isfinite(c), c, -np.inf), axis=1)
    cmax = np.where(has_data, c[pick, imax], np.nan)
    tmax = np.where(has_data, t[pick, imax], np.nan)
    ilast = _last_positive(c)
    found = ilast >= 0
    tlast = np.where(found, t[pick, np.clip(ilast, 0, width - 1)], np.nan)
    clast = np.where(found, c[pick, np.clip(ilast, 0, width - 1)], np.where(has_data, 0.0, np.nan))

    # AUClast, AUMClast: intervals ending at or before Tlast
    if width > 1:
        auc_seg, aumc_seg = _segments(t, c)
        upto = np.arange(1, width)[None, :] <= ilast[:, None]
        auclast = np.where(upto, auc_seg, 0.0).sum(axis=1)
        aumclast = np.where(upto, aumc_seg, 0.0).sum(axis=1)
    else:
        auc_seg = np.zeros((n_patients, 0))
        auclast = np.zeros(n_patients)
        aumclast = np.zeros(n_patients)
    auclast = np.where(has_data, auclast, np.nan)
    aumclast = np.where(has_data, aumclast, np.nan)

    fit = _lambda_z(t, c, imax, ilast, int(lambda_z_min_points), float(lambda_z_adj_r2_factor),
                    bool(lambda_z_exclude_tmax))
    lam = fit["lambda_z"]
    with np.errstate(divide="ignore", invalid="ignore"):
        half_life = np.log(2.0) / lam
        span_ratio = (tlast - fit["tfirst"]) / half_life
        clast_pred = np.exp(fit["ymean"] - lam * (tlast - fit["xmean"]))
        aucinf_obs = auclast + clast / lam
        aucinf_pred = auclast + clast_pred / lam
        aucpext = 100.0 * (aucinf_obs - auclast) / aucinf_obs
        aumcinf_obs = aumclast + clast * tlast / lam + clast / lam**2
        mrt = aumcinf_obs / aucinf_obs
        cl = doses / aucinf_obs
        vz = doses / (lam * aucinf_obs)
        vss = mrt * cl if route == "iv_bolus" else np.full(n_patients, np.nan)

    nan = np.full(n_patients, np.nan)
    if tau is not None:
        interval = _interval(t, c, n, ilast, auc_seg, lam, float(tau))
        cmin, ctrough, auctau = interval["cmin"], interval["ctrough"], interval["auctau"]
        with np.errstate(divide="ignore", invalid="ignore"):
            cavg = auctau / tau
            fluctuation = 100.0 * (interval["cmax_tau"] - cmin) / cavg
            swing = 100.0 * (interval["cmax_tau"] - cmin) / cmin
    else:
        cmin = np.where(has_data, np.where(np.isfinite(c), c, np.inf).min(axis=1), np.nan)
        ctrough, auctau, cavg, fluctuation, swing = nan, nan, nan, nan, nan

    with np.errstate(invalid="ignore"):
        flags = {
            "flag_lambda_z_r2": ~(fit["adj"] >= 0.9),
            "flag_span_ratio": ~(span_ratio >= 2.0),
            "flag_aucpext": ~(aucpext <= 20.0),
        }

    values = {
        "cmax": cmax, "tmax": tmax, "clast": clast, "tlast": tlast, "auclast": auclast,
        "aucinf_obs": aucinf_obs, "aucinf_pred": aucinf_pred, "aucpext_obs": aucpext, "aumclast": aumclast,
        "aumcinf_obs": aumcinf_obs, "mrt_obs": mrt, "lambda_z": lam, "lambda_z_r2": fit["r2"],
        "lambda_z_adj_r2": fit["adj"], "lambda_z_n_points": fit["n_points"], "lambda_z_span_ratio": span_ratio,
        "half_life": half_life, "cl_obs": cl, "vz_obs": vz, "vss_obs": vss, "cmin": cmin, "ctrough": ctrough,
        "auctau": auctau, "cavg": cavg, "fluctuation": fluctuation, "swing": swing,
    }
    unit = _units(time_unit, conc_unit, dose_units if dose is not None else None)
    descriptions = {
        "cl_obs": "CL = dose / aucinf_obs (CL/F for extravascular)" if route == "extravascular"
        else "CL = dose / aucinf_obs",
        "vz_obs": "Vz = dose / (lambda_z * aucinf_obs) (Vz/F for extravascular)" if route == "extravascular"
        else "Vz = dose / (lambda_z * aucinf_obs)",
        "vss_obs": "Vss = mrt_obs * cl_obs (iv_bolus only)",
        "mrt_obs": "MRT = aumcinf_obs / aucinf_obs",
        "aucpext_obs": "percentage of aucinf_obs extrapolated beyond tlast",
        "ctrough": "concentration observed at t = tau (NaN without tau or without a sample at tau)",
        "fluctuation": "100 * (Cmax over [0, tau] - cmin) / cavg",
        "lambda_z_n_points": "points in the terminal-slope fit (0: no fit)",
    }
    data_vars = {}
    for name, value in values.items():
        attrs = {}
        if unit.get(name):
            attrs["units"] = unit[name]
        if name in descriptions:
            attrs["description"] = descriptions[name]
        data_vars[name] = ("patient", value, attrs)
    for name, value in flags.items():
        data_vars[name] = ("patient", value, {"units": "1"})
    data_vars["lambda_z_exclude_tmax"] = ("patient", np.full(n_patients, bool(lambda_z_exclude_tmax)), {})
    data_vars["dose"] = ("patient", doses, {"units": dose_units} if dose is not None else {})

    result = xr.Dataset(
        data_vars,
        coords={"patient": ids},
        attrs={
            "route": route,
            "tau": float(tau) if tau is not None else "none",
            "auc_method": "linear-up/log-down",
            "lambda_z_min_points": int(lambda_z_min_points),
            "lambda_z_adj_r2_factor": float(lambda_z_adj_r2_factor),
            "lambda_z_exclude_tmax": int(bool(lambda_z_exclude_tmax)),
            "conventions": "PKNCA",
        },
    )
    if single:
        result = result.isel(patient=0, drop=True)
    return result
