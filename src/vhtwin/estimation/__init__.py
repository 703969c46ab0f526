"""Population estimation: typical values, covariate effects, between-subject variability and residual error of a
model fitted to a clinical dataset, every subject's inner problem solved in one batched, compiled step.

- :mod:`.data` lays a :class:`vhtwin.Dataset` out per subject;
- :mod:`.parameters` is THETA / OMEGA / SIGMA and their unconstrained parametrisation;
- :mod:`.objective` is the FOCE-I, FOCE and Laplace objective and its exact gradient, batched over subjects;
- :mod:`.assemble` compiles it for a dataset; :mod:`.outer` is the quasi-Newton search;
- :mod:`.covariance` is the covariance step (R, S, sandwich);
- :mod:`.result` holds the fit (:class:`PopulationFit`); :mod:`.estimate` is :func:`estimate`;
- :mod:`.vpc` computes visual predictive checks; :mod:`.figures` draws goodness-of-fit and VPC figures.
"""

from .estimate import estimate
from .result import PopulationFit

__all__ = ["PopulationFit", "estimate"]
