"""Populations of virtual patients: covariates, covariate models, random effects, residual error.

Determinism: patient ``i``'s covariates, etas and residual noise depend only on ``(seed, i)`` -- not on the number of
patients drawn, chunking, batch size, device count or JAX's PRNG settings (see :mod:`vhtwin.population.streams`).
"""

from .core import Population
from .covariate_models import (
    CategoricalCovariate, CovariateModel, ExponentialCovariate, LinearCovariate, PowerCovariate,
)
from .covariates import (
    Bernoulli, BodyMassIndex, CockcroftGault, CovariateTable, Covariates, Derived, Distribution, LogNormal, Normal,
    Uniform,
)
from .residual import Residual
from .variability import IOV, Omega

__all__ = [
    "Bernoulli", "BodyMassIndex", "CategoricalCovariate", "CockcroftGault", "CovariateModel", "CovariateTable",
    "Covariates", "Derived", "Distribution", "ExponentialCovariate", "IOV", "LinearCovariate", "LogNormal", "Normal",
    "Omega", "Population", "PowerCovariate", "Residual", "Uniform",
]
