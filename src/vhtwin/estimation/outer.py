"""The outer problem of FOCE-I, FOCE and Laplace: a quasi-Newton search over the free population parameters.

Each evaluation solves every subject's inner problem at once (the batched Newton search of
:mod:`vhtwin.calibration.fit`, warm-started from the previous modes), then the objective and its exact gradient
(:func:`vhtwin.estimation.objective.gradients`). The search is BFGS (scipy) on the unconstrained parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import numpy as np
from scipy import optimize

from .. import engine
from .assemble import Assembled


@dataclass
class Evaluator:
    """Objective and gradient at free parameters ``x``, remembering the last modes (warm start) and counting."""

    assembled: Assembled
    inner_max_iter: int = 100
    inner_gtol: float = 1e-8
    modes: np.ndarray | None = None
    evaluations: int = 0
    history: list = field(default_factory=list)  # (evaluation, OFV) -- the -2LL with constant

    def __post_init__(self):
        a = self.assembled
        k = len(a.static.layout.iiv)
        if self.modes is None:
            self.modes = np.zeros((a.width, k))
        noise = 1e-12 if a.solve_method == "exact" else max(1e-12, 10.0 * a.problem.rtol)
        self.settings = {"max_iter": np.int32(self.inner_max_iter), "gtol": np.float64(self.inner_gtol),
                         "noise": np.float64(noise)}
        self.f = a.functions()

    def inner(self, x):
        """The conditional modes at ``x`` (a Result over all lanes; warm start from the last modes)."""
        with jax.enable_x64(True), engine.counting():
            result = jax.device_get(self.f["modes"](np.asarray(x, float), self.modes, self.assembled.data,
                                                    self.settings))
        finite = np.isfinite(np.asarray(result.value))
        if finite[: self.assembled.n_lanes].all():
            self.modes = np.asarray(result.x)
        return result

    def value_and_gradient(self, x):
        """Per subject ``OFV_i`` (B,) and gradients (B, p) at ``x``, with the modes used."""
        result = self.inner(x)
        B = self.assembled.n_lanes
        with jax.enable_x64(True), engine.counting():
            value, gradient = jax.device_get(self.f["gradients"](np.asarray(x, float), np.asarray(result.x),
                                                                 np.asarray(result.gradient),
                                                                 np.asarray(result.hessian), self.assembled.data))
        self.evaluations += 1
        total = float(np.sum(value[:B]))
        self.history.append((self.evaluations, total))
        return np.asarray(value[:B]), np.asarray(gradient[:B]), result

    def __call__(self, x):
        value, gradient, _ = self.value_and_gradient(x)
        total = float(np.sum(value))
        if not math.isfinite(total) or not np.all(np.isfinite(gradient)):
            return 1e300, np.zeros_like(np.asarray(x, float))  # a failed solve: the line search steps back
        return total, np.sum(gradient, axis=0)


@dataclass(frozen=True)
class Outcome:
    """How the outer search ended."""

    x: np.ndarray
    converged: bool
    message: str
    iterations: int
    evaluations: int
    gradient: np.ndarray


def search(evaluator: Evaluator, x0, *, max_iter: int, gtol: float) -> Outcome:
    """BFGS from ``x0`` until every gradient component is below ``gtol`` (OFV units per unconstrained unit)."""
    result = optimize.minimize(evaluator, np.asarray(x0, float), jac=True, method="BFGS",
                               options={"maxiter": int(max_iter), "gtol": float(gtol)})
    _, gradient = evaluator(result.x)
    small = float(np.max(np.abs(gradient))) < max(gtol, 1e-12) * 10.0
    # BFGS stops with "precision loss" when the line search cannot improve on a point whose gradient is at the
    # objective's resolution: that is convergence as far as the objective can tell; a large gradient is not.
    converged = bool(result.success or small)
    return Outcome(np.asarray(result.x), converged, str(result.message), int(result.nit), evaluator.evaluations,
                   np.asarray(gradient))
