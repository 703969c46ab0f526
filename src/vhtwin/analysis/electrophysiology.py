"""Action-potential biomarkers from sampled membrane potentials: APD90/APD50, resting and peak potential, maximal
upstroke velocity, calcium-transient amplitude -- per patient and per beat, vectorised over patients.

Definitions (those of the common cardiac tools: openCARP's and Myokit's APD calculators measure from an activation
time to the last repolarisation crossing of a level; choose the activation time below):

- beat ``k`` is the window ``[s_k, s_{k+1})`` from its stimulus time ``s_k`` to the next one (the last beat: to
  ``s_k + period``, or to the end of the record);
- ``resting_potential``: V at the last sample at or before ``s_k`` -- the value just before the stimulus (vhtwin's
  outputs at an event time are the left limit);
- ``peak_voltage``: the largest sample in the beat;
- ``max_upstroke_velocity``: the largest difference quotient ``(V[i+1] - V[i]) / (t[i+1] - t[i])`` in the beat. It is
  computed from the samples, so it depends on the sampling: an upstroke of a fraction of a millisecond needs an
  output step well below that (a 0.1 ms grid underestimates a fast sodium upstroke several-fold). For the exact value
  evaluate the model's right-hand side at the sampled states instead;
- ``upstroke_time`` (the activation time that APDs are measured from): ``upstroke="max_dvdt"`` (default) takes the
  midpoint of that steepest sample interval; ``upstroke=<level>`` takes the first upward crossing of that absolute
  level in the beat, linearly interpolated (Myokit's threshold convention);
- ``apdXX`` for each ``XX`` in ``repolarisation``: from the upstroke to the *last* downward crossing, after the peak,
  of ``V_peak - XX/100 (V_peak - V_rest)``, linearly interpolated between the two samples around it;
- ``repolarised`` (per beat): V is below the deepest requested level at the end of the beat. Where it is not (the cell
  did not repolarise within the beat, or the record ends mid-beat) every APD of that beat is NaN;
- ``calcium_transient_amplitude`` (when ``calcium`` is given): the peak of the calcium trace in the beat minus its
  value just before the stimulus (diastolic), in the calcium trace's units.

A beat that was not excited (a failed stimulus) still gets numbers: its "APD" is the width of the sub-threshold bump.
Check ``peak_voltage - resting_potential`` against what an action potential means for your model.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import xarray as xr

__all__ = ["action_potential_biomarkers"]


def action_potential_biomarkers(
    v: xr.DataArray | xr.Dataset,
    *,
    beat_starts: Any = None,
    period: float | None = None,
    repolarisation: Sequence[float] = (90, 50),
    calcium: xr.DataArray | None = None,
    upstroke: str | float = "max_dvdt",
    variable: str | None = None,
) -> xr.Dataset:
    """Action-potential biomarkers per patient (and per beat) from a membrane-potential record.

    Parameters
    ----------
    v : xarray.DataArray or Dataset
        Membrane potential over ``time`` (dims ``("time",)`` or ``(..., "time")``, e.g. ``("patient", "time")``), on a
        shared, increasing time grid. A Dataset (e.g. from :func:`vhtwin.simulate`) is read at ``variable`` (default
        ``"Vm"`` if present, else ``"V"``, else ``"v"``).
    beat_starts : array_like, Pacing, or None
        Stimulus times (one per beat), or a :class:`vhtwin.Pacing` (its ``count`` stimuli). ``None``: the whole
        record is one beat whose resting potential is its first sample.
    period : float, optional
        Length of the last beat's window (and of every window if given). Default: the spacing of ``beat_starts``
        (from a Pacing: its period); the last beat of irregular starts runs to the end of the record.
    repolarisation : sequence of float
        Repolarisation percentages; each ``XX`` gives a variable ``apdXX`` (``90`` -> ``apd90``).
    calcium : xarray.DataArray, optional
        A calcium trace with the same dims and times as ``v``: adds ``calcium_transient_amplitude``.
    upstroke : "max_dvdt" or float
        Activation time: the steepest sampled interval (default) or the first upward crossing of this level.
    variable : str, optional
        The Dataset variable holding the potential.

    Returns
    -------
    xarray.Dataset
        ``apdXX``..., ``upstroke_time``, ``resting_potential``, ``peak_voltage``, ``max_upstroke_velocity``,
        ``repolarised`` (bool) and optionally ``calcium_transient_amplitude``, each with a ``units`` attribute, over
        the dims of ``v`` without ``time`` plus ``beat`` (with a ``beat_start`` coordinate) when there are several
        beats.
    """
    v = _potential(v, variable)
    if "time" not in v.dims:
        raise ValueError(f"action_potential_biomarkers: the potential needs a 'time' dimension, it has {v.dims}")
    t = np.asarray(v["time"].values, float)
    if t.ndim != 1 or t.size < 3 or not np.all(np.diff(t) > 0):
        raise ValueError("action_potential_biomarkers: 'time' must be a shared, strictly increasing grid of >= 3 points")
    t_unit = v["time"].attrs.get("units", "")
    v_unit = v.attrs.get("units", "")
    levels = [float(x) for x in repolarisation]
    if not levels or any(not 0 < x < 100 for x in levels):
        raise ValueError(f"repolarisation percentages must lie in (0, 100), got {list(repolarisation)}")

    starts, windows = _beats(beat_starts, period, t)
    other = [d for d in v.dims if d != "time"]
    V = v.transpose(*other, "time").values.reshape(-1, t.size).astype(float)
    Ca = None
    if calcium is not None:
        if not isinstance(calcium, xr.DataArray) or set(calcium.dims) != set(v.dims):
            raise ValueError(f"calcium must be a DataArray with the dims of the potential {v.dims}")
        if not np.array_equal(np.asarray(calcium["time"].values, float), t):
            raise ValueError("calcium must be sampled at the potential's times")
        Ca = calcium.transpose(*other, "time").values.reshape(-1, t.size).astype(float)

    per_beat = [_one_beat(V, Ca, t, s, end, levels, upstroke) for s, end in zip(starts, windows)]
    names = list(per_beat[0])
    shape = tuple(v.sizes[d] for d in other)
    several = beat_starts is not None and len(starts) > 1
    dims = tuple(other) + (("beat",) if several else ())
    coords = {d: v[d] for d in other if d in v.coords}
    if several:
        coords["beat"] = np.arange(len(starts))
        coords["beat_start"] = ("beat", np.asarray(starts), {"units": t_unit})
    velocity_unit = _rate_unit(v_unit, t_unit)
    units = {"upstroke_time": t_unit, "resting_potential": v_unit, "peak_voltage": v_unit,
             "max_upstroke_velocity": velocity_unit, "repolarised": "1",
             "calcium_transient_amplitude": calcium.attrs.get("units", "") if calcium is not None else ""}
    long = {
        "upstroke_time": "activation time: " + ("midpoint of the steepest sampled interval" if upstroke == "max_dvdt"
                                                else f"first upward crossing of {float(upstroke):g}"),
        "resting_potential": "potential just before the stimulus",
        "peak_voltage": "largest sampled potential in the beat",
        "max_upstroke_velocity": "largest sampled difference quotient dV/dt (depends on the output step)",
        "repolarised": "the potential fell below every repolarisation level before the beat ended",
        "calcium_transient_amplitude": "peak minus diastolic (pre-stimulus) calcium in the beat",
    }
    out = {}
    for name in names:
        values = np.stack([b[name] for b in per_beat], axis=-1)  # (n, beats)
        values = values.reshape(shape + (len(starts),))
        if not several:
            values = values[..., 0]
        if name.startswith("apd"):
            attrs = {"units": t_unit, "long_name": f"action potential duration at {name[3:]}% repolarisation, "
                                                  "from the upstroke to the last crossing (NaN if not repolarised)"}
        else:
            attrs = {"units": units[name], "long_name": long[name]}
        out[name] = xr.Variable(dims, values, attrs=attrs)
    ds = xr.Dataset(out, coords=coords)
    ds.attrs["upstroke"] = str(upstroke)
    return ds


def _potential(v, variable):
    if isinstance(v, xr.Dataset):
        if variable is None:
            variable = next((k for k in ("Vm", "V", "v") if k in v.data_vars), None)
            if variable is None:
                raise ValueError(f"action_potential_biomarkers: name the potential with variable=; the Dataset holds {list(v.data_vars)}")
        return v[variable]
    if not isinstance(v, xr.DataArray):
        raise TypeError(f"action_potential_biomarkers needs an xarray DataArray or Dataset, got {type(v).__name__}")
    return v


def _beats(beat_starts, period, t):
    """Beat start times and window ends."""
    end_of_record = t[-1] + 0.5 * (t[-1] - t[-2])  # the last sample belongs to the last beat
    if beat_starts is None:
        return [t[0]], [end_of_record if period is None else t[0] + period]
    if hasattr(beat_starts, "period") and hasattr(beat_starts, "count") and hasattr(beat_starts, "start"):
        p = beat_starts
        starts = [p.start + k * p.period for k in range(p.count)]
        period = p.period if period is None else period
    else:
        starts = [float(x) for x in np.atleast_1d(np.asarray(beat_starts, float))]
    if not starts or not np.all(np.diff(starts) > 0):
        raise ValueError(f"beat_starts must be increasing times, got {starts}")
    if period is not None:
        if not period > 0:
            raise ValueError(f"period must be > 0, got {period!r}")
        ends = [s + period for s in starts]
    else:
        ends = list(starts[1:]) + [end_of_record]
    return starts, ends


def _one_beat(V, Ca, t, start, end, levels, upstroke):
    n = V.shape[0]
    nan = np.full(n, np.nan)
    before = np.nonzero(t <= start)[0]
    i_rest = before[-1] if before.size else 0
    i0 = np.searchsorted(t, start, side="left")
    i1 = np.searchsorted(t, end, side="left")
    result = {f"apd{x:g}": nan.copy() for x in levels}
    result.update(upstroke_time=nan.copy(), resting_potential=nan.copy(), peak_voltage=nan.copy(),
                  max_upstroke_velocity=nan.copy(), repolarised=np.zeros(n, bool))
    if Ca is not None:
        result["calcium_transient_amplitude"] = nan.copy()
    if i1 - i0 < 3:  # the record does not cover this beat
        return result
    w, tt = V[:, i0:i1], t[i0:i1]
    rest = V[:, i_rest]
    ip = np.argmax(w, axis=1)
    peak = w[np.arange(n), ip]
    slope = np.diff(w, axis=1) / np.diff(tt)
    j = np.argmax(slope, axis=1)
    velocity = slope[np.arange(n), j]
    if upstroke == "max_dvdt":
        t_up = 0.5 * (tt[j] + tt[j + 1])
    else:
        t_up = _first_rise(w, tt, np.full(n, float(upstroke)))
    result.update(upstroke_time=t_up, resting_potential=rest, peak_voltage=peak, max_upstroke_velocity=velocity)
    deepest = peak - max(levels) / 100.0 * (peak - rest)
    repolarised = w[:, -1] < deepest
    result["repolarised"] = repolarised
    for x in levels:
        level = peak - x / 100.0 * (peak - rest)
        t_rep = _last_fall(w, tt, level, ip)
        result[f"apd{x:g}"] = np.where(repolarised, t_rep - t_up, np.nan)
    if Ca is not None:
        c = Ca[:, i0:i1]
        result["calcium_transient_amplitude"] = c.max(axis=1) - Ca[:, i_rest]
    return result


def _first_rise(w, tt, level):
    """First upward crossing of ``level`` (n,) in each row of ``w``, interpolated; NaN where none."""
    above = w >= level[:, None]
    cross = ~above[:, :-1] & above[:, 1:]
    has = cross.any(axis=1)
    i = np.argmax(cross, axis=1)
    return np.where(has, _interpolate(w, tt, level, i), np.nan)


def _last_fall(w, tt, level, ip):
    """Last downward crossing of ``level`` (n,) after the peak index ``ip`` (n,), interpolated; NaN where none."""
    m = w.shape[1]
    above = w >= level[:, None]
    cross = above[:, :-1] & ~above[:, 1:] & (np.arange(m - 1)[None, :] >= ip[:, None])
    has = cross.any(axis=1)
    i = m - 2 - np.argmax(cross[:, ::-1], axis=1)
    return np.where(has, _interpolate(w, tt, level, i), np.nan)


def _interpolate(w, tt, level, i):
    rows = np.arange(w.shape[0])
    a, b = w[rows, i], w[rows, i + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(b != a, (level - a) / (b - a), 0.0)
    return tt[i] + frac * (tt[i + 1] - tt[i])


def _rate_unit(v_unit: str, t_unit: str) -> str:
    if not t_unit:
        return v_unit
    if v_unit in ("", "1"):
        return f"{t_unit}-1"
    return f"{v_unit} {t_unit}-1"
