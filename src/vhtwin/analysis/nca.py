"""Non-compartmental analysis (NCA) of concentration-time data, following PKNCA's conventions.

The analysis runs on the host with numpy, vectorised over patients: the only Python loop is over the candidate
numbers of points for the terminal slope, which is bounded by the number of samples. Reading the input lives in
:mod:`vhtwin.analysis.nca_input`.

Conventions (PKNCA, Denney et al., the open reference; the IV-bolus back-extrapolation as PKNCA's
``pk.calc.c0`` and Phoenix WinNonlin):

* **Two scopes.** The terminal phase -- lambda_z, its fit diagnostics, half-life, span ratio and their flags -- is
  a property of the *profile*: it is fitted on every sample given, whatever interval is asked, so two analyses of
  the same patient with different ``start``/``tau`` give the same half-life. Everything else is computed over the
  analysed *interval*: from the dose at ``start`` (default time 0; without ``start`` and ``tau`` from the first
  sample) to ``start + tau`` (without ``tau`` to the last sample). Times reported (Tmax, Tlast) are after the dose.
* AUC and AUMC by linear-up/log-down trapezoids: the log trapezoid on an interval where the concentration
  decreases and both ends are positive, the linear trapezoid otherwise. Zeros before the first positive
  concentration are included. AUClast and AUMClast run from the first sample to Tlast, the time of the last
  positive concentration.
* Cmax is the largest observed concentration, Tmax the *first* time it is observed.
* lambda_z by ordinary least squares of log(concentration) on time over the last k positive samples after Tmax
  of the profile (Tmax itself excluded unless ``lambda_z_exclude_tmax=False``), k = ``lambda_z_min_points``
  upwards. The fit with the largest adjusted R² is taken; among fits whose adjusted R² exceeds the best minus
  ``lambda_z_adj_r2_factor`` (1e-4), the one with the most points. A fit is only accepted with lambda_z > 0;
  otherwise lambda_z is NaN.
* **IV bolus** (``route="iv_bolus"``): the concentration at the dose time is the value just *before* the dose (the
  left limit vhtwin's simulations report, and what NONMEM records for an observation at a dose time), so it is
  never C0. C0 is back-extrapolated to the dose time as PKNCA's ``pk.calc.c0`` (``R/pk.calc.c0.R`` of
  github.com/humanpred/pknca) does after its ``c0`` method: ``logslope`` -- log-linear through the first two
  measured concentrations after the dose when the second is positive and lower than the first -- else ``c1``, the
  first measured concentration after the dose. AUC and AUMC then start at (dose time, C0) (PKNCA's
  ``aucivlast``/``aumcivlast``); Cmax, Tmax, Cmin and Ctrough stay observed.
* **IV infusion** (``route="iv_infusion"``, ``duration`` given): MRT = AUMC/AUC − duration/2.
* AUCinf,obs = AUClast + Clast/lambda_z; AUCinf,pred = AUClast + Clast,pred/lambda_z with Clast,pred the fitted
  concentration at Tlast; AUMCinf,obs = AUMClast + Clast·Tlast/lambda_z + Clast/lambda_z².
* MRT,obs = AUMCinf,obs / AUCinf,obs (minus half the infusion duration); CL,obs = dose / AUCinf,obs (CL/F for an
  extravascular dose); Vz,obs = dose / (lambda_z · AUCinf,obs) (Vz/F); Vss,obs = MRT,obs · CL,obs for an IV bolus
  or infusion (NaN for an extravascular dose, where it is not a volume).
* With a dosing interval ``tau`` (dose at ``start``, interval [start, start + tau]): Ctrough is the concentration
  observed at exactly start + tau (NaN when there is no sample there, as PKNCA), Cmin the smallest concentration in
  the interval, AUCtau by the same trapezoids (interpolating inside an interval with the next sample, extrapolating
  with lambda_z beyond Tlast), Cavg = AUCtau/tau, fluctuation = 100·(Cmax − Cmin)/Cavg and swing = 100·(Cmax −
  Cmin)/Cmin. Without ``tau`` Cmin is the smallest observed concentration and Ctrough, AUCtau, Cavg, fluctuation
  and swing are NaN.
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
from .nca_input import doses_per_patient, from_dataarray, from_table, pack_left

__all__ = ["nca", "ROUTES", "PROFILE_QUANTITIES"]

#: Routes of administration this function knows.
ROUTES = ("extravascular", "iv_bolus", "iv_infusion")

#: Quantities of the whole profile's terminal phase; every other result is over the analysed interval.
PROFILE_QUANTITIES = ("lambda_z", "lambda_z_r2", "lambda_z_adj_r2", "lambda_z_n_points", "lambda_z_span_ratio",
                      "half_life", "flag_lambda_z_r2", "flag_span_ratio")

#: Times closer than this (time units) to the interval's ends count as on them (as vhtwin's trial summaries).
TIME_TOLERANCE = 1e-9


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


def back_extrapolated_c0(t: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """C0 of an IV bolus given at time 0 from the samples after it (PKNCA's ``logslope``, then ``c1``).

    Parameters
    ----------
    t, c : numpy.ndarray
        Times after the dose and concentrations, shape (patient, sample), NaN for padding or a missing sample.
        Samples at or before time 0 are ignored: at the dose time the value is the pre-dose one.

    Returns
    -------
    c0 : numpy.ndarray
        Per patient: ``C1 · (C1/C2)^(t1/(t2 − t1))`` through the first two measured concentrations after the dose
        when ``0 < C2 < C1``; else ``C1``; NaN without a measured concentration after the dose.
    log_linear : numpy.ndarray of bool
        True where the log-linear back-extrapolation was used.
    """
    after = np.isfinite(t) & np.isfinite(c) & (t > 0)
    rank = np.cumsum(after, axis=1)
    rows = np.arange(c.shape[0])
    first = np.argmax(after & (rank == 1), axis=1)
    second = np.argmax(after & (rank == 2), axis=1)
    t1, c1, t2, c2 = t[rows, first], c[rows, first], t[rows, second], c[rows, second]
    log_linear = (rank[:, -1] >= 2) & (c2 < c1) & (c2 > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        extrapolated = c1 * np.exp(np.log(c1 / c2) * t1 / (t2 - t1))
    c0 = np.where(log_linear, extrapolated, np.where(rank[:, -1] >= 1, c1, np.nan))
    return c0, log_linear


def _after_bolus(t: np.ndarray, c: np.ndarray, c0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The profile an IV bolus AUC integrates: (0, C0) followed by the samples after the dose."""
    keep = np.isfinite(t) & (t > 0)
    t, c, _ = pack_left(np.where(keep, t, np.nan), np.where(keep, c, np.nan))
    zero = np.where(np.isfinite(c0), 0.0, np.nan)[:, None]
    return np.concatenate([zero, t], axis=1), np.concatenate([c0[:, None], c], axis=1)


def _areas(t: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """AUClast, AUMClast, the per-interval AUCs and the index of the last positive concentration."""
    n_patients, width = c.shape
    ilast = _last_positive(c)
    if width < 2:
        return np.zeros(n_patients), np.zeros(n_patients), np.zeros((n_patients, 0)), ilast
    auc_seg, aumc_seg = _segments(t, c)
    upto = np.arange(1, width)[None, :] <= ilast[:, None]
    return np.where(upto, auc_seg, 0.0).sum(axis=1), np.where(upto, aumc_seg, 0.0).sum(axis=1), auc_seg, ilast


def _interval_concentrations(t: np.ndarray, c: np.ndarray, tau: float) -> dict[str, np.ndarray]:
    """Ctrough (observed at exactly t = tau) and Cmin over [0, tau], from observed samples."""
    inside = np.isfinite(t) & (t >= 0) & (t <= tau)
    with np.errstate(invalid="ignore"):
        cmin = np.where(inside.any(1), np.where(inside, c, np.inf).min(1), np.nan)
        at_tau = np.isfinite(t) & np.isclose(t, tau, rtol=1e-12, atol=1e-12)
    ctrough = np.where(at_tau.any(1), np.where(at_tau, c, 0.0).sum(1), np.nan)
    return {"ctrough": ctrough, "cmin": cmin}


def _auc_to_tau(
    t: np.ndarray, c: np.ndarray, n: np.ndarray, ilast: np.ndarray, auc_seg: np.ndarray, lambda_z: np.ndarray,
    tau: float,
) -> np.ndarray:
    """AUC from 0 to tau: whole intervals up to the sample at or before tau, a partial interval, or extrapolation."""
    n_patients, width = c.shape
    pick = np.arange(n_patients)
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
    return np.where((j >= 0) & starts_at_zero & (n > 0), auc, np.nan)


def _from_dose(
    t: np.ndarray, c: np.ndarray, dose_time: float, first: float, tau: float | None,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Samples from ``first`` on and those inside the interval, both with times after the dose, packed left.

    The first set lets AUCtau interpolate with the sample after tau; the second is the interval itself.
    """
    after = np.isfinite(t) & (t >= first - TIME_TOLERANCE)
    rel = np.where(after, t - dose_time, np.nan)
    rel[np.abs(rel) <= TIME_TOLERANCE] = 0.0  # a sample at the dose time is exactly at 0
    if tau is not None:
        rel[np.abs(rel - tau) <= TIME_TOLERANCE] = tau
    following = pack_left(rel, np.where(after, c, np.nan))
    if tau is None:
        return following, following
    inside = np.isfinite(following[0]) & (following[0] <= tau)
    interval = pack_left(np.where(inside, following[0], np.nan), np.where(inside, following[1], np.nan))
    return following, interval


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
        "cmax": conc, "tmax": time, "clast": conc, "tlast": time, "c0": conc, "cmin": conc, "ctrough": conc,
        "cavg": conc,
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


def _check_settings(route: str, start: Any, tau: Any, duration: Any, min_points: Any, factor: Any) -> None:
    """Refuse a bad setting in one sentence naming it, its value and what is allowed."""
    if route not in ROUTES:
        raise InputError(f"route: {route!r} is not allowed; use one of {list(ROUTES)}")
    if isinstance(min_points, bool) or not isinstance(min_points, (int, np.integer)) or min_points < 3:
        raise InputError(f"lambda_z_min_points: {min_points!r} is not allowed; use an integer >= 3")
    if not (np.isfinite(factor) and factor >= 0):
        raise InputError(f"lambda_z_adj_r2_factor: {factor!r} is not allowed; use a number >= 0")
    if tau is not None and not (isinstance(tau, (int, float, np.number)) and np.isfinite(tau) and tau > 0):
        raise InputError(f"tau: {tau!r} is not allowed; use a positive dosing interval or None")
    if start is not None and not (isinstance(start, (int, float, np.number)) and np.isfinite(start)):
        raise InputError(f"start: {start!r} is not allowed; use the time of the dose (a finite number) or None")
    if route == "iv_infusion":
        if duration is None or not (isinstance(duration, (int, float, np.number)) and np.isfinite(duration)
                                    and duration > 0):
            raise InputError(f"duration: {duration!r} is not allowed with route='iv_infusion'; give the infusion "
                             "duration as a positive number in time units")
    elif duration is not None:
        raise InputError(f"duration: {duration!r} is only used with route='iv_infusion', not route={route!r}; "
                         "leave it None")


def nca(
    conc: xr.DataArray | pd.DataFrame | Mapping[str, Any],
    dose: float | np.ndarray | pd.Series | Mapping[Any, float] | None = None,
    *,
    route: str = "extravascular",
    start: float | None = None,
    tau: float | None = None,
    duration: float | None = None,
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
        times. Units of a DataFrame may be given in ``frame.attrs["time_units"]`` / ``["conc_units"]``. Give the
        whole profile: the terminal phase is fitted on all of it, whatever ``start`` and ``tau`` select.
    dose
        The dose given at ``start``: a scalar for every patient, an array aligned with the patients (DataArray
        order, or order of first appearance of the ids in a table), or a Series/mapping from id to dose. ``None``
        leaves CL, Vz and Vss NaN.
    route
        ``"extravascular"`` (default; CL and Vz are CL/F and Vz/F, no Vss), ``"iv_bolus"`` (C0 back-extrapolated to
        the dose time and used by AUC, AUMC, MRT, CL, Vz and Vss) or ``"iv_infusion"`` (needs ``duration``; MRT
        corrected by duration/2).
    start
        Time of the dose that opens the analysed interval (time units). Default: the dose at time 0, and without
        ``tau`` every sample is analysed.
    tau
        Dosing interval (time units): the interval is [start, start + tau] and Ctrough, Cmin, AUCtau, Cavg,
        fluctuation and swing are reported.
    duration
        Infusion duration (time units), with ``route="iv_infusion"`` only.
    lambda_z_min_points
        The smallest number of points in a terminal-slope fit (>= 3).
    lambda_z_adj_r2_factor
        Fits whose adjusted R² is within this of the best count as ties; the one with most points wins.
    lambda_z_exclude_tmax
        Exclude the sample at Tmax from the terminal-slope fit (PKNCA's default; Phoenix WinNonlin includes it after
        an IV bolus).
    time_units, conc_units, dose_units
        Override the units read from the input (used only to label the result; nothing is converted).

    Returns
    -------
    xarray.Dataset
        One variable per NCA parameter over ``patient`` (the ids for a table; dropped for a 1-D DataArray), each
        with a ``units`` attribute where it can be derived and ``computed_over`` (``"profile"`` for the terminal
        phase, ``"interval"`` for the rest). See the module docstring for the definitions and the ``attrs`` of the
        result for the settings used.

    Raises
    ------
    InputError
        Times not strictly increasing within a patient, negative concentrations, a dose array of the wrong length,
        missing table columns, an unknown route or bad settings.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> t = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    >>> c = xr.DataArray(10.0 * np.exp(-0.3 * t), dims="time", coords={"time": t}, attrs={"units": "mg L-1"})
    >>> round(float(nca(c, 100.0, route="iv_bolus").c0), 6)
    10.0
    """
    _check_settings(route, start, tau, duration, lambda_z_min_points, lambda_z_adj_r2_factor)
    if isinstance(conc, xr.DataArray):
        ids, t, c, units, single = from_dataarray(conc)
    else:
        ids, t, c, units, single = from_table(conc)
    with np.errstate(invalid="ignore"):
        negative = c < 0
    if np.any(negative):
        p, j = np.argwhere(negative)[0]
        raise InputError(
            f"conc: concentrations must be >= 0; patient {ids.tolist()[p]!r} has {c[p, j]:g} at time {t[p, j]:g}"
        )
    doses = doses_per_patient(dose, ids)
    time_unit = time_units or units["time"] or "h"
    conc_unit = conc_units or units["conc"]
    tau = None if tau is None else float(tau)
    dose_time = 0.0 if start is None else float(start)

    # The terminal phase of the whole profile, on absolute times.
    t, c, _ = pack_left(t, c)
    n_patients, width = c.shape
    pick = np.arange(n_patients)
    profile_imax = np.argmax(np.where(np.isfinite(c), c, -np.inf), axis=1)
    profile_ilast = _last_positive(c)
    fit = _lambda_z(t, c, profile_imax, profile_ilast, int(lambda_z_min_points), float(lambda_z_adj_r2_factor),
                    bool(lambda_z_exclude_tmax))
    lam = fit["lambda_z"]
    profile_tlast = np.where(profile_ilast >= 0, t[pick, np.clip(profile_ilast, 0, width - 1)], np.nan)

    # The analysed interval, on times after the dose.
    first = dose_time if (start is not None or tau is not None) else -np.inf
    (tf, cf, nf), (tw, cw, nw) = _from_dose(t, c, dose_time, first, tau)
    has_data = nw > 0
    iw = np.arange(cw.shape[0])
    imax = np.argmax(np.where(np.isfinite(cw), cw, -np.inf), axis=1)
    cmax = np.where(has_data, cw[iw, imax], np.nan)
    tmax = np.where(has_data, tw[iw, imax], np.nan)
    ilast = _last_positive(cw)
    found = ilast >= 0
    tlast = np.where(found, tw[iw, np.clip(ilast, 0, cw.shape[1] - 1)], np.nan)
    clast = np.where(found, cw[iw, np.clip(ilast, 0, cw.shape[1] - 1)], np.where(has_data, 0.0, np.nan))

    c0 = np.full(n_patients, np.nan)
    if route == "iv_bolus":
        c0, _ = back_extrapolated_c0(tw, cw)
        tw_auc, cw_auc = _after_bolus(tw, cw, c0)
        tf_auc, cf_auc = _after_bolus(tf, cf, c0)
        nf_auc = np.sum(np.isfinite(tf_auc) & np.isfinite(cf_auc), axis=1)
    else:
        tw_auc, cw_auc, tf_auc, cf_auc, nf_auc = tw, cw, tf, cf, nf
    auclast, aumclast, _, _ = _areas(tw_auc, cw_auc)
    auclast = np.where(has_data, auclast, np.nan)
    aumclast = np.where(has_data, aumclast, np.nan)

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        half_life = np.log(2.0) / lam
        span_ratio = (profile_tlast - fit["tfirst"]) / half_life
        clast_pred = np.exp(fit["ymean"] - lam * (tlast + dose_time - fit["xmean"]))
        aucinf_obs = auclast + clast / lam
        aucinf_pred = auclast + clast_pred / lam
        aucpext = 100.0 * (aucinf_obs - auclast) / aucinf_obs
        aumcinf_obs = aumclast + clast * tlast / lam + clast / lam**2
        mrt = aumcinf_obs / aucinf_obs - (0.5 * float(duration) if route == "iv_infusion" else 0.0)
        cl = doses / aucinf_obs
        vz = doses / (lam * aucinf_obs)
        vss = mrt * cl if route != "extravascular" else np.full(n_patients, np.nan)

    nan = np.full(n_patients, np.nan)
    if tau is not None:
        observed = _interval_concentrations(tf, cf, tau)
        cmin, ctrough = observed["cmin"], observed["ctrough"]
        _, _, seg, ilast_f = _areas(tf_auc, cf_auc)
        auctau = _auc_to_tau(tf_auc, cf_auc, nf_auc, ilast_f, seg, lam, tau)
        with np.errstate(divide="ignore", invalid="ignore"):
            cavg = auctau / tau
            fluctuation = 100.0 * (cmax - cmin) / cavg
            swing = 100.0 * (cmax - cmin) / cmin
    else:
        cmin = np.where(has_data, np.where(np.isfinite(cw), cw, np.inf).min(axis=1), np.nan)
        ctrough, auctau, cavg, fluctuation, swing = nan, nan, nan, nan, nan

    with np.errstate(invalid="ignore"):
        flags = {
            "flag_lambda_z_r2": ~(fit["adj"] >= 0.9),
            "flag_span_ratio": ~(span_ratio >= 2.0),
            "flag_aucpext": ~(aucpext <= 20.0),
        }

    values = {
        "cmax": cmax, "tmax": tmax, "clast": clast, "tlast": tlast, "c0": c0, "auclast": auclast,
        "aucinf_obs": aucinf_obs, "aucinf_pred": aucinf_pred, "aucpext_obs": aucpext, "aumclast": aumclast,
        "aumcinf_obs": aumcinf_obs, "mrt_obs": mrt, "lambda_z": lam, "lambda_z_r2": fit["r2"],
        "lambda_z_adj_r2": fit["adj"], "lambda_z_n_points": fit["n_points"], "lambda_z_span_ratio": span_ratio,
        "half_life": half_life, "cl_obs": cl, "vz_obs": vz, "vss_obs": vss, "cmin": cmin, "ctrough": ctrough,
        "auctau": auctau, "cavg": cavg, "fluctuation": fluctuation, "swing": swing,
    }
    unit = _units(time_unit, conc_unit, dose_units if dose is not None else None)
    descriptions = _descriptions(route)
    data_vars = {}
    for name, value in values.items():
        attrs = {"units": unit[name]} if unit.get(name) else {}
        if name in descriptions:
            attrs["description"] = descriptions[name]
        attrs["computed_over"] = "profile" if name in PROFILE_QUANTITIES else "interval"
        data_vars[name] = ("patient", value, attrs)
    for name, value in flags.items():
        data_vars[name] = ("patient", value,
                           {"units": "1", "computed_over": "profile" if name in PROFILE_QUANTITIES else "interval"})
    data_vars["lambda_z_exclude_tmax"] = ("patient", np.full(n_patients, bool(lambda_z_exclude_tmax)), {})
    data_vars["dose"] = ("patient", doses, {"units": dose_units} if dose is not None else {})

    result = xr.Dataset(
        data_vars,
        coords={"patient": ids},
        attrs={
            "route": route,
            "start": dose_time if start is not None else "none",
            "tau": tau if tau is not None else "none",
            "duration": float(duration) if duration is not None else "none",
            "auc_method": "linear-up/log-down",
            "c0_method": "logslope, else c1 (PKNCA pk.calc.c0)" if route == "iv_bolus" else "none",
            "lambda_z_min_points": int(lambda_z_min_points),
            "lambda_z_adj_r2_factor": float(lambda_z_adj_r2_factor),
            "lambda_z_exclude_tmax": int(bool(lambda_z_exclude_tmax)),
            "lambda_z_scope": "whole profile",
            "conventions": "PKNCA",
        },
    )
    if single:
        result = result.isel(patient=0, drop=True)
    return result


def _descriptions(route: str) -> dict[str, str]:
    extravascular = route == "extravascular"
    return {
        "c0": "concentration back-extrapolated to the dose time (iv_bolus only)",
        "cl_obs": "CL = dose / aucinf_obs" + (" (CL/F for extravascular)" if extravascular else ""),
        "vz_obs": "Vz = dose / (lambda_z * aucinf_obs)" + (" (Vz/F for extravascular)" if extravascular else ""),
        "vss_obs": "Vss = mrt_obs * cl_obs (iv_bolus and iv_infusion only)",
        "mrt_obs": "MRT = aumcinf_obs / aucinf_obs" + (" - duration / 2" if route == "iv_infusion" else ""),
        "aucpext_obs": "percentage of aucinf_obs extrapolated beyond tlast",
        "ctrough": "concentration observed at t = start + tau (NaN without tau or without a sample there)",
        "fluctuation": "100 * (cmax - cmin) / cavg over the interval",
        "lambda_z_n_points": "points in the terminal-slope fit (0: no fit)",
        "half_life": "ln 2 / lambda_z, terminal phase of the whole profile",
    }
