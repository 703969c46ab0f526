"""Steady-state doses, solved: the repeated dose of each steady-state dose run by the engine until it settles.

:mod:`vhtwin.protocols.steady_state` says what to solve (:func:`~vhtwin.protocols.steady_state.repeated_doses`),
when it has settled (:func:`~vhtwin.protocols.steady_state.converged`) and how the protocol changes once it has
(:func:`~vhtwin.protocols.steady_state.replace`). Here the repeated dose is laid out as an ordinary problem without
steady-state doses (:func:`vhtwin.engine.problem.assemble`) and run (:func:`vhtwin.engine.run.run`) with the
caller's solver and tolerances -- the same path every simulation takes after it is checked, so a steady state is
exactly what simulating the repeated dose would give.
"""

from __future__ import annotations

import jax
import numpy as np

from ..model import Model
from ..options import DEFAULTS
from ..protocols import schedule
from ..protocols.steady_state import (
    REPETITIONS, RepeatedDose, converged, has_steady_state, initial_subset, repeated_doses, repeated_regimen, replace,
)
from ..validation import check_precision, initial_states, output_times, resolve_solver, tolerance
from .problem import assemble
from .run import run


def resolve(model: Model, protocol, P: np.ndarray, B: int, *, initial=None, options: dict | None = None):
    """The protocol with every steady-state dose replaced by a reset to its steady state, plus the dose.

    Parameters
    ----------
    model : Model
    protocol : Regimen or list of Regimen
        After :func:`vhtwin.protocols.schedule.doses_per_patient` (amounts per patient, modelled durations).
    P : ndarray (P, B)
        Parameter values per patient.
    B : int
        Number of patients.
    initial : dict, optional
        The caller's initial states (the repeated dose starts from them).
    options : dict
        Solver settings of the repeated-dose solve (``solver``, ``rtol``, ``atol``, ``precision``, ``max_steps``);
        missing ones take :data:`vhtwin.options.DEFAULTS`.

    Returns
    -------
    protocol : Regimen or list of Regimen
        Without steady-state doses (see :func:`vhtwin.protocols.steady_state.replace`).
    unreached : ndarray (B,) bool
        Patients whose steady state was not reached (their reset values are placeholders).
    """
    unreached = np.zeros(B, bool)
    if not has_steady_state(protocol):
        return protocol, unreached
    found = {}
    for job in repeated_doses(protocol, B):
        states, ok = pre_dose_steady_state(model, P[:, job.lanes], job, initial_subset(initial, job.lanes, B),
                                           options or {})
        unreached[job.lanes[~ok]] = True
        found[job] = states
    return replace(model, protocol, P, B, found), unreached


def pre_dose_steady_state(model: Model, P: np.ndarray, job: RepeatedDose, initial, options: dict):
    """Pre-dose steady state (n, L) of ``job`` per lane, and whether it was reached (L,).

    The repeated dose is solved for :data:`~vhtwin.protocols.steady_state.REPETITIONS` doses in turn, each time
    for the lanes not settled yet, with the states saved at the last three dose times.
    """
    names, L = model.state_names, P.shape[1]
    result = np.full((len(names), L), np.nan)
    reached = np.zeros(L, bool)
    todo = np.arange(L)
    rtol, atol = _tolerances(model, options)
    for N in REPETITIONS:
        times = np.array([N - 2, N - 1, N], float) * job.interval
        max_steps = max(int(options.get("max_steps", DEFAULTS.max_steps)), 200 * N)
        x, ok_solve = _solve(model, P[:, todo], repeated_regimen(job, todo, N), times, initial_subset(initial, todo, L),
                             options, max_steps, rtol, atol)
        ok = ok_solve & converged(x, rtol, atol)
        result[:, todo[ok]] = x[:, ok, 2]
        result[:, todo[~ok]] = np.nan_to_num(x[:, ~ok, 2], nan=0.0, posinf=0.0, neginf=0.0)  # placeholder only
        reached[todo[ok]] = True
        todo = todo[~ok]
        if not todo.size:
            break
    return result, reached


def _solve(model: Model, P: np.ndarray, regimen, times: np.ndarray, initial, options: dict, max_steps: int,
           rtol: np.ndarray, atol: np.ndarray):
    """Every state (n, L, T) at ``times`` after ``regimen`` from time 0, and whether each lane's solve succeeded."""
    L = P.shape[1]
    solver = options.get("solver", DEFAULTS.solver)
    precision = check_precision(options.get("precision", DEFAULTS.precision))
    method = resolve_solver(model, solver)
    shared, out_t = output_times(times, L)
    protocol = schedule.lagged(model, schedule.doses_per_patient(model, regimen, None, None, P, L), P, L)
    problem = assemble(
        model, method, solver, precision, P, True, L, initial_states(model, initial, L), tuple(initial or ()),
        shared, out_t, protocol, t0=0.0, max_steps=max_steps, rtol=rtol, atol=atol, outputs=list(model.state_names),
    )
    with jax.enable_x64(problem.precision == "float64"):
        states, _, status, _, _ = run(problem)
    return np.transpose(np.asarray(states, float), (0, 2, 1)), np.asarray(status) == 0


def _tolerances(model: Model, options: dict):
    return (tolerance(model, options.get("rtol", DEFAULTS.rtol), "rtol", DEFAULTS.rtol),
            tolerance(model, options.get("atol", DEFAULTS.atol), "atol", DEFAULTS.atol))
