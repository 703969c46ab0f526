"""The covariance step: the R and S matrices at the estimate, their sandwich, and what they give on the natural scale.

With the log-likelihood ``l = -OFV / 2`` of the free parameters ``x`` (unconstrained scale):

- ``R = -d^2 l / dx dx^T`` (the observed information), by central differences of the exact gradient;
- ``S = sum_i s_i s_i^T``, the subjects' scores ``s_i = -1/2 d OFV_i / dx`` (the cross-product of gradients);
- the covariance of ``x`` is ``R^-1 S R^-1`` (``"sandwich"``, NONMEM's default ``MATRIX=RSR``), ``R^-1`` (``"R"``) or
  ``S^-1`` (``"S"``).

A matrix that is not positive definite makes the step fail *with a status naming it* -- standard errors are then
NaN, never silently wrong. The natural-scale covariance is ``J C J^T`` with ``J`` the Jacobian of the reported values
(typical values, coefficients, Omega elements, residual SDs) by the delta method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .outer import Evaluator

KINDS = ("sandwich", "R", "S")


@dataclass(frozen=True)
class CovarianceStep:
    """The result of the covariance step on the unconstrained free parameters."""

    status: str  # "ok", or why it failed
    kind: str  # "sandwich", "R" or "S"
    covariance: np.ndarray  # (p, p) of x (NaN when the step failed)
    r: np.ndarray  # (p, p) observed information
    s: np.ndarray  # (p, p) cross-product of the scores

    @property
    def ok(self) -> bool:
        return self.status == "ok"


#: A matrix whose smallest eigenvalue is below this fraction of its largest is singular to the precision of a
#: finite-difference Hessian of an objective resolved to ~1e-10: a parameter the data do not determine.
SINGULAR = 1e-10


def _positive_definite(m: np.ndarray) -> tuple[bool, float]:
    w = np.linalg.eigvalsh(0.5 * (m + m.T)) if np.all(np.isfinite(m)) else np.array([np.nan])
    return bool(np.all(w > SINGULAR * np.max(np.abs(w)))), float(np.min(w))


def step(evaluator: Evaluator, x: np.ndarray, *, kind: str = "sandwich", h: float = 1e-4) -> CovarianceStep:
    """R, S and the covariance of ``x`` at the estimate ``x``."""
    x = np.asarray(x, float)
    p = x.size
    _, per_subject, _ = evaluator.value_and_gradient(x)
    s = 0.25 * per_subject.T @ per_subject
    hessian = np.empty((p, p))
    for j in range(p):
        e = np.zeros(p)
        e[j] = h * max(1.0, abs(x[j]))
        plus = np.sum(evaluator.value_and_gradient(x + e)[1], axis=0)
        minus = np.sum(evaluator.value_and_gradient(x - e)[1], axis=0)
        hessian[:, j] = (plus - minus) / (2.0 * e[j])
    evaluator.inner(x)  # leave the warm start at the estimate
    r = 0.25 * (hessian + hessian.T)  # -d2l = 1/2 d2 OFV, symmetrised
    nan = np.full((p, p), np.nan)
    r_ok, r_low = _positive_definite(r)
    s_ok, s_low = _positive_definite(s)
    if kind in ("sandwich", "R") and not r_ok:
        return CovarianceStep(f"failed: the R matrix is not positive definite (smallest eigenvalue {r_low:.3g} of "
                              f"{np.max(np.abs(np.linalg.eigvalsh(r))):.3g}); the estimate is not a minimum in every "
                              "direction or a parameter is not identifiable",
                              kind, nan, r, s)
    if kind == "S" and not s_ok:
        return CovarianceStep(f"failed: the S matrix is not positive definite (smallest eigenvalue {s_low:.3g}); too "
                              "few subjects for the number of parameters", kind, nan, r, s)
    r_inv = np.linalg.inv(r) if r_ok else nan
    cov = {"sandwich": lambda: r_inv @ s @ r_inv, "R": lambda: r_inv, "S": lambda: np.linalg.inv(s)}[kind]()
    return CovarianceStep("ok", kind, 0.5 * (cov + cov.T), r, s)


def natural(jacobian: np.ndarray, cov_x: np.ndarray) -> np.ndarray:
    """The covariance of the reported values, ``J C J^T`` (delta method)."""
    return jacobian @ cov_x @ jacobian.T
