"""Steady-state doses (NONMEM's SS = 1): the state a dose builds up when repeated every II for ever.

A steady-state dose at time ``t`` with interval ``II`` starts the system as if the same dose (bolus or infusion,
with the model's bioavailability and lag) had been given at ``t - II, t - 2 II, ...`` since long ago: at ``t`` the
state is replaced by the steady-state value just before the dose, infusions from those earlier doses that would
still be running continue, doses that a lag would still be holding back arrive, and then the dose at ``t`` is
given. Any model works, linear or not: the steady state is found by solving the repeated dose from the
initial state, with the caller's solver and tolerances, until successive pre-dose states agree. A trajectory
whose repeated dose never settles (a dose rate above a saturable elimination's capacity) is flagged
``no_steady_state`` instead of being solved.

Convergence test: with ``d_k`` the change of the pre-dose state over interval ``k``, the distance still to go is
about ``d_N / (1 - r)`` for a geometric approach with ratio ``r = d_N / d_(N-1)``; the steady state is reached when
that is within the solve's own tolerance (``rtol * |x| + atol``) in every state, or when the last two changes
both are (they are then the solver's error, and their ratio is noise).

Steady states are found on the host, from concrete parameter values, so they are not differentiable (like lags).

This module is the protocol's side, plain numpy: which repeated doses a protocol needs (:func:`repeated_doses`),
the convergence test (:func:`converged`) and the protocol rewritten from the steady states found
(:func:`replace`). The engine solves the repeated doses (:mod:`vhtwin.engine.steady_state`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .dosing import Dose, Regimen, Reset
from ..model import Model

#: Dose repetitions tried in turn before a trajectory is declared not to reach a steady state.
REPETITIONS = (48, 384, 3072)


def has_steady_state(protocol) -> bool:
    """Whether any dose of ``protocol`` (a regimen, or one per patient) is a steady-state dose."""
    regimens = protocol if isinstance(protocol, (list, tuple)) else [protocol]
    return any(isinstance(r, Regimen) and any(d.ss_interval for d in r.doses) for r in regimens)


@dataclass(frozen=True, eq=False)
class RepeatedDose:
    """One repeated-dose solve: ``amounts[k]`` into ``into`` every ``interval`` (over ``duration``) for patient
    ``lanes[k]``; ``members`` are the (patient, dose index) pairs it serves (patient -1: a protocol shared by all)."""

    into: str
    interval: float
    duration: float
    lanes: np.ndarray  # (L,) patients
    amounts: np.ndarray  # (L,) mg per dose
    members: tuple[tuple[int, int], ...]


def repeated_doses(protocol, B: int) -> list[RepeatedDose]:
    """The repeated-dose solves a protocol's steady-state doses need: one per kind (target, interval, duration)."""
    shared = isinstance(protocol, Regimen)
    regimens = [protocol] if shared else list(protocol)
    jobs: dict[tuple, list[tuple[int, int]]] = {}
    for b, reg in enumerate(regimens):
        if not isinstance(reg, Regimen):
            continue
        for j, d in enumerate(reg.doses):
            if d.ss_interval:
                jobs.setdefault((d.into, d.ss_interval, d.duration), []).append((b, j))
    out = []
    for (into, interval, duration), members in jobs.items():
        if shared:
            (_, j), = members
            lanes = np.arange(B)
            amounts = np.broadcast_to(np.asarray(protocol.doses[j].amount, float), (B,))
            members = [(-1, j)]
        else:
            lanes = np.array([b for b, _ in members])
            amounts = np.array([np.asarray(regimens[b].doses[j].amount, float).reshape(-1)[0] for b, j in members])
        out.append(RepeatedDose(into, interval, duration, lanes, amounts, tuple(members)))
    return out


def converged(x: np.ndarray, rtol: np.ndarray, atol: np.ndarray) -> np.ndarray:
    """Whether the pre-dose states ``x`` (n, L, 3) of the last three intervals have reached the steady state (L,).

    ``rtol`` and ``atol`` (n,) are the solve's tolerances per state; see the module docstring for the test.
    """
    d_last, d_prev = np.abs(x[:, :, 2] - x[:, :, 1]), np.abs(x[:, :, 1] - x[:, :, 0])
    ratio = np.where(d_prev > 0, d_last / np.where(d_prev > 0, d_prev, 1.0), 0.0)
    to_go = np.where(ratio < 1.0, d_last / np.maximum(1.0 - ratio, 1e-300), np.inf)
    scale = rtol[:, None] * np.abs(x[:, :, 2]) + atol[:, None]
    # Near the steady state the changes are the solver's own error, whose ratio means nothing: two successive
    # changes within tolerance count too (far from it the change per interval is well above tolerance).
    settled = (d_last <= scale) & (d_prev <= scale)
    return np.all((to_go <= scale) | settled, axis=0)


def replace(model: Model, protocol, P: np.ndarray, B: int, found: Mapping[RepeatedDose, np.ndarray]):
    """The protocol with every steady-state dose replaced by a reset to its steady state, plus the dose.

    Parameters
    ----------
    model : Model
    protocol : Regimen or list of Regimen
        Shared by the batch or one per patient; amounts already per patient where they differ.
    P : ndarray (P, B)
        Parameter values per patient (the lags).
    B : int
        Number of patients.
    found : mapping
        The pre-dose steady state (n, L) of each of :func:`repeated_doses`, lanes in its order.

    Returns
    -------
    Regimen or list of Regimen
        Without steady-state doses. Shared when the input was shared and no dose into a lagged state is lagged.
    """
    lag_of = {state: P[model.parameter_names.index(name)] for state, name in model.lags().items()}
    shared = isinstance(protocol, Regimen)
    lagged = any(np.any(lag_of[d.into] != 0) for d in (protocol.doses if shared else []) if d.ss_interval and d.into in lag_of)
    regimens = [protocol] * B if shared else list(protocol)
    x_ss: dict[tuple[int, int], np.ndarray] = {}  # (patient or -1 for shared, dose) -> state (n,) or (n, B)
    for job, states in found.items():
        if shared:
            x_ss[job.members[0]] = states
        else:
            for k, key in enumerate(job.members):
                x_ss[key] = states[:, k]

    names = model.state_names
    if shared and not lagged:
        doses, resets = [], list(protocol.resets)
        for j, d in enumerate(protocol.doses):
            if not d.ss_interval:
                doses.append(d)
                continue
            x = x_ss[(-1, j)]
            resets.append(Reset(d.time, {s: x[i] for i, s in enumerate(names)}))
            doses.extend(_given_at_steady_state(d, 0.0))
        return Regimen(tuple(doses), tuple(resets))
    out = []
    for b, reg in enumerate(regimens):
        if not isinstance(reg, Regimen) or not any(d.ss_interval for d in reg.doses):
            out.append(reg)
            continue
        doses, resets = [], list(reg.resets)
        for j, d in enumerate(reg.doses):
            pick = lambda a: np.asarray(a)[b] if np.ndim(a) else a
            if not d.ss_interval:
                doses.append(Dose(d.time, pick(d.amount), d.into, d.duration, modelled=d.modelled) if shared else d)
                continue
            x = x_ss[(-1, j)][:, b] if shared else x_ss[(b, j)]
            resets.append(Reset(d.time, {s: float(x[i]) for i, s in enumerate(names)}))
            lag = float(lag_of[d.into][b]) if d.into in lag_of else 0.0
            doses.extend(_given_at_steady_state(Dose(d.time, pick(d.amount), d.into, d.duration, ss_interval=d.ss_interval), lag))
        out.append(Regimen(tuple(doses), tuple(resets)))
    return out


def repeated_regimen(job: RepeatedDose, lanes: np.ndarray, repetitions: int) -> Regimen:
    """``repetitions`` doses of ``job`` from time 0, for its lanes ``lanes`` (indices into ``job.lanes``)."""
    return Regimen(tuple(Dose(k * job.interval, job.amounts[lanes], job.into, job.duration) for k in range(repetitions)))


def initial_subset(initial, lanes: np.ndarray, B: int):
    """The caller's initial states (scalar or per patient among ``B``) for the patients ``lanes``."""
    if not initial:
        return None
    return {k: (np.broadcast_to(np.asarray(v, float), (B,))[lanes] if np.ndim(v) else v) for k, v in initial.items()}


def _given_at_steady_state(d: Dose, lag: float) -> list[Dose]:
    """The dose at ``d.time`` and what earlier doses of the series still deliver after it (dose times before lag).

    Dose k of the series was given at ``t - k II`` and, after the lag, acts over ``[s_k, s_k + D)`` with
    ``s_k = t - k II + lag``. If it has not started by ``t`` it is still to come (a dose at ``t - k II``, which the
    lag moves past ``t``); if it is running at ``t`` its remainder is an infusion from ``t`` (a dose at ``t - lag``).
    """
    t, II, D = d.time, d.ss_interval, d.duration
    amount = np.asarray(d.amount, float)
    doses = [Dose(t, d.amount, d.into, D)]
    k = 1
    while t - k * II + lag + D > t or (D == 0 and t - k * II + lag >= t):
        start = t - k * II + lag
        if start >= t:
            doses.append(Dose(t - k * II, d.amount, d.into, D))
        else:
            remaining = start + D - t
            doses.append(Dose(t - lag, amount * remaining / D, d.into, remaining))
        k += 1
    return doses
