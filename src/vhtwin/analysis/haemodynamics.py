"""Haemodynamic indices per patient and per beat from a simulated (or measured) circulation.

:func:`haemodynamics` cuts the time axis of a Dataset into beats -- consecutive windows of a given period, or
between given beat start times -- and returns, per patient and beat,

========== ========= =================================================================================
name       unit      definition
========== ========= =================================================================================
HR         min-1     heart rate, 60 s / beat duration
EDV        mL        end-diastolic volume: the largest ventricular volume in the beat
ESV        mL        end-systolic volume: the smallest ventricular volume in the beat
SV         mL        stroke volume, EDV - ESV
EF         1         ejection fraction, SV / EDV
CO         L min-1   cardiac output, SV * HR / 1000
SBP        mmHg      systolic pressure: the largest arterial pressure in the beat
DBP        mmHg      diastolic pressure: the smallest arterial pressure in the beat
MAP        mmHg      mean arterial pressure: the time average of the arterial pressure over the beat
PP         mmHg      pulse pressure, SBP - DBP
========== ========= =================================================================================

The indices of each beat are computed by :func:`vhtwin.analysis.beat_indices`, the implementation circulation
calibration uses too. Extremes are taken over the output samples inside the beat (a coarse output grid misses the
true peaks; sample at a few ms for a 1 s beat); the mean is the trapezoidal time average over the beat, with the
values at the beat's edges interpolated linearly. Only beats that the output grid covers completely are returned.
The variable names are keywords (defaults ``V_lv`` and ``P_ao``, those of ``cardio/smith2004``); any ventricle and
artery work (``volume="V_rv", pressure="P_pa"`` for the right heart).

:func:`steady_state_haemodynamics` gives the same indices at periodic steady state: those of the last complete beat
of a long simulation, with the beat-to-beat change (the largest relative change of the indices between the last two
beats) and whether it is below a tolerance. It does not run anything; simulate enough beats first (or start from a
periodic steady state found by other means).
"""

from __future__ import annotations

import numbers

import numpy as np
import xarray as xr

from ..errors import InputError
from ..units import TIME_UNITS
from .haemodynamic_indices import beat_indices

__all__ = ["INDICES", "haemodynamics", "steady_state_haemodynamics"]

#: Index name -> (unit, long name). Pressure and volume units are read from the Dataset when it declares them.
INDICES = {
    "HR": ("min-1", "heart rate"),
    "EDV": ("mL", "end-diastolic volume"),
    "ESV": ("mL", "end-systolic volume"),
    "SV": ("mL", "stroke volume (EDV - ESV)"),
    "EF": ("1", "ejection fraction (SV / EDV)"),
    "CO": ("L min-1", "cardiac output (SV * HR)"),
    "SBP": ("mmHg", "systolic arterial pressure (maximum over the beat)"),
    "DBP": ("mmHg", "diastolic arterial pressure (minimum over the beat)"),
    "MAP": ("mmHg", "mean arterial pressure (time average over the beat)"),
    "PP": ("mmHg", "pulse pressure (SBP - DBP)"),
}


def _edges(times: np.ndarray, period, beat_starts, t_start) -> np.ndarray:
    """Beat edges (n_beats + 1,) fully inside the output grid."""
    t0, t1 = float(times[0]), float(times[-1])
    span = 1e-9 * max(1.0, abs(t1))
    if (period is None) == (beat_starts is None):
        raise InputError("give either period (the beat period, in the Dataset's time unit) or beat_starts")
    if period is not None:
        if isinstance(period, bool) or not isinstance(period, numbers.Real) or not np.isfinite(period) or period <= 0:
            raise InputError(f"period {period!r} must be a finite number > 0 (the beat period)")
        start = t0 if t_start is None else float(t_start)
        n = int(np.floor((t1 - start) / period + 1e-9))
        first = max(0, int(np.ceil((t0 - start) / period - 1e-9)))
        edges = start + period * np.arange(first, n + 1)
    else:
        edges = np.asarray(beat_starts, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or not np.all(np.isfinite(edges)):
            raise InputError("beat_starts must be a strictly increasing 1-D array of at least two times (the last one "
                             "ends the last beat)")
    edges = edges[(edges >= t0 - span) & (edges <= t1 + span)]
    if edges.size < 2:
        raise InputError(f"the output times ({t0:g} to {t1:g}) do not cover one whole beat")
    return edges


def _interp_rows(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation along the last axis of ``values`` (..., T) at the times ``at`` (K,) -> (..., K)."""
    i = np.clip(np.searchsorted(times, at, side="right") - 1, 0, times.size - 2)
    w = (at - times[i]) / (times[i + 1] - times[i])
    return values[..., i] * (1.0 - w) + values[..., i + 1] * w


def _per_beat(times, volume, pressure, edges, duration_s) -> dict:
    """Every index per beat (:func:`vhtwin.analysis.beat_indices`), each (P, K): the samples inside a
    beat plus its edges, interpolated linearly."""
    n_beats = edges.size - 1
    v_edges, p_edges = _interp_rows(times, volume, edges), _interp_rows(times, pressure, edges)
    per = []
    for k in range(n_beats):
        a, b = edges[k], edges[k + 1]
        inside = (times > a) & (times < b)
        t = np.concatenate([[a], times[inside], [b]])
        segment = lambda x, at: np.concatenate([at[..., k : k + 1], x[..., inside], at[..., k + 1 : k + 2]], axis=-1)
        per.append(beat_indices(duration_s[k], volume=segment(volume, v_edges), pressure=segment(pressure, p_edges),
                                times=t))
    shape = volume.shape[:-1] + (n_beats,)
    return {name: np.broadcast_to(np.stack([np.asarray(x[name], float) for x in per], axis=-1), shape)
            for name in INDICES}


def haemodynamics(
    ds: xr.Dataset,
    *,
    period: float | None = None,
    beat_starts=None,
    t_start: float | None = None,
    volume: str = "V_lv",
    pressure: str = "P_ao",
) -> xr.Dataset:
    """Haemodynamic indices per patient and beat (see the module docstring for the list and definitions).

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`vhtwin.simulate` result (dims ``("patient", "time")`` or ``("time",)``) holding ``volume`` and
        ``pressure``. Its ``time_unit`` attribute (default ``"s"``) converts beat durations to a heart rate.
    period : float, optional
        Beat period in the Dataset's time unit; beats start at ``t_start`` (default: the first output time) and
        repeat every ``period``. Give this or ``beat_starts``.
    beat_starts : array_like, optional
        Start times of consecutive beats, the last entry ending the last beat.
    t_start : float, optional
        Start of the first beat with ``period`` (e.g. 0 when the output grid starts mid-beat).
    volume, pressure : str
        The ventricular volume and the arterial pressure variables (defaults for ``cardio/smith2004``).

    Returns
    -------
    xarray.Dataset
        Variables HR, EDV, ESV, SV, EF, CO, SBP, DBP, MAP, PP with dims ``("patient", "beat")`` (or ``("beat",)``)
        and ``units`` attributes, and coordinates ``beat_start`` / ``beat_end`` along ``beat``.
    """
    for name in (volume, pressure):
        if name not in ds:
            raise InputError(f"variable {name!r} is not in the Dataset; it has {sorted(ds.data_vars)}")
    if "time" not in ds.dims:
        raise InputError("the Dataset has no 'time' dimension")
    times = np.asarray(ds["time"].values, dtype=float)
    if times.ndim != 1 or times.size < 2 or np.any(np.diff(times) <= 0):
        raise InputError("haemodynamics needs a shared, strictly increasing time grid")
    unit = ds.attrs.get("time_unit", "s")
    if unit not in TIME_UNITS:
        raise InputError(f"time_unit {unit!r} is not one of {sorted(TIME_UNITS)}")
    edges = _edges(times, period, beat_starts, t_start)

    def rows(name):
        da = ds[name]
        other = [d for d in da.dims if d != "time"]
        return da.transpose(*other, "time").values.astype(float), other, da

    v, lead, v_da = rows(volume)
    p, _, p_da = rows(pressure)
    values = _per_beat(times, v, p, edges, np.diff(edges) * TIME_UNITS[unit])
    v_unit, p_unit = v_da.attrs.get("units", "mL"), p_da.attrs.get("units", "mmHg")
    dims = (*lead, "beat")
    out = {}
    for name, data in values.items():
        unit_, long_name = INDICES[name]
        if name in ("EDV", "ESV", "SV"):
            unit_ = v_unit
        elif name in ("SBP", "DBP", "MAP", "PP"):
            unit_ = p_unit
        out[name] = xr.DataArray(np.array(data), dims=dims, attrs={"units": unit_, "long_name": long_name})
    coords = {
        "beat": np.arange(edges.size - 1),
        "beat_start": ("beat", edges[:-1], {"units": unit}),
        "beat_end": ("beat", edges[1:], {"units": unit}),
    }
    for d in lead:
        if d in ds.coords:
            coords[d] = ds.coords[d].values
    return xr.Dataset(
        out, coords=coords,
        attrs={"volume": volume, "pressure": pressure, "time_unit": unit,
               "definitions": "extremes over the output samples of each beat; MAP = trapezoidal time average"},
    )


def steady_state_haemodynamics(
    ds: xr.Dataset,
    *,
    period: float | None = None,
    beat_starts=None,
    t_start: float | None = None,
    volume: str = "V_lv",
    pressure: str = "P_ao",
    rtol: float = 1e-3,
) -> xr.Dataset:
    """The haemodynamic indices of the last complete beat, with the beat-to-beat change and a convergence flag.

    Arguments as for :func:`haemodynamics`; the Dataset must cover at least two beats. ``beat_to_beat_change`` is
    the largest relative change, over SV, EDV, ESV, SBP, DBP and MAP, between the last two beats (relative to the
    last beat's value); ``converged`` is ``beat_to_beat_change <= rtol``. The indices of a patient whose last beats
    still change more than ``rtol`` are returned all the same, flagged ``converged = False``: simulate longer.
    """
    if not (isinstance(rtol, numbers.Real) and rtol > 0):
        raise InputError(f"rtol {rtol!r} must be a number > 0")
    beats = haemodynamics(ds, period=period, beat_starts=beat_starts, t_start=t_start, volume=volume, pressure=pressure)
    if beats.sizes["beat"] < 2:
        raise InputError("steady_state_haemodynamics needs at least two complete beats")
    last, before = beats.isel(beat=-1), beats.isel(beat=-2)
    change = xr.concat(
        [abs(last[k] - before[k]) / abs(last[k]) for k in ("SV", "EDV", "ESV", "SBP", "DBP", "MAP")], dim="index"
    ).max("index")
    out = last.drop_vars("beat")
    out["beat_to_beat_change"] = change.assign_attrs(units="1", long_name="largest relative change over the last two beats")
    out["converged"] = (change <= rtol).assign_attrs(long_name=f"beat-to-beat change <= {rtol:g}")
    out.attrs.update(beats.attrs, rtol=float(rtol))
    return out
