"""Dose selection for a twin: the amount of a candidate regimen that brings an exposure metric to a target.

Model-informed precision dosing: with the patient's twin, find the dose whose predicted trough, peak, AUC, average
concentration or time above a threshold equals a target -- at the MAP parameters, or at a chosen quantile of the
Laplace posterior (e.g. the dose that keeps the trough above 10 mg/L in 90 % of the posterior).

The metric is assumed to increase with the amount (true of concentrations of every library PK model). The search
is batched over patients and candidate amounts: one simulation of ``n_grid`` log-spaced amounts over the bounds
brackets the target, a second of ``n_grid`` amounts inside the bracket narrows it, and linear interpolation between
the two nearest gives the amount (exact when the metric is linear in the amount, as for a linear model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import xarray as xr

from ..errors import InputError
from ..protocols import Regimen
from ..simulate import simulate

METRICS = ("trough", "peak", "auc", "average", "time_above")


@dataclass(frozen=True)
class DoseTarget:
    """An exposure target over a time window ``[start, end]`` (model time unit).

    Parameters
    ----------
    metric : {"trough", "peak", "auc", "average", "time_above"}
        ``trough``: the value at ``end`` (just before a dose given at ``end``, the left limit); ``peak``: the largest
        value in the window; ``auc``: the area under the curve (trapezoids on the window's grid; observable unit x
        time unit); ``average``: ``auc`` over the window's length; ``time_above``: the fraction of the window with
        the value above ``threshold``.
    value : float
        The target value of the metric (a fraction in [0, 1] for ``time_above``).
    start, end : float
        The window, ``start < end``.
    observable : str, optional
        Default: the model's first observable.
    threshold : float, optional
        For ``time_above`` only.
    """

    metric: str
    value: float
    start: float
    end: float
    observable: str | None = None
    threshold: float | None = None

    def __post_init__(self):
        if self.metric not in METRICS:
            raise InputError(f"DoseTarget metric {self.metric!r}; allowed: {list(METRICS)}")
        for name in ("value", "start", "end"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
                raise InputError(f"DoseTarget {name} {v!r} must be a finite number")
        if not self.start < self.end:
            raise InputError(f"DoseTarget window [{self.start:g}, {self.end:g}] must have start < end")
        if self.metric == "time_above":
            if self.threshold is None or not math.isfinite(self.threshold):
                raise InputError("DoseTarget metric 'time_above' needs a finite threshold (observable unit)")
            if not 0 < self.value < 1:
                raise InputError(f"DoseTarget value {self.value:g} for 'time_above' is a fraction of the window; it must be in (0, 1)")
        elif self.threshold is not None:
            raise InputError(f"DoseTarget threshold is for metric 'time_above' only, not {self.metric!r}")
        elif self.value <= 0:
            raise InputError(f"DoseTarget value {self.value:g} for {self.metric!r} must be > 0")

    def measure(self, times: np.ndarray, values: np.ndarray) -> np.ndarray:
        """The metric of ``values`` (..., T) on the window's grid ``times`` (T,)."""
        if self.metric == "trough":
            return values[..., -1]
        if self.metric == "peak":
            return values.max(axis=-1)
        dt = np.diff(times)
        if self.metric in ("auc", "average"):
            auc = np.sum(0.5 * (values[..., 1:] + values[..., :-1]) * dt, axis=-1)
            return auc if self.metric == "auc" else auc / (self.end - self.start)
        above = (values > self.threshold).astype(float)
        return np.sum(0.5 * (above[..., 1:] + above[..., :-1]) * dt, axis=-1) / (self.end - self.start)


def optimise(twin, regimen: Callable, target: DoseTarget, *, bounds, quantile=None, n_samples=200, seed=0,
             n_grid=24, n_window=241, level=0.9) -> xr.Dataset:
    """See :meth:`vhtwin.Twin.optimise_dose`."""
    if not isinstance(target, DoseTarget):
        raise InputError(f"optimise_dose: target must be a DoseTarget, got {type(target).__name__}")
    if not callable(regimen):
        raise InputError("optimise_dose: regimen must be a function of the amount returning a Regimen, e.g. "
                         "lambda amount: vh.Regimen.repeated(amount, interval=12.0, count=14, into='depot')")
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise InputError(f"optimise_dose: bounds {bounds!r} must be (lowest, highest) amounts") from None
    if not 0 < lo < hi < math.inf:
        raise InputError(f"optimise_dose: bounds ({lo:g}, {hi:g}) must satisfy 0 < lowest < highest")
    if quantile is not None and not 0 < quantile < 1:
        raise InputError(f"optimise_dose: quantile {quantile!r} must be in (0, 1) (or None for the MAP)")
    model = twin.model
    observable = target.observable or model.observable_names[0]
    if observable not in model.observable_names:
        raise InputError(f"optimise_dose: unknown observable {observable!r}; the model's observables are "
                         f"{list(model.observable_names)}")
    B = twin._eta.shape[0]
    eta = twin._eta[:, None, :]
    if quantile is not None:
        eta = np.concatenate([eta, twin._draws(n_samples, seed)], axis=1)
    window = np.linspace(target.start, target.end, int(n_window))

    def metric(amounts):
        """The metric at candidate amounts (B, G): at the MAP (B, G) and the quantile (B, G) if asked."""
        G, S = amounts.shape[1], eta.shape[1]
        lanes_eta = np.broadcast_to(eta[:, None], (B, G, S, eta.shape[2])).reshape(-1, eta.shape[2])
        per = G * S
        params = twin._parameters(lanes_eta, repeat=per)
        lane_amounts = np.repeat(amounts, S, axis=1).reshape(-1)
        protocol = regimen(lane_amounts)
        if not isinstance(protocol, Regimen):
            raise InputError(f"optimise_dose: regimen(amount) returned {type(protocol).__name__}, not a Regimen")
        covariates = {c: np.repeat(v, per) for c, v in twin._problem.prior.covariates.items()} or None
        ds = simulate(model, params, times=window, protocol=protocol, covariates=covariates, outputs=[observable],
                      precision="float64", rtol=twin._problem.rtol, atol=twin._problem.atol, solver=twin._problem.solver)
        m = target.measure(window, ds[observable].values).reshape(B, G, S)
        chosen = m[..., 0] if quantile is None else np.quantile(m[..., 1:], quantile, axis=-1)
        return chosen, m

    grid = np.broadcast_to(np.geomspace(lo, hi, int(n_grid)), (B, int(n_grid)))
    values, _ = metric(grid)
    lower, upper, reached = _bracket(grid, values, target.value)
    fine = lower[:, None] + (upper - lower)[:, None] * np.linspace(0.0, 1.0, int(n_grid))[None, :]
    values, _ = metric(fine)
    amount, _, _ = _bracket(fine, values, target.value, interpolate=True)
    amount = np.where(reached, amount, np.nan)
    safe = np.where(reached, amount, lo)[:, None]
    _, at_dose = metric(safe)
    at_dose = at_dose[:, 0]
    out = {"amount": amount, "reached": reached, f"{target.metric}_map": at_dose[:, 0]}
    if quantile is not None:
        draws = at_dose[:, 1:]
        out[f"{target.metric}_median"] = np.median(draws, axis=1)
        out[f"{target.metric}_lower"] = np.quantile(draws, (1 - level) / 2, axis=1)
        out[f"{target.metric}_upper"] = np.quantile(draws, (1 + level) / 2, axis=1)
        out[f"{target.metric}_quantile"] = np.quantile(draws, quantile, axis=1)
    for k in out:
        if k not in ("amount", "reached"):
            out[k] = np.where(reached, out[k], np.nan)
    batched = twin._batched
    dims = ("patient",) if batched else ()
    pick = (lambda a: a) if batched else (lambda a: a[0])
    data = {k: xr.Variable(dims, pick(v)) for k, v in out.items()}
    attrs = {"metric": target.metric, "target": float(target.value), "window": [float(target.start), float(target.end)],
             "observable": observable, "basis": "MAP" if quantile is None else f"posterior quantile {quantile:g}",
             "bounds": [lo, hi]}
    if quantile is not None:
        attrs.update({"n_samples": int(n_samples), "seed": int(seed), "level": float(level)})
    return xr.Dataset(data, coords={"patient": twin.ids} if batched else {}, attrs=attrs)


def _bracket(amounts, values, target, interpolate=False):
    """Per row: the two neighbouring amounts whose metrics straddle ``target`` (first crossing), whether one does,
    and (``interpolate``) the amount by linear interpolation between them."""
    B, G = amounts.shape
    below = values < target
    crossing = below[:, :-1] & ~below[:, 1:]
    reached = crossing.any(axis=1) | (~below[:, 0] & (values[:, 0] == target))
    i = np.where(crossing.any(axis=1), np.argmax(crossing, axis=1), 0)
    rows = np.arange(B)
    a0, a1, v0, v1 = amounts[rows, i], amounts[rows, i + 1], values[rows, i], values[rows, i + 1]
    if not interpolate:
        return a0, a1, reached
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(v1 > v0, (target - v0) / (v1 - v0), 0.0)
    return a0 + np.clip(w, 0.0, 1.0) * (a1 - a0), None, reached
