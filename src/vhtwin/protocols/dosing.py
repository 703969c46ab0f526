"""Dose schedules: bolus, zero-order infusion, repeated dosing, and their combinations.

A :class:`Regimen` is an immutable list of :class:`Dose` records. Amounts are in the unit of the target state
(``mg`` for the library's pharmacokinetic models); times in the model's time unit. An amount may be an array with
one entry per patient, so a batch can share the schedule but not the amounts without any per-patient loop.

Examples
--------
>>> import vhtwin as vh
>>> reg = vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot")
>>> loading = vh.Regimen.infusion(amount=500.0, duration=0.5, into="central")
>>> both = loading + reg
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import InputError
from ..limits import MAX_DOSES, check_count


@dataclass(frozen=True)
class Dose:
    """One dose.

    Parameters
    ----------
    time : float
        When the dose starts, in the model's time unit.
    amount : float or ndarray
        Amount in the target state's unit; an array of shape (n_patients,) gives per-patient amounts.
    into : str
        Name of the dosable state that receives the dose.
    duration : float
        0 for a bolus (an instantaneous jump); > 0 for a zero-order infusion of ``amount`` over ``duration``.
    per : str, optional
        Name of a covariate the amount is per unit of: ``per="WT"`` makes ``amount`` mg/kg, multiplied by each
        patient's body weight when the simulation is prepared (covariates come from a population draw or
        ``simulate(..., covariates=...)``).
    ss_interval : float
        0 for an ordinary dose. > 0 makes this a steady-state dose (NONMEM's SS = 1 with II = ``ss_interval``):
        at ``time`` the state is first replaced by the steady state that this dose, repeated every
        ``ss_interval`` since long ago, has built up (infusions in progress stop), and then this dose is given.
        The steady state is found when the simulation is prepared (see :mod:`vhtwin.protocols.steady_state`).
    modelled : {None, "rate", "duration"}
        An infusion whose rate or duration the model supplies (NONMEM's RATE = -1 or -2): the target state's
        ``rate`` or ``duration`` parameter (:class:`vhtwin.State`), read per patient when the simulation is
        prepared. ``duration`` must then be 0. With ``"rate"`` the infusion lasts ``F * amount / rate``.
    """

    time: float
    amount: float | np.ndarray
    into: str
    duration: float = 0.0
    per: str | None = None
    ss_interval: float = 0.0
    modelled: str | None = None

    def __post_init__(self):
        _check_finite_number(self.time, "time", self)
        _check_finite_number(self.duration, "duration", self)
        _check_finite_number(self.ss_interval, "ss_interval", self)
        if self.duration < 0:
            raise InputError(f"dose {self.describe()}: duration {self.duration:g} must be >= 0 (0 means a bolus)")
        if self.ss_interval < 0:
            raise InputError(f"dose {self.describe()}: ss_interval {self.ss_interval:g} must be >= 0 (0: not a steady-state dose)")
        if self.modelled not in (None, "rate", "duration"):
            raise InputError(f"dose into {self.into!r} at t={self.time:g}: modelled {self.modelled!r} must be None, 'rate' or 'duration'")
        if self.modelled is not None and self.duration != 0:
            raise InputError(f"dose {self.describe()}: a dose with a modelled {self.modelled} takes no duration (got {self.duration:g})")
        amount = np.asarray(self.amount, dtype=float)
        if amount.ndim > 1:
            raise InputError(f"dose {self.describe()}: amount must be a number or a 1-D array per patient, got shape {amount.shape}")
        if not np.all(np.isfinite(amount)) or np.any(amount < 0):
            bad = amount[~np.isfinite(amount) | (amount < 0)].ravel()[0]
            raise InputError(f"dose {self.describe()}: amount {bad:g} must be finite and >= 0")
        if not isinstance(self.into, str) or not self.into:
            raise InputError(f"dose at time {self.time:g}: 'into' must name a dosable state, got {self.into!r}")

    def describe(self) -> str:
        if self.modelled is not None:
            kind = f"infusion with its {self.modelled} from the model"
        else:
            kind = "bolus" if self.duration == 0 else f"infusion over {self.duration:g}"
        if self.ss_interval:
            kind = f"steady-state (every {self.ss_interval:g}) {kind}"
        amount = np.asarray(self.amount)
        amt = f"{float(amount):g}" if amount.ndim == 0 else f"per-patient array of {amount.shape[0]}"
        if self.per:
            amt += f" per {self.per}"
        return f"{kind} of {amt} into {self.into!r} at t={self.time:g}"


@dataclass(frozen=True)
class Reset:
    """A reset (NONMEM's EVID 3): at ``time`` every state returns to its initial value and infusions stop.

    Parameters
    ----------
    time : float
        When, in the model's time unit.
    state : dict, optional
        Values for some states instead of their initial values (scalar or one per patient); the steady-state
        start of a dose uses this. ``None``: every state to its initial value (which may depend on the
        parameters, :meth:`vhtwin.Model.initial`).
    """

    time: float
    state: Any = None

    def __post_init__(self):
        _check_finite_number(self.time, "time", self)
        if self.state is not None:
            if not isinstance(self.state, Mapping):
                raise InputError(f"reset at t={self.time:g}: state must be a dict of state values, got {type(self.state).__name__}")
            for name, value in self.state.items():
                v = np.asarray(value, dtype=float)
                if v.ndim > 1 or not np.all(np.isfinite(v)):
                    raise InputError(f"reset at t={self.time:g}: value of {name!r} must be finite, a number or one per patient")

    def describe(self) -> str:
        return f"reset at t={self.time:g}" + (f" to given values of {sorted(self.state)}" if self.state else "")


def _check_finite_number(value, name: str, where) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value):
        raise InputError(f"dose into {getattr(where, 'into', '?')!r}: {name} {value!r} must be a finite number")


@dataclass(frozen=True)
class Regimen:
    """An ordered collection of doses (and resets); combine with ``+``."""

    doses: tuple[Dose, ...] = ()
    resets: tuple[Reset, ...] = ()

    # -- constructors -----------------------------------------------------------------------------------------------
    @classmethod
    def bolus(cls, amount, into: str, at: float = 0.0, per: str | None = None) -> "Regimen":
        """A single instantaneous dose of ``amount`` into state ``into`` at time ``at`` (per unit of ``per``)."""
        return cls((Dose(float(at), amount, into, per=per),))

    @classmethod
    def infusion(cls, amount, into: str, *, duration: float | None = None, rate: float | None = None, at: float = 0.0,
                 per: str | None = None) -> "Regimen":
        """A zero-order infusion of ``amount`` into ``into`` starting at ``at``, given by ``duration`` or ``rate``."""
        modelled = _modelled(duration, rate)
        if modelled:
            return cls((Dose(float(at), amount, into, 0.0, per, modelled=modelled),))
        if per is not None and duration is None:
            raise InputError("an infusion with per= needs duration= (a rate per unit of a covariate is ambiguous)")
        return cls((Dose(float(at), amount, into, _infusion_duration(amount, duration, rate), per),))

    @classmethod
    def reset(cls, at: float) -> "Regimen":
        """A reset at time ``at`` (NONMEM's EVID 3): every state back to its initial value, infusions stopped."""
        return cls((), (Reset(float(at)),))

    @classmethod
    def repeated(
        cls,
        amount,
        interval: float,
        count: int,
        into: str,
        *,
        start: float = 0.0,
        duration: float | str | None = None,
        rate: float | str | None = None,
        per: str | None = None,
        steady_state: bool = False,
    ) -> "Regimen":
        """``count`` doses of ``amount`` every ``interval`` from ``start`` (boluses unless ``duration``/``rate``).

        ``duration="model"`` or ``rate="model"`` leaves the infusion's duration or rate to the target state's
        parameter (NONMEM's RATE = -2 / -1). ``steady_state=True`` gives the first dose at steady state (NONMEM's
        SS = 1 with II = ``interval``): the system starts as if the regimen had been running for ever.

        Raises
        ------
        InputError
            If ``interval`` is not > 0 or ``count`` is not a positive integer.
        """
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise InputError(f"Regimen.repeated: count {count!r} must be a positive integer")
        check_count("Regimen.repeated: count", int(count), MAX_DOSES)
        if not isinstance(interval, (int, float, np.integer, np.floating)) or not math.isfinite(interval) or interval <= 0:
            raise InputError(f"Regimen.repeated: interval {interval!r} must be a finite number > 0")
        if not isinstance(steady_state, bool):
            raise InputError(f"Regimen.repeated: steady_state {steady_state!r} must be True or False")
        modelled = _modelled(duration, rate)
        if modelled:
            dur = 0.0
        else:
            dur = 0.0 if duration is None and rate is None else _infusion_duration(amount, duration, rate)
            if count > 1 and dur > interval:
                raise InputError(f"Regimen.repeated: infusion duration {dur:g} is longer than the interval {interval:g}")
            if per is not None and rate is not None:
                raise InputError("Regimen.repeated: per= needs duration= for infusions (a rate per unit of a covariate is ambiguous)")
        ss = float(interval) if steady_state else 0.0
        return cls(tuple(
            Dose(float(start) + i * float(interval), amount, into, dur, per, ss if i == 0 else 0.0, modelled)
            for i in range(int(count))
        ))

    def __add__(self, other: "Regimen") -> "Regimen":
        if not isinstance(other, Regimen):
            return NotImplemented
        return Regimen(self.doses + other.doses, self.resets + other.resets)

    def __len__(self) -> int:
        return len(self.doses)

    def __repr__(self) -> str:
        resets = f", {len(self.resets)} resets" if self.resets else ""
        return (f"Regimen({len(self.doses)} doses{resets}: " + "; ".join(d.describe() for d in self.doses[:4])
                + ("; ..." if len(self.doses) > 4 else "") + ")")

    # -- what the engine reads --------------------------------------------------------------------------------------
    def per_patient(self, covariates, n_patients: int) -> "Regimen":
        """This regimen with amounts given per unit of a covariate turned into per-patient amounts.

        Raises
        ------
        InputError
            If a dose is per a covariate that ``covariates`` does not hold, or the covariate has the wrong length.
        """
        if not any(d.per for d in self.doses):
            return self
        doses = []
        for d in self.doses:
            if d.per is None:
                doses.append(d)
                continue
            if covariates is None or d.per not in covariates:
                have = sorted(covariates) if covariates is not None else []
                raise InputError(
                    f"dose {d.describe()} is per {d.per!r}, but no covariate {d.per!r} was given (covariates: {have}); "
                    "pass simulate(..., covariates={...}) or a population draw as params"
                )
            values = np.broadcast_to(np.asarray(covariates[d.per], dtype=float), (n_patients,))
            doses.append(Dose(d.time, np.asarray(d.amount, float) * values, d.into, d.duration,
                              ss_interval=d.ss_interval, modelled=d.modelled))
        return Regimen(tuple(doses), self.resets)

    def targets(self) -> set[str]:
        return {d.into for d in self.doses}

    def batch_size(self) -> int | None:
        """Number of patients implied by per-patient amounts (None if every amount is a scalar)."""
        sizes = {np.asarray(d.amount).shape[0] for d in self.doses if np.asarray(d.amount).ndim == 1}
        sizes |= {np.asarray(v).shape[0] for r in self.resets for v in (r.state or {}).values() if np.ndim(v) == 1}
        if len(sizes) > 1:
            raise InputError(f"regimen has per-patient amounts of different lengths {sorted(sizes)}")
        return sizes.pop() if sizes else None

    def impulses(self, dosable: Iterable[str]):
        """Bolus jumps and infusion pulses, checked against the model's dosable states.

        An infusion in progress at a reset stops there. Steady-state doses and modelled infusions must have been
        resolved first (``simulate`` does it, :mod:`vhtwin.protocols.schedule`).

        Returns
        -------
        jumps : list of (time, state, amount)
        pulses : list of (start, end, state, rate)
        """
        dosable = tuple(dosable)
        jumps, pulses = [], []
        reset_times = sorted(r.time for r in self.resets)
        for d in self.doses:
            if d.into not in dosable:
                raise InputError(f"dose {d.describe()}: unknown dose target {d.into!r}; the dosable states are {list(dosable)}")
            if d.ss_interval or d.modelled:
                raise InputError(f"dose {d.describe()}: steady-state doses and modelled infusions are resolved by simulate")
            if d.duration == 0:
                jumps.append((d.time, d.into, np.asarray(d.amount, float)))
            else:
                end = d.time + d.duration
                cut = [t for t in reset_times if d.time < t < end]
                pulses.append((d.time, cut[0] if cut else end, d.into, np.asarray(d.amount, float) / d.duration))
        return jumps, pulses

    def reset_events(self, state_names: Iterable[str]) -> list:
        """The resets as ``(time, values)``; ``values`` maps state name -> value (scalar or per patient).

        Raises
        ------
        InputError
            If a reset names a state the model does not have.
        """
        names = tuple(state_names)
        for r in self.resets:
            unknown = sorted(set(r.state or {}) - set(names))
            if unknown:
                raise InputError(f"{r.describe()}: unknown states {unknown}; the states are {list(names)}")
        return [(r.time, dict(r.state or {})) for r in self.resets]


def _modelled(duration, rate) -> str | None:
    """``"duration"`` / ``"rate"`` when the infusion's duration or rate is ``"model"``; None otherwise."""
    for name, value in (("duration", duration), ("rate", rate)):
        if isinstance(value, str):
            if value != "model":
                raise InputError(f"infusion {name} {value!r}: give a number or \"model\" (the model's {name} parameter)")
            other = rate if name == "duration" else duration
            if other is not None:
                raise InputError(f"an infusion with {name}=\"model\" takes no other duration= or rate=")
            return name
    return None


def _infusion_duration(amount, duration, rate) -> float:
    if (duration is None) == (rate is None):
        raise InputError("an infusion needs exactly one of duration= or rate=")
    if duration is not None:
        if not isinstance(duration, (int, float, np.integer, np.floating)) or not math.isfinite(duration) or duration <= 0:
            raise InputError(f"infusion duration {duration!r} must be a finite number > 0")
        return float(duration)
    if not isinstance(rate, (int, float, np.integer, np.floating)) or not math.isfinite(rate) or rate <= 0:
        raise InputError(f"infusion rate {rate!r} must be a finite number > 0")
    amounts = np.asarray(amount, float)
    if amounts.ndim:
        raise InputError("an infusion given by rate= needs a scalar amount (per-patient amounts: give duration=)")
    return float(amounts) / float(rate)
