"""The population prior of a calibration: typical values after covariate models, Omega of the estimated etas, how
each eta enters its parameter, and the residual error model per observable.

The prior is the :class:`~vhtwin.Population` that describes the patient's population; calibration keeps its typical
values, Omega and residual model fixed and estimates the patient's etas (empirical Bayes).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..errors import InputError
from ..model import Model
from ..population import Population, Residual, variability
from .data import plain


@dataclass(frozen=True)
class Prior:
    """What the objective needs from the population, per patient where it varies (numpy).

    ``typical[name]`` is (B,) for every model parameter; ``omega`` is over ``eta_names`` and positive definite.
    """

    eta_names: tuple[str, ...]
    omega: np.ndarray  # (k, k) eta scale
    omega_inv: np.ndarray  # (k, k)
    typical: dict  # parameter name -> (B,) typical value after covariate models (model units)
    kinds: tuple[str, ...]  # per eta: "lognormal", "normal" or "logit"
    lower: np.ndarray  # (k,) logit bounds (NaN for the others)
    upper: np.ndarray  # (k,)
    residuals: dict  # observable name -> Residual
    covariates: dict  # covariate name -> (B,) values, in patient order

    def individual(self, eta, typical):
        """Individual parameters ``(k, L)`` from etas ``(L, k)`` and typical values ``(k, L)`` (JAX, differentiable)."""
        return individual(self.kinds, eta, typical, self.lower, self.upper)

    def individual_values(self, eta: np.ndarray, typical: np.ndarray) -> np.ndarray:
        """:meth:`individual` in numpy (no JAX program): ``(k, L)`` from ``(L, k)`` and ``(k, L)``."""
        eta = np.asarray(eta, float)
        return np.stack([variability.individual(np.asarray(typical[j], float), eta[:, j], kind, self.lower[j], self.upper[j])
                         for j, kind in enumerate(self.kinds)])

    def typical_matrix(self) -> np.ndarray:
        """Typical values of the estimated parameters, (k, B)."""
        return np.stack([self.typical[n] for n in self.eta_names])


def individual(kinds, eta, typical, lower, upper):
    """Individual parameters ``(k, L)`` from etas ``(L, k)`` and typical values ``(k, L)`` (JAX, differentiable):
    ``tv exp(eta)`` (log-normal), ``tv + eta`` (normal) or the logit transform between ``lower`` and ``upper``."""
    rows = []
    for j, kind in enumerate(kinds):
        tv, e = typical[j], eta[:, j]
        if kind == "lognormal":
            rows.append(tv * jnp.exp(e))
        elif kind == "normal":
            rows.append(tv + e)
        else:
            lo, width = lower[j], upper[j] - lower[j]
            x = (tv - lo) / width
            rows.append(lo + width / (1.0 + jnp.exp(-(jnp.log(x / (1.0 - x)) + e))))
    return jnp.stack(rows)


def build(model: Model, prior, ids: np.ndarray, has_id: bool, observables, covariates=None, residual=None) -> Prior:
    """Check the prior against the model and the data's patients, and resolve it per patient.

    Raises
    ------
    InputError
        If ``prior`` is not a Population of this model, has no eta to estimate, puts an eta on a dose-lag or
        modelled-infusion parameter, has an Omega that is not positive definite on its estimated etas, lacks a
        residual model, or if the covariates miss a patient or a covariate a covariate model needs.
    """
    if not isinstance(prior, Population):
        raise InputError(f"calibrate prior must be a vhtwin.Population (typical values, omega, residual), got {type(prior).__name__}")
    same = prior.model == model or (prior.model.name == model.name and prior.model.source_hash() == model.source_hash())
    if not same:
        raise InputError(
            f"calibrate prior: the Population was built for model {prior.model.name!r}, not {model.name!r}; build "
            f"it with vh.Population({model.name!r}, ...)"
        )
    if prior.iov is not None:
        warnings.warn("calibrate: the prior's inter-occasion variability is not estimated; occasion etas are held at 0",
                      stacklevel=3)
    names, omega = prior.omega.matrix()
    keep = [i for i, n in enumerate(names) if omega[i, i] > 0]
    names, omega = tuple(names[i] for i in keep), omega[np.ix_(keep, keep)]
    if not names:
        raise InputError("calibrate prior: the Population has no between-subject variability (omega) to estimate; "
                         "give omega={'CL': 0.09, ...} (variances on the eta scale)")
    fixed = {p: "a dose lag" for p in model.lags().values()}
    fixed.update({p: f"an infusion {role}" for roles in model.modelled_infusions().values() for role, p in roles.items()})
    for n in names:
        if n in fixed:
            raise InputError(
                f"calibrate prior: omega has an eta on {n!r}, which is {fixed[n]}; dose times and durations are fixed "
                "before the solve, so it cannot be estimated -- remove it from omega"
            )
    try:
        np.linalg.cholesky(omega)
    except np.linalg.LinAlgError:
        raise InputError(
            f"calibrate prior: omega over {list(names)} is singular ({omega.tolist()}); the MAP objective needs a "
            "positive definite Omega (drop perfectly correlated etas)"
        ) from None
    residuals = _residuals(prior, residual, observables)
    cov = patient_covariates(covariates, ids, has_id)
    needed = sorted({cm.covariate for cm in prior.covariate_models} - set(cov))
    if needed:
        users = [f"{type(cm).__name__} on {cm.param!r}" for cm in prior.covariate_models if cm.covariate in needed]
        raise InputError(
            f"calibrate covariates: {needed} needed by the prior's covariate models ({', '.join(users)}) but not "
            f"given (covariates given: {sorted(cov)}); pass covariates={{'{needed[0]}': ...}} per patient"
        )
    typical = prior.typical_values(cov, n=ids.shape[0])
    for n, v in typical.items():
        if not np.all(np.isfinite(v)):
            raise InputError(f"calibrate: typical value of {n!r} after covariate models is not finite for some patient")
    kinds = tuple(prior.distribution[n] for n in names)
    bounds = [prior.bounds[n] if kinds[j] == "logit" else (np.nan, np.nan) for j, n in enumerate(names)]
    for j, n in enumerate(names):
        if kinds[j] == "lognormal" and np.any(typical[n] <= 0):
            raise InputError(f"calibrate prior: {n!r} is log-normal but its typical value is <= 0 for some patient")
    return Prior(
        names, omega, np.linalg.inv(omega), typical, kinds,
        np.array([b[0] for b in bounds], float), np.array([b[1] for b in bounds], float), residuals, cov,
    )


def _residuals(prior: Population, residual, observables) -> dict:
    if residual is None:
        residual = prior.residual
    if residual is None:
        raise InputError("calibrate: the prior has no residual model; build the Population with residual="
                         "vh.Residual(additive=..., proportional=...) or pass calibrate(..., residual=...)")
    if isinstance(residual, Residual):
        out = {o: residual for o in observables}
    elif isinstance(residual, Mapping):
        missing = [o for o in observables if o not in residual]
        if missing:
            raise InputError(f"calibrate residual: no residual model for observable {missing[0]!r} (given for {list(residual)})")
        out = {o: residual[o] for o in observables}
        for o, r in out.items():
            if not isinstance(r, Residual):
                raise InputError(f"calibrate residual of {o!r} must be a vhtwin.Residual, got {type(r).__name__}")
    else:
        raise InputError(f"calibrate residual must be a vhtwin.Residual or a dict by observable, got {type(residual).__name__}")
    for o, r in out.items():
        if r.exponential is not None and r.exponential <= 0 or r.exponential is None and not (r.additive or r.proportional):
            raise InputError(f"calibrate residual of {o!r}: {r} has zero SD; the likelihood needs a residual SD > 0")
    return out


def patient_covariates(covariates, ids: np.ndarray, has_id: bool) -> dict:
    """Covariates by name as (B,) arrays in the patients' (sorted id) order.

    ``covariates`` is a dict of scalars or arrays (one value per patient, in sorted id order), or a table with one row
    per patient keyed by an ``id`` column (or index).
    """
    B = ids.shape[0]
    if covariates is None:
        return {}
    if isinstance(covariates, pd.DataFrame):
        table = covariates
        if "id" in table.columns:
            table = table.set_index("id")
        if table.index.has_duplicates:
            raise InputError(f"calibrate covariates: id {plain(table.index[table.index.duplicated()][0])!r} has more than one row")
        absent = [i for i in ids if i not in table.index]
        if absent and has_id:
            raise InputError(f"calibrate covariates: no row for patient id {plain(absent[0])!r} (the table's ids: {[plain(i) for i in table.index[:10]]})")
        if absent:  # data without ids: a one-row table describes the one patient
            if len(table) != 1:
                raise InputError("calibrate covariates: the data have no id column, so the covariate table must have one row")
            return {c: table[c].to_numpy()[:1] for c in table.columns}
        return {c: table.loc[list(ids), c].to_numpy() for c in table.columns}
    if not isinstance(covariates, Mapping):
        raise InputError(f"calibrate covariates must be a dict by name or a table keyed by id, got {type(covariates).__name__}")
    out = {}
    for name, v in covariates.items():
        a = np.asarray(v)
        if a.ndim == 0:
            a = np.full(B, a.item())
        if a.ndim != 1 or a.shape[0] != B:
            raise InputError(
                f"calibrate covariates: {name!r} has shape {np.shape(v)}; give a scalar or one value per patient ({B}, "
                "in sorted id order), or a table keyed by id"
            )
        out[str(name)] = a
    return out
