"""A calibration problem: checked data, prior and protocol, and the batched JAX objective over lanes.

A *lane* is one patient's copy of the problem. Fitting uses one lane per patient; posterior sampling uses ``n``
lanes per patient (one per sample). Every lane is independent, so one compiled solve (``vh.Simulator`` with a
patient axis) evaluates all of them at once, and the gradient of the summed objective is each lane's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..model import Model
from ..protocols import Regimen
from ..protocols.dosing import Dose
from ..simulate import Simulator
from . import data as _data, objective as _objective
from .data import plain
from .prior import Prior


@dataclass(frozen=True)
class Problem:
    """Everything a calibration needs, checked (numpy, patients in sorted id order)."""

    model: Model
    obs: _data.Observations
    prior: Prior
    protocols: tuple  # one protocol (Regimen, other schedule, or None) per patient
    solver: Any = "auto"
    rtol: float = 1e-10
    atol: float = 1e-12
    max_steps: int = 100_000
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_patients(self) -> int:
        return self.obs.n_patients

    def lanes(self, repeat: int = 1) -> "Lanes":
        """The objective over ``n_patients * repeat`` lanes (patient-major: lane ``i * repeat + r``), cached."""
        if repeat not in self._cache:
            with jax.enable_x64(True):  # the constants the objective reads stay float64
                self._cache[repeat] = Lanes.build(self, repeat)
        return self._cache[repeat]


# -- protocols -----------------------------------------------------------------------------------------------------------
def per_patient_protocols(protocol, ids: np.ndarray, has_id: bool) -> tuple:
    """One protocol per patient from a shared one, a Regimen with per-patient amounts, a sequence, or a dict by id."""
    B = ids.shape[0]
    if isinstance(protocol, Mapping):
        absent = [i for i in ids if i not in protocol]
        if absent:
            raise InputError(f"calibrate protocol: no protocol for patient id {plain(absent[0])!r} (the dict has ids {[plain(i) for i in list(protocol)[:10]]})")
        return tuple(protocol[i] for i in ids)
    if isinstance(protocol, (list, tuple)):
        if len(protocol) != B:
            raise InputError(
                f"calibrate protocol: {len(protocol)} protocols for {B} patients; give one per patient in sorted id "
                "order, a dict by id, or one shared protocol"
            )
        return tuple(protocol)
    if isinstance(protocol, Regimen):
        size = protocol.batch_size()
        if size is None:
            return (protocol,) * B
        if size != B:
            raise InputError(f"calibrate protocol: the regimen has per-patient amounts for {size} patients, the data {B}")
        return tuple(_one_patient(protocol, b) for b in range(B))
    return (protocol,) * B


def _one_patient(reg: Regimen, b: int) -> Regimen:
    if any(r.state for r in reg.resets):
        raise InputError("calibrate protocol: resets to given state values are not supported; use plain resets")
    doses = tuple(
        Dose(d.time, float(np.asarray(d.amount)[b]) if np.ndim(d.amount) else d.amount, d.into, d.duration, d.per,
             d.ss_interval, d.modelled)
        for d in reg.doses
    )
    return Regimen(doses, reg.resets)


def check_protocols(obs: _data.Observations, protocols) -> None:
    """Refuse steady-state doses and measurements before a patient's first dose."""
    for b, reg in enumerate(protocols):
        if not isinstance(reg, Regimen) or not reg.doses:
            continue
        if any(d.ss_interval for d in reg.doses):
            raise InputError(
                "calibrate protocol: steady-state doses (steady_state=True) are not supported in calibration yet (the "
                "steady state would not follow the estimated parameters); give the run-in doses explicitly"
            )
        first = min(d.time for d in reg.doses)
        t = obs.time[b][obs.mask[b]]
        if t.min() < first:
            who = f"patient id {plain(obs.ids[b])!r}" if obs.has_id else "the patient"
            raise InputError(
                f"calibrate data: {who} has a measurement at time {t.min():g}, before the first dose at {first:g}; "
                "measurements must be at or after the first dose (a pre-dose sample at the dose time is allowed), or "
                "add the earlier doses to the protocol"
            )


def lane_protocol(protocols, repeat: int):
    """The protocol of ``len(protocols) * repeat`` lanes, as one Regimen with per-lane amounts when the patients
    share a schedule (dose times, targets, durations) -- which keeps dose times shared, as the exact linear path
    needs -- and otherwise as one protocol per lane."""
    lanes = [p for p in protocols for _ in range(repeat)]
    if len(lanes) == 1 or all(p is lanes[0] for p in lanes):
        return lanes[0]
    if not all(isinstance(p, Regimen) for p in lanes):
        return lanes
    shape = lambda r: (tuple((d.time, d.into, d.duration, d.per, d.ss_interval, d.modelled) for d in r.doses), r.resets)
    first = shape(lanes[0])
    if any(shape(r) != first for r in lanes[1:]):
        return lanes
    doses = tuple(
        Dose(d.time, np.array([float(r.doses[j].amount) for r in lanes]), d.into, d.duration, d.per, d.ss_interval,
             d.modelled)
        for j, d in enumerate(lanes[0].doses)
    )
    return Regimen(doses, lanes[0].resets)


# -- the batched objective ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lanes:
    """The JAX objective and predictions over lanes, with the constants they read."""

    problem: Problem
    repeat: int
    sim: Simulator
    typical: Any  # (k, L) typical values of the estimated parameters
    position: Any  # (L, N) index of each measurement's time in the simulator's output grid
    which: Any  # (L, N) observable index
    value: Any
    lloq: Any
    censored: Any
    mask: Any
    table: dict

    @classmethod
    def build(cls, problem: Problem, repeat: int) -> "Lanes":
        model, obs, prior = problem.model, problem.obs, problem.prior
        L = obs.n_patients * repeat
        lane = lambda a: np.repeat(a, repeat, axis=0)
        params = {n: lane(v) for n, v in prior.typical.items()}
        covariates = {n: lane(v) for n, v in prior.covariates.items()} or None
        protocol = lane_protocol(problem.protocols, repeat)
        options = dict(protocol=protocol, n_patients=L, covariates=covariates, solver=problem.solver, rtol=problem.rtol,
                       atol=problem.atol, precision="float64", outputs=list(obs.observables), max_steps=problem.max_steps)
        sim, position = None, None
        if getattr(model, "linear", False) and problem.solver in ("auto", "exact"):
            # One grid shared by every lane lets the exact matrix-exponential path apply (when dose times are shared).
            union = np.unique(obs.grid[np.isfinite(obs.grid)])
            trial = Simulator(model, params, times=union, **options)
            if trial.problem.method.name == "exact":
                sim, position = trial, np.searchsorted(union, obs.time)
        if sim is None:
            grid = lane(obs.grid)
            sim = Simulator(model, params, times=grid, **options)
            position = obs.grid_index
        which = lane(obs.observable)
        return cls(
            problem, repeat, sim, jnp.asarray(lane(prior.typical_matrix().T).T), jnp.asarray(lane(position)),
            jnp.asarray(which), jnp.asarray(lane(obs.value)), jnp.asarray(lane(np.nan_to_num(obs.lloq))),
            jnp.asarray(lane(obs.censored)), jnp.asarray(lane(obs.mask)),
            {k: jnp.asarray(v) for k, v in _objective.residual_table(prior.residuals, obs.observables, which).items()},
        )

    @property
    def n_lanes(self) -> int:
        return int(self.mask.shape[0])

    def parameters(self, eta):
        """Individual values of the estimated parameters by name, each (L,)."""
        values = self.problem.prior.individual(eta, self.typical)
        return {n: values[j] for j, n in enumerate(self.problem.prior.eta_names)}

    def predictions(self, eta):
        """Predictions at every measurement (L, N), and the solve status per lane (L,)."""
        out = self.sim(self.parameters(eta))
        L = self.n_lanes
        stacked = jnp.stack([jnp.reshape(out[o], (L, -1)) for o in self.problem.obs.observables])  # (O, L, T)
        lanes = jnp.arange(L)[:, None]
        return stacked[self.which, lanes, self.position], jnp.reshape(out["status"], (L,))

    def objective(self, eta):
        """OBJ per lane (L,) from etas (L, k); NaN-free: a failed solve gives +inf."""
        f, status = self.predictions(eta)
        terms = _objective.data_terms(f, self.value, self.lloq, self.censored, self.mask, self.table)
        total = jnp.sum(terms, axis=1) + _objective.prior_term(eta, jnp.asarray(self.problem.prior.omega_inv))
        return jnp.where((status == 0) & jnp.isfinite(total), total, jnp.inf)
