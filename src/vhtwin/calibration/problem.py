"""A calibration problem: checked data, prior and protocol, and the batched JAX objective over lanes.

A *lane* is one patient's copy of the problem. Fitting uses one lane per patient; posterior sampling uses ``n``
lanes per patient (one per sample). Every lane is independent, so one compiled solve (``vh.Simulator`` with a
patient axis) evaluates all of them at once, and the gradient of the summed objective is each lane's gradient.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import engine
from ..engine import buckets
from ..errors import InputError
from ..model import Model
from ..options import DEFAULTS
from ..protocols import Regimen
from ..protocols.dosing import Dose
from ..simulate import Simulator
from . import data as _data, fit as _fit, objective as _objective
from .data import plain
from .prior import Prior, individual


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
    max_steps: int = DEFAULTS.max_steps
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
class Static(NamedTuple):
    """What the compiled objective and search are specialised to (hashable); everything else is data."""

    compiled: engine.Compiled  # the solve: backend, program key, lanes
    kinds: tuple[str, ...]  # per eta: its distribution
    eta_rows: tuple[int, ...]  # the model parameter each eta moves
    observable_rows: tuple[int, ...]  # the model observable of each measured observable


@dataclass(frozen=True)
class Lanes:
    """The objective and predictions over ``n_lanes`` lanes: a static part and the data it reads.

    Every array in ``data`` is padded to the solve's lanes ``W`` (a bucket) and the measurements to a bucket ``N``, so
    that a new patient of the same buckets runs the programs already compiled: the design, the measurements, the
    typical values and Omega are arguments of the compiled search, not constants in it.
    """

    problem: Problem
    repeat: int
    static: Static
    data: dict
    n_lanes: int
    n_measurements: int
    method: str  # the solver the solve resolved to ("exact", "tsit5", ...)

    @classmethod
    def build(cls, problem: Problem, repeat: int) -> "Lanes":
        model, obs, prior = problem.model, problem.obs, problem.prior
        L = obs.n_patients * repeat
        lane = lambda a: np.repeat(a, repeat, axis=0)
        params = {n: lane(v) for n, v in prior.typical.items()}
        covariates = {n: lane(v) for n, v in prior.covariates.items()} or None
        protocol = lane_protocol(problem.protocols, repeat)
        solve = Simulator(
            model, params, times=lane(obs.grid), protocol=protocol, n_patients=L, covariates=covariates,
            solver=problem.solver, rtol=problem.rtol, atol=problem.atol, precision="float64",
            outputs=list(obs.observables), max_steps=problem.max_steps,
        ).problem
        eta_rows = tuple(model.parameter_names.index(n) for n in prior.eta_names)
        compiled = engine.Compiled.of(solve, 1, sensitivities=eta_rows)  # derivatives for the etas' rows only
        W = compiled.width * compiled.n_chunks
        lanes_design, shared_design = engine.host_design(solve, 1)
        N = obs.time.shape[1]
        Nb = buckets.measurements(N)
        widen = lambda a, fill: _pad(np.asarray(a), W, Nb, fill)
        which = widen(lane(obs.observable), 0).astype(np.int32)
        # padding measurements read observable 0's residual model: finite, so no 0 * inf in any derivative
        table = _objective.residual_table(prior.residuals, obs.observables, which)
        P = np.asarray(solve.params, float)
        data = {
            "p": _pad_lanes(np.broadcast_to(P, (P.shape[0], L)), W),
            "y0": _pad_lanes(np.broadcast_to(solve.y0, (solve.y0.shape[0], L)), W),
            "typical": _pad_lanes(lane(prior.typical_matrix().T).T, W),
            "lower": prior.lower, "upper": prior.upper,
            "lanes": lanes_design, "shared": shared_design,
            "position": widen(lane(obs.grid_index), 0).astype(np.int32),
            "which": which,
            "value": widen(lane(obs.value), 0.0), "lloq": widen(lane(np.nan_to_num(obs.lloq)), 0.0),
            "censored": widen(lane(obs.censored), False), "mask": widen(lane(obs.mask), False),
            "table": table,
            "omega_inv": np.asarray(prior.omega_inv, float),
        }
        static = Static(compiled, tuple(prior.kinds), eta_rows,
                        tuple(model.observable_names.index(o) for o in obs.observables))
        return cls(problem, repeat, static, data, L, N, solve.method.name)

    @property
    def table(self) -> dict:
        """Residual-model constants per measurement, (L, N)."""
        return {k: v[: self.n_lanes, : self.n_measurements] for k, v in self.data["table"].items()}

    def objective(self, eta):
        """OBJ per lane (L,) from etas (L, k); NaN-free: a failed solve gives +inf."""
        with engine.counting():
            return _objective_of_lanes(self.static, jnp.asarray(eta), self.data)

    def predictions(self, eta):
        """Predictions at every measurement (L, N), and the solve status per lane (L,)."""
        with engine.counting():
            f, status = _predictions_of_lanes(self.static, jnp.asarray(eta), self.data)
        return f[:, : self.n_measurements], status

    def search(self, eta0, *, max_iter: int, gtol: float, noise: float):
        """The batched MAP search from ``eta0`` (L, k) -- one compiled program per :class:`Static` and shapes."""
        settings = {"max_iter": np.int32(max_iter), "gtol": np.float64(gtol), "noise": np.float64(noise)}
        eta0 = np.asarray(eta0, float)
        W = self.data["mask"].shape[0]
        padded = np.concatenate([eta0, np.zeros((W - eta0.shape[0], eta0.shape[1]))])  # padding lanes: no data, eta 0
        with engine.counting():
            result = jax.device_get(_search(self.static)(padded, self.data, settings))
        return _fit.Result(*(np.asarray(x)[: self.n_lanes] for x in result))


def predictions(static: Static, eta, data):
    """Predictions at every measurement (W, N) and the solve status (W,), all lanes (pure: jit-able)."""
    return predictions_at(static, individual(static.kinds, eta, data["typical"], data["lower"], data["upper"]), data)


def predictions_at(static: Static, values, data):
    """:func:`predictions` at the estimated rows' values (k, W) in model units (pure: jit-able)."""
    p = jnp.asarray(data["p"]).at[jnp.asarray(static.eta_rows)].set(values)
    _, observed, status, _, _ = engine.execute(static.compiled, p, jnp.asarray(data["y0"]), data["lanes"], data["shared"])
    rows = jnp.asarray(static.observable_rows)[data["which"]]  # (W, N) model observable of each measurement
    lanes = jnp.arange(p.shape[1])[:, None]
    return observed[rows, data["position"], lanes], status


def objective(static: Static, eta, data):
    """OBJ per lane (W,) from etas (W, k) (pure: jit-able); +inf where the solve failed."""
    f, status = predictions(static, eta, data)
    terms = _objective.data_terms(f, data["value"], data["lloq"], data["censored"], data["mask"], data["table"])
    total = jnp.sum(terms, axis=1) + _objective.prior_term(eta, data["omega_inv"])
    return jnp.where((status == 0) & jnp.isfinite(total), total, jnp.inf)


def _with_padding(eta, W):
    return jnp.concatenate([eta, jnp.zeros((W - eta.shape[0], eta.shape[1]), eta.dtype)], axis=0)


@functools.partial(jax.jit, static_argnums=0)
def _objective_of_lanes(static: Static, eta, data):
    return objective(static, _with_padding(eta, data["mask"].shape[0]), data)[: eta.shape[0]]


@functools.partial(jax.jit, static_argnums=0)
def _predictions_of_lanes(static: Static, eta, data):
    f, status = predictions(static, _with_padding(eta, data["mask"].shape[0]), data)
    return f[: eta.shape[0]], status[: eta.shape[0]]


@functools.lru_cache(maxsize=32)
def _search(static: Static):
    """The compiled MAP search for ``static``: the design, data and settings are its arguments."""

    def run(eta0, data, settings):
        return _fit.minimise(lambda e: objective(static, e, data), eta0, max_iter=settings["max_iter"],
                             gtol=settings["gtol"], noise=settings["noise"])

    return jax.jit(run)


def _pad_lanes(a: np.ndarray, W: int) -> np.ndarray:
    """(rows, L) -> (rows, W): extra lanes copy the last one (finite values the padding lanes compute with)."""
    L = a.shape[-1]
    return np.concatenate([a, np.repeat(a[..., -1:], W - L, axis=-1)], axis=-1) if W > L else np.asarray(a)


def _pad(a: np.ndarray, W: int, N: int, fill) -> np.ndarray:
    """(L, n) -> (W, N), filled with ``fill`` (padding lanes have no measurement: their mask is False)."""
    out = np.full((W, N), fill, dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    return out
