"""Covariates of virtual patients: drawn from distributions (:class:`Covariates`) or taken from a table
(:class:`CovariateTable`), plus covariates derived from others (Cockcroft--Gault creatinine clearance, BMI).

Drawn covariates are a Gaussian copula: each covariate is a fixed transform of one standard normal ``z``
(``exp(log(median) + sd_log z)`` for a log-normal, inversion of the truncated CDF for a truncated normal,
``low + (high - low) Phi(z)`` for a uniform, ``Phi(z) < p`` for a Bernoulli), and a correlation matrix acts on the
``z`` -- the *normal scale*. For two log-normal covariates it is exactly the correlation of their logarithms (weight
and height as a bivariate normal on the log scale); for others it is close to, not equal to, the correlation of the
values. Patient ``i``'s ``z`` come from ``(seed, i)`` only (see :mod:`vhtwin.population.streams`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
from scipy.special import ndtr, ndtri

from ..errors import InputError
from ..identifiers import refuse_identifiers
from . import streams
from .variability import _square_root, correlate


# -- distributions ------------------------------------------------------------------------------------------------------
class Distribution:
    """A covariate distribution as a transform of a standard normal variate (see the module docstring)."""

    unit: str = "1"

    def from_normal(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def _check_bounds(what: str, lower, upper) -> None:
    if lower is not None and upper is not None and not lower < upper:
        raise InputError(f"{what}: lower bound {lower!r} must be below upper bound {upper!r}")


def _truncated(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Standard normal truncated to [lo, hi] (in SD units), by inversion of the CDF from the untruncated ``z``."""
    if lo == -math.inf and hi == math.inf:
        return z
    a, b = ndtr(lo), ndtr(hi)
    return np.clip(ndtri(a + ndtr(z) * (b - a)), lo, hi)


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal (optionally truncated to [lower, upper]) with mean and SD, e.g. age ``Normal(45, 15, 18, 80, "y")``."""

    mean: float
    sd: float
    lower: float | None = None
    upper: float | None = None
    unit: str = "1"

    def __post_init__(self):
        if not (math.isfinite(self.mean) and math.isfinite(self.sd) and self.sd > 0):
            raise InputError(f"Normal: mean {self.mean!r} must be finite and sd {self.sd!r} finite and > 0")
        _check_bounds("Normal", self.lower, self.upper)

    def from_normal(self, z):
        lo = -math.inf if self.lower is None else (self.lower - self.mean) / self.sd
        hi = math.inf if self.upper is None else (self.upper - self.mean) / self.sd
        return self.mean + self.sd * _truncated(z, lo, hi)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """Log-normal by median and either ``cv`` (of the values) or ``sd_log`` (SD of the log), optionally truncated.

    Body weight of adults, e.g. ``LogNormal(median=75, cv=0.2, lower=40, upper=150, unit="kg")``.
    """

    median: float
    cv: float | None = None
    sd_log: float | None = None
    lower: float | None = None
    upper: float | None = None
    unit: str = "1"

    def __post_init__(self):
        if not (math.isfinite(self.median) and self.median > 0):
            raise InputError(f"LogNormal: median {self.median!r} must be finite and > 0")
        if (self.cv is None) == (self.sd_log is None):
            raise InputError("LogNormal: give exactly one of cv (of the values) and sd_log (SD of the log)")
        spread = self.cv if self.cv is not None else self.sd_log
        if not (math.isfinite(spread) and spread > 0):
            raise InputError(f"LogNormal: {'cv' if self.cv is not None else 'sd_log'} {spread!r} must be finite and > 0")
        if self.lower is not None and self.lower <= 0:
            raise InputError(f"LogNormal: lower bound {self.lower!r} must be > 0")
        _check_bounds("LogNormal", self.lower, self.upper)

    @property
    def sigma(self) -> float:
        """SD of the logarithm."""
        return self.sd_log if self.sd_log is not None else math.sqrt(math.log1p(self.cv**2))

    def from_normal(self, z):
        mu, s = math.log(self.median), self.sigma
        lo = -math.inf if self.lower is None else (math.log(self.lower) - mu) / s
        hi = math.inf if self.upper is None else (math.log(self.upper) - mu) / s
        return np.exp(mu + s * _truncated(z, lo, hi))


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on [low, high], e.g. age ``Uniform(18, 80, "y")``."""

    low: float
    high: float
    unit: str = "1"

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise InputError(f"Uniform: low {self.low!r} must be below high {self.high!r}, both finite")

    def from_normal(self, z):
        return self.low + (self.high - self.low) * ndtr(z)


@dataclass(frozen=True)
class Bernoulli(Distribution):
    """0/1 with probability ``p`` of 1, e.g. sex ``Bernoulli(0.5)`` coded 1 = female (see :class:`CockcroftGault`)."""

    p: float
    unit: str = "1"

    def __post_init__(self):
        if not (0.0 <= self.p <= 1.0):
            raise InputError(f"Bernoulli: probability p {self.p!r} must be in [0, 1]")

    def from_normal(self, z):
        return (ndtr(z) < self.p).astype(np.int64)


# -- derived covariates -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Derived:
    """A covariate computed from others: ``function(values)`` gets a dict of numpy arrays by name (``inputs``)."""

    function: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    inputs: Sequence[str]
    unit: str = "1"

    def compute(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.function({k: values[k] for k in self.inputs}), dtype=float)


@dataclass(frozen=True)
class CockcroftGault(Derived):
    """Creatinine clearance (mL/min) by Cockcroft & Gault (Nephron 1976; 16:31--41):

        CRCL = (140 - AGE [y]) * WT [kg] / (72 * SCR [mg/dL]), times 0.85 for women.

    ``female`` is the value of ``sex`` that means female (default 1: SEX coded 0 male, 1 female).
    """

    function: Callable = None
    inputs: Sequence[str] = ()
    unit: str = "mL min-1"
    age: str = "AGE"
    weight: str = "WT"
    sex: str = "SEX"
    scr: str = "SCR"
    female: float = 1

    def __post_init__(self):
        object.__setattr__(self, "inputs", (self.age, self.weight, self.sex, self.scr))

    def compute(self, values):
        age, wt, sex, scr = (np.asarray(values[k], dtype=float) for k in self.inputs)
        return (140.0 - age) * wt / (72.0 * scr) * np.where(sex == self.female, 0.85, 1.0)


@dataclass(frozen=True)
class BodyMassIndex(Derived):
    """BMI (kg/m^2) = WT [kg] / (HT [cm] / 100)^2."""

    function: Callable = None
    inputs: Sequence[str] = ()
    unit: str = "kg m-2"
    weight: str = "WT"
    height: str = "HT"

    def __post_init__(self):
        object.__setattr__(self, "inputs", (self.weight, self.height))

    def compute(self, values):
        return np.asarray(values[self.weight], float) / (np.asarray(values[self.height], float) / 100.0) ** 2


def _check_derived(derived: Mapping[str, Derived], available: Sequence[str], where: str) -> dict:
    known = list(available)
    for name, d in derived.items():
        if not isinstance(d, Derived):
            raise InputError(f"{where}: covariate {name!r} must be a distribution or a Derived covariate, got {d!r}")
        missing = [k for k in d.inputs if k not in known]
        if missing:
            raise InputError(
                f"{where}: derived covariate {name!r} needs {missing[0]!r}, which is not among the covariates defined "
                f"before it {known}"
            )
        known.append(name)
    return dict(derived)


def _check_name(name: str, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise InputError(f"{where}: covariate name {name!r} must be an identifier such as 'WT'")
    return name


# -- sources of covariates ----------------------------------------------------------------------------------------------
class CovariateSource:
    """Something that gives covariates for global patient ids: ``sample(seed, ids) -> {name: array}``."""

    names: tuple[str, ...] = ()
    units: Mapping[str, str | None] = {}

    def sample(self, seed: int, ids: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError


class Covariates(CovariateSource):
    """Covariates drawn per patient from distributions, optionally correlated on the normal scale.

    Parameters
    ----------
    distributions : dict
        By covariate name: a :class:`Distribution` (``LogNormal``, ``Normal``, ``Uniform``, ``Bernoulli``) or a
        :class:`Derived` covariate (e.g. ``CockcroftGault()``), computed from the ones before it in the dict.
        Keyword arguments are added to it.
    correlation : dict or (names, matrix), optional
        Correlations of the underlying standard normals: ``{("WT", "HT"): 0.6}`` or a full matrix over ``names``.
        The whole matrix must be positive semi-definite.

    Examples
    --------
    >>> cov = Covariates(
    ...     WT=LogNormal(median=75, cv=0.2, lower=40, upper=150, unit="kg"),
    ...     HT=LogNormal(median=172, sd_log=0.05, unit="cm"),
    ...     AGE=Uniform(18, 80, unit="y"), SEX=Bernoulli(0.5),
    ...     SCR=LogNormal(median=0.9, sd_log=0.25, lower=0.4, upper=3.0, unit="mg dL-1"),
    ...     CRCL=CockcroftGault(), correlation={("WT", "HT"): 0.6})
    """

    def __init__(self, distributions: Mapping[str, Distribution | Derived] | None = None, *, correlation=None, **more):
        spec = dict(distributions or {}, **more)
        if not spec:
            raise InputError("Covariates: give at least one covariate, e.g. WT=LogNormal(median=70, cv=0.2, unit='kg')")
        drawn = {}
        for name, d in spec.items():
            _check_name(name, "Covariates")
            if isinstance(d, Distribution):
                drawn[name] = d
        derived = _check_derived({k: v for k, v in spec.items() if k not in drawn}, list(drawn), "Covariates")
        self.distributions, self.derived = drawn, derived
        self.names = tuple(spec)
        self.units = {k: v.unit for k, v in spec.items()}
        self._drawn = tuple(drawn)
        self.correlation = self._correlation(correlation)
        self._root = _square_root(self.correlation)

    def _correlation(self, correlation) -> np.ndarray:
        names = self._drawn
        c = np.eye(len(names))
        if correlation is None:
            return c
        if isinstance(correlation, Mapping):
            entries = []
            for pair, rho in correlation.items():
                if not (isinstance(pair, tuple) and len(pair) == 2):
                    raise InputError(f"Covariates correlation: key {pair!r} must be a pair of covariate names")
                entries.append((pair, rho))
        else:
            try:
                cnames, m = correlation
                m = np.asarray(m, dtype=float)
                cnames = tuple(cnames)
            except (TypeError, ValueError):
                raise InputError("Covariates correlation must be {(a, b): rho} or (names, matrix)") from None
            if m.shape != (len(cnames), len(cnames)) or not np.allclose(np.diag(m), 1.0):
                raise InputError(f"Covariates correlation matrix over {cnames} must be square with unit diagonal, got {m.tolist()}")
            entries = [((a, b), m[i, j]) for i, a in enumerate(cnames) for j, b in enumerate(cnames) if i < j]
            if not np.allclose(m, m.T):
                raise InputError(f"Covariates correlation matrix over {cnames} is not symmetric")
        for (a, b), rho in entries:
            for n in (a, b):
                if n not in names:
                    raise InputError(
                        f"Covariates correlation {(a, b)}: {n!r} is not a drawn covariate; correlations apply to {list(names)}"
                    )
            if a == b or not (-1.0 <= float(rho) <= 1.0):
                raise InputError(f"Covariates correlation {(a, b)} = {rho!r}: must be between two different covariates, in [-1, 1]")
            i, j = names.index(a), names.index(b)
            c[i, j] = c[j, i] = float(rho)
        low = float(np.linalg.eigvalsh(c).min())
        if low < -1e-10:
            raise InputError(f"Covariates correlation over {list(names)} is not positive semi-definite (smallest eigenvalue {low:.3g})")
        return c

    def sample(self, seed: int, ids: np.ndarray) -> dict[str, np.ndarray]:
        z = np.stack([streams.normals(seed, streams.COVARIATES, n, ids) for n in self._drawn], axis=1)
        z = correlate(z, self._root)
        values = {n: self.distributions[n].from_normal(z[:, k]) for k, n in enumerate(self._drawn)}
        for name, d in self.derived.items():
            values[name] = d.compute(values)
        return {n: values[n] for n in self.names}


class CovariateTable(CovariateSource):
    """Covariates from a table with one row per patient (a pandas DataFrame or a dict of equal-length arrays).

    Patient ``i`` (the global id) takes row ``i``, so a chunk of patients ``first .. first + n - 1`` needs a table of
    at least ``first + n`` rows; a shorter table is an error rather than silently reused. With ``resample=True`` each
    patient instead takes a row drawn uniformly with replacement from ``(seed, i)`` -- a bootstrap of an observed
    population (e.g. NHANES) to any number of patients.

    Parameters
    ----------
    data : DataFrame or dict of arrays
    units : dict, optional
        Unit of each column (UDUNITS); columns without one get no ``units`` attribute (units are never guessed).
    resample : bool
        Draw rows with replacement instead of row ``i`` for patient ``i``.
    derived : dict, optional
        Covariates computed from the columns, e.g. ``{"CRCL": CockcroftGault()}``.
    allow_identifiers : bool
        Keep columns whose names say they are direct identifiers (a name, MRN, date of birth, address, ...:
        :mod:`vhtwin.identifiers`). By default such a column is refused: every column of the table may reach a trial
        store.
    """

    def __init__(self, data, *, units: Mapping[str, str] | None = None, resample: bool = False,
                 derived: Mapping[str, Derived] | None = None, allow_identifiers: bool = False):
        if hasattr(data, "columns") and hasattr(data, "to_numpy"):  # pandas without importing it
            data = {str(c): data[c].to_numpy() for c in data.columns}
        if not isinstance(data, Mapping) or not data:
            raise InputError(f"covariate table must be a DataFrame or a non-empty dict of arrays, got {type(data).__name__}")
        if not allow_identifiers:
            refuse_identifiers(data, "covariate table", "vh.CovariateTable(table, allow_identifiers=True)")
        self.allow_identifiers = bool(allow_identifiers)
        columns, lengths = {}, {}
        for name, col in data.items():
            _check_name(name, "covariate table")
            a = np.asarray(col)
            if a.ndim != 1:
                raise InputError(f"covariate table column {name!r} must be 1-D (one value per patient), got shape {a.shape}")
            if a.dtype.kind == "O":
                raise InputError(f"covariate table column {name!r} must hold numbers or strings, not Python objects")
            columns[name], lengths[name] = a, a.shape[0]
        if len(set(lengths.values())) != 1:
            raise InputError(f"covariate table columns have different lengths {lengths}; one row per patient")
        self.rows = next(iter(lengths.values()))
        if self.rows == 0:
            raise InputError("covariate table has no rows")
        units = dict(units or {})
        unknown = [k for k in units if k not in columns]
        if unknown:
            raise InputError(f"covariate table units: {unknown[0]!r} is not a column; the columns are {list(columns)}")
        self.columns, self.resample = columns, bool(resample)
        self.derived = _check_derived(dict(derived or {}), list(columns), "covariate table")
        self.names = tuple(columns) + tuple(self.derived)
        self.units = {**{k: units.get(k) for k in columns}, **{k: d.unit for k, d in self.derived.items()}}

    def sample(self, seed: int, ids: np.ndarray) -> dict[str, np.ndarray]:
        if self.resample:
            u = streams.uniforms(seed, streams.RESAMPLE, "row", ids)
            rows = np.minimum((u * self.rows).astype(np.int64), self.rows - 1)
        else:
            if ids.size and int(ids.max()) >= self.rows:
                raise InputError(
                    f"covariate table has {self.rows} rows but patient {int(ids.max())} needs row {int(ids.max())} "
                    f"(patient i takes row i); give a table with at least {int(ids.max()) + 1} rows, fewer patients, "
                    "or CovariateTable(..., resample=True)"
                )
            rows = ids.astype(np.int64)
        values = {k: v[rows] for k, v in self.columns.items()}
        for name, d in self.derived.items():
            values[name] = d.compute(values)
        return values


def as_source(covariates) -> CovariateSource | None:
    """``Population(covariates=...)``: a Covariates, a CovariateTable, a DataFrame or a dict of arrays (a table)."""
    if covariates is None or isinstance(covariates, CovariateSource):
        return covariates
    if isinstance(covariates, Mapping) and covariates and all(isinstance(v, (Distribution, Derived)) for v in covariates.values()):
        return Covariates(covariates)
    return CovariateTable(covariates)
