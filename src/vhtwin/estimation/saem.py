"""SAEM: stochastic approximation expectation-maximisation (Kuhn & Lavielle 2005, Comput Stat Data Anal 49:1020),
the E-step a Metropolis-Hastings sampler batched over every subject and chain in one compiled solve per move.

Each iteration:

1. **Simulation (E) step.** Each subject's etas move by the three Metropolis-Hastings kernels of Kuhn & Lavielle (as
   in saemix and Monolix): independent proposals from the population distribution ``N(0, Omega)``, random walks of
   all etas together, and random walks of one eta at a time; every proposal is evaluated for all subjects and
   chains at once (lanes = subjects x chains). Random-walk scales adapt towards an acceptance rate of 0.4.
2. **Stochastic approximation.** The sufficient statistics -- each subject's mean individual parameter ``E[phi_i]``
   (``phi`` the parameter on its distribution's scale), their cross-products, and the residual statistics -- move
   towards the new samples' values with step ``gamma_k``: 1 during the exploration phase, then ``1 / (k - K1)``.
3. **Maximisation (M) step** in closed form: the typical values and covariate coefficients by generalised least
   squares of ``phi_i = X_i beta + eta_i`` (mu-referencing: log typical values, power and exponential
   coefficients and categorical log factors enter linearly), Omega from the statistics (its structure and fixed
   elements kept), the residual SDs from their statistics (additive, proportional, exponential) or by a
   numerical fit to the current predictions (combined error). During the first iterations Omega may shrink by at
   most 5 % per iteration (simulated annealing, as saemix does), so the sampler does not collapse early.

SAEM needs between-subject variability on every estimated typical value and covariate models on log-normal
parameters (a linear covariate model is not linear on the log scale); the objective reported for a SAEM fit is
the FOCE-I approximation at the SAEM estimates (as nlmixr2 reports it), and the covariance step uses it too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from .. import engine
from ..errors import InputError
from . import objective as _objective
from .assemble import Assembled
from .parameters import Parametrisation, reported, unpack


@dataclass(frozen=True)
class SaemSettings:
    """``exploration`` (K1) iterations with step 1, then ``smoothing`` (K2) with step 1/k; ``chains`` per subject
    (None: enough for 50 lanes); ``kernels`` the Metropolis-Hastings moves per iteration (prior, joint random walk,
    one-eta random walk); ``annealing`` iterations during which Omega shrinks by at most 5 % per iteration."""

    exploration: int = 300
    smoothing: int = 100
    chains: int | None = None
    kernels: tuple[int, int, int] = (2, 2, 2)
    annealing: int = 100
    seed: int = 0


@dataclass
class SaemTrace:
    """Per iteration: the parameters (natural scale), the complete-data -2 log likelihood proxy and acceptance."""

    parameters: list = field(default_factory=list)
    acceptance: list = field(default_factory=list)


def check(par: Parametrisation, obs) -> None:
    """Refuse what SAEM does not estimate, naming it (``obs``: the subjects' observations)."""
    if obs.censored.any():
        raise InputError("estimate method = 'saem': the data have BLQ records (CENS = 1); SAEM's residual step does "
                         "not take the M3 likelihood yet -- use method='laplace'")
    L = par.layout
    without = [n for r, n in enumerate(L.rows) if r not in L.iiv and r in par.free]
    if without:
        raise InputError(f"estimate method = 'saem': typical value of {without[0]!r} has no between-subject "
                         "variability; SAEM estimates typical values through the etas -- give it a variance in omega, "
                         f"fix it (fix=({without[0]!r},)), or use method='focei'")
    for kind, row, _, _ in L.effects:
        if kind == "linear" or L.kinds[row] != "lognormal":
            raise InputError(f"estimate method = 'saem': the {kind} covariate model on {L.rows[row]!r} is not linear "
                             "on the parameter's distribution scale; SAEM takes power, exponential and categorical "
                             "models on log-normal parameters -- use method='focei'")


@functools.lru_cache(maxsize=8)
def _host_programs(layout):
    """``unpack`` and ``reported`` compiled for ``layout``: the M step calls them every iteration, and op-by-op
    they would cost more than the E step."""
    return (jax.jit(lambda u, features, lower, upper: unpack(layout, u, features, lower, upper)),
            jax.jit(lambda u, lower, upper: reported(layout, u, lower, upper)))


def _unpacked(par: Parametrisation, u: np.ndarray, features: np.ndarray):
    with jax.enable_x64(True):
        return jax.device_get(_host_programs(par.layout)[0](np.asarray(u, float), features, par.lower, par.upper))


def _phi_offset(par: Parametrisation, u: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The typical individual parameter on its distribution scale, per lane (W, k): ``h(TV_i)``."""
    typical, _, _ = _unpacked(par, u, features)
    typical = np.asarray(typical)
    out = []
    for r in par.layout.iiv:
        tv, kind = typical[r], par.layout.kinds[r]
        if kind == "lognormal":
            out.append(np.log(tv))
        elif kind == "logit":
            lo, hi = par.lower[r], par.upper[r]
            out.append(np.log((tv - lo) / (hi - tv)))
        else:
            out.append(tv)
    return np.stack(out, axis=1)


def _design(par: Parametrisation, features: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``X`` (lanes, k, n_beta): ``phi_i = X_i beta + eta_i``, beta the THETA entries of ``u`` of the rows with an
    eta and their coefficients (positions in ``u`` returned)."""
    L = par.layout
    columns, W = [], features.shape[1]
    for position, r in enumerate(L.iiv):
        columns.append((r, position, np.ones(W)))
        for kind, row, first, size in L.effects:
            if row == r:
                for j in range(size):
                    columns.append((len(L.rows) + first + j, position, features[first + j]))
    X = np.zeros((W, len(L.iiv), len(columns)))
    for c, (_, position, values) in enumerate(columns):
        X[:, position, c] = values
    return X, [u_index for u_index, _, _ in columns]


def _mcmc(static: _objective.Static, kernels: tuple[int, int, int]):
    """The compiled E-step: ``(x, eta, key, scale, data) -> (eta, accept (3, k))``."""
    n1, n2, n3 = kernels

    def terms(x, eta, data):
        g = _objective.conditional(static, x, eta, data)
        _, omega, _ = _objective.population(static, x, data)
        prior = 0.5 * jnp.sum(eta * jnp.linalg.solve(omega, eta.T).T, axis=1)
        return g - prior, prior

    def run(x, eta, key, scale, data):
        _, omega, _ = _objective.population(static, x, data)
        root = jnp.linalg.cholesky(omega)
        sd = jnp.sqrt(jnp.diag(omega))
        W, k = eta.shape
        D, P = terms(x, eta, data)
        counts = jnp.zeros((3, k))

        def accept_where(ok, new, old):
            return jnp.where(ok.reshape(ok.shape + (1,) * (new.ndim - 1)), new, old)

        def prior_move(i, state):
            eta, D, P, key, counts = state
            key, k1, k2 = jax.random.split(key, 3)
            proposal = jax.random.normal(k1, eta.shape, eta.dtype) @ root.T
            D_new, P_new = terms(x, proposal, data)
            ok = jnp.log(jax.random.uniform(k2, (W,), eta.dtype)) < D - D_new
            return (accept_where(ok, proposal, eta), jnp.where(ok, D_new, D), jnp.where(ok, P_new, P), key,
                    counts.at[0].add(jnp.mean(ok)))

        def joint_move(i, state):
            eta, D, P, key, counts = state
            key, k1, k2 = jax.random.split(key, 3)
            proposal = eta + jax.random.normal(k1, eta.shape, eta.dtype) * (scale[1] * sd)
            D_new, P_new = terms(x, proposal, data)
            ok = jnp.log(jax.random.uniform(k2, (W,), eta.dtype)) < (D + P) - (D_new + P_new)
            return (accept_where(ok, proposal, eta), jnp.where(ok, D_new, D), jnp.where(ok, P_new, P), key,
                    counts.at[1].add(jnp.mean(ok)))

        def single_move(i, state):
            eta, D, P, key, counts = state
            for j in range(k):
                key, k1, k2 = jax.random.split(key, 3)
                step = jax.random.normal(k1, (W,), eta.dtype) * (scale[2, j] * sd[j])
                proposal = eta.at[:, j].add(step)
                D_new, P_new = terms(x, proposal, data)
                ok = jnp.log(jax.random.uniform(k2, (W,), eta.dtype)) < (D + P) - (D_new + P_new)
                eta, D, P = accept_where(ok, proposal, eta), jnp.where(ok, D_new, D), jnp.where(ok, P_new, P)
                counts = counts.at[2, j].add(jnp.mean(ok))
            return eta, D, P, key, counts

        state = (eta, D, P, key, counts)
        state = jax.lax.fori_loop(0, n1, prior_move, state)
        state = jax.lax.fori_loop(0, n2, joint_move, state)
        state = jax.lax.fori_loop(0, n3, single_move, state)
        eta, D, P, key, counts = state
        rates = counts / jnp.maximum(jnp.array([n1, n2, n3], eta.dtype), 1.0)[:, None]
        f, _ = _objective.predictions(static, x, eta, data)
        return eta, rates, f

    return run


@functools.lru_cache(maxsize=8)
def _compiled_mcmc(static: _objective.Static, kernels: tuple[int, int, int]):
    return jax.jit(_mcmc(static, kernels))


def _residual_update(par: Parametrisation, f: np.ndarray, y: np.ndarray, use: np.ndarray, which: np.ndarray,
                     stats: dict, gamma: float, sigma: np.ndarray) -> np.ndarray:
    """New residual SDs: closed form from the approximated statistics, or a fit to the current predictions."""
    out = sigma.copy()
    for o_index, o in enumerate(par.observables):
        entries = [(i, code) for i, (obs, code) in enumerate(par.layout.sigma) if obs == o]
        sel = use & (which == o_index)
        ff, yy = f[:, sel], np.broadcast_to(y[sel], f[:, sel].shape)
        codes = sorted(code for _, code in entries)
        if codes == [0]:
            value = np.mean((yy - ff) ** 2)
        elif codes == [1]:
            value = np.mean(((yy - ff) / np.where(np.abs(ff) > 1e-300, ff, 1e-300)) ** 2)
        elif codes == [2]:
            value = np.mean((np.log(np.maximum(yy, 1e-300)) - np.log(np.maximum(ff, 1e-300))) ** 2)
        else:  # combined: the SDs minimising the current samples' -2 log likelihood, approximated on the values
            summed = par.combined[o_index] == "sum"

            def m2ll(log_ab):
                a, b = np.exp(log_ab)
                sd = a + b * np.abs(ff) if summed else np.sqrt(a * a + (b * ff) ** 2)
                return np.mean(((yy - ff) / sd) ** 2 + 2 * np.log(sd))

            start = np.log([sigma[i] for i, _ in sorted(entries, key=lambda e: e[1])])
            fitted = np.exp(optimize.minimize(m2ll, start, method="Nelder-Mead").x)
            for (i, _), v in zip(sorted(entries, key=lambda e: e[1]), fitted):
                key = f"sigma{i}"
                stats[key] = v if key not in stats else stats[key] + gamma * (v - stats[key])
                out[i] = stats[key]
            continue
        key = f"sigma{entries[0][0]}"
        stats[key] = value if key not in stats else stats[key] + gamma * (value - stats[key])
        out[entries[0][0]] = np.sqrt(stats[key])
    return out


def _state_json(it, u, eta, scale, stats, key, trace) -> dict:
    return {"iteration": it, "u": u.tolist(), "eta": eta.tolist(), "scale": scale.tolist(),
            "stats": {k: np.asarray(v).tolist() for k, v in stats.items()}, "key": np.asarray(key).tolist(),
            "trace": {"parameters": [p.tolist() for p in trace.parameters],
                      "acceptance": [a.tolist() for a in trace.acceptance]}}


def run(assembled: Assembled, par: Parametrisation, n_subjects: int, settings: SaemSettings, u0: np.ndarray, *,
        state: dict | None = None, checkpoint=None, every: int = 25):
    """SAEM from ``u0`` (or from a saved ``state``); returns the final ``u`` (every parameter, unconstrained), the
    etas and the trace. ``checkpoint(state)`` is called every ``every`` iterations with everything a resumed run
    needs to continue exactly as the uninterrupted one (the random key included)."""
    static, data = assembled.static, assembled.data
    C = assembled.n_lanes // n_subjects
    L = par.layout
    k = len(L.iiv)
    W = assembled.width
    features = np.asarray(data["features"])
    X, beta_index = _design(par, features)
    fixed = np.ones(len(par.names), bool)
    fixed[par.free] = False
    free_beta = np.array([not fixed[i] for i in beta_index])
    obs = assembled.problem.obs
    y = np.repeat(obs.value, C, axis=0)
    use = np.repeat(obs.mask & ~obs.censored, C, axis=0)
    which = np.repeat(obs.observable, C, axis=0)
    Nm = obs.mask.shape[1]
    run_mcmc = _compiled_mcmc(static, tuple(settings.kernels))
    trace = SaemTrace()
    if state is None:
        first, u, eta, scale, stats = 0, np.asarray(u0, float).copy(), np.zeros((W, k)), np.ones((3, k)), {}
        key = jax.random.PRNGKey(settings.seed)
    else:
        first, u, eta, scale = state["iteration"], np.asarray(state["u"]), np.asarray(state["eta"]), np.asarray(state["scale"])
        stats = {name: np.asarray(v) for name, v in state["stats"].items()}
        key = jnp.asarray(np.asarray(state["key"], np.uint32))
        trace.parameters = [np.asarray(p) for p in state["trace"]["parameters"]]
        trace.acceptance = [np.asarray(a) for a in state["trace"]["acceptance"]]
    sigma_slice = slice(L.n_theta + L.n_omega, L.n_theta + L.n_omega + len(L.sigma))
    omega_fixed = [all(fixed[i] for i in _omega_entries(par, g)) for g in range(len(L.groups))]
    total = settings.exploration + settings.smoothing
    lanes = slice(0, assembled.n_lanes)
    for it in range(first, total):
        gamma = 1.0 if it < settings.exploration else 1.0 / (it - settings.exploration + 1)
        key, sub = jax.random.split(key)
        x = u[par.free]
        with jax.enable_x64(True), engine.counting():
            eta_new, rates, f = jax.device_get(run_mcmc(x, eta, sub, scale, data))
        eta = np.asarray(eta_new)
        rates = np.asarray(rates)
        scale[1:] *= 1.0 + 0.4 * (rates[1:] - 0.4)  # towards 40 % acceptance
        offset = _phi_offset(par, u, features)
        phi = (offset + eta)[lanes]  # (B*C, k)
        phi_subject = phi.reshape(n_subjects, C, k)
        m_new = phi_subject.mean(axis=1)
        M_new = np.einsum("sci,scj->ij", phi_subject, phi_subject) / C
        stats["m"] = m_new if "m" not in stats else stats["m"] + gamma * (m_new - stats["m"])
        stats["M"] = M_new if "M" not in stats else stats["M"] + gamma * (M_new - stats["M"])
        # M step: beta by GLS with the current Omega, then Omega from the statistics
        _, omega, sigma = _unpacked(par, u, features)
        omega, sigma = np.asarray(omega), np.asarray(sigma)
        Xs = X[::C][:n_subjects]  # one design per subject
        beta = u[beta_index].copy()
        omega_inv = np.linalg.inv(omega)
        if free_beta.any():
            Xf, Xc = Xs[:, :, free_beta], Xs[:, :, ~free_beta]
            target = stats["m"] - np.einsum("skb,b->sk", Xc, beta[~free_beta])
            A = np.einsum("skb,kl,slc->bc", Xf, omega_inv, Xf)
            rhs = np.einsum("skb,kl,sl->b", Xf, omega_inv, target)
            beta[free_beta] = np.linalg.solve(A, rhs)
        mu = np.einsum("skb,b->sk", Xs, beta)
        new_omega = (stats["M"] - stats["m"].T @ mu - mu.T @ stats["m"] + mu.T @ mu) / n_subjects
        new_omega = 0.5 * (new_omega + new_omega.T)
        structured = np.zeros_like(new_omega)
        for g, positions in enumerate(L.groups):
            idx = np.ix_(positions, positions)
            block = omega[idx] if omega_fixed[g] else new_omega[idx]
            if it < settings.annealing and not omega_fixed[g]:
                floor = 0.95 * np.diag(omega[idx])
                d = np.sqrt(np.maximum(np.diag(block), floor) / np.maximum(np.diag(block), 1e-300))
                block = block * np.outer(d, d)
            structured[idx] = block
        f = np.asarray(f)[lanes, :Nm]
        new_sigma = _residual_update(par, f.reshape(n_subjects * C, Nm)[None], y[lanes], use[lanes], which[lanes],
                                     stats, gamma, sigma)
        # back to u: the etas keep the same individual parameters (phi) under the new typical values
        u_new = u.copy()
        u_new[beta_index] = np.where(free_beta, beta, u[beta_index])
        start = L.n_theta
        for g, positions in enumerate(L.groups):
            m = len(positions)
            chol = np.linalg.cholesky(structured[np.ix_(positions, positions)])
            entries = [np.log(chol[i, i]) if i == j else chol[i, j] for i in range(m) for j in range(i + 1)]
            if not omega_fixed[g]:
                u_new[start:start + len(entries)] = entries
            start += len(entries)
        u_new[sigma_slice] = np.where(fixed[sigma_slice], u[sigma_slice], np.log(new_sigma))
        eta = _phi_offset(par, u, features) + eta - _phi_offset(par, u_new, features)
        u = u_new
        with jax.enable_x64(True):
            trace.parameters.append(np.asarray(_host_programs(L)[1](u, par.lower, par.upper)))
        trace.acceptance.append(rates)
        if checkpoint is not None and ((it + 1) % every == 0 or it + 1 == total):
            checkpoint(_state_json(it + 1, u, eta, scale, stats, key, trace))
    return u, eta, trace


def _omega_entries(par: Parametrisation, group: int) -> list[int]:
    """Positions in ``u`` of Omega group ``group``'s Cholesky entries."""
    start = par.layout.n_theta
    for g, positions in enumerate(par.layout.groups):
        m = len(positions)
        if g == group:
            return list(range(start, start + m * (m + 1) // 2))
        start += m * (m + 1) // 2
    return []
