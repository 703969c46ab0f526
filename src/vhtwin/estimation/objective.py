"""The population objective, batched over subjects: conditional modes, FOCE-I / FOCE / Laplace contributions and
their exact gradient.

For subject ``i`` with etas ``eta`` and population parameters ``u`` (THETA, OMEGA, SIGMA), the negative log joint
density is

    g_i(eta; u) = sum_j l_ij(eta; u) + 1/2 eta^T Omega^-1 eta,

``l_ij`` the measurement terms of :mod:`vhtwin.calibration.objective` (normal residuals with their
``log sd + 1/2 log 2 pi``, Beal's M3 term for BLQ records). The Laplace approximation of the marginal likelihood at
the conditional mode ``eta_i* = argmin g_i`` gives the subject's contribution to the objective function value

    OFV_i = 2 g_i(eta_i*) + log det Omega + log det H_i,

with ``H_i`` the Hessian of ``g_i`` at the mode (method ``"laplace"``) or its first-order approximation (``"focei"``,
``"foce"``): ``Omega^-1 + sum_j [d mu_j d mu_j^T / V_j + 1/2 d V_j d V_j^T / V_j^2]``, the expected information of
each normal measurement about the etas (mean ``mu_j``, variance ``V_j``; derivatives with respect to eta). That is
the first-order conditional estimation with interaction of Wang (2007, J Pharmacokinet Pharmacodyn 34:575) and
Almquist et al. (2015, J Pharmacokinet Pharmacodyn 42:191); with additive error the ``dV`` term is zero and it
reduces to NONMEM's ``log det(Omega^-1 + G^T V^-1 G)``. ``"foce"`` (no interaction) computes every residual
variance at the population prediction (eta = 0), as NONMEM's FOCE without INTERACTION. BLQ records (M3) need the
exact Hessian: method ``"laplace"``, as in NONMEM.

The gradient of ``sum_i OFV_i`` with respect to the free parameters ``x`` is exact: ``dOFV_i/dx = dF/dx + dF/d
eta . d eta*/dx`` with ``d eta*/dx = -H_exact^-1 d^2 g / d eta dx`` (the implicit function theorem at the mode), all
derivatives from JAX through the solver's forward sensitivities. Every array is data, so a new dataset of the same
shapes, new starting values or a new iteration run the programs already compiled.

Differentiating through the solve is what costs (a second derivative of the solve costs tens of solves), so FOCE-I
and FOCE differentiate it as little as they can. Everything they need is a smooth function of the predictions and
of their first (inner search) or first and second (gradient) derivatives with respect to the individual parameters,
so the solve is differentiated once per point into a :class:`Jet` -- predictions, first and second derivatives --
and every other derivative (the conditional gradient and Hessian, the FOCE-I information, the total gradient) is
taken through the jet's Taylor polynomial, whose derivatives up to that order equal the solve's at the point. The
inner search needs first derivatives only: the exact gradient of ``g_i``, and as its Hessian the expected
information above plus the curvature it missed at the previous evaluation's modes (:func:`scoring`); the exact
Hessian is taken once per evaluation, at the modes, from the second-order jet. Laplace needs third derivatives of the
solve for its gradient and keeps the direct route.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..calibration import fit as _fit
from ..calibration import problem as _problem
from ..calibration.objective import data_terms, residual_sd, TINY_LOG_ARGUMENT
from ..calibration.prior import individual
from .parameters import Layout, unpack

METHODS = ("focei", "foce", "laplace")


class Static(NamedTuple):
    """What the objective is compiled for (hashable)."""

    lanes: _problem.Static  # the batched solve and how etas and observables map onto the model
    layout: Layout
    method: str  # "focei", "foce" or "laplace"


def population(static: Static, x, data):
    """Typical values (R, W), Omega (k, k) and the per-measurement residual table at free parameters ``x``."""
    u = jnp.asarray(data["u0"]).at[data["free"]].set(x)
    typical, omega, sigma = unpack(static.layout, u, data["features"], data["lower"], data["upper"])
    padded = jnp.concatenate([sigma, jnp.zeros(1, sigma.dtype)])  # index len(sigma): a component not in the model
    which = data["which"]
    table = {**data["table"], **{k: padded[data[f"sigma_{k}"]][which] for k in ("a", "b", "c")}}
    return typical, omega, table


def _full_eta(static: Static, eta):
    W, R = eta.shape[0], len(static.layout.rows)
    return jnp.zeros((W, R), eta.dtype).at[:, jnp.asarray(static.layout.iiv, int)].set(eta)


class Jet(NamedTuple):
    """The predictions at one point and their derivatives with respect to the individual parameters (model units)
    of the layout's rows there."""

    f: jax.Array  # (W, N) predictions
    status: jax.Array  # (W,) solve status
    first: jax.Array  # (R, W, N) d f / d values
    second: jax.Array | None  # (R, R, W, N) d2 f / d values2; None for a first-order jet


def individual_values(static: Static, x, eta, data):
    """The individual parameters (R, W) of the layout's rows, model units, at etas ``eta`` (W, k)."""
    typical, _, _ = population(static, x, data)
    return individual(static.lanes.kinds, _full_eta(static, eta), typical, data["lower"], data["upper"])


def jet(static: Static, x, eta, data, order: int = 2) -> Jet:
    """Differentiate the solve at ``(x, eta)``: predictions and their derivatives to ``order`` (1 or 2), one
    batched forward pass per direction (each row moved in every lane at once)."""
    values = jax.lax.stop_gradient(individual_values(static, x, eta, data))
    R, W = values.shape
    solve = lambda v: _problem.predictions_at(static.lanes, v, data)
    basis = jnp.broadcast_to(jnp.eye(R, dtype=values.dtype)[:, :, None], (R, R, W))
    first_of = lambda v: jax.vmap(lambda t: jax.jvp(lambda w: solve(w)[0], (v,), (t,))[1])(basis)
    f, status = solve(values)
    second = jax.vmap(lambda t: jax.jvp(first_of, (values,), (t,))[1])(basis) if order == 2 else None
    return Jet(f, status, first_of(values), second)


def with_jets(static: Static, x, eta, data, order: int):
    """``data`` with the jet at ``(x, eta)`` (and, for FOCE, the first-order jet at eta = 0, where the residual
    variances are taken): :func:`predictions` then reads the jet's Taylor polynomial instead of solving. Valid at
    ``(x, eta)`` only -- the polynomial agrees with the solve there, to ``order`` derivatives."""
    out = {**data, "jet": jet(static, x, eta, data, order)}
    if static.method == "foce":
        out["jet_pred"] = jet(static, x, jnp.zeros_like(eta), data, 1)
    return out


def _taylor(j: Jet, values):
    delta = values - jax.lax.stop_gradient(values)  # zero at the expansion point; carries the derivatives
    f = j.f + jnp.einsum("rwn,rw->wn", j.first, delta)
    if j.second is not None:
        f = f + 0.5 * jnp.einsum("rswn,rw,sw->wn", j.second, delta, delta)
    return f


def predictions(static: Static, x, eta, data):
    """Individual predictions (W, N) at etas ``eta`` (W, k), and the solve status (W,); from the jet in ``data``
    where :func:`with_jets` put one."""
    values = individual_values(static, x, eta, data)
    if "jet" in data:
        return _taylor(data["jet"], values), data["jet"].status
    return _problem.predictions_at(static.lanes, values, data)


def _variance_predictions(static: Static, x, eta, data, f):
    if static.method != "foce":
        return f
    at_pred = {**data, "jet": data["jet_pred"]} if "jet_pred" in data else data
    f0, _ = predictions(static, x, jnp.zeros_like(eta), at_pred)
    return f0


def conditional(static: Static, x, eta, data):
    """``g_i(eta; x)`` per lane (W,), +inf where the solve failed."""
    _, omega, table = population(static, x, data)
    f, status = predictions(static, x, eta, data)
    fv = _variance_predictions(static, x, eta, data, f)
    terms = data_terms(f, data["value"], data["lloq"], data["censored"], data["mask"], table, f_variance=fv)
    prior = 0.5 * jnp.sum(eta * jnp.linalg.solve(omega, eta.T).T, axis=1)
    total = jnp.sum(terms, axis=1) + prior
    return jnp.where((status == 0) & jnp.isfinite(total), total, jnp.inf)


def _moments(static: Static, x, eta, data):
    """Mean and variance of every measurement given the etas, on the residual model's scale (log for exponential)."""
    _, _, table = population(static, x, data)
    f, _ = predictions(static, x, eta, data)
    fv = _variance_predictions(static, x, eta, data, f)
    exp = table["exponential"]
    mu = jnp.where(exp, jnp.log(jnp.maximum(jnp.where(exp, f, 1.0), TINY_LOG_ARGUMENT)), f)
    return mu, residual_sd(fv, table) ** 2


def _information(static: Static, x, eta, data):
    """``sum_j d mu d mu^T / V + 1/2 d V d V^T / V^2`` per lane (W, k, k), quantified measurements only."""
    W, k = eta.shape
    (mu, var), tangent = jax.linearize(lambda e: _moments(static, x, e, data), eta)
    basis = jnp.broadcast_to(jnp.eye(k, dtype=eta.dtype)[:, None, :], (k, W, k))
    d_mu, d_var = jax.vmap(tangent)(basis)  # (k, W, N) each
    weight = (data["mask"] & ~data["censored"]).astype(eta.dtype)
    info = jnp.einsum("iwn,jwn,wn->wij", d_mu, d_mu, weight / var)
    info = info + 0.5 * jnp.einsum("iwn,jwn,wn->wij", d_var, d_var, weight / var**2)
    return info


def contributions(static: Static, x, eta, data):
    """``OFV_i`` per lane (W,) at the etas ``eta`` (the conditional modes); +inf where undefined."""
    _, omega, _ = population(static, x, data)
    g = conditional(static, x, eta, data)
    if static.method == "laplace":
        _, _, hessian = _fit.derivatives(lambda e: conditional(static, x, e, data), eta)
    else:
        hessian = jnp.linalg.inv(omega)[None] + _information(static, x, eta, data)
    sign_o, logdet_o = jnp.linalg.slogdet(omega)
    sign_h, logdet_h = jnp.linalg.slogdet(hessian)
    total = 2.0 * g + logdet_o + logdet_h
    return jnp.where((sign_o > 0) & (sign_h > 0) & jnp.isfinite(total), total, jnp.inf)


def _expected_hessian(static: Static, x, eta, data):
    _, omega, _ = population(static, x, data)
    return jnp.linalg.inv(omega)[None] + _information(static, x, eta, data)


def scoring(static: Static, x, data, curvature):
    """The inner search's derivatives for FOCE-I and FOCE: ``eta -> (g_i, its exact gradient, Omega^-1 + the
    expected information + curvature)`` per lane, from first derivatives of the solve only.

    ``curvature`` (W, k, k) is what the exact Hessian exceeded the expected one by at the previous evaluation's
    modes (zero at the first): with it the search is nearly Newton's (the population parameters move little between
    evaluations); without it, Fisher scoring, which converges only linearly where residuals are large.
    """

    def derivatives_of(eta):
        d = {**data, "jet": jet(static, x, eta, data, order=1)}
        value, pullback = jax.vjp(lambda e: conditional(static, x, e, d), eta)
        return value, pullback(jnp.ones_like(value))[0], _expected_hessian(static, x, eta, d) + curvature

    return derivatives_of


def gradients(static: Static, x, eta, gradient, hessian, data):
    """``OFV_i`` (W,), its total derivative with respect to ``x`` per lane (W, p), the modes' derivative
    ``d eta* / dx`` (W, k, p) and the exact Hessian's excess over the expected one (W, k, k), at the modes ``eta``.

    For Laplace, ``gradient`` (W, k; zero up to the search's tolerance) and ``hessian`` (W, k, k, exact) are those
    of ``g_i`` at the modes; FOCE-I and FOCE take both, exactly, from the second-order jet at the modes (their
    search's Hessian is the expected one) and ignore the arguments.

    ``OFV_i`` depends to first order on the modes (through ``log det H``), so the value is corrected by one Newton
    step's worth, ``-dF/d eta . H^-1 grad g``: its error is then second order in the modes' error.
    """
    if static.method != "laplace":
        data = with_jets(static, x, eta, data, order=2)
        _, gradient, hessian = _fit.derivatives(lambda e: conditional(static, x, e, data), eta)
    F = lambda xx, e: contributions(static, xx, e, data)
    W, k = eta.shape
    p = x.shape[0]
    # One batched forward pass for every direction: the p parameters (shared by the lanes), then the k etas (each
    # moved in every lane at once) -- one copy of the solve's derivatives in the program, not two.
    basis_x = jnp.concatenate([jnp.eye(p, dtype=x.dtype), jnp.zeros((k, p), x.dtype)])
    basis_eta = jnp.concatenate([jnp.zeros((p, W, k), eta.dtype),
                                 jnp.broadcast_to(jnp.eye(k, dtype=eta.dtype)[:, None, :], (k, W, k))])
    values, tangents = jax.vmap(lambda tx, te: jax.jvp(F, (x, eta), (tx, te)))(basis_x, basis_eta)
    value, d_x, d_eta = values[0], tangents[:p].T, tangents[p:].T
    cross = jax.jacfwd(lambda xx: jax.grad(lambda e: jnp.sum(conditional(static, xx, e, data)))(eta))(x)  # (W, k, p)
    v = jnp.linalg.solve(hessian, d_eta[..., None])[..., 0]
    corrected = value - jnp.sum(v * gradient, axis=1)
    # For the next inner search: its predicted start (d eta* / dx, W x k x p) and the curvature its expected
    # Hessian misses (Laplace's search is Newton's already).
    slope = -jnp.linalg.solve(hessian, cross)
    curvature = jnp.zeros_like(hessian) if static.method == "laplace" else \
        hessian - _expected_hessian(static, x, eta, data)
    return corrected, d_x - jnp.einsum("wk,wkp->wp", v, cross), slope, curvature


# -- compiled entry points (one program per Static and shapes) -----------------------------------------------------------
@functools.lru_cache(maxsize=16)
def compiled(static: Static):
    """The jitted ``modes``, ``gradients``, ``predictions`` and ``linearisation`` of ``static``."""

    def modes(x, eta0, data, settings, curvature):
        # ftol 0: the modes converge on the gradient (or the objective's resolution), not on the Newton decrement --
        # the objective depends to first order on the modes through log det H, so they must be tight.
        if static.method == "laplace":
            objective, derivatives_of = (lambda e: conditional(static, x, e, data)), None
        else:
            at_pred = {**data, "jet_pred": jet(static, x, jnp.zeros_like(eta0), data, 1)} \
                if static.method == "foce" else data
            objective, derivatives_of = None, scoring(static, x, at_pred, curvature)
        return _fit.minimise(objective, eta0, max_iter=settings["max_iter"], gtol=settings["gtol"], ftol=0.0,
                             noise=settings["noise"], derivatives_of=derivatives_of)

    return {
        "modes": jax.jit(modes),
        "gradients": jax.jit(lambda x, eta, gradient, hessian, data: gradients(static, x, eta, gradient, hessian,
                                                                               data)),
        "predictions": jax.jit(lambda x, eta, data: predictions(static, x, eta, data)),
        "linearisation": jax.jit(lambda x, eta, data: linearisation(static, x, eta, data)),
    }


def sigma_indices(layout: Layout, observables) -> dict:
    """Per residual component (``a`` additive, ``b`` proportional, ``c`` exponential), the position in SIGMA of each
    observable's value, ``len(sigma)`` where the observable's model has none."""
    out = {}
    for code, key in enumerate(("a", "b", "c")):
        idx = []
        for o in observables:
            hit = [i for i, s in enumerate(layout.sigma) if s == (o, code)]
            idx.append(hit[0] if hit else len(layout.sigma))
        out[f"sigma_{key}"] = np.asarray(idx, np.int32)
    return out


def linearisation(static: Static, x, eta, data):
    """Mean ``mu`` and variance ``V`` of every measurement (W, N) on the residual model's scale, and ``d mu / d eta``
    (W, N, k) at ``eta``: what WRES (at eta = 0) and CWRES (at the modes) linearise."""
    W, k = eta.shape
    (mu, var), tangent = jax.linearize(lambda e: _moments(static, x, e, data), eta)
    basis = jnp.broadcast_to(jnp.eye(k, dtype=eta.dtype)[:, None, :], (k, W, k))
    d_mu, _ = jax.vmap(tangent)(basis)
    return mu, var, jnp.transpose(d_mu, (1, 2, 0))
