"""The outer problem of FOCE-I, FOCE and Laplace: a quasi-Newton search over the free population parameters.

Each evaluation solves every subject's inner problem at once (the batched Newton search of
:mod:`vhtwin.calibration.fit`, warm-started from the previous modes), then the objective and its exact gradient
(:func:`vhtwin.estimation.objective.gradients`). The search is BFGS on the unconstrained parameters, with scipy's
strong-Wolfe line search; its state is saved after every iteration, so an interrupted search resumes exactly.
"""

from __future__ import annotations

import math
import warnings
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
    slope: np.ndarray | None = None  # d modes / dx at ``at`` (W, k, p), from the last gradient
    at: np.ndarray | None = None  # the x of ``slope``
    curvature: np.ndarray | None = None  # exact minus expected Hessian at the last gradient's modes (W, k, k)
    evaluations: int = 0
    history: list = field(default_factory=list)  # (evaluation, OFV) -- the -2LL with constant

    def __post_init__(self):
        a = self.assembled
        k = len(a.static.layout.iiv)
        if self.modes is None:
            self.modes = np.zeros((a.width, k))
        if self.curvature is None:
            self.curvature = np.zeros((a.width, k, k))
        noise = 1e-12 if a.solve_method == "exact" else max(1e-12, 10.0 * a.problem.rtol)
        self.settings = {"max_iter": np.int32(self.inner_max_iter), "gtol": np.float64(self.inner_gtol),
                         "noise": np.float64(noise)}
        self.f = a.functions()

    def start(self, x) -> np.ndarray:
        """Where the inner search at ``x`` starts: the last modes moved along their derivative (the implicit function
        theorem), so that the search starts second-order close; each lane's move is capped at one eta unit."""
        if self.slope is None or self.at is None:
            return self.modes
        move = np.einsum("wkp,p->wk", self.slope, np.asarray(x, float) - self.at)
        move = np.where(np.isfinite(move), move, 0.0)  # a lane without a finite slope starts at its last mode
        norm = np.linalg.norm(move, axis=1, keepdims=True)
        move = move * np.minimum(1.0, 1.0 / np.maximum(norm, 1e-300))
        return self.modes + move

    def inner(self, x):
        """The conditional modes at ``x`` (a Result over all lanes; warm start predicted from the last modes)."""
        with jax.enable_x64(True), engine.counting():
            result = jax.device_get(self.f["modes"](np.asarray(x, float), self.start(x), self.assembled.data,
                                                    self.settings, self.curvature))
        finite = np.isfinite(np.asarray(result.value))
        if finite[: self.assembled.n_lanes].all():
            self.modes = np.asarray(result.x)
            self.slope, self.at = None, None  # the slope was of the previous modes
        return result

    def evaluated_at(self, x) -> bool:
        """Whether the warm start holds the modes (and their slope) at ``x``."""
        return self.at is not None and np.array_equal(self.at, np.asarray(x, float))

    def warm_start(self) -> dict:
        """The warm start of the next inner search (arrays; the slope only where known)."""
        return {"modes": np.asarray(self.modes), "slope": self.slope, "curvature": np.asarray(self.curvature)}

    def restore(self, warm: dict, x) -> None:
        """Put a saved :meth:`warm_start`, taken at ``x``, back."""
        self.modes = np.asarray(warm["modes"], float)
        self.slope = None if warm.get("slope") is None else np.asarray(warm["slope"], float)
        self.at = None if self.slope is None else np.asarray(x, float)
        if warm.get("curvature") is not None:
            self.curvature = np.asarray(warm["curvature"], float)

    def value_and_gradient(self, x):
        """Per subject ``OFV_i`` (B,) and gradients (B, p) at ``x``, with the modes used."""
        result = self.inner(x)
        B = self.assembled.n_lanes
        with jax.enable_x64(True), engine.counting():
            value, gradient, slope, curvature = jax.device_get(self.f["gradients"](
                np.asarray(x, float), np.asarray(result.x), np.asarray(result.gradient), np.asarray(result.hessian),
                self.assembled.data))
        if np.array_equal(self.modes, np.asarray(result.x)):
            self.slope, self.at = np.asarray(slope), np.asarray(x, float).copy()
            if np.all(np.isfinite(curvature)):
                self.curvature = np.asarray(curvature)
        self.evaluations += 1
        total = float(np.sum(value[:B]))
        self.history.append((self.evaluations, total))
        return np.asarray(value[:B]), np.asarray(gradient[:B]), result

    def __call__(self, x):
        value, gradient, _ = self.value_and_gradient(x)
        total = float(np.sum(value))
        if not math.isfinite(total) or not np.all(np.isfinite(gradient)):
            return math.inf, np.zeros_like(np.asarray(x, float))  # a failed solve: the line search steps back
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


@dataclass
class SearchState:
    """Everything BFGS carries from one iteration to the next: saved after each iteration, a search resumed from it
    continues exactly as the uninterrupted one would (``warm``: the evaluator's warm start of the next inner
    search)."""

    x: np.ndarray
    value: float
    gradient: np.ndarray
    inverse_hessian: np.ndarray
    iteration: int
    warm: dict

    def to_json(self) -> dict:
        return {"x": self.x.tolist(), "value": self.value, "gradient": self.gradient.tolist(),
                "inverse_hessian": self.inverse_hessian.tolist(), "iteration": self.iteration,
                "warm": {k: None if v is None else np.asarray(v).tolist() for k, v in self.warm.items()}}

    @classmethod
    def from_json(cls, d: dict) -> "SearchState":
        warm = d.get("warm") or {"modes": d["modes"]}  # a state saved before the warm start had more than modes
        return cls(np.asarray(d["x"], float), float(d["value"]), np.asarray(d["gradient"], float),
                   np.asarray(d["inverse_hessian"], float), int(d["iteration"]),
                   {k: None if v is None else np.asarray(v, float) for k, v in warm.items()})


def search(evaluator: Evaluator, x0, *, max_iter: int, gtol: float, state: SearchState | None = None,
           checkpoint=None) -> Outcome:
    """BFGS from ``x0`` (or from a saved ``state``) until every gradient component is below ``gtol`` (OFV units per
    unconstrained unit). Each step is a strong-Wolfe line search (scipy's), backtracking where it fails;
    ``checkpoint(state)`` is called after every iteration."""
    cache: dict = {}

    def evaluate(x):
        key = np.asarray(x, float).tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = evaluator(np.asarray(x, float))
        return cache[key]

    message, converged = "maximum number of iterations reached", False
    if state is None:
        x = np.asarray(x0, float)
        value, gradient = evaluate(x)
        state = SearchState(x, value, gradient, np.eye(x.size), 0, evaluator.warm_start())
    else:
        evaluator.restore(state.warm, state.x)
        cache[state.x.tobytes()] = (state.value, state.gradient)
    f = lambda z: evaluate(z)[0]
    fprime = lambda z: evaluate(z)[1]
    while state.iteration < max_iter:
        x, value, g, H = state.x, state.value, state.gradient, state.inverse_hessian
        if float(np.max(np.abs(g))) < gtol:
            converged, message = True, "gradient below tolerance"
            break
        p = -H @ g
        alpha = _step(f, fprime, x, p, g, value, first=state.iteration == 0)
        if alpha is None and not np.allclose(H, np.eye(x.size)):  # a poor curvature model: restart it
            H = np.eye(x.size)
            p = -g
            alpha = _step(f, fprime, x, p, g, value, first=True)
        if alpha is None:
            converged = float(np.max(np.abs(g))) < 10.0 * gtol
            message = "the line search found no lower point (the objective's resolution is reached)"
            break
        x_new = x + alpha * p
        value_new, g_new = evaluate(x_new)
        s_vec, y_vec = x_new - x, g_new - g
        sy = float(s_vec @ y_vec)
        if sy > 1e-300:
            if state.iteration == 0 and np.allclose(H, np.eye(x.size)):
                H = np.eye(x.size) * sy / float(y_vec @ y_vec)  # scale the first curvature model
            rho = 1.0 / sy
            I = np.eye(x.size)
            H = (I - rho * np.outer(s_vec, y_vec)) @ H @ (I - rho * np.outer(y_vec, s_vec)) + rho * np.outer(s_vec, s_vec)
        if not evaluator.evaluated_at(x_new):
            evaluator(x_new)  # the modes (and their slope) at the accepted point are the next warm start
        state = SearchState(x_new, value_new, g_new, H, state.iteration + 1, evaluator.warm_start())
        if checkpoint is not None:
            checkpoint(state)
    else:
        converged = float(np.max(np.abs(state.gradient))) < gtol
        message = "gradient below tolerance" if converged else message
    evaluator.inner(state.x)
    return Outcome(np.asarray(state.x), bool(converged), message, state.iteration, evaluator.evaluations,
                   np.asarray(state.gradient))


def _step(f, fprime, x, p, g, value, *, first: bool):
    """A step length along ``p``: a strong-Wolfe line search (scipy's), else backtracking to a sufficient decrease.

    On a first step (no curvature known yet) the trial length makes the predicted decrease one unit of the objective
    -- as scipy's BFGS starts -- so that a large gradient does not throw the parameters out of range.
    """
    slope = float(g @ p)
    if not slope < 0:
        return None
    start = min(1.0, 1.0 / abs(slope)) if first else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "did not converge": the backtracking below takes over
        alpha = optimize.line_search(f, fprime, x, p, gfk=g, old_fval=value,
                                     old_old_fval=value - 0.5 * slope * start if first else None, c1=1e-4, c2=0.9,
                                     maxiter=30)[0]
    if alpha is not None and np.isfinite(alpha) and alpha > 0:
        return float(alpha)
    alpha = start
    for _ in range(40):  # backtracking: an objective that fails (inf) or rises is stepped back from
        trial = f(x + alpha * p)
        if np.isfinite(trial) and trial <= value + 1e-4 * alpha * slope:
            return alpha
        alpha *= 0.5
    return None
