"""``prepare``: what a caller passes to ``simulate`` (parameters by name, a protocol, output times, options), checked
before any compute and turned into a :class:`~vhtwin.engine.problem.Problem`.

Everything about doses that depends on the patient is resolved here, on the host, in this order: amounts per unit
of a covariate and modelled infusions (:func:`vhtwin.protocols.schedule.doses_per_patient`), steady-state doses
(:func:`vhtwin.engine.steady_state.resolve`, which solves the repeated dose with the engine itself), then dose lags
(:func:`vhtwin.protocols.schedule.lagged`). :func:`vhtwin.engine.problem.assemble` lays out the result.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..limits import check_memory
from ..model import Model
from ..options import DEFAULTS, SolverOptions
from ..protocols import occasions as _occasions, schedule
from ..protocols.steady_state import has_steady_state
from ..solvers import Exact
from ..validation import (
    check_precision, initial_states, output_times, parameter_matrix, resolve_solver, tolerance,
)
from . import steady_state
from .problem import Problem, assemble


def prepare(
    model: Model,
    params=None,
    *,
    times,
    protocol=None,
    initial=None,
    solver=DEFAULTS.solver,
    rtol=DEFAULTS.rtol,
    atol=DEFAULTS.atol,
    precision=DEFAULTS.precision,
    t0=None,
    dt0=DEFAULTS.dt0,
    dt_min=DEFAULTS.dt_min,
    dt_max=DEFAULTS.dt_max,
    max_steps=DEFAULTS.max_steps,
    outputs=None,
    covariates=None,
    n_patients: int | None = None,
    occasions=None,
) -> Problem:
    """Check a simulation request and lay it out for the engine (see :func:`vhtwin.simulate` for the arguments)."""
    if not isinstance(model, Model):
        raise InputError(f"model must be a vhtwin.Model instance, got {type(model).__name__}")
    SolverOptions(solver=solver, rtol=rtol, atol=atol, precision=precision, dt0=dt0, dt_min=dt_min, dt_max=dt_max,
                  max_steps=max_steps)  # checks every setting, naming the bad one
    requested_precision = precision
    base, by_occasion, starts = _occasions.split_parameters(model, params, occasions)
    P, batched, B = parameter_matrix(model, base)
    if n_patients is not None:
        if B not in (1, n_patients):
            raise InputError(f"params describe {B} patients but n_patients is {n_patients}")
        if n_patients > 1 and B == 1:
            P, batched, B = np.repeat(P, n_patients, axis=1), True, n_patients
    y0 = initial_states(model, initial, B)
    shared, out_t = output_times(times, B)
    # the outputs are held on the device, on the host and in the result: about three copies of B x T x variables
    n_vars = len(outputs) if outputs is not None else len(model.observed) + len(model.states)
    check_memory(f"simulating {B:,} patients x {out_t.shape[-1]:,} output times", 3 * 8.0 * B * out_t.shape[-1] * n_vars,
                 "simulate fewer patients per call (a vh.Trial runs a cohort in batches) or fewer output times")
    method = resolve_solver(model, solver)
    rtol_v, atol_v = tolerance(model, rtol, "rtol", DEFAULTS.rtol), tolerance(model, atol, "atol", DEFAULTS.atol)
    precision = check_precision(requested_precision, float(rtol_v.min()))
    if not method.adaptive and dt0 is None and not isinstance(method, Exact):
        raise InputError(f"solver {method.name!r} is fixed-step: give dt0 > 0 (the step)")
    steady = has_steady_state(protocol)
    if by_occasion and steady:
        raise InputError(
            "occasions: steady-state doses (steady_state=True) cannot be combined with occasions yet (the steady "
            "state would be found for one occasion's parameters); simulate the run-in explicitly or drop occasions"
        )
    if by_occasion and (solver == "exact" or isinstance(method, Exact)):
        raise InputError(
            "solver 'exact' does not apply with occasions: parameters that switch at occasion boundaries need the "
            "ODE path (solver='auto' uses it)"
        )
    schedule.check_protocol(protocol)
    protocol = schedule.doses_per_patient(model, protocol, params, covariates, P, B)
    # Steady states are found by the same solver at the same tolerances (a repeated-dose solve).
    ss_options = dict(solver=solver, rtol=rtol, atol=atol, precision=precision, max_steps=max_steps)
    protocol, unreached = steady_state.resolve(model, protocol, P, B, initial=initial, options=ss_options)
    protocol = schedule.lagged(model, protocol, P, B)
    return assemble(
        model, method, solver, precision, P, batched, B, y0, tuple(initial or ()), shared, out_t, protocol,
        t0=t0, dt0=dt0, dt_min=dt_min, dt_max=dt_max, max_steps=max_steps, rtol=rtol_v, atol=atol_v, outputs=outputs,
        unreached=unreached, steady=steady, by_occasion=by_occasion, starts=starts,
    )
