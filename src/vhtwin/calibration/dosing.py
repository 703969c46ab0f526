"""Dose selection for a twin: the amount (and interval) of a candidate regimen that brings an exposure metric to a
target, with the probability of reaching it.

Model-informed precision dosing: with the patient's twin, find the dose whose predicted trough, peak, AUC, average
concentration or time above a threshold equals a target -- at the MAP parameters, or at a chosen quantile of the
Laplace posterior (e.g. the dose that keeps the trough above 10 mg/L in 90 % of the posterior). At the chosen dose
the probability of meeting the target is the fraction of Laplace posterior draws of the etas whose metric meets it
(at or above the target, or at or below it for an upper limit). Given candidate dosing intervals, the amount is
found per interval and the longest interval that meets the target with enough probability is recommended.

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
DIRECTIONS = ("at_least", "at_most")


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
    direction : {"at_least", "at_most"}
        What meeting the target means, for the probability: ``"at_least"`` (default) a metric at or above
        ``value`` (a trough or AUC to reach); ``"at_most"`` a metric at or below it (an upper limit, e.g. a peak
        below a toxicity threshold).
    """

    metric: str
    value: float
    start: float
    end: float
    observable: str | None = None
    threshold: float | None = None
    direction: str = "at_least"

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise InputError(f"DoseTarget direction {self.direction!r}; allowed: {list(DIRECTIONS)}")
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

    def met(self, metric: np.ndarray) -> np.ndarray:
        """Whether each value of the metric meets the target (by ``direction``)."""
        return metric >= self.value if self.direction == "at_least" else metric <= self.value


def optimise(twin, regimen: Callable, target: DoseTarget, *, bounds, intervals=None, quantile=None,
             min_probability=None, n_samples=200, seed=0, n_grid=24, n_window=241, level=0.9) -> xr.Dataset:
    """See :meth:`vhtwin.Twin.optimise_dose`."""
    if not isinstance(target, DoseTarget):
        raise InputError(f"optimise_dose: target must be a DoseTarget, got {type(target).__name__}")
    if not callable(regimen):
        raise InputError("optimise_dose: regimen must be a function of the amount returning a Regimen, e.g. "
                         "lambda amount: vh.Regimen.repeated(amount, interval=12.0, count=14, into='depot') "
                         "(of the amount and the interval with intervals=)")
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise InputError(f"optimise_dose: bounds {bounds!r} must be (lowest, highest) amounts") from None
    if not 0 < lo < hi < math.inf:
        raise InputError(f"optimise_dose: bounds ({lo:g}, {hi:g}) must satisfy 0 < lowest < highest")
    if quantile is not None and not 0 < quantile < 1:
        raise InputError(f"optimise_dose: quantile {quantile!r} must be in (0, 1) (or None for the MAP)")
    if min_probability is not None:
        if intervals is None:
            raise InputError("optimise_dose: min_probability selects among candidate intervals; give intervals= "
                             "(the probability at the chosen amount is reported without it)")
        if isinstance(min_probability, bool) or not isinstance(min_probability, (int, float)) \
                or not 0 <= min_probability <= 1:
            raise InputError(f"optimise_dose: min_probability {min_probability!r} must be in [0, 1]")
    candidates = _intervals(intervals)
    model = twin.model
    observable = target.observable or model.observable_names[0]
    if observable not in model.observable_names:
        raise InputError(f"optimise_dose: unknown observable {observable!r}; the model's observables are "
                         f"{list(model.observable_names)}")
    # The probability needs posterior draws even at the MAP basis; there a patient without a Laplace covariance
    # gets a NaN probability, while a quantile search refuses it (its amount would be undefined).
    draws, valid = _posterior_draws(twin, n_samples, seed, strict=quantile is not None)
    eta = np.concatenate([twin._eta[:, None, :], draws], axis=1)  # (B, 1 + n, k): the MAP, then the draws
    window = np.linspace(target.start, target.end, int(n_window))
    # The same draws for every candidate interval (common random numbers): the intervals' probabilities differ by
    # the regimen, not by Monte Carlo noise.
    results = [
        _search(twin, regimen if interval is None else (lambda a, tau=interval: regimen(a, tau)), target, eta,
                quantile, lo, hi, int(n_grid), window, observable, level, valid)
        for interval in (candidates if candidates is not None else [None])
    ]
    batched = twin._batched
    name = target.metric
    attrs = {"metric": name, "target": float(target.value), "direction": target.direction,
             "window": [float(target.start), float(target.end)], "observable": observable,
             "basis": "MAP" if quantile is None else f"posterior quantile {quantile:g}", "bounds": [lo, hi],
             "n_samples": int(n_samples), "seed": int(seed), "level": float(level),
             "probability": f"fraction of the Laplace posterior draws whose {name} is "
                            f"{'>=' if target.direction == 'at_least' else '<='} the target, at the chosen amount"}
    pick = (lambda a: a) if batched else (lambda a: a[0])
    coords = {"patient": twin.ids} if batched else {}
    if candidates is None:
        dims = ("patient",) if batched else ()
        data = {k: xr.Variable(dims, pick(v)) for k, v in results[0].items()}
        return xr.Dataset(data, coords=coords, attrs=attrs)
    dims = ("patient", "interval") if batched else ("interval",)
    data = {k: xr.Variable(dims, pick(np.stack([r[k] for r in results], axis=1))) for k in results[0]}
    # The recommendation: the longest candidate interval whose amount is within the bounds and whose probability
    # is at least min_probability (fewer doses for the patient at the same target).
    ok = np.stack([r["reached"] for r in results], axis=1)
    if min_probability is not None:
        ok &= np.stack([r["probability"] for r in results], axis=1) >= min_probability
    order = np.argsort(candidates, kind="stable")
    ranked = ok[:, order]
    last = np.where(ranked.any(axis=1), ranked.shape[1] - 1 - np.argmax(ranked[:, ::-1], axis=1), -1)
    chosen = np.where(last >= 0, order[np.maximum(last, 0)], -1)
    rows = np.arange(chosen.size)
    for key, source in (("interval", np.broadcast_to(candidates, ok.shape)), ("amount", data["amount"].values),
                        ("probability", data["probability"].values)):
        values = np.asarray(source, float).reshape(ok.shape)
        rec = np.where(chosen >= 0, values[rows, np.maximum(chosen, 0)], np.nan)
        data[f"recommended_{key}"] = xr.Variable(dims[:-1], pick(rec))
    attrs["rule"] = ("the longest interval whose target is reached within the bounds"
                     + ("" if min_probability is None else f" with probability >= {min_probability:g}"))
    attrs["min_probability"] = "none" if min_probability is None else float(min_probability)
    coords["interval"] = xr.Variable(("interval",), candidates, attrs={"units": model.time_unit})
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _intervals(intervals):
    """The candidate intervals as a float array, or None."""
    if intervals is None:
        return None
    try:
        values = np.asarray(intervals, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"optimise_dose: intervals {intervals!r} must be a list of dosing intervals") from None
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise InputError(f"optimise_dose: intervals {list(values)} must be a non-empty list of finite intervals > 0")
    if np.unique(values).size != values.size:
        raise InputError(f"optimise_dose: intervals {list(values)} has repeated values")
    return values


def _posterior_draws(twin, n, seed, strict):
    """Laplace posterior draws (B, n, k) and whether each patient has them: with ``strict`` a patient without a
    Laplace covariance is an error, otherwise its draws sit at its MAP (and its probability is reported NaN)."""
    bad = np.isnan(twin._cov).any(axis=(1, 2))
    if strict or not bad.any():
        return twin._draws(n, seed), ~bad
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"n_samples {n!r} must be a positive integer")
    z = np.random.default_rng(seed).standard_normal((twin._eta.shape[0], n, twin._eta.shape[1]))
    cov = np.where(bad[:, None, None], 0.0, twin._cov)
    root = np.linalg.cholesky(cov + np.where(bad, 1.0, 1e-300)[:, None, None] * np.eye(cov.shape[-1]))
    root = np.where(bad[:, None, None], 0.0, root)
    return twin._eta[:, None, :] + np.einsum("bij,bnj->bni", root, z), ~bad


def _search(twin, regimen, target, eta, quantile, lo, hi, n_grid, window, observable, level, valid):
    """The amount of one regimen (a function of the amount) and the metric and probability there, per patient."""
    B = eta.shape[0]
    problem = twin._problem

    def metric(amounts, lanes_of):
        """The metric at candidate amounts (B, G) for the etas ``lanes_of`` (B, S, k): (B, G, S)."""
        G, S, k = amounts.shape[1], lanes_of.shape[1], lanes_of.shape[2]
        lanes_eta = np.broadcast_to(lanes_of[:, None], (B, G, S, k)).reshape(-1, k)
        per = G * S
        params = twin._parameters(lanes_eta, repeat=per)
        protocol = regimen(np.repeat(amounts, S, axis=1).reshape(-1))
        if not isinstance(protocol, Regimen):
            raise InputError(f"optimise_dose: regimen returned {type(protocol).__name__}, not a Regimen")
        covariates = {c: np.repeat(v, per) for c, v in problem.prior.covariates.items()} or None
        ds = simulate(twin.model, params, times=window, protocol=protocol, covariates=covariates, outputs=[observable],
                      precision="float64", rtol=problem.rtol, atol=problem.atol, solver=problem.solver)
        return target.measure(window, ds[observable].values).reshape(B, G, S)

    def searched(amounts):
        """The quantity the search brings to the target: the metric at the MAP, or its posterior quantile."""
        if quantile is None:
            return metric(amounts, eta[:, :1])[..., 0]
        return np.quantile(metric(amounts, eta[:, 1:]), quantile, axis=-1)

    grid = np.broadcast_to(np.geomspace(lo, hi, n_grid), (B, n_grid))
    lower, upper, reached = _bracket(grid, searched(grid), target.value)
    fine = lower[:, None] + (upper - lower)[:, None] * np.linspace(0.0, 1.0, n_grid)[None, :]
    amount, _, _ = _bracket(fine, searched(fine), target.value, interpolate=True)
    amount = np.where(reached, amount, np.nan)
    at_dose = metric(np.where(reached, amount, lo)[:, None], eta)[:, 0]  # (B, 1 + n)
    draws = at_dose[:, 1:]
    name = target.metric
    out = {
        "amount": amount,
        "reached": reached,
        "probability": np.where(valid, np.mean(target.met(draws), axis=1), np.nan),
        f"{name}_map": at_dose[:, 0],
        f"{name}_median": np.median(draws, axis=1),
        f"{name}_lower": np.quantile(draws, (1 - level) / 2, axis=1),
        f"{name}_upper": np.quantile(draws, (1 + level) / 2, axis=1),
    }
    if quantile is not None:
        out[f"{name}_quantile"] = np.quantile(draws, quantile, axis=1)
    for key in out:
        if key not in ("amount", "reached"):
            out[key] = np.where(reached, out[key], np.nan)
    for key in (f"{name}_median", f"{name}_lower", f"{name}_upper"):
        out[key] = np.where(valid, out[key], np.nan)
    return out


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
