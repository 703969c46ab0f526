"""From a protocol as written to the schedule the solve runs: everything about doses that depends on the patient.

The engine (:func:`vhtwin.engine.prepare`) applies, in order:

1. amounts per unit of a covariate (``per="WT"``: mg/kg times each patient's weight) and
2. infusions whose rate or duration the model supplies (NONMEM's RATE = -1 / -2), both by :func:`doses_per_patient`;
3. steady-state doses (:mod:`vhtwin.protocols.steady_state` rewrites the protocol, the engine solves the repeated
   dose: :mod:`vhtwin.engine.steady_state`), which need 1-2;
4. dose lags (:func:`lagged`: each patient's lag parameter moves the doses into that state later).

All of it runs on the host from concrete parameter values, before the compiled solve. A protocol shared by the
batch stays shared (one event table, no per-patient loop) unless a step needs per-patient dose times: a lag that
is not zero, or a modelled rate or duration that differs between patients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .dosing import Dose, Regimen
from .pacing import Combined, Pacing
from ..errors import InputError
from ..model import Model


def doses_per_patient(model: Model, protocol, params, covariates, P: np.ndarray, B: int):
    """Steps 1-2: amounts per unit of a covariate made per patient, and modelled infusions given their durations.

    ``params`` is what the caller passed (a population draw also supplies covariates), ``P`` (P, B) its values.
    """
    protocol = per_patient_amounts(protocol, params, covariates, B)
    return modelled_infusions(model, protocol, P, B)


def check_protocol(protocol) -> None:
    """Refuse a protocol that is not a regimen, a pacing, their sum or None (or a list of them, one per patient)."""
    items = protocol if isinstance(protocol, (list, tuple)) else [protocol]
    for k, p in enumerate(items):
        if p is not None and not isinstance(p, (Regimen, Pacing, Combined)):
            where = f"protocol[{k}]" if isinstance(protocol, (list, tuple)) else "protocol"
            raise InputError(f"{where} must be a vh.Regimen (e.g. vh.Regimen.bolus(100.0, into=\"depot\")), a vh.Pacing, "
                             f"their sum, or None; got {type(p).__name__} {p!r:.40}")


def per_patient_amounts(protocol, params, covariates, B: int):
    """Doses given per unit of a covariate (mg/kg), turned into per-patient amounts.

    Covariates come from ``covariates`` (a mapping or Dataset) or, failing that, from ``params`` when it is a
    population draw (a Dataset that also holds the covariates).
    """
    if covariates is None and isinstance(params, xr.Dataset):
        covariates = params
    if isinstance(covariates, xr.Dataset):
        covariates = {k: covariates[k].values for k in covariates.data_vars}
    if isinstance(protocol, Regimen):
        return protocol.per_patient(covariates, B)
    if isinstance(protocol, (list, tuple)):
        return [
            reg.per_patient({k: np.broadcast_to(np.asarray(v), (B,))[b] for k, v in (covariates or {}).items()}, 1)
            if isinstance(reg, Regimen) else reg
            for b, reg in enumerate(protocol)
        ]
    return protocol


def modelled_infusions(model: Model, protocol, P: np.ndarray, B: int):
    """Infusions with ``modelled="rate"`` / ``"duration"`` given their duration from each patient's parameters.

    A modelled duration D gives rate ``amount / D``; a modelled rate R gives duration ``F * amount / R`` (F the
    target's bioavailability, which the solve applies to the rate), as in NONMEM.
    """
    regimens = protocol if isinstance(protocol, (list, tuple)) else [protocol]
    if not any(isinstance(r, Regimen) and any(d.modelled for d in r.doses) for r in regimens):
        return protocol
    declared = model.modelled_infusions()
    index = model.parameter_names.index
    fraction = {s.name: s.bioavailability for s in model.states if s.bioavailability}

    def durations(d: Dose, lanes) -> np.ndarray:
        name = declared.get(d.into, {}).get(d.modelled)
        if name is None:
            raise InputError(
                f"dose {d.describe()}: state {d.into!r} of {model.name} declares no infusion {d.modelled} parameter "
                f"(State({d.into!r}, ..., {d.modelled}=\"<parameter>\"))"
            )
        value = P[index(name), lanes]
        amount = np.broadcast_to(np.asarray(d.amount, float), value.shape)
        if d.modelled == "duration":
            D = value
        else:
            F = P[index(fraction[d.into]), lanes] if d.into in fraction else 1.0
            D = np.where(amount > 0, F * amount / np.where(value > 0, value, 1.0), 0.0)
        bad = ~np.isfinite(value) | (value <= 0)
        if np.any(bad & (amount > 0)):
            k = int(np.flatnonzero(bad & (amount > 0))[0])
            raise InputError(f"dose {d.describe()}: parameter {name!r} is {float(value[k]):g} for patient "
                             f"{int(np.atleast_1d(lanes)[k])}; an infusion {d.modelled} must be > 0")
        return D

    def one(d: Dose, D: float, amount) -> Dose:
        return Dose(d.time, amount, d.into, float(D), ss_interval=d.ss_interval)

    if isinstance(protocol, Regimen):
        all_lanes = np.arange(B)
        per = {j: durations(d, all_lanes) for j, d in enumerate(protocol.doses) if d.modelled}
        if all(np.all(D == D[0]) for D in per.values()):  # the same for everyone: stays shared
            doses = tuple(one(d, per[j][0], d.amount) if d.modelled else d for j, d in enumerate(protocol.doses))
            return Regimen(doses, protocol.resets)
        pick = lambda a, b: np.asarray(a)[b] if np.ndim(a) else a
        return [
            Regimen(tuple(one(d, per[j][b], pick(d.amount, b)) if d.modelled else
                          Dose(d.time, pick(d.amount, b), d.into, d.duration, ss_interval=d.ss_interval)
                          for j, d in enumerate(protocol.doses)), protocol.resets)
            for b in range(B)
        ]
    out = []
    for b, reg in enumerate(protocol):
        if not isinstance(reg, Regimen) or not any(d.modelled for d in reg.doses):
            out.append(reg)
            continue
        out.append(Regimen(tuple(
            one(d, durations(d, np.array([b]))[0], d.amount) if d.modelled else d for d in reg.doses
        ), reg.resets))
    return out


def lagged(model: Model, protocol, P: np.ndarray, B: int):
    """Doses into states with a lag parameter, moved later by each patient's lag (a per-patient regimen each).

    Dose times are fixed here, on the host, from concrete parameter values: lags are not differentiable. Building
    one regimen per patient is a loop over patients, done only when some lag is non-zero. Resets keep their times.
    """
    lags = {state: P[model.parameter_names.index(name)] for state, name in model.lags().items()}
    if protocol is None or not lags or not any(np.any(v != 0) for v in lags.values()):
        return protocol
    protocols = list(protocol) if isinstance(protocol, (list, tuple)) else [protocol] * B
    if len(protocols) != B:
        return protocol  # build_events reports the mismatch
    shared = isinstance(protocol, Regimen)  # shared amounts are per patient (B,); a patient's own are (1,) or scalar
    pick = lambda a, b: np.asarray(a)[b if shared else 0] if np.ndim(a) else a
    shifted = []
    for b, reg in enumerate(protocols):
        if not isinstance(reg, Regimen):
            raise InputError(f"dose lags apply to a Regimen; got {type(reg).__name__} for patient {b}")
        resets = reg.resets
        if resets and shared:
            resets = tuple(type(r)(r.time, {k: pick(v, b) for k, v in r.state.items()} if r.state else None) for r in resets)
        shifted.append(Regimen(tuple(
            Dose(d.time + float(lags[d.into][b] if d.into in lags else 0.0), pick(d.amount, b), d.into, d.duration)
            for d in reg.doses
        ), resets))
    return shifted
