"""Random effects: the between-subject covariance Omega, inter-occasion variability and how an eta enters a parameter.

Etas are on the *eta scale*: ``P = TV * exp(eta)`` for a log-normal parameter (NONMEM's ``CL = TVCL * EXP(ETA(1))``),
so an Omega variance of 0.073 is a between-subject CV of about sqrt(exp(0.073) - 1) = 27.5 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputError

#: How an eta enters a parameter: P = TV * exp(eta), TV + eta, or through the logit between the parameter's bounds.
DISTRIBUTIONS = ("lognormal", "normal", "logit")


def _variance(name: str, value, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: variance of {name!r} is {value!r}; it must be a number >= 0") from None
    if not np.isfinite(v) or v < 0:
        raise InputError(f"{where}: variance of {name!r} is {v:g}; it must be a finite number >= 0 (a variance, not an SD)")
    return v


@dataclass(frozen=True)
class Omega:
    """Between-subject covariance of the etas: diagonal variances plus full blocks (NONMEM ``$OMEGA`` / ``BLOCK``).

    Parameters
    ----------
    diagonal : dict
        Variance of eta by parameter name, for parameters whose eta is independent of the others.
    blocks : sequence of (names, matrix)
        Correlated etas: a tuple of parameter names and their covariance matrix (symmetric, positive semi-definite).

    Examples
    --------
    >>> Omega({"ka": 0.42}, blocks=[(("CL", "V"), [[0.073, 0.02], [0.02, 0.018]])])
    """

    diagonal: Mapping[str, float] = field(default_factory=dict)
    blocks: Sequence[tuple[Sequence[str], object]] = ()

    def __post_init__(self):
        if not isinstance(self.diagonal, Mapping):
            raise InputError(f"Omega diagonal must be a dict of variances by parameter name, got {type(self.diagonal).__name__}")
        diagonal = {str(k): _variance(k, v, "omega") for k, v in self.diagonal.items()}
        blocks, seen = [], set(diagonal)
        for b, block in enumerate(self.blocks):
            try:
                names, matrix = block
            except (TypeError, ValueError):
                raise InputError(f"omega block {b}: expected (names, matrix), got {block!r}") from None
            names = (names,) if isinstance(names, str) else tuple(str(n) for n in names)
            label = f"omega block {b} {names}"
            try:
                m = np.asarray(matrix, dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"{label}: the matrix {matrix!r} is not numeric") from None
            if m.shape != (len(names), len(names)):
                raise InputError(f"{label}: matrix has shape {m.shape}; it must be {len(names)} x {len(names)}")
            if not np.all(np.isfinite(m)):
                raise InputError(f"{label}: matrix has non-finite entries")
            for i, n in enumerate(names):
                _variance(n, m[i, i], label)
            if not np.allclose(m, m.T, rtol=1e-12, atol=1e-14):
                raise InputError(f"{label}: matrix {m.tolist()} is not symmetric")
            low = float(np.linalg.eigvalsh(m).min())
            if low < -1e-10 * max(1.0, float(np.abs(m).max())):
                raise InputError(
                    f"{label}: matrix {m.tolist()} is not positive semi-definite (smallest eigenvalue {low:.3g}); "
                    "a covariance needs |cov(i, j)| <= sqrt(var(i) var(j)) and, beyond 2 x 2, a consistent set of them"
                )
            twice = [n for n in names if n in seen]
            if twice or len(set(names)) != len(names):
                raise InputError(f"{label}: parameter {(twice or list(names))[0]!r} appears more than once in omega")
            seen.update(names)
            blocks.append((names, m))
        object.__setattr__(self, "diagonal", diagonal)
        object.__setattr__(self, "blocks", tuple(blocks))

    @classmethod
    def coerce(cls, omega) -> "Omega":
        if omega is None:
            return cls()
        if isinstance(omega, Omega):
            return omega
        if isinstance(omega, Mapping):
            return cls(omega)
        raise InputError(f"omega must be a dict of variances by parameter name or a vhtwin.Omega, got {type(omega).__name__}")

    @property
    def names(self) -> tuple[str, ...]:
        """Parameters with an eta: diagonal ones first, then block by block."""
        return tuple(self.diagonal) + tuple(n for names, _ in self.blocks for n in names)

    def groups(self) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """Every independent group of etas with a square root ``L`` of its covariance (``L @ L.T == cov``)."""
        out = [((n,), np.array([[np.sqrt(v)]])) for n, v in self.diagonal.items()]
        for names, m in self.blocks:
            out.append((names, _square_root(m)))
        return out

    def matrix(self) -> tuple[tuple[str, ...], np.ndarray]:
        """The full Omega over :attr:`names`."""
        names = self.names
        full = np.zeros((len(names), len(names)))
        for n, v in self.diagonal.items():
            i = names.index(n)
            full[i, i] = v
        for block_names, m in self.blocks:
            idx = [names.index(n) for n in block_names]
            full[np.ix_(idx, idx)] = m
        return names, full


def _square_root(m: np.ndarray) -> np.ndarray:
    """Cholesky factor of a positive definite matrix; a symmetric square root when it is only semi-definite."""
    try:
        return np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(m)
        return v * np.sqrt(np.clip(w, 0.0, None))


def correlate(z: np.ndarray, root: np.ndarray) -> np.ndarray:
    """``z @ root.T`` for z (n, d), summed in a fixed order per row (no BLAS, whose blocking may depend on n)."""
    out = np.zeros_like(z)
    for j in range(root.shape[0]):
        acc = np.zeros(z.shape[0])
        for k in range(root.shape[1]):
            if root[j, k] != 0.0:
                acc = acc + root[j, k] * z[:, k]
        out[:, j] = acc
    return out


@dataclass(frozen=True)
class IOV:
    """Inter-occasion variability: an extra eta (NONMEM's kappa) per patient, occasion and parameter.

    On occasion ``k`` a log-normal parameter is ``TV * exp(eta + kappa_k)``; kappas are independent across occasions
    and parameters, normal with the given variances.

    Parameters
    ----------
    variances : dict
        Variance of kappa by parameter name (eta scale).
    n_occasions : int
        Occasions per patient (indexed 0 .. n_occasions - 1; NONMEM's OCC = k + 1).
    """

    variances: Mapping[str, float]
    n_occasions: int

    def __post_init__(self):
        if not isinstance(self.variances, Mapping) or not self.variances:
            raise InputError(f"IOV variances must be a non-empty dict by parameter name, got {self.variances!r}")
        n = self.n_occasions
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InputError(f"IOV n_occasions {n!r} must be an integer >= 1")
        object.__setattr__(self, "variances", {str(k): _variance(k, v, "iov") for k, v in self.variances.items()})
        object.__setattr__(self, "n_occasions", int(n))


def individual(tv: np.ndarray, eta: np.ndarray, distribution: str, lower: float, upper: float) -> np.ndarray:
    """A parameter from its typical value and eta(s); ``eta`` may carry extra trailing axes (occasions)."""
    if eta.ndim > tv.ndim:
        tv = tv.reshape(tv.shape + (1,) * (eta.ndim - tv.ndim))
    if distribution == "lognormal":
        return tv * np.exp(eta)
    if distribution == "normal":
        return tv + eta
    width = upper - lower
    x = (tv - lower) / width
    return lower + width / (1.0 + np.exp(-(np.log(x / (1.0 - x)) + eta)))
