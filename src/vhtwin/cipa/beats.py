"""Per-beat action-potential metrics of the CiPA assay on sampled traces, vectorised over cells and beats.

The definitions are those of the FDA's CiPA code (``AP_simulation/AP_simulation.R`` of github.com/FDA/CiPA), with
the crossing times linearly interpolated between samples where the FDA takes the first sample past the level:

- upstroke time: the midpoint of the sample interval of largest dV/dt; peak ``V_max``: the largest sample;
  rest ``V_rest``: the smallest sample before the peak;
- the beat **depolarised** if ``V_max >= 0 mV`` and ``V_rest < -40 mV`` (else no APD, no EAD search);
- ``APDx``: from the upstroke to the *first* fall, after the peak, to ``V_rest + (1 - x/100)(V_max - V_rest)``;
  NaN if V does not fall that far within the beat (not **repolarised**);
- **EAD**: V rises (a positive difference quotient) anywhere between 30 % and 90 % repolarisation (to the end of
  the beat if it never reaches 90 %), searched only where that window is longer than 1 ms -- the FDA's ``max_dv > 0``
  read from the samples instead of the right-hand side;
- **qNet**: the beat's change of the accumulated charge (the model's ``qNet`` state), uC/uF.
"""

from __future__ import annotations

import numpy as np

#: depolarisation criteria of the FDA code (mV)
PEAK_AT_LEAST = 0.0
REST_BELOW = -40.0


def beat_metrics(t: np.ndarray, v: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of beats sampled on one grid.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Sample times from the beat's stimulus (ms), increasing; ``t[0]`` is the stimulus time (V there is the value
        just before it) and the last sample is the next beat's stimulus time.
    v : ndarray, shape (..., n)
        Membrane potential (mV) per beat.
    q : ndarray, shape (..., n)
        Accumulated charge (uC/uF) at the same samples.

    Returns
    -------
    dict
        ``qNet``, ``APD90``, ``APD50``, ``V_max``, ``V_rest``, ``max_dvdt_window`` (the largest difference quotient
        in the EAD window, NaN where not searched), ``depolarised``, ``repolarised``, ``EAD``; each of shape ``(...)``.
    """
    t = np.asarray(t, float)
    v = np.asarray(v, float)
    dt = np.diff(t)
    slope = np.diff(v, axis=-1) / dt
    i_up = np.argmax(slope, axis=-1)
    t_up = 0.5 * (t[i_up] + t[i_up + 1])
    i_peak = np.argmax(v, axis=-1)
    v_max = np.take_along_axis(v, i_peak[..., None], -1)[..., 0]
    before_peak = np.arange(t.size) <= i_peak[..., None]
    v_rest = np.min(np.where(before_peak, v, np.inf), axis=-1)
    depolarised = (v_max >= PEAK_AT_LEAST) & (v_rest < REST_BELOW)
    after_peak = ~before_peak

    def first_fall(fraction):
        level = v_rest + (v_max - v_rest) * (1.0 - fraction)
        below = after_peak & (v <= level[..., None])
        hit = below.any(axis=-1) & depolarised
        i = np.argmax(below, axis=-1)  # first sample at or below the level
        i0 = np.maximum(i - 1, 0)
        v0 = np.take_along_axis(v, i0[..., None], -1)[..., 0]
        v1 = np.take_along_axis(v, i[..., None], -1)[..., 0]
        w = np.where(v0 != v1, (v0 - level) / np.where(v0 != v1, v0 - v1, 1.0), 0.0)
        when = t[i0] + np.clip(w, 0.0, 1.0) * (t[i] - t[i0])
        return np.where(hit, when, np.nan)

    t30, t50, t90 = first_fall(0.3), first_fall(0.5), first_fall(0.9)
    apd50, apd90 = t50 - t_up, t90 - t_up
    # EAD window: 30 % to 90 % repolarisation (to the end of the beat without 90 %); from the peak without 30 %
    t_start = np.where(np.isfinite(t30), t30, t[i_peak])
    t_end = np.where(np.isfinite(t90), t90, t[-1])
    searched = depolarised & (t_end - t_start > 1.0)
    mid = 0.5 * (t[:-1] + t[1:])
    inside = (mid > t_start[..., None]) & (mid < t_end[..., None])
    max_dv = np.max(np.where(inside, slope, -np.inf), axis=-1)
    max_dv = np.where(searched & np.isfinite(max_dv), max_dv, np.nan)
    return {
        "qNet": np.asarray(q, float)[..., -1] - np.asarray(q, float)[..., 0],
        "APD90": apd90,
        "APD50": apd50,
        "V_max": v_max,
        "V_rest": v_rest,
        "max_dvdt_window": max_dv,
        "depolarised": depolarised,
        "repolarised": np.isfinite(apd90),
        "EAD": np.nan_to_num(max_dv, nan=-1.0) > 0.0,
    }


def keep_worst_beat(metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Reduce the beat axis (the last) as the FDA does: keep the beat with the largest dV/dt in its EAD window (the
    last beat when no beat depolarised) and count the EAD beats.

    Returns the kept beat's metrics plus ``n_EAD`` (beats with an EAD), ``n_not_depolarised``, ``n_not_repolarised``
    and ``EAD`` (any beat with one).
    """
    max_dv = metrics["max_dvdt_window"]
    none = np.all(np.isnan(max_dv), axis=-1)
    keep = np.where(none, max_dv.shape[-1] - 1, np.argmax(np.nan_to_num(max_dv, nan=-np.inf), axis=-1))
    out = {k: np.take_along_axis(v, keep[..., None], -1)[..., 0] for k, v in metrics.items()}
    out["n_EAD"] = metrics["EAD"].sum(axis=-1)
    out["n_not_depolarised"] = (~metrics["depolarised"]).sum(axis=-1)
    out["n_not_repolarised"] = (~metrics["repolarised"]).sum(axis=-1)
    out["EAD"] = out["n_EAD"] > 0
    return out
