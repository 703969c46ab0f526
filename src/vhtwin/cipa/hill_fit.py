"""Uncertainty of a Hill-equation block fit: the optimal IC50 and Hill coefficient and samples from their posterior.

The method is the FDA's for the CiPA drugs (Chang et al. 2017, the ``Hill_Fitting/IC50_mcmc.R`` script of the FDA
CiPA repository), in numpy:

- the model: block (%) = 100 (1 - 1 / (1 + (conc / IC50)^h)), parameters (log IC50, h) in
  [log 1e-10, log 1e10] x [0, 10] (IC50 in nM);
- a bounded least-squares fit, started from the linearised guess and from IC50s from 1e-5 to 5e6 nM with h = 0.9;
- adaptive Metropolis with delayed rejection (two tries, the second with a jump five times smaller): the jump
  covariance starts as the fit's scaled covariance x 2.4^2 / 2 (or 10 % of each parameter where the fit's covariance
  does not exist) and, during burn-in, is re-estimated every 10 iterations from the last ``samples`` states x
  2.4^2 / 2; it is then frozen for the samples kept;
- Gaussian errors whose variance is drawn every iteration from its inverse-gamma conditional, with prior variance
  the fit's mean squared residual and prior weight one data set (n0 = n);
- a chain that accepts fewer moves than samples kept is run again with the 10 % jump, and one that fails Geweke's
  test (|z| >= 1.96 for either parameter, first 10 % against last 50 %) is run again from the same seed with the
  burn-in lengthened by ``burnin``, at most five times.

One call is deterministic given ``seed`` (a ``numpy.random.Generator(PCG64(seed))``); its draws are not the R
script's, its distribution is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..errors import InputError

__all__ = ["HillFit", "fit_hill"]

#: bounds of (log IC50 [IC50 in nM], Hill coefficient)
LOWER = np.array([np.log(1e-10), 0.0])
UPPER = np.array([np.log(1e10), 10.0])

_IC50_STARTS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 100.0, 300.0, 500.0, 1e3, 3e3, 5e3, 1e4, 3e4, 5e4, 1e5, 3e5,
                5e5, 1e6, 3e6, 5e6)
_H_START = 0.9
_COVSCALE = 2.4**2 / 2  # the adaptive-Metropolis scale for two parameters
_UPDATE_EVERY = 10  # iterations between re-estimates of the jump covariance during burn-in
_DR_SCALE = 0.2  # the delayed-rejection try's jump relative to the first
_MIN_ACCEPTED_FOR_UPDATE = 5  # the covariance is not re-estimated from fewer accepted moves
_GEWEKE_TRIES = 5
_GEWEKE_Z = 1.959963984540054  # the 97.5 % normal quantile


@dataclass(frozen=True)
class HillFit:
    """The optimal Hill fit to one current's block data and the posterior samples of its parameters.

    Attributes
    ----------
    ic50 : float
        Least-squares IC50, nM.
    h : float
        Least-squares Hill coefficient.
    ic50_samples : numpy.ndarray
        ``samples`` posterior draws of the IC50 (nM), read-only.
    h_samples : numpy.ndarray
        The matching draws of the Hill coefficient, read-only.
    acceptance : float
        Accepted moves / iterations of the chain the samples come from (burn-in included).
    converged : bool
        The chain accepted at least ``samples`` moves and passed Geweke's test. ``False`` is where the FDA's
        procedure leaves the current without samples; the samples of the last chain are still given.
    burnin : int
        Burn-in iterations of the chain the samples come from (more than asked when Geweke's test made it rerun).
    """

    ic50: float
    h: float
    ic50_samples: np.ndarray
    h_samples: np.ndarray
    acceptance: float
    converged: bool
    burnin: int


def fit_hill(conc, block, *, samples: int = 2000, burnin: int = 10000, thin: int = 10, seed: int = 100) -> HillFit:
    """Fit the Hill equation to block data and sample the posterior of (IC50, h) by MCMC.

    Parameters
    ----------
    conc : array_like
        Drug concentration of each measurement, nM (>= 0, at least two distinct values).
    block : array_like
        Block of the current at each concentration, % (any finite value: noise gives some below 0 or above 100).
    samples : int
        Posterior samples to keep (the FDA's 2000).
    burnin : int
        Iterations discarded first, and the step by which Geweke's test lengthens them (the FDA's 10000).
    thin : int
        Iterations per kept sample after burn-in (the FDA's 10).
    seed : int
        Seed of the ``numpy.random.PCG64`` generator (100, as the FDA seeded its R generator).

    Returns
    -------
    HillFit

    Raises
    ------
    InputError
        Before any compute, for data or settings outside what is allowed.
    """
    c, y = _check(conc, block, samples, burnin, thin, seed)
    p_opt, ssr = _least_squares(c, y)
    n = y.size
    # The fit's mean squared residual is the prior error variance; a perfect fit would make it 0 and every move but
    # a perfect one impossible, so it is kept above a negligible floor.
    var0 = max(ssr / n, 1e-12)
    fit_chol = _fit_jump(c, y, p_opt, ssr)
    # the jump when the fit's covariance does not exist or the chain stalls: 10 % of each parameter (kept above 0 so
    # that a parameter at 0 can still move)
    fallback = np.diag(np.maximum(0.1 * np.abs(p_opt), 1e-8))
    run_burnin = burnin
    for _ in range(_GEWEKE_TRIES):
        for chol in ((fit_chol,) if fit_chol is not None else ()) + (fallback,):
            chain = _chain(c, y, p_opt, chol, var0, run_burnin, samples, thin, seed)
            if chain[1] >= samples:
                break
        pars, accepted = chain
        enough = accepted >= samples
        converged = enough and _geweke_passes(pars)
        if converged or not enough:
            break
        run_burnin += burnin
    ic50_samples = np.exp(pars[:, 0])
    h_samples = pars[:, 1].copy()
    ic50_samples.setflags(write=False)
    h_samples.setflags(write=False)
    return HillFit(ic50=float(np.exp(p_opt[0])), h=float(p_opt[1]), ic50_samples=ic50_samples, h_samples=h_samples,
                   acceptance=accepted / (run_burnin + samples * thin), converged=bool(converged), burnin=run_burnin)


def _check(conc, block, samples, burnin, thin, seed) -> tuple[np.ndarray, np.ndarray]:
    try:
        c = np.asarray(conc, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"conc {conc!r} must be numbers (concentrations in nM)") from None
    try:
        y = np.asarray(block, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"block {block!r} must be numbers (block in %)") from None
    if c.ndim != 1:
        raise InputError(f"conc has shape {c.shape}: it must be a 1-D sequence of concentrations in nM")
    if y.ndim != 1:
        raise InputError(f"block has shape {y.shape}: it must be a 1-D sequence of block values in %")
    if c.size != y.size:
        raise InputError(f"conc has {c.size} values and block has {y.size}: they must have one value per measurement")
    bad = ~np.isfinite(c) | (c < 0)
    if bad.any():
        raise InputError(f"conc {float(c[bad][0])!r} (value {int(np.argmax(bad))}) is not allowed: concentrations "
                         "must be finite and >= 0 nM")
    bad = ~np.isfinite(y)
    if bad.any():
        raise InputError(f"block {float(y[bad][0])!r} (value {int(np.argmax(bad))}) is not allowed: block must be a "
                         "finite percentage")
    distinct = np.unique(c).size
    if distinct < 2:
        raise InputError(f"conc has {distinct} distinct value(s): a Hill fit needs at least 2 distinct concentrations")
    for name, value, least in (("samples", samples, 20), ("burnin", burnin, 1), ("thin", thin, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise InputError(f"{name} {value!r} must be a whole number >= {least}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed {seed!r} must be a whole number >= 0")
    return c, y


def _block(c: np.ndarray, p) -> np.ndarray:
    # (c / IC50)^h by power, not exp(h log c), so that a zero concentration gives 0 (and 0^0 = 1 at h = 0) as the
    # equation does; an overflow to inf is full block.
    x = np.power(c * np.exp(-p[0]), p[1])
    return 100.0 * (1.0 - 1.0 / (1.0 + x))


def _residual_jacobian(c: np.ndarray, p) -> np.ndarray:
    s = _block(c, p) / 100.0
    slope = 100.0 * s * (1.0 - s)
    logc = np.log(np.where(c > 0, c, 1.0))
    dh = np.where(c > 0, slope * (logc - p[0]), 0.0)
    # residual = data - model, hence the signs
    return np.column_stack([slope * p[1], -dh])


def _self_start(c: np.ndarray, y: np.ndarray):
    """The linearised guess: log(1 / (1 - y/100) - 1) = h log c - h log IC50 on the mean block per concentration."""
    x, inverse = np.unique(c, return_inverse=True)
    if x.size < 4:  # too few concentrations for the regression to mean anything
        return None
    m = np.bincount(inverse, weights=y) / np.bincount(inverse)
    eps = 0.01
    if np.all(m < eps):  # no block anywhere: IC50 beyond the top concentration
        return np.array([np.log(x.max()), 1.0]) if x.max() > 0 else None
    if np.all(m > 100 - eps):  # full block everywhere: IC50 below the lowest
        return np.array([np.log(x.min()), 1.0]) if x.min() > 0 else None
    keep = (m >= eps) & (m <= 100 - eps) & (x > 0)
    if keep.sum() < 2:
        return None
    lx = np.log(x[keep])
    ly = np.log(1.0 / (1.0 - m[keep] / 100.0) - 1.0)
    slope, intercept = np.polyfit(lx, ly, 1)
    if not np.isfinite(slope) or slope == 0:
        return None
    return np.array([-intercept / slope, slope])


def _least_squares(c: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """The bounded least-squares fit: the best of the linearised guess and the fixed grid of starts.

    Every start is tried and the lowest sum of squares kept, so that the answer does not hang on which start
    happens to be tried first.
    """
    starts = [np.column_stack([np.log(_IC50_STARTS), np.full(len(_IC50_STARTS), _H_START)])]
    guess = _self_start(c, y)
    if guess is not None:
        starts.insert(0, np.clip(guess, LOWER, UPPER)[None, :])
    best, best_ssr = None, np.inf
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for x0 in np.concatenate(starts):
            out = least_squares(lambda p: y - _block(c, p), x0, jac=lambda p: _residual_jacobian(c, p),
                                bounds=(LOWER, UPPER), method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12,
                                gtol=1e-12, max_nfev=1000)
            ssr = float(np.sum((y - _block(c, out.x)) ** 2))
            if np.isfinite(ssr) and ssr < best_ssr:
                best, best_ssr = out.x, ssr
    return best, best_ssr


def _fit_jump(c: np.ndarray, y: np.ndarray, p: np.ndarray, ssr: float):
    """Cholesky factor of the first jump covariance, the fit's scaled covariance x 2.4^2/2; None if it does not exist
    (a flat direction in the data: no block at all, or a Hill coefficient at 0)."""
    n = y.size
    if n <= 2:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        jac = _residual_jacobian(c, p)
        jtj = jac.T @ jac
    if not np.all(np.isfinite(jtj)) or np.linalg.cond(jtj) > 1 / np.finfo(float).eps:
        return None
    cov = np.linalg.inv(jtj) * ssr / (n - 2) * _COVSCALE
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        return None
    return chol if np.all(np.isfinite(chol)) else None


def _chain(c, y, p0, chol0, var0, burnin, samples, thin, seed) -> tuple[np.ndarray, int]:
    """One adaptive Metropolis run with delayed rejection; returns the kept states (samples x 2) and the accepted
    moves."""
    rng = np.random.Generator(np.random.PCG64(seed))
    n_iter = burnin + samples * thin
    n = y.size
    n0 = n  # the prior variance weighs as much as the data (wvar0 = 1)
    # All random numbers are drawn up front, a fixed number per iteration, so the stream does not depend on which
    # branch each iteration takes.
    z = rng.standard_normal((n_iter, 4))
    u = rng.random((n_iter, 2))
    g = rng.standard_gamma(0.5 * (n0 + n), size=n_iter + 1)  # Gamma(k, rate r) = Gamma(k, 1) / r
    lo0, lo1, hi0, hi1 = LOWER[0], LOWER[1], UPPER[0], UPPER[1]
    prior_ss = n0 * var0

    def ss(a, b):
        r = y - _block(c, (a, b))
        return float(r @ r)

    x0, x1 = float(p0[0]), float(p0[1])
    ssx = ss(x0, x1)
    prec = g[0] / (0.5 * (prior_ss + ssx))  # 1 / error variance
    l00, l10, l11 = float(chol0[0, 0]), float(chol0[1, 0]), float(chol0[1, 1])
    ring = np.empty((samples, 2))  # the last `samples` burn-in states, for the covariance
    ring_pos, ring_full = 0, False
    accepted_burnin = 0
    next_update = _UPDATE_EVERY
    out = np.empty((samples, 2))
    kept = 0
    accepted = 0
    for i in range(n_iter):
        za, zb, zc, zd = z[i]
        # first try
        a0 = x0 + l00 * za
        a1 = x1 + l10 * za + l11 * zb
        if lo0 <= a0 <= hi0 and lo1 <= a1 <= hi1:
            ssa = ss(a0, a1)
            log_ra = -0.5 * (ssa - ssx) * prec
            alpha1 = 1.0 if log_ra >= 0 else np.exp(log_ra)
        else:
            ssa, alpha1 = np.inf, 0.0  # outside the bounds the posterior is 0
        move = u[i, 0] < alpha1
        if move:
            x0, x1, ssx = a0, a1, ssa
        else:
            # delayed rejection: a smaller second try, accepted with the probability that keeps the chain reversible
            d0 = x0 + _DR_SCALE * l00 * zc
            d1 = x1 + _DR_SCALE * (l10 * zc + l11 * zd)
            if lo0 <= d0 <= hi0 and lo1 <= d1 <= hi1:
                ssd = ss(d0, d1)
                # alpha of the reverse first try, from the second try's point to the rejected first one
                if np.isinf(ssa):
                    back = 0.0
                else:
                    log_rb = -0.5 * (ssa - ssd) * prec
                    back = 1.0 if log_rb >= 0 else np.exp(log_rb)
                if back < 1.0:
                    # log q1(second -> first) - log q1(current -> first), with q1 the first try's jump density
                    log_q = -0.5 * (_mahalanobis(a0 - d0, a1 - d1, l00, l10, l11)
                                    - _mahalanobis(a0 - x0, a1 - x1, l00, l10, l11))
                    log_r = -0.5 * (ssd - ssx) * prec + log_q + np.log1p(-back) - np.log1p(-alpha1)
                    alpha2 = 1.0 if log_r >= 0 else np.exp(log_r)
                    move = u[i, 1] < alpha2
                    if move:
                        x0, x1, ssx = d0, d1, ssd
        if move:
            accepted += 1
        prec = g[i + 1] / (0.5 * (prior_ss + ssx))
        if i < burnin:
            ring[ring_pos] = (x0, x1)
            ring_pos += 1
            if ring_pos == samples:
                ring_pos, ring_full = 0, True
            accepted_burnin += move
            if i + 1 > next_update and accepted_burnin > _MIN_ACCEPTED_FOR_UPDATE:
                window = ring if ring_full else ring[:ring_pos]
                cov = (np.cov(window, rowvar=False) + 1e-16 * np.eye(2)) * _COVSCALE
                try:
                    new = np.linalg.cholesky(cov)
                except np.linalg.LinAlgError:
                    new = None  # try again next iteration, as with a failed update
                if new is not None and np.all(np.isfinite(new)):
                    l00, l10, l11 = float(new[0, 0]), float(new[1, 0]), float(new[1, 1])
                    next_update = i + 1 + _UPDATE_EVERY
        elif (i + 1 - burnin) % thin == 0:
            out[kept] = (x0, x1)
            kept += 1
    return out, accepted


def _mahalanobis(d0: float, d1: float, l00: float, l10: float, l11: float) -> float:
    """|L^-1 d|^2 for the lower-triangular 2 x 2 factor L."""
    w0 = d0 / l00
    w1 = (d1 - l10 * w0) / l11
    return w0 * w0 + w1 * w1


def _spectrum0(x: np.ndarray) -> float:
    """Spectral density at frequency 0 of a series from an autoregressive fit (Yule-Walker, order by AIC), the
    estimate Geweke's test divides by."""
    n = x.size
    t = np.arange(n, dtype=float)
    trend = np.polyval(np.polyfit(t, x, 1), t)
    if np.std(x - trend) <= 1e-12 * max(1.0, np.abs(x).max()):
        return 0.0
    order_max = int(min(n - 1, np.floor(10 * np.log10(n))))
    xc = x - x.mean()
    r = np.array([xc[: n - k] @ xc[k:] / n for k in range(order_max + 1)])
    # Levinson-Durbin recursion: AR coefficients and innovation variance of every order up to order_max
    variances = [r[0]]
    coefs = [np.empty(0)]
    phi = np.empty(0)
    v = r[0]
    for k in range(1, order_max + 1):
        kappa = (r[k] - phi @ r[k - 1:0:-1]) / v if k > 1 else r[1] / v
        phi = np.concatenate([phi - kappa * phi[::-1], [kappa]])
        v = v * (1 - kappa * kappa)
        variances.append(v)
        coefs.append(phi)
    variances = np.array(variances)
    aic = n * np.log(np.maximum(variances, np.finfo(float).tiny)) + 2 * np.arange(order_max + 1)
    order = int(np.argmin(aic))
    var_pred = variances[order] * n / (n - (order + 1))
    return float(var_pred / (1 - coefs[order].sum()) ** 2)


def _geweke_passes(pars: np.ndarray) -> bool:
    """Geweke's test on each parameter: mean of the first 10 % against the last 50 %, in units of their standard
    errors from the spectral densities; passes when every |z| < 1.96."""
    n = pars.shape[0]
    first_end = int(np.ceil(1 + 0.1 * (n - 1)))  # 1-based, inclusive: the same windows as the R package coda
    last_start = int(np.floor(n - 0.5 * (n - 1)))
    for x in pars.T:
        a, b = x[:first_end], x[last_start - 1:]
        se2 = _spectrum0(a) / a.size + _spectrum0(b) / b.size
        if not se2 > 0:
            return False
        if abs(a.mean() - b.mean()) / np.sqrt(se2) >= _GEWEKE_Z:
            return False
    return True
