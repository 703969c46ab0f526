"""The MAP objective: the negative log posterior of a patient's etas, with Beal's M3 likelihood for BLQ samples.

For patient ``i`` with etas ``eta`` (population typical values ``theta``, Omega and residual model fixed) the
objective is

    OBJ(eta) = sum_j l_j(eta) + 1/2 eta^T Omega^-1 eta,

summed over the patient's measurements ``j``, with prediction ``f_j = f(t_j; theta, eta)`` and residual SD ``s_j``:

- quantified sample ``y_j``:  l_j = 1/2 ((y_j - f_j) / s_j)^2 + log s_j + 1/2 log(2 pi);
- sample below the LLOQ (M3; Beal 2001, J Pharmacokinet Pharmacodyn 28:481):  l_j = -log Phi((LLOQ_j - f_j) / s_j).

``s_j = sqrt(a^2 + (b f_j)^2)`` (combined, variance form; additive ``b = 0``, proportional ``a = 0``) or
``a + b |f_j|`` (``combined="sum"``). Exponential error compares ``log y_j`` with ``log f_j`` and SD ``c`` (``log
LLOQ`` for BLQ samples); the Jacobian ``log y_j`` of that change of variable is left out (it does not depend on eta).
The prior's normalising constant ``1/2 log det(2 pi Omega)`` is left out too. Values are in nats (-log density);
twice the objective is NONMEM's -2 log likelihood scale for the data term.

Everything here is JAX, batch-first: ``(L, k)`` etas of ``L`` independent lanes (patients, or posterior samples of
patients) give ``(L,)`` objectives, so the gradient of their sum is every lane's gradient at once.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
#: Floor of a residual variance (observable unit squared): a proportional error at a zero prediction (a pre-dose
#: sample) would otherwise divide by zero.
TINY_VARIANCE = 1e-300
#: Floor of a prediction or observation before a logarithm (exponential error).
TINY_LOG_ARGUMENT = 1e-300


def residual_table(residuals: dict, observables, which: np.ndarray) -> dict:
    """Residual-model constants per measurement, from each measurement's observable index ``which`` (L, N)."""
    rows = [residuals[o] for o in observables]
    pick = lambda values: np.asarray(values, float)[which]
    return {
        "a": pick([r.additive or 0.0 for r in rows]),
        "b": pick([r.proportional or 0.0 for r in rows]),
        "c": pick([r.exponential or 0.0 for r in rows]),
        "exponential": pick([r.exponential is not None for r in rows]).astype(bool),
        "sum": pick([r.combined == "sum" for r in rows]).astype(bool),
    }


def residual_sd(f, table):
    """SD of a measurement given the prediction ``f`` (on the log scale for exponential error)."""
    a, b = table["a"], table["b"]
    var_form = jnp.sqrt(jnp.maximum(a * a + (b * f) ** 2, TINY_VARIANCE))
    sum_form = jnp.maximum(a + b * jnp.abs(f), math.sqrt(TINY_VARIANCE))
    return jnp.where(table["exponential"], table["c"], jnp.where(table["sum"], sum_form, var_form))


def data_terms(f, value, lloq, censored, mask, table, f_variance=None):
    """``l_j`` for every measurement (L, N); zero at padding.

    ``f`` predictions, ``value`` observations (ignored where censored), ``lloq`` limits (ignored where not
    censored), ``censored`` and ``mask`` booleans, ``table`` from :func:`residual_table`. ``f_variance``: the
    predictions the residual SD is computed from, when not ``f`` (population estimation without interaction, FOCE,
    takes them at eta = 0).
    """
    exp = table["exponential"]
    # Each branch of a jnp.where is differentiated everywhere: logarithms get a stand-in argument (1) where their
    # branch is not used, or their derivatives at a zero prediction would turn the Hessian into NaN.
    log_of = lambda a: jnp.log(jnp.maximum(jnp.where(exp, a, 1.0), TINY_LOG_ARGUMENT))
    mu = jnp.where(exp, log_of(f), f)
    sd = residual_sd(f if f_variance is None else f_variance, table)
    y = jnp.where(censored, 1.0, value)
    y = jnp.where(exp, log_of(y), y)
    quantified = 0.5 * ((y - mu) / sd) ** 2 + jnp.log(sd) + HALF_LOG_2PI
    limit = jnp.where(censored, lloq, 1.0)
    limit = jnp.where(exp, log_of(limit), limit)
    below = -norm.logcdf((limit - mu) / sd)
    return jnp.where(mask, jnp.where(censored, below, quantified), 0.0)


def prior_term(eta, omega_inv):
    """``1/2 eta^T Omega^-1 eta`` per lane, ``eta`` (L, k)."""
    return 0.5 * jnp.einsum("li,ij,lj->l", eta, omega_inv, eta)


def check_exponential_data(residuals: dict, observables, which, value, censored, mask, lloq) -> None:
    """Exponential (log-normal) error needs positive values and limits; refuse a zero before any compute."""
    from ..errors import InputError

    for i, o in enumerate(observables):
        if residuals[o].exponential is None:
            continue
        rows = mask & (which == i)
        if (rows & ~censored & (value <= 0)).any():
            v = float(value[rows & ~censored & (value <= 0)][0])
            raise InputError(
                f"calibrate data: observable {o!r} has a value of {v:g} but its residual model is exponential "
                "(log-normal), which gives zero probability to values <= 0; mark the sample as BLQ with an lloq > 0, "
                "or use additive or combined error"
            )
        bad_limit = rows & censored & ~(np.nan_to_num(lloq) > 0)
        if bad_limit.any():
            raise InputError(f"calibrate data: observable {o!r} with exponential error has a BLQ sample with lloq "
                             f"{float(lloq[bad_limit][0]):g}; the limit must be > 0")
