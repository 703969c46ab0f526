"""``vhtwin.calibrate``: patient twins by individual MAP (empirical Bayes) estimation with a population prior."""

from __future__ import annotations

import warnings

import jax
import numpy as np

from ..errors import InputError
from ..model import Model
from . import data as _data, prior as _prior
from .objective import check_exponential_data
from .problem import Problem, check_protocols, per_patient_protocols
from .twin import Twin


def calibrate(
    model: Model | str,
    data,
    *,
    prior,
    protocol=None,
    covariates=None,
    residual=None,
    solver="auto",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_iter: int = 50,
    gtol: float = 1e-6,
) -> Twin:
    """Calibrate a patient twin (or a batch of twins) to measurements: the individual MAP estimate of the etas.

    Minimises, per patient, the negative log posterior

        OBJ(eta) = -log p(data | theta, eta, sigma) + 1/2 eta^T Omega^-1 eta

    over the etas, with the prior's typical values ``theta`` (after its covariate models, from ``covariates``), its
    Omega and its residual model fixed; measurements below the limit of quantification enter by Beal's M3
    likelihood (:mod:`vhtwin.calibration.objective` gives the exact form). Gradients and Hessians come from JAX
    through the solver; all patients are fitted in one compiled, batched Newton trust-region loop
    (:mod:`vhtwin.calibration.fit`) in float64. The Laplace covariance is the inverse Hessian at the MAP.

    Parameters
    ----------
    model : Model or str
        The model, or a library name.
    data : DataFrame or dict of columns
        One row per measurement: ``time`` (model time unit), ``value`` (observable unit), and optionally
        ``observable`` (default: the model's first observable), ``lloq`` (a row with ``value < lloq``, or no value
        and an lloq, is BLQ) and ``id`` (several patients, fitted together; the twin then has a patient axis in
        sorted id order).
    prior : Population
        The population of the patient, built for ``model``: typical values, omega (the etas to estimate; those
        with variance 0 stay at 0), covariate models and residual model.
    protocol : Regimen, sequence, or dict by id, optional
        Doses: one Regimen for everyone (per-patient amounts allowed, in sorted id order), one per patient, or a
        dict by id.
    covariates : dict or DataFrame, optional
        Per-patient covariates for the prior's covariate models and per-unit doses (``per="WT"``): a dict of
        values (scalar, or one per patient in sorted id order) or a table keyed by ``id``.
    residual : Residual or dict, optional
        Residual model(s) instead of the prior's, one for all observables or a dict by observable.
    solver, rtol, atol
        Passed to the solve (:func:`vhtwin.simulate`). A linear model with a sampling grid shared by the patients
        is solved exactly; otherwise by the ODE method at these (tight) tolerances.
    max_iter : int
        Most Newton iterations.
    gtol : float
        Gradient tolerance (nats per eta unit) of the convergence test.

    Returns
    -------
    Twin
        MAP parameters and etas, Laplace covariance, diagnostics, ``predict`` and ``sample_posterior``.

    Raises
    ------
    InputError
        Before any compute: a missing column, a non-finite time or value, an unknown observable, a
        patient whose every measurement is BLQ, a measurement before the first dose, a prior built for another
        model, covariates that miss a patient or a covariate the prior needs.

    Warns
    -----
    UserWarning
        When some patient's fit did not converge (its ``converged`` flag is False).

    Examples
    --------
    >>> m = vh.load_model("pharmacokinetics/one_compartment_oral")
    >>> pop = vh.Population(m, typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
    ...                     omega={"ka": 0.42, "CL": 0.073, "V": 0.018}, residual=vh.Residual(additive=0.7))
    >>> data = {"time": [1.0, 4.0, 12.0], "value": [6.1, 7.9, 4.2]}
    >>> twin = vh.calibrate(m, data, prior=pop, protocol=vh.Regimen.bolus(320.0, into="depot"))
    >>> twin.params["CL"], twin.converged
    >>> twin.predict(np.arange(0.0, 25.0)).Cc_upper
    """
    if isinstance(model, str):
        from ..library import load_model

        model = load_model(model)
    if not isinstance(model, Model):
        raise InputError(f"calibrate: model must be a vhtwin.Model instance or a library name, got {type(model).__name__}")
    for name, value, low in (("max_iter", max_iter, 1),):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"calibrate: {name} {value!r} must be an integer >= {low}")
    if not (isinstance(gtol, (int, float)) and gtol > 0):
        raise InputError(f"calibrate: gtol {gtol!r} must be a number > 0")
    if protocol is None and model.dosable_states:
        # a dosed model fitted without its doses "converges" to whatever explains the data with no drug: refuse
        raise InputError(f"calibrate: protocol is required: {model.name} is dosed into {list(model.dosable_states)}; "
                         "give the doses the patient received (e.g. vh.Regimen.bolus(320.0, into=\"depot\")), or "
                         "protocol=vh.Regimen() if none were given")
    obs = _data.read(model, data)
    pri = _prior.build(model, prior, obs.ids, obs.has_id, obs.observables, covariates, residual)
    check_exponential_data(pri.residuals, obs.observables, obs.observable, obs.value, obs.censored, obs.mask, obs.lloq)
    protocols = per_patient_protocols(protocol, obs.ids, obs.has_id)
    check_protocols(obs, protocols)
    problem = Problem(model, obs, pri, protocols, solver=solver, rtol=float(rtol), atol=float(atol))
    with jax.enable_x64(True):
        lanes = problem.lanes(1)
        eta0 = np.zeros((obs.n_patients, len(pri.eta_names)))
        # An exact solve resolves the objective to rounding; an ODE solve to about its relative tolerance.
        noise = 1e-12 if lanes.method == "exact" else max(1e-12, 10.0 * float(rtol))
        result = lanes.search(eta0, max_iter=int(max_iter), gtol=float(gtol), noise=noise)
    twin = Twin(problem, result)
    failed = ~np.asarray(result.converged)
    if failed.any():
        warnings.warn(
            f"calibrate: the MAP search did not converge for {int(failed.sum())} of {obs.n_patients} patient(s) "
            f"(ids {[_data.plain(i) for i in obs.ids[failed][:10]]}); their twins hold the best point found -- see twin.converged, "
            "twin.gradient_norm, and try max_iter or a different residual model",
            stacklevel=2,
        )
    return twin
