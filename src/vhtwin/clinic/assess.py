"""A patient's assessment: the calibrated twin, its forecast with a band, and the regimens that reach the targets.

:func:`assess` is what the clinician's page and its JSON API show: from a :class:`~vhtwin.clinic.fhir.Record` and a
:class:`~vhtwin.clinic.priors.Prior` it

1. calibrates the twin (:func:`vhtwin.calibrate`: the MAP of the etas with the prior, its Laplace covariance);
2. forecasts the level over the record and the next two days of the current regimen, with a 90 % band (the Laplace
   posterior of the etas);
3. for every regimen of the prior's ``[dosing]`` options (amount x interval) and for the current one, simulates the
   posterior draws over one interval at steady state (the last interval of :data:`STEADY_HOURS` of the regimen)
   and reports the probability of target attainment: the fraction of draws whose metrics over that interval meet
   every target of the prior (``auc24`` = 24 h x the interval's AUC / its length, ``trough`` the level at its end,
   ``peak`` its largest level -- or the level a set time after the end of the infusion, where the target says
   ``after_infusion_h`` -- ``average`` its AUC / its length);
4. recommends the option with the highest probability (ties: the smallest daily dose, then the interval nearest the
   current one, then the shorter).

The posterior draws are the same for every option (one seed), so the options differ by their regimen only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..calibration import calibrate
from ..errors import InputError
from ..protocols import Regimen
from ..simulate import simulate
from .record import Record
from .priors import Prior

#: Hours a regimen is simulated before its last interval is read as its steady state.
STEADY_HOURS = 4096.0
#: Points of the forecast (over the record and two days of the current regimen).
FORECAST_POINTS = 241
#: Points per dosing interval on which the window's metrics are read (trapezoids).
WINDOW_POINTS = 97


@dataclass
class Assessment:
    """What :func:`assess` found (plain data: numbers, tables and sentences)."""

    prior: dict  # name, version, sha256, ...
    parameters: pd.DataFrame  # per estimated parameter: MAP, 90 % interval, typical value, population 90 % range
    forecast: pd.DataFrame  # time (h), median, lower, upper, map of the level (90 % band)
    observed: pd.DataFrame  # the levels fitted
    options: pd.DataFrame  # amount, interval, daily dose, probability of target attainment, metric medians
    current: dict  # the current regimen (amount, interval) and its probability
    recommended: dict  # the option recommended
    warnings: list[str] = field(default_factory=list)
    converged: bool = True
    doses: pd.DataFrame | None = None  # the record's doses: time (h), amount (mg), duration (h)
    facts: dict = field(default_factory=dict)  # the patient facts read (age, sex, weight, height, creatinine)
    covariates: dict = field(default_factory=dict)  # the prior's covariates derived from them
    level: float = 0.9  # the band's probability
    n_samples: int = 200  # posterior draws behind the band and the probabilities
    level_unit: str = ""  # the unit of the levels
    dose_duration_h: float = 0.0  # infusion time of the options' doses (0: bolus or oral)

    def to_dict(self) -> dict:
        clean = lambda df: [{k: _num(v) for k, v in row.items()} for row in df.to_dict(orient="records")]
        return {"prior": self.prior, "converged": self.converged, "warnings": list(self.warnings),
                "parameters": clean(self.parameters), "observed": clean(self.observed),
                "forecast": clean(self.forecast), "options": clean(self.options),
                "current": {k: _num(v) for k, v in self.current.items()},
                "recommended": {k: _num(v) for k, v in self.recommended.items()},
                "doses": clean(self.doses) if self.doses is not None else [],
                "facts": {k: _num(v) for k, v in self.facts.items()},
                "covariates": {k: _num(v) for k, v in self.covariates.items()},
                "level": self.level, "n_samples": self.n_samples, "level_unit": self.level_unit,
                "dose_duration_h": self.dose_duration_h}


def _num(v):
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def assess(record: Record, prior: Prior, *, n_samples: int = 200, seed: int = 0, level: float = 0.9) -> Assessment:
    """Calibrate, forecast and rank the prior's regimens for one patient (see the module docstring)."""
    if not 0 < level < 1:
        raise InputError(f"assess: level {level!r} must be a probability between 0 and 1")
    spec = prior.spec
    twin = calibrate(prior.model, record.data, prior=prior.population, protocol=record.regimen,
                     covariates=record.covariates or None)
    doses = record.doses
    t_last = float(doses["time"].max())
    gaps = np.diff(np.sort(doses["time"].to_numpy()))
    interval_now = float(np.median(gaps)) if gaps.size else float(spec.dosing.intervals[0])
    amount_now = float(doses["amount"].iloc[-1])
    t_next = t_last + interval_now
    # the forecast: the record and the next two days of the current regimen
    horizon = max(t_next + 48.0, float(record.data["time"].max()) + 24.0)
    ahead = _continued(record.regimen, spec, amount_now, interval_now, t_next, horizon)
    grid = np.linspace(0.0, horizon, FORECAST_POINTS)
    band = twin.predict(grid, protocol=ahead, level=level, n_samples=n_samples, seed=seed)
    o = spec.level.observable
    forecast = pd.DataFrame({"time": grid, "median": band[o].values, "lower": band[f"{o}_lower"].values,
                             "upper": band[f"{o}_upper"].values, "map": band[f"{o}_map"].values})
    # the posterior draws shared by every option
    draws = twin.sample_posterior(n_samples, seed=seed)
    params = {name: np.full(n_samples, float(v)) for name, v in twin.params.items()}
    for name in twin.eta_names:
        params[name] = np.asarray(draws[name].values, dtype=float)
    options = pd.DataFrame([_option(prior, params, a, tau) for tau in spec.dosing.intervals
                            for a in spec.dosing.amounts])
    current = _option(prior, params, amount_now, interval_now)
    ranked = options.assign(_gap=(options["interval_h"] - interval_now).abs())
    best = ranked.sort_values(["probability", "daily_dose_mg", "_gap", "interval_h"],
                              ascending=[False, True, True, True]).drop(columns="_gap").iloc[0]
    parameters = _parameters(twin, prior, record, level)
    return Assessment(prior=prior.describe(), parameters=parameters, forecast=forecast, observed=record.data.copy(),
                      options=options, current=current, recommended=best.to_dict(), warnings=list(record.warnings),
                      converged=bool(twin.converged), doses=record.doses.copy(), facts=dict(record.facts),
                      covariates=dict(record.covariates), level=level, n_samples=n_samples,
                      level_unit=spec.level.unit, dose_duration_h=float(spec.dosing.duration or 0.0))


def _continued(past: Regimen, spec, amount: float, interval: float, start: float, until: float) -> Regimen:
    count = max(1, int(math.ceil((until - start) / interval)))
    return past + Regimen.repeated(amount, interval, count, spec.dose_into, start=start,
                                   duration=spec.dosing.duration or None)


def _option(prior: Prior, params: dict, amount: float, interval: float) -> dict:
    """Probability of target attainment of ``amount`` every ``interval`` h at steady state, over the draws."""
    spec = prior.spec
    # The regimen repeated for STEADY_HOURS, read over its last interval: the same number of doses for every patient
    # (so nothing recompiles from one patient to the next, as a steady-state search of patient-dependent length
    # would), and long enough for any plausible elimination (a half-life of 220 h, vancomycin in an anuric patient,
    # leaves 0.0003 % of the way to steady state). The last point is the trough before the next dose (the left limit
    # at the dose time).
    count = int(math.ceil(STEADY_HOURS / interval))
    end = count * interval
    duration = float(spec.dosing.duration or 0.0)
    # the times a target reads its level at (a peak drawn a set time after the infusion) are points of the window
    reads = {t.name: end - interval + duration + t.after_infusion_h for t in spec.targets
             if t.metric == "peak" and t.after_infusion_h is not None}
    window = np.unique(np.concatenate([np.linspace(end - interval, end, WINDOW_POINTS), list(reads.values())]))
    regimen = Regimen.repeated(amount, interval, count + 1, spec.dose_into, duration=spec.dosing.duration or None)
    ds = simulate(prior.model, params, times=window, protocol=regimen, outputs=[spec.level.observable],
                  rtol=1e-8, atol=1e-10, precision="float64")
    levels = ds[spec.level.observable].values  # (draws, points)
    ok = np.all(ds["status"].values == 0)
    met = np.ones(levels.shape[0], bool)
    out = {"amount_mg": float(amount), "interval_h": float(interval), "daily_dose_mg": float(amount * 24.0 / interval)}
    for target in spec.targets:
        if target.name in reads:
            value = levels[:, int(np.searchsorted(window, reads[target.name]))]
        else:
            value = _metric(target.metric, window, levels, interval)
        if target.lower is not None:
            met &= value >= target.lower
        if target.upper is not None:
            met &= value <= target.upper
        out[f"{target.name}_median"] = float(np.median(value))
    out["probability"] = float(np.mean(met)) if ok else float("nan")
    return out


def _metric(metric: str, times: np.ndarray, levels: np.ndarray, interval: float) -> np.ndarray:
    auc = np.sum(0.5 * (levels[:, 1:] + levels[:, :-1]) * np.diff(times), axis=1)
    if metric == "auc24":
        return auc * 24.0 / interval
    if metric == "average":
        return auc / interval
    if metric == "trough":
        return levels[:, -1]
    return levels.max(axis=1)  # peak


def _parameters(twin, prior: Prior, record: Record, level: float) -> pd.DataFrame:
    z = float(_normal_quantile((1 + level) / 2))
    names = list(twin.eta_names)
    sd = np.asarray(twin.sd, dtype=float).reshape(-1)
    typical = prior.population.typical_values({k: np.asarray([v]) for k, v in record.covariates.items()} or None, n=1)
    rows = []
    for i, name in enumerate(names):
        est = float(twin.params[name])
        tv = float(np.asarray(typical[name]).reshape(-1)[0])
        spread = z * math.sqrt(float(prior.spec.omega.get(name, 0.0)))  # the population's 90 % range around it
        rows.append({"parameter": name, "unit": next(q.unit for q in prior.model.parameters if q.name == name),
                     "estimate": est, "lower": est * math.exp(-z * sd[i]), "upper": est * math.exp(z * sd[i]),
                     "typical": tv, "population_lower": tv * math.exp(-spread),
                     "population_upper": tv * math.exp(spread)})
    return pd.DataFrame(rows)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return norm.ppf(p)
