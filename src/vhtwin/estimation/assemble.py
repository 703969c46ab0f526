"""The batched problem an estimation solves: subjects' data, the compiled solve over lanes, the parametrisation.

One *lane* is one subject's copy of the problem (``repeat`` copies per subject for simulation: replicates of a
visual predictive check or of the NPDE). The calibration machinery lays the lanes out (:class:`vhtwin.calibration.
problem.Lanes`); here the population parameters become arguments of the compiled programs instead of constants.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from ..calibration.objective import check_exponential_data
from ..calibration.prior import Prior
from ..calibration.problem import Problem, check_protocols, per_patient_protocols
from ..errors import InputError
from ..model import Model
from ..population import Population
from . import objective as _objective
from .data import Subjects
from .parameters import Parametrisation


@dataclass(frozen=True)
class Assembled:
    """A compiled objective (``static``) and the arrays it reads (``data``) for ``n_lanes`` lanes."""

    problem: Problem
    static: _objective.Static
    data: dict
    n_lanes: int
    n_measurements: int
    solve_method: str  # the solver the solve resolved to ("exact", "tsit5", "kvaerno5", ...)

    @property
    def width(self) -> int:
        """Lanes of the compiled solve (a bucket >= n_lanes)."""
        return int(self.data["mask"].shape[0])

    def functions(self) -> dict:
        return _objective.compiled(self.static)


def problem(model: Model, population: Population, subjects: Subjects, par: Parametrisation, *, solver, rtol, atol,
            max_steps) -> Problem:
    """The calibration problem whose lanes carry the subjects: every estimated row differentiable."""
    obs = subjects.obs
    covariates = {c: subjects.covariates[c].to_numpy(float) for c in subjects.covariates.columns}
    typical = population.typical_values(covariates, n=obs.n_patients) if population.covariate_models else \
        {n: np.full(obs.n_patients, float(v)) for n, v in population.typical.items()}
    R = len(par.layout.rows)
    residuals = {o: population.residual for o in obs.observables}
    prior = Prior(par.layout.rows, np.eye(R), np.eye(R), typical, par.layout.kinds, par.lower, par.upper, residuals,
                  covariates)
    check_exponential_data(residuals, obs.observables, obs.observable, obs.value, obs.censored, obs.mask, obs.lloq)
    protocols = per_patient_protocols(subjects.regimens, obs.ids, True)
    check_protocols(obs, protocols)
    return Problem(model, obs, prior, protocols, solver=solver, rtol=float(rtol), atol=float(atol),
                   max_steps=int(max_steps))


def assemble(prob: Problem, par: Parametrisation, method: str, repeat: int = 1) -> Assembled:
    """The compiled objective of ``method`` over ``n_subjects * repeat`` lanes (subject-major)."""
    if method != "laplace" and prob.obs.censored.any():
        raise InputError(f"estimate method = {method!r}: the data have BLQ records (CENS = 1), whose M3 likelihood "
                         "needs the exact Hessian; use method='laplace' (as NONMEM does) or drop the BLQ records")
    with jax.enable_x64(True):
        lanes = prob.lanes(repeat)
    W = lanes.data["mask"].shape[0]
    features = np.repeat(par.features, repeat, axis=1)
    if features.shape[1] < W:
        fill = features[:, -1:] if features.shape[1] else np.zeros((features.shape[0], 1))
        features = np.concatenate([features, np.repeat(fill, W - features.shape[1], axis=1)], axis=1)
    data = {**lanes.data, "u0": np.asarray(par.u0, float), "free": np.asarray(par.free, np.int32),
            "features": features, "lower": np.asarray(par.lower, float), "upper": np.asarray(par.upper, float),
            **_objective.sigma_indices(par.layout, prob.obs.observables)}
    static = _objective.Static(lanes.static, par.layout, method)
    return Assembled(prob, static, data, lanes.n_lanes, lanes.n_measurements, lanes.method)
