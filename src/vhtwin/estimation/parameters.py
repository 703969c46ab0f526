"""The population parameters an estimation moves -- THETA, OMEGA, SIGMA -- and their unconstrained parametrisation.

Which parameters are estimated follows from the :class:`vhtwin.Population` given as the starting point:

- **THETA**: the typical value of every model parameter named in the population's Omega (give it variance 0 for a
  fixed effect without between-subject variability) or in a covariate model, and every covariate-model coefficient:
  a power model's exponent (``"CL~WT"``), a linear model's slope, an exponential model's coefficient, a categorical
  model's factor of each level but the reference (``"CL~SEX=1"``; the reference is the level with factor 1, or the
  first level). Typical values move on the scale of their distribution (log for log-normal, logit between the bounds,
  none for normal), so a log-normal parameter's typical value stays positive.
- **OMEGA**: the variances (``"omega(CL)"``) and, within a block, covariances (``"omega(CL,V)"``) of the etas with a
  variance > 0; each diagonal entry and each block is moved through its Cholesky factor with a log diagonal, so every
  Omega visited is positive definite.
- **SIGMA**: the residual model's SDs per observable (``"sigma(additive)"`` in the observable's unit,
  ``"sigma(proportional)"`` as a fraction, ``"sigma(exponential)"`` on the log scale; with several observables
  ``"sigma(Cc.additive)"``), moved on the log scale.

``fix`` names parameters held at their starting value; fixing one element of an Omega block fixes the block.
Everything the compiled objective needs is an array (:meth:`Parametrisation.unpack` is JAX), so new starting values,
fixed values or covariates never recompile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..population import Population, Residual
from ..population.covariate_models import (CategoricalCovariate, ExponentialCovariate, LinearCovariate,
                                           PowerCovariate)

__all__ = ["Parametrisation", "build"]


class Layout(NamedTuple):
    """The static shape of the parametrisation (hashable: part of what the objective is compiled for)."""

    rows: tuple[str, ...]  # the model parameters whose typical value the objective computes (R)
    kinds: tuple[str, ...]  # per row: its distribution ("lognormal", "normal", "logit")
    effects: tuple[tuple[str, int, int, int], ...]  # per covariate model: (kind, row, first coefficient, size)
    groups: tuple[tuple[int, ...], ...]  # per Omega group: the positions (among the etas) it covers
    iiv: tuple[int, ...]  # the rows with an eta, in eta order
    sigma: tuple[tuple[str, int], ...]  # per residual parameter: (observable, 0 additive / 1 proportional / 2 exp.)
    n_theta: int  # typical values then coefficients
    n_omega: int  # Cholesky entries


@dataclass(frozen=True)
class Parametrisation:
    """Names, starting values and transforms of every population parameter (fixed ones included).

    ``u`` is the full unconstrained vector (THETA, then OMEGA's Cholesky entries, then log SIGMA); ``x`` the free part
    (``u[free]``). Reported values are on the natural scale: typical values, coefficients, Omega variances and
    covariances, residual SDs.
    """

    names: tuple[str, ...]  # reported name of each entry of u (an Omega group's Cholesky entries map to its elements)
    groups_of: tuple[str, ...]  # "theta", "omega" or "sigma" per entry
    u0: np.ndarray  # starting point, unconstrained
    free: np.ndarray  # indices of u that are estimated
    layout: Layout
    lower: np.ndarray  # (R,) logit bounds per row (NaN otherwise)
    upper: np.ndarray
    features: np.ndarray  # (n_coefficient_columns, B) covariate features per subject (see _effect)
    eta_names: tuple[str, ...]
    observables: tuple[str, ...]
    combined: tuple[str, ...]  # per observable: "variance" or "sum"
    exponential: tuple[bool, ...]  # per observable: log-transformed both sides
    reference_levels: dict  # categorical covariate model index -> (levels, reference level)

    @property
    def n_free(self) -> int:
        return int(self.free.size)

    def full(self, x) -> jnp.ndarray:
        """``u`` from the free part ``x`` (JAX)."""
        return jnp.asarray(self.u0).at[jnp.asarray(self.free)].set(x)

    # -- the values the objective reads (JAX) ------------------------------------------------------------------------
    def unpack(self, u, features):
        """``(typical (R, B), omega (k, k), sigma (n_sigma,))`` from ``u``; typical values after covariate models."""
        return unpack(self.layout, u, features, self.lower, self.upper)

    # -- reporting (numpy or JAX) ------------------------------------------------------------------------------------
    def reported(self, u):
        """The natural-scale value of every entry of ``u`` (JAX-differentiable; same order as :attr:`names`)."""
        return reported(self.layout, u, self.lower, self.upper)


def reported(L: Layout, u, lower, upper):
    """:meth:`Parametrisation.reported` from the layout and the rows' logit bounds (jit-able, ``L`` static)."""
    out = []
    for r, kind in enumerate(L.kinds):
        out.append(_natural(kind, u[r], lower[r], upper[r]))
    for kind, _, first, size in L.effects:
        for j in range(size):
            c = u[len(L.rows) + first + j]
            out.append(jnp.exp(c) if kind == "categorical" else c)
    start = L.n_theta
    for positions in L.groups:
        m = len(positions)
        chol = _cholesky(u[start:start + m * (m + 1) // 2], m)
        cov = chol @ chol.T
        out.extend(cov[i, j] for i in range(m) for j in range(i + 1))
        start += m * (m + 1) // 2
    out.extend(jnp.exp(u[start + i]) for i in range(len(L.sigma)))
    return jnp.stack(out)


def _natural(kind, v, lo, hi):
    if kind == "lognormal":
        return jnp.exp(v)
    if kind == "logit":
        return lo + (hi - lo) / (1.0 + jnp.exp(-v))
    return v


def _cholesky(entries, m: int):
    """Lower-triangular factor from its ``m (m + 1) / 2`` row-major entries, the diagonal on the log scale."""
    chol = jnp.zeros((m, m), entries.dtype)
    k = 0
    for i in range(m):
        for j in range(i + 1):
            chol = chol.at[i, j].set(jnp.exp(entries[k]) if i == j else entries[k])
            k += 1
    return chol


def unpack(L: Layout, u, features, lower, upper):
    """Typical values per subject (R, B), Omega (k, k) and the residual parameters from ``u`` (pure JAX)."""
    R = len(L.rows)
    tv = jnp.stack([_natural(kind, u[r], lower[r], upper[r]) for r, kind in enumerate(L.kinds)])
    factor = jnp.ones((R, features.shape[1]), u.dtype)
    for kind, row, first, size in L.effects:
        c, f = u[R + first:R + first + size], features[first:first + size]
        if kind == "power" or kind == "exponential":
            scale = jnp.exp(c[0] * f[0])
        elif kind == "linear":
            scale = 1.0 + c[0] * f[0]
        else:  # categorical: one-hot of the non-reference levels; the reference level has factor 1
            scale = 1.0 + jnp.sum((jnp.exp(c)[:, None] - 1.0) * f, axis=0)
        factor = factor.at[row].multiply(scale)
    typical = tv[:, None] * factor
    k = len(L.iiv)
    omega = jnp.zeros((k, k), u.dtype)
    start = L.n_theta
    for positions in L.groups:
        m = len(positions)
        chol = _cholesky(u[start:start + m * (m + 1) // 2], m)
        idx = jnp.asarray(positions)
        omega = omega.at[idx[:, None], idx[None, :]].set(chol @ chol.T)
        start += m * (m + 1) // 2
    sigma = jnp.exp(u[start:start + len(L.sigma)])
    return typical, omega, sigma


def _unconstrained(kind: str, value: float, lo, hi, name: str) -> float:
    if kind == "lognormal":
        if not value > 0:
            raise InputError(f"estimate population: typical value of {name!r} = {value!r}; a log-normal parameter's "
                             "typical value must be > 0")
        return math.log(value)
    if kind == "logit":
        return math.log((value - lo) / (hi - value))
    return float(value)


def build(population: Population, covariates, observables: tuple[str, ...], fix=()) -> Parametrisation:
    """The parametrisation of ``population`` for subjects with baseline ``covariates`` (a DataFrame, one row each).

    Raises
    ------
    InputError
        If the population estimates nothing, has no residual model, names a dose-lag or modelled-infusion
        parameter, or ``fix`` names an unknown parameter.
    """
    model = population.model
    eta_names, omega = population.omega.matrix()
    effect_params = [cm.param for cm in population.covariate_models]
    rows = tuple(dict.fromkeys([*eta_names, *effect_params]))
    if not rows:
        raise InputError("estimate population: nothing to estimate; name the parameters to estimate in omega "
                         "(variance 0 for a fixed effect without between-subject variability)")
    fixed_before_solve = set(model.lags().values()) | {p for roles in model.modelled_infusions().values()
                                                       for p in roles.values()}
    for n in rows:
        if n in fixed_before_solve:
            raise InputError(f"estimate population: {n!r} is a dose lag or modelled infusion parameter; dose times and "
                             "durations are fixed before the solve, so it cannot be estimated -- remove it from omega")
    if population.residual is None:
        raise InputError("estimate population: no residual model; build the Population with residual="
                         "vh.Residual(additive=...)")
    bounds = population.bounds
    kinds = tuple(population.distribution[n] for n in rows)
    lower = np.array([bounds[n][0] if kinds[i] == "logit" else np.nan for i, n in enumerate(rows)], float)
    upper = np.array([bounds[n][1] if kinds[i] == "logit" else np.nan for i, n in enumerate(rows)], float)
    names, groups_of, u0 = [], [], []
    for i, n in enumerate(rows):
        names.append(n)
        groups_of.append("theta")
        u0.append(_unconstrained(kinds[i], float(population.typical[n]), lower[i], upper[i], n))

    effects, features, references, n_coef = [], [], {}, 0
    for m, cm in enumerate(population.covariate_models):
        values = covariates[cm.covariate].to_numpy() if cm.covariate in covariates else None
        if values is None:
            raise InputError(f"estimate population: covariate {cm.covariate!r} of {type(cm).__name__} on {cm.param!r} "
                             f"is not in the dataset (its covariates: {list(covariates.columns)})")
        label = f"{cm.param}~{cm.covariate}"
        if isinstance(cm, CategoricalCovariate):
            levels = list(cm.factors)
            reference = next((lv for lv in levels if cm.factors[lv] == 1.0), levels[0])
            cm.factor(values)  # every level present must be listed
            others = [lv for lv in levels if lv != reference]
            for lv in others:
                names.append(f"{label}={lv}")
                groups_of.append("theta")
                u0.append(math.log(cm.factors[lv] / cm.factors[reference]))
                features.append((np.asarray(values) == lv).astype(float))
            effects.append(("categorical", rows.index(cm.param), n_coef, len(others)))
            references[m] = (levels, reference)
            n_coef += len(others)
            continue
        if np.asarray(values).dtype.kind not in "biuf":
            raise InputError(f"estimate population: covariate {cm.covariate!r} of {type(cm).__name__} on {cm.param!r} "
                             f"must be numeric, got {np.asarray(values).dtype}")
        x = np.asarray(values, float)
        if isinstance(cm, PowerCovariate):
            cm.factor(values)  # values > 0
            kind, feature, coefficient = "power", np.log(x / cm.reference), cm.exponent
        elif isinstance(cm, ExponentialCovariate):
            kind, feature, coefficient = "exponential", x - cm.reference, cm.coefficient
        elif isinstance(cm, LinearCovariate):
            kind, feature, coefficient = "linear", x - cm.reference, cm.slope
        else:
            raise InputError(f"estimate population: covariate model {type(cm).__name__} on {cm.param!r} cannot be "
                             "estimated; allowed: PowerCovariate, LinearCovariate, ExponentialCovariate, "
                             "CategoricalCovariate")
        names.append(label)
        groups_of.append("theta")
        u0.append(float(coefficient))
        features.append(feature)
        effects.append((kind, rows.index(cm.param), n_coef, 1))
        n_coef += 1

    iiv_names = [n for i, n in enumerate(eta_names) if omega[i, i] > 0]
    iiv = tuple(rows.index(n) for n in iiv_names)
    groups = []
    for n, v in population.omega.diagonal.items():
        if v > 0:
            groups.append(((n,), np.array([[v]])))
    for block_names, m in population.omega.blocks:
        if np.any(np.diag(m) <= 0):
            raise InputError(f"estimate population: omega block {list(block_names)} has a zero variance; every eta "
                             "of a block needs a variance > 0 (give a fixed effect its own diagonal entry 0)")
        groups.append((tuple(block_names), np.asarray(m, float)))
    group_positions = []
    for block_names, m in groups:
        try:
            chol = np.linalg.cholesky(m)
        except np.linalg.LinAlgError:
            raise InputError(f"estimate population: omega over {list(block_names)} = {m.tolist()} is singular; the "
                             "starting Omega must be positive definite") from None
        group_positions.append(tuple(iiv_names.index(n) for n in block_names))
        for i in range(len(block_names)):
            for j in range(i + 1):
                names.append(f"omega({block_names[i]})" if i == j else f"omega({block_names[j]},{block_names[i]})")
                groups_of.append("omega")
                u0.append(math.log(chol[i, i]) if i == j else float(chol[i, j]))

    residuals = [population.residual] * len(observables)
    sigma, combined, exponential = [], [], []
    for o, r in zip(observables, residuals):
        prefix = f"{o}." if len(observables) > 1 else ""
        parts = [(0, "additive", r.additive), (1, "proportional", r.proportional), (2, "exponential", r.exponential)]
        for code, label, value in parts:
            if value is None:
                continue
            if not value > 0:
                raise InputError(f"estimate population: residual {label} = {value!r}; a starting SD must be > 0 "
                                 "(leave the component out of vh.Residual to omit it)")
            names.append(f"sigma({prefix}{label})")
            groups_of.append("sigma")
            u0.append(math.log(value))
            sigma.append((o, code))
        combined.append(r.combined)
        exponential.append(r.exponential is not None)

    fixed = _fixed(fix, names, groups, model.parameter_names)
    free = np.array([i for i in range(len(names)) if i not in fixed], int)
    if free.size == 0:
        raise InputError("estimate fix: every parameter is fixed; nothing to estimate")
    layout = Layout(rows, kinds, tuple(effects), tuple(group_positions), iiv, tuple(sigma),
                    len(rows) + n_coef, len(names) - len(rows) - n_coef - len(sigma))
    B = len(covariates)
    feats = np.stack(features) if features else np.zeros((0, B))
    return Parametrisation(tuple(names), tuple(groups_of), np.array(u0, float), free, layout, lower, upper, feats,
                           tuple(iiv_names), tuple(observables), tuple(combined), tuple(exponential), references)


def _fixed(fix, names: list[str], groups, model_parameters=()) -> set[int]:
    if isinstance(fix, str):
        fix = (fix,)
    out = set()
    for f in fix:
        label = f"omega({f[6:-1]})" if isinstance(f, str) and f.startswith("omega(") else f
        if label in model_parameters and label not in names:
            raise InputError(f"estimate fix = {f!r}: {f!r} is not estimated -- only the parameters named in omega or in "
                             "a covariate model are -- so it is held at its typical value already; allowed: "
                             f"{names}")
        if label not in names:
            raise InputError(f"estimate fix = {f!r}: unknown parameter; allowed: {names}")
        i = names.index(label)
        if label.startswith("omega("):  # a block is fixed whole
            members = set(label[6:-1].split(","))
            for block_names, _ in groups:
                if members & set(block_names):
                    out.update(j for j, n in enumerate(names) if n.startswith("omega(")
                               and set(n[6:-1].split(",")) <= set(block_names))
        else:
            out.add(i)
    return out


def residual_of(par: Parametrisation, sigma: np.ndarray, observable: str) -> Residual:
    """The :class:`vhtwin.Residual` of ``observable`` at residual parameters ``sigma`` (natural scale)."""
    values = {}
    for (o, code), s in zip(par.layout.sigma, sigma):
        if o == observable:
            values[("additive", "proportional", "exponential")[code]] = float(s)
    return Residual(**values, combined=par.combined[par.observables.index(observable)])
