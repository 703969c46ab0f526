"""Covariate models: how a covariate scales a parameter's typical value, before the eta is applied.

Each model multiplies the typical value by a factor (NONMEM-style ``TVCL = THETA(1) * (WT/70)**0.75``); several
models on one parameter multiply in the order given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import InputError


class CovariateModel:
    """Base: ``param`` (model parameter name), ``covariate`` (covariate name) and a ``factor(values)``."""

    param: str
    covariate: str

    def factor(self, values: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _numeric(self, values) -> np.ndarray:
        a = np.asarray(values)
        if a.dtype.kind not in "biuf":
            raise InputError(f"{type(self).__name__} on {self.param!r}: covariate {self.covariate!r} must be numeric, got {a.dtype}")
        return a.astype(float)


def _finite(cls: str, **values) -> None:
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise InputError(f"{cls}: {k} {v!r} must be a finite number")


@dataclass(frozen=True)
class PowerCovariate(CovariateModel):
    """``TV * (cov / reference) ** exponent`` -- allometric scaling, e.g. ``PowerCovariate("CL", "WT", 70, 0.75)``."""

    param: str
    covariate: str
    reference: float
    exponent: float

    def __post_init__(self):
        _finite("PowerCovariate", reference=self.reference, exponent=self.exponent)
        if self.reference <= 0:
            raise InputError(f"PowerCovariate on {self.param!r}: reference {self.reference!r} must be > 0")

    def factor(self, values):
        x = self._numeric(values)
        if np.any(~(x > 0)):
            bad = x[~(x > 0)][0].item()
            raise InputError(f"PowerCovariate on {self.param!r}: covariate {self.covariate!r} has value {bad!r}; it must be > 0")
        return (x / self.reference) ** self.exponent


@dataclass(frozen=True)
class LinearCovariate(CovariateModel):
    """``TV * (1 + slope * (cov - reference))``, e.g. ``LinearCovariate("CL", "AGE", 40, -0.005)``."""

    param: str
    covariate: str
    reference: float
    slope: float

    def __post_init__(self):
        _finite("LinearCovariate", reference=self.reference, slope=self.slope)

    def factor(self, values):
        return 1.0 + self.slope * (self._numeric(values) - self.reference)


@dataclass(frozen=True)
class ExponentialCovariate(CovariateModel):
    """``TV * exp(coefficient * (cov - reference))``."""

    param: str
    covariate: str
    reference: float
    coefficient: float

    def __post_init__(self):
        _finite("ExponentialCovariate", reference=self.reference, coefficient=self.coefficient)

    def factor(self, values):
        return np.exp(self.coefficient * (self._numeric(values) - self.reference))


@dataclass(frozen=True)
class CategoricalCovariate(CovariateModel):
    """``TV * factors[level]``, e.g. ``CategoricalCovariate("CL", "SEX", {0: 1.0, 1: 0.8})``.

    Every level present in the data must be listed (the reference level with factor 1): an unlisted level is an
    error, not silently the reference.
    """

    param: str
    covariate: str
    factors: Mapping

    def __post_init__(self):
        if not isinstance(self.factors, Mapping) or not self.factors:
            raise InputError(f"CategoricalCovariate on {self.param!r}: factors must be a non-empty dict {{level: factor}}")
        for level, f in self.factors.items():
            _finite(f"CategoricalCovariate on {self.param!r}", **{f"factor of level {level!r}": f})

    def factor(self, values):
        a = np.asarray(values)
        out = np.full(a.shape, np.nan)
        for level, f in self.factors.items():
            out[a == level] = f
        if np.isnan(out).any():
            level = a[np.isnan(out)][0].item()
            raise InputError(
                f"CategoricalCovariate on {self.param!r}: covariate {self.covariate!r} has level {level!r}, which is not "
                f"among the levels {list(self.factors)}; list every level (the reference with factor 1.0)"
            )
        return out
