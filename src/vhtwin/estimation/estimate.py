"""``vhtwin.estimate``: population estimation (FOCE-I, FOCE, Laplace) of a model from a clinical dataset."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..model import Model
from ..options import DEFAULTS
from ..population import Population
from . import checkpoint as _checkpoint
from . import covariance as _covariance
from .assemble import assemble, problem
from .data import subjects as _subjects
from . import saem as _saem
from .objective import METHODS as FIRST_ORDER
from .outer import Evaluator, Outcome, SearchState, search
from .parameters import build
from .result import PopulationFit

METHODS = (*FIRST_ORDER, "saem")


def estimate(model, data, population, *, method: str = "focei", fix=(), covariance: str | None = "sandwich",
             max_iter: int = 200, gtol: float = 1e-3, inner_max_iter: int = 100, inner_gtol: float = 1e-8,
             saem: _saem.SaemSettings | None = None, checkpoint=None, solver="auto", rtol: float = 1e-10,
             atol: float = 1e-12, max_steps: int = DEFAULTS.max_steps) -> PopulationFit:
    """Estimate a population model -- typical values, covariate effects, Omega and residual error -- from a dataset.

    Every step solves all subjects at once: the conditional modes (each subject's etas) by batched Newton-type steps
    with exact gradients from JAX, then the objective (:mod:`vhtwin.estimation.objective` states it exactly)
    and its exact gradient; the outer search is BFGS over the unconstrained parameters
    (:mod:`vhtwin.estimation.parameters`). The programs are compiled once per model and dataset shape: iterations,
    starting values and new datasets of the same shape run them again.

    Parameters
    ----------
    model : Model or str
        The structural model, or a library name.
    data : Dataset
        The clinical dataset (:func:`vhtwin.read_dataset`): doses, observation records with DV, covariates; ``CENS``
        = 1 marks a BLQ record (Beal's M3 likelihood, method ``"laplace"``).
    population : Population
        The structure and the starting values: typical values, covariate models, Omega (its parameters are
        estimated; variance 0 for a fixed effect without variability; blocks for correlated etas) and the residual
        model (additive, proportional, combined, exponential = log-transformed both sides).
    method : {"focei", "foce", "laplace", "saem"}
        First-order conditional estimation with interaction, without interaction, the Laplace approximation, or
        stochastic approximation EM (:mod:`vhtwin.estimation.saem`; its objective and standard errors are the
        FOCE-I approximation at the SAEM estimates).
    fix : sequence of str
        Parameters held at their starting value, by the names of :attr:`PopulationFit.parameter_names`
        (``"ka"``, ``"CL~WT"``, ``"omega(CL)"``, ``"sigma(additive)"``).
    covariance : {"sandwich", "R", "S"} or None
        The covariance step (standard errors); None skips it.
    max_iter, gtol
        Most outer (BFGS) iterations; convergence when every component of the gradient of the OFV with respect to
        the unconstrained parameters is below ``gtol``.
    inner_max_iter, inner_gtol
        The conditional-mode search per evaluation.
    saem : SaemSettings, optional
        Iterations, chains, kernels and seed of SAEM (:class:`vhtwin.estimation.saem.SaemSettings`).
    checkpoint : str or path-like, optional
        A JSON file the search saves its state to (after every outer iteration; every 25 SAEM iterations). If it
        exists and holds a checkpoint of the same estimation, the search resumes from it and ends where the
        uninterrupted search would have; a checkpoint of another estimation is refused
        (:mod:`vhtwin.estimation.checkpoint`). The file is left in place when the fit ends.
    solver, rtol, atol, max_steps
        The solve (:func:`vhtwin.simulate`); linear models with shared sampling times are solved exactly.

    Returns
    -------
    PopulationFit

    Raises
    ------
    InputError
        Before any compute: an unknown method or covariance kind, a dataset read for another model, negative times,
        a subject without measurements or whose every measurement is BLQ, a missing or time-varying covariate, a
        singular starting Omega, no residual model, an unknown name in ``fix``, BLQ data with a first-order method.

    Examples
    --------
    >>> m = vh.load_model("pharmacokinetics/one_compartment_oral")
    >>> ds = vh.read_dataset("examples/datasets/theophylline.csv", m)
    >>> start = vh.Population(m, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.4, "CL": 0.07, "V": 0.02},
    ...                       residual=vh.Residual(additive=0.7))
    >>> fit = vh.estimate(m, ds, start)
    >>> fit.table()
    """
    if isinstance(model, str):
        from ..library import load_model

        model = load_model(model)
    if not isinstance(model, Model):
        raise InputError(f"estimate model = {type(model).__name__}: must be a vhtwin.Model or a library name")
    if method not in METHODS:
        raise InputError(f"estimate method = {method!r}: allowed: {list(METHODS)}")
    if covariance is not None and covariance not in _covariance.KINDS:
        raise InputError(f"estimate covariance = {covariance!r}: allowed: {list(_covariance.KINDS)} or None")
    if not isinstance(population, Population):
        raise InputError(f"estimate population = {type(population).__name__}: must be a vhtwin.Population (the "
                         "structure and starting values)")
    if population.model.name != model.name or population.model.source_hash() != model.source_hash():
        raise InputError(f"estimate population: built for model {population.model.name!r}, not {model.name!r}")
    for name, value in (("max_iter", max_iter), ("inner_max_iter", inner_max_iter)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"estimate {name} = {value!r}: must be an integer >= 1")
    for name, value in (("gtol", gtol), ("inner_gtol", inner_gtol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InputError(f"estimate {name} = {value!r}: must be a number > 0")
    if saem is not None and not isinstance(saem, _saem.SaemSettings):
        raise InputError(f"estimate saem = {type(saem).__name__}: must be a vhtwin.estimation.saem.SaemSettings")
    started = time.perf_counter()
    subj = _subjects(data, model, population.covariates_needed)
    par = build(population, subj.covariates, subj.obs.observables, fix)
    if method == "saem":
        _saem.check(par, subj.obs)
    prob = problem(model, population, subj, par, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps)
    assembled = assemble(prob, par, "focei" if method == "saem" else method)
    evaluator = Evaluator(assembled, inner_max_iter=int(inner_max_iter), inner_gtol=float(inner_gtol))
    start_value, _ = evaluator(par.u0[par.free])
    if not math.isfinite(start_value):
        values, _, _ = evaluator.value_and_gradient(par.u0[par.free])
        bad = [subj.obs.ids[i].item() for i in np.flatnonzero(~np.isfinite(values))]
        raise InputError(f"estimate population: the objective is not finite at the starting values for ID(s) "
                         f"{bad[:10]} ({len(bad)} of {subj.obs.n_patients}): the solve failed for them (try solver, "
                         "max_steps) or a measurement has zero likelihood; check the starting values and units")
    trace = None
    settings = saem or _saem.SaemSettings()
    # What decides the search's path (max_iter and gtol only decide where it stops: a resumed fit may change them).
    options = {"inner_max_iter": int(inner_max_iter),
               "inner_gtol": float(inner_gtol), "solver": str(solver), "rtol": float(rtol), "atol": float(atol),
               "saem": dataclasses.asdict(settings) if method == "saem" else None}
    saved, save = None, None
    if checkpoint is not None:
        path = Path(checkpoint)
        key = _checkpoint.fingerprint(model, data, par, method, options)
        saved = _checkpoint.read(path, key)
        save = lambda state: _checkpoint.write(path, key, method, state if isinstance(state, dict) else state.to_json())
    if method == "saem":
        B = subj.obs.n_patients
        chains = settings.chains or max(1, -(-50 // B))
        u, _, trace = _saem.run(assemble(prob, par, "focei", repeat=chains), par, B, settings, par.u0, state=saved,
                                checkpoint=save)
        x = u[par.free]
        _, gradient = evaluator(x)
        outcome = Outcome(x, True, f"SAEM: {settings.exploration} + {settings.smoothing} iterations, {chains} chain(s)",
                          settings.exploration + settings.smoothing, evaluator.evaluations, gradient)
    else:
        outcome = search(evaluator, par.u0[par.free], max_iter=max_iter, gtol=gtol,
                         state=None if saved is None else SearchState.from_json(saved), checkpoint=save)
    step = _covariance.step(evaluator, outcome.x, kind=covariance) if covariance is not None else None
    fit = PopulationFit(population, subj, par, assembled, evaluator, outcome, step,
                        elapsed=time.perf_counter() - started, method=method, trace=trace)
    if not outcome.converged:
        warnings.warn(f"estimate: the {method} search did not converge ({outcome.message}; largest gradient "
                      f"{float(np.max(np.abs(outcome.gradient))):.3g}); see fit.status", stacklevel=2)
    flagged = fit.subjects_status.index[~fit.subjects_status["converged"].to_numpy()]
    if len(flagged):
        warnings.warn(f"estimate: the conditional modes of {len(flagged)} subject(s) did not converge at the estimate "
                      f"(IDs {list(flagged[:10])}); see fit.subjects_status", stacklevel=2)
    if step is not None and not step.ok:
        warnings.warn(f"estimate: covariance step {step.status}; standard errors are NaN", stacklevel=2)
    return fit
