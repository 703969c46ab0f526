"""Haemodynamic indices of one sampled beat: the one implementation that per-beat analysis
(:func:`vhtwin.analysis.haemodynamics`) and circulation calibration (:func:`vhtwin.calibrate_circulation`) share.

Array-level and written once for two namespaces: given JAX arrays (or inside ``jax.jit``) it computes with
``jax.numpy`` and is differentiable; given numpy arrays, with numpy.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["beat_indices"]


def beat_indices(period, *, pressure=None, volume=None, flow=None, times=None, refine_peaks: bool = False) -> dict:
    """Haemodynamic indices of beats sampled from their start to their end (both ends included).

    ========== ========= ==================================================================================
    name       unit      definition
    ========== ========= ==================================================================================
    HR         min-1     heart rate, 60 s / ``period``
    SBP, DBP   mmHg      the largest and smallest arterial pressure over the beat (needs ``pressure``)
    MAP        mmHg      mean arterial pressure: the trapezoidal time average over the beat
    PP         mmHg      pulse pressure, SBP - DBP
    EDV, ESV   mL        the largest and smallest ventricular volume over the beat (needs ``volume``)
    SV         mL        stroke volume: EDV - ESV, or with ``flow`` the mean ejection flow times ``period``
    EF         1         ejection fraction, SV / EDV (needs ``volume``)
    CO         L min-1   cardiac output, SV * HR / 1000
    ========== ========= ==================================================================================

    Parameters
    ----------
    period : array_like
        Beat duration (s), broadcasting against the leading axes of the samples (e.g. one per patient).
    pressure, volume, flow : array_like, optional
        Samples ``(..., S)`` over each beat of the arterial pressure (mmHg), the ventricular volume (mL) and the
        ejection (aortic inflow) flow (mL s-1). ``flow``, when given, sets SV and CO in place of ``volume``.
    times : array_like, optional
        Sample times ``(S,)`` or ``(..., S)`` (any unit: only their spacing weighs the time average); the default
        is uniform samples.
    refine_peaks : bool
        Refine each extreme by the parabola through the extreme sample and its neighbours (for uniform samples): it
        is then within O(h^3) of a smooth waveform's true extreme instead of O(h^2), and smooth in the parameters
        between changes of the extreme sample (what a gradient-based fit needs). Default: the sample extremes.

    Returns
    -------
    dict
        Index name -> array of the leading shape, for the indices the given samples determine.
    """
    xp = jnp if any(isinstance(a, jax.Array) for a in (period, pressure, volume, flow, times)) else np
    period = xp.asarray(period)
    peak = (lambda x, sign=1.0: _refined_peak(xp, x, sign)) if refine_peaks else (
        lambda x, sign=1.0: sign * xp.max(sign * x, axis=-1))

    def mean(x):
        if times is None:  # uniform samples
            return xp.mean(0.5 * (x[..., 1:] + x[..., :-1]), axis=-1)
        t = xp.asarray(times)
        dt = t[..., 1:] - t[..., :-1]
        return xp.sum(0.5 * (x[..., 1:] + x[..., :-1]) * dt, axis=-1) / (t[..., -1] - t[..., 0])

    out = {"HR": 60.0 / period}
    if pressure is not None:
        p = xp.asarray(pressure)
        out.update(SBP=peak(p), DBP=peak(p, -1.0), MAP=mean(p))
        out["PP"] = out["SBP"] - out["DBP"]
    if volume is not None:
        v = xp.asarray(volume)
        out.update(EDV=peak(v), ESV=peak(v, -1.0))
        out["SV"] = out["EDV"] - out["ESV"]
        out["EF"] = out["SV"] / out["EDV"]
        out["CO"] = out["SV"] * 60.0 / period / 1000.0
    if flow is not None:
        q = mean(xp.asarray(flow))
        out["SV"] = q * period
        out["CO"] = q * 60.0 / 1000.0
    return out


def _refined_peak(xp, x, sign: float):
    """Largest value of ``sign * x`` over the last axis, refined by the parabola through the largest sample and its
    neighbours (an end sample, or a sample without a downward-curved neighbourhood, is kept as it is)."""
    y = sign * x
    i = xp.argmax(y, axis=-1)
    n = y.shape[-1]
    take = lambda j: xp.take_along_axis(y, xp.clip(j, 0, n - 1)[..., None], axis=-1)[..., 0]
    a, b, c = take(i - 1), take(i), take(i + 1)
    curvature = a - 2.0 * b + c
    interior = (i > 0) & (i < n - 1) & (curvature < 0)
    refined = b - 0.125 * (c - a) ** 2 / xp.where(interior, curvature, -1.0)
    return sign * xp.where(interior, refined, b)
