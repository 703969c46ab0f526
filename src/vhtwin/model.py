"""The model API: what a model declares and how the engine reads it.

A model is a subclass of :class:`Model` that declares, in one place,

- ``time_unit``: the unit of ``t`` (``"h"``, ``"s"``, ``"ms"``, ...);
- ``states``: a tuple of :class:`State` (name, unit, default initial value, whether doses may go in, whether it is a
  gating variable for Rush--Larsen);
- ``parameters``: a tuple of :class:`Parameter` (name, default, unit, bounds, source);
- ``observed``: a tuple of :class:`Observable` (name, unit) -- what :meth:`Model.observables` returns;
- ``inputs`` (optional): a tuple of :class:`Input`, piecewise-constant signals such as a stimulus current that the
  protocol switches at events;
- ``events`` (optional): a tuple of :class:`Event`, state-triggered events (a level falling below a threshold), with
  ``event_triggers``, ``event_assignments`` and, for delayed ones, ``event_delay``;

and implements ``rhs(t, y, p)`` (or ``rhs(t, y, p, u)`` when it declares inputs) and ``observables(t, y, p)``.
Inside both, states and parameters are read by name -- ``y.central``, ``p.CL`` -- and ``rhs`` returns a dict of
time derivatives keyed by state name. The engine computes on flat arrays (:mod:`vhtwin.equations`); the naming lives here.

Infusions need no declaration: a zero-order rate into a dosable state is added to that state's derivative by the
engine.

Examples
--------
>>> import vhtwin as vh
>>> class Decay(vh.Model):
...     time_unit = "h"
...     states = (vh.State("amount", "mg", dosable=True),)
...     parameters = (vh.Parameter("k", 0.1, "h-1", positive=True),)
...     observed = (vh.Observable("amount_left", "mg"),)
...     def rhs(self, t, y, p):
...         return {"amount": -p.k * y.amount}
...     def observables(self, t, y, p):
...         return {"amount_left": y.amount}
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import keyword
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

import numpy as np

from .errors import ModelError
from .units import check_time_unit, check_unit


@dataclass(frozen=True)
class State:
    """A state variable of a model.

    Parameters
    ----------
    name : str
        Identifier used as ``y.<name>`` in the equations.
    unit : str
        UDUNITS unit string (``"mg"``, ``"mL"``, ``"mV"``, ``"1"``).
    initial : float
        Default initial value, in ``unit``.
    dosable : bool
        Whether doses (bolus, infusion) may target this state.
    gate : bool
        Whether this is a gating variable whose derivative is linear in itself,
        ``dg/dt = (g_inf - g) / tau_g``; the Rush--Larsen solver integrates such states exponentially.
    description : str
        What the state is, in the field's words.
    bioavailability : str, optional
        Name of the parameter that scales every dose into this state (NONMEM's F): bolus amounts and infusion
        rates are multiplied by it (an infusion keeps its duration). Differentiable.
    lag : str, optional
        Name of the parameter that delays every dose into this state (NONMEM's ALAG), in the model's time unit.
        Dose times are fixed when a simulation is prepared, so the lag is not differentiable.
    rate, duration : str, optional
        Names of the parameters that give the rate (amount per time unit) or the duration (time unit) of an
        infusion into this state whose rate or duration the dose leaves to the model (NONMEM's R and D, records
        with RATE = -1 or -2; :class:`vhtwin.Dose` ``modelled="rate"`` / ``"duration"``). Like a lag, they are
        read when the simulation is prepared and are not differentiable.
    """

    name: str
    unit: str
    initial: float = 0.0
    dosable: bool = False
    gate: bool = False
    description: str = ""
    bioavailability: str | None = None
    lag: str | None = None
    rate: str | None = None
    duration: str | None = None


@dataclass(frozen=True)
class Parameter:
    """A model parameter with its default, unit, bounds and source.

    Parameters
    ----------
    name : str
        Identifier used as ``p.<name>`` in the equations.
    default : float
        Default value, in ``unit``.
    unit : str
        UDUNITS unit string.
    lower, upper : float, optional
        Inclusive bounds. ``positive=True`` is the common case of a strictly positive quantity.
    positive : bool
        Require a value ``> 0`` (rate constants, clearances, volumes).
    description, source : str
        What it is, and where the default comes from (a citation).
    """

    name: str
    default: float
    unit: str
    lower: float | None = None
    upper: float | None = None
    positive: bool = False
    description: str = ""
    source: str = ""

    def allowed(self) -> str:
        """Describe the allowed range in words, for error messages."""
        parts = []
        if self.positive:
            parts.append("> 0")
        if self.lower is not None:
            parts.append(f">= {self.lower:g}")
        if self.upper is not None:
            parts.append(f"<= {self.upper:g}")
        return " and ".join(parts) if parts else "any finite value"

    def violations(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the entries of ``values`` outside the allowed range (NaN and inf included)."""
        bad = ~np.isfinite(values)
        if self.positive:
            bad |= values <= 0
        if self.lower is not None:
            bad |= values < self.lower
        if self.upper is not None:
            bad |= values > self.upper
        return bad


@dataclass(frozen=True)
class Observable:
    """A quantity computed from states and parameters by :meth:`Model.observables` (name and unit)."""

    name: str
    unit: str
    description: str = ""


@dataclass(frozen=True)
class Input:
    """A piecewise-constant input signal (e.g. a stimulus current) that the protocol sets at events.

    Parameters
    ----------
    name : str
        Identifier used as ``u.<name>`` in ``rhs(t, y, p, u)``.
    unit : str
        UDUNITS unit string.
    default : float
        Value when no protocol event has set it.
    stimulus : float, optional
        The documented amplitude of a stimulus through this input (e.g. ``-52.0`` uA/uF for a ventricular cell):
        :class:`vhtwin.Pacing` drives the input that declares one, with this amplitude unless told otherwise.
    """

    name: str
    unit: str
    default: float = 0.0
    description: str = ""
    stimulus: float | None = None


@dataclass(frozen=True)
class Event:
    """A state-triggered event: when its trigger turns true, some states are set to new values.

    The trigger is a function ``g`` of time, states and parameters (:meth:`Model.event_triggers`); it is *true*
    where ``g >= 0`` and the event fires when it turns from false to true -- a level falling below a threshold is
    ``g = threshold - level``. The engine finds the crossing on each trajectory's dense output (bisection to the
    working precision) and applies :meth:`Model.event_assignments` exactly there: outputs at that time are the values
    just before it, as at a dose. The trigger is looked at the ends of each step, and with events no step spans two
    output times: a trigger that turns true and false again between two output times may be missed.
    Derivatives through a solve (calibration, sensitivities) see the event move with the parameters: at the crossing
    the engine applies the implicit function theorem to ``g(t*, y(t*), p) = 0`` (a trigger flat in time, such as a
    step function, moves nothing).

    Parameters
    ----------
    name : str
        Identifier of the event (the key of the model's trigger and assignment dicts).
    priority : float
        Events executed at one time run highest priority first (then in declaration order); each one's assignment
        reads the state the ones before it left, and every trigger is looked at again after each. Priorities that
        change with the state come from :meth:`Model.event_priorities`.
    delayed : bool
        Whether the assignment is executed a delay after the trigger (:meth:`Model.event_delay`), not at once.
        Eight executions of one event may be pending on a trajectory: one whose event triggers a ninth time while
        eight wait stops with status ``event_overflow``.
    persistent : bool
        For a delayed event: whether it is still executed if its trigger turns false before the delay is over.
    initial_value : bool
        The trigger's value before the start: ``True`` (the default) means a trigger already true at the start does
        not fire then; ``False`` that it fires at the start, as part of the initial state (outputs at the start
        show its effect; a delayed one is executed its delay later).
    values_at_trigger : bool
        Whether the assigned values are computed when the event triggers (the default) or when it is executed: they
        differ for a delayed event, and for one that waits at its trigger time for events of higher priority.
    description : str
        What the event is, in the field's words.
    """

    name: str
    priority: float = 0.0
    delayed: bool = False
    persistent: bool = True
    initial_value: bool = True
    values_at_trigger: bool = True
    description: str = ""


class Names:
    """Read-only view of a flat vector by name: ``y.central`` is ``values[index["central"]]``.

    Models receive their states, parameters and inputs as ``Names``; the engine keeps flat arrays.
    """

    __slots__ = ("_index", "_values", "_kind")

    def __init__(self, index: Mapping[str, int], values: Any, kind: str):
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_kind", kind)

    def __getattr__(self, name: str):
        index = object.__getattribute__(self, "_index")
        if name not in index:
            kind = object.__getattribute__(self, "_kind")
            raise AttributeError(f"no {kind} named {name!r}; the {kind}s are {list(index)}")
        return object.__getattribute__(self, "_values")[index[name]]

    __getitem__ = __getattr__

    def __setattr__(self, name, value):
        raise AttributeError("model variables are read-only inside rhs/observables")

    def __iter__(self):
        return iter(self._index)

    def __repr__(self):
        return f"Names({self._kind}: {list(self._index)})"


def check_identifier(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ModelError(f"{where}: name {name!r} must be a Python identifier not starting with '_'")
    return name


class Model:
    """Base class of every vhtwin model; see the module docstring for what a subclass declares.

    Subclasses are checked when they are defined (:class:`ModelError` names the culprit) and again when their
    ``rhs`` and ``observables`` are first traced. Model instances are immutable and compare equal when they are of
    the same class, so one compiled solve serves every instance.
    """

    time_unit: ClassVar[str] = "s"
    states: ClassVar[tuple[State, ...]] = ()
    parameters: ClassVar[tuple[Parameter, ...]] = ()
    observed: ClassVar[tuple[Observable, ...]] = ()
    inputs: ClassVar[tuple[Input, ...]] = ()
    events: ClassVar[tuple[Event, ...]] = ()
    #: Hint for ``solver="auto"``: a stiff model gets the L-stable Rosenbrock method.
    stiff: ClassVar[bool] = False
    #: A promise that ``rhs`` is affine in the states with time-independent coefficients (linear compartmental
    #: models): ``solver="auto"`` then uses the exact matrix-exponential path where it applies. Checked on first use.
    linear: ClassVar[bool] = False
    #: Library name (``"pharmacokinetics/two_compartment_oral"``) or the user's class name.
    name: ClassVar[str] = ""
    #: Citation of the model as a whole.
    reference: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if inspect.isabstract(cls) or cls.__dict__.get("_abstract", False):
            return
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__
        _validate_declarations(cls)

    # -- equations, written by the subclass -------------------------------------------------------------------------
    def rhs(self, t, y: Names, p: Names, u: Names | None = None) -> Mapping[str, Any]:
        """Time derivatives of the states, as a dict keyed by state name (units: state unit per time unit)."""
        raise NotImplementedError

    def observables(self, t, y: Names, p: Names) -> Mapping[str, Any]:
        """Observed quantities, as a dict keyed by observable name (units as declared in ``observed``)."""
        return {}

    def initial(self, p: Names) -> Mapping[str, Any]:
        """Initial values that depend on the parameters (e.g. a baseline ``R0 = kin / kout``), by state name.

        Optional. States not returned keep their declared constant; a value the caller gives in
        ``simulate(..., initial=...)`` overrides both. Differentiable with respect to the parameters.
        """
        return {}

    def event_triggers(self, t, y: Names, p: Names) -> Mapping[str, Any]:
        """Each event's trigger function ``g`` by event name: the event's trigger is true where ``g >= 0``."""
        return {}

    def event_assignments(self, name: str, t, y: Names, p: Names) -> Mapping[str, Any]:
        """The new values of the states the event ``name`` sets, by state name (the others keep theirs)."""
        return {}

    def all_event_assignments(self, t, y: Names, p: Names) -> Mapping[str, Mapping[str, Any]]:
        """Every event's assignments at once, by event name (default: :meth:`event_assignments` of each); a model
        whose events share intermediate quantities may compute them once here."""
        return {e.name: self.event_assignments(e.name, t, y, p) for e in self.events}

    def event_priorities(self, t, y: Names, p: Names) -> Mapping[str, Any]:
        """Each event's priority by name when events run at one time (default: the declared ``Event.priority``);
        a model whose priorities change with the state overrides it."""
        return {e.name: e.priority for e in self.events}

    def event_delay(self, name: str, t, y: Names, p: Names):
        """The delay of the delayed event ``name`` (model time unit, >= 0), computed when it triggers."""
        raise NotImplementedError

    @property
    def has_initial(self) -> bool:
        return type(self).initial is not Model.initial

    # -- derived from the declarations --------------------------------------------------------------------------------
    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.parameters)

    @property
    def observable_names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.observed)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    @property
    def dosable_states(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states if s.dosable)

    @property
    def gate_states(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states if s.gate)

    def default_parameters(self) -> dict[str, float]:
        return {q.name: float(q.default) for q in self.parameters}

    def default_initial(self) -> dict[str, float]:
        return {s.name: float(s.initial) for s in self.states}

    def unit_of(self, name: str) -> str:
        """Unit of a state, parameter, observable or input by name."""
        for group in (self.states, self.parameters, self.observed, self.inputs):
            for item in group:
                if item.name == name:
                    return item.unit
        raise KeyError(name)

    def source_hash(self) -> str:
        """SHA-256 of the source of the model's class (provenance of a result)."""
        return class_source_hash(type(self))

    def lags(self) -> dict[str, str]:
        """Dose lags: dosable state name -> lag parameter name."""
        return {s.name: s.lag for s in self.states if s.lag}

    def modelled_infusions(self) -> dict[str, dict[str, str]]:
        """Infusion rate and duration parameters: state name -> {"rate": name, "duration": name} (those declared)."""
        out = {}
        for s in self.states:
            roles = {role: getattr(s, role) for role in ("rate", "duration") if getattr(s, role)}
            if roles:
                out[s.name] = roles
        return out

    # -- identity ---------------------------------------------------------------------------------------------------
    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def __repr__(self):
        return (
            f"<vhtwin model {self.name!r}: states {list(self.state_names)}, parameters {list(self.parameter_names)}, "
            f"observables {list(self.observable_names)}, time in {self.time_unit}>"
        )

    def describe(self) -> str:
        """A table of the model's declarations, for humans."""
        lines = [f"{self.name} (time unit: {self.time_unit})", "", "states:"]
        for s in self.states:
            flags = ", ".join(f for f, on in (
                ("dosable", s.dosable), ("gate", s.gate),
                (f"bioavailability {s.bioavailability}", s.bioavailability), (f"lag {s.lag}", s.lag),
            ) if on)
            lines.append(f"  {s.name:<16} [{s.unit}] initial {s.initial:g}{' (' + flags + ')' if flags else ''}")
        lines.append("parameters:")
        for q in self.parameters:
            lines.append(f"  {q.name:<16} = {q.default:g} [{q.unit}] ({q.allowed()}) {q.source}".rstrip())
        lines.append("observables:")
        for o in self.observed:
            lines.append(f"  {o.name:<16} [{o.unit}] {o.description}".rstrip())
        for i in self.inputs:
            lines.append(f"input {i.name} [{i.unit}] default {i.default:g}")
        for e in self.events:
            lines.append(f"event {e.name} (priority {e.priority:g}{', delayed' if e.delayed else ''}) {e.description}".rstrip())
        return "\n".join(lines)


def jnp_broadcast_scalar(value, dtype):
    """A model's returned derivative as a scalar of ``dtype`` (a constant such as 0.0 is fine)."""
    import jax.numpy as jnp

    return jnp.broadcast_to(jnp.asarray(value, dtype=dtype), ())


@functools.lru_cache(maxsize=None)
def class_source_hash(cls: type) -> str:
    try:
        text = inspect.getsource(cls)
    except (OSError, TypeError):
        text = repr(cls)
    return hashlib.sha256(text.encode()).hexdigest()


def check_keys(out: object, expected: tuple[str, ...], where: str, kind: str) -> None:
    if not isinstance(out, Mapping):
        raise ModelError(f"{where} must return a dict keyed by {kind} name, got {type(out).__name__}")
    missing = [k for k in expected if k not in out]
    extra = [k for k in out if k not in expected]
    if missing or extra:
        raise ModelError(
            f"{where} must return exactly the {kind}s {list(expected)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {extra}" if extra else "")
        )


def check_group(items, typ: type, where: str, kind: str) -> None:
    """A declaration group (states, parameters, ...): a tuple of ``typ`` with unique identifier names and units."""
    if not isinstance(items, tuple):
        raise ModelError(f"{where} must be a tuple of {typ.__name__}, got {type(items).__name__}")
    seen = set()
    owner = where.rsplit(".", 1)[0]
    for item in items:
        if not isinstance(item, typ):
            raise ModelError(f"{where} must hold {typ.__name__} objects, got {item!r}")
        check_identifier(item.name, f"{owner} {kind}")
        if item.name in seen:
            raise ModelError(f"{owner}: {kind} {item.name!r} is declared twice")
        seen.add(item.name)
        if hasattr(item, "unit"):  # events have none
            check_unit(item.unit, f"{owner} {kind} {item.name!r}")


def _validate_declarations(cls: type) -> None:
    where = f"model {cls.__name__}"
    check_time_unit(cls.time_unit, f"{where}.time_unit")
    for group, kind, typ in (
        ("states", "state", State),
        ("parameters", "parameter", Parameter),
        ("observed", "observable", Observable),
        ("inputs", "input", Input),
        ("events", "event", Event),
    ):
        check_group(getattr(cls, group), typ, f"{where}.{group}", kind)
    if not cls.states:
        raise ModelError(f"{where} declares no states")
    names = [x.name for g in ("states", "parameters", "inputs") for x in getattr(cls, g)]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ModelError(f"{where}: names {clash} are used for more than one of states, parameters and inputs")
    for s in cls.states:
        for role in ("bioavailability", "lag", "rate", "duration"):
            ref = getattr(s, role)
            if ref is None:
                continue
            if not s.dosable:
                raise ModelError(f"{where} state {s.name!r}: a {role} parameter needs a dosable state")
            if ref not in [q.name for q in cls.parameters]:
                raise ModelError(f"{where} state {s.name!r}: {role} parameter {ref!r} is not declared")
        if not (isinstance(s.initial, (int, float)) and math.isfinite(s.initial)):
            raise ModelError(f"{where} state {s.name!r}: initial value {s.initial!r} must be a finite number")
    for q in cls.parameters:
        if not (isinstance(q.default, (int, float)) and math.isfinite(q.default)):
            raise ModelError(f"{where} parameter {q.name!r}: default {q.default!r} must be a finite number")
        if q.violations(np.asarray([float(q.default)])).any():
            raise ModelError(f"{where} parameter {q.name!r}: default {q.default:g} is outside its bounds ({q.allowed()})")
    if cls.rhs is Model.rhs:
        raise ModelError(f"{where} does not implement rhs(t, y, p)")
    n_args = len(inspect.signature(cls.rhs).parameters) - 1  # without self
    want = 4 if cls.inputs else 3
    if n_args != want:
        sig = "rhs(self, t, y, p, u)" if cls.inputs else "rhs(self, t, y, p)"
        raise ModelError(f"{where}: rhs takes {n_args} arguments besides self; with its inputs it must be {sig}")
    if cls.events and cls.event_triggers is Model.event_triggers:
        raise ModelError(f"{where} declares events {[e.name for e in cls.events]} but does not implement "
                         "event_triggers(t, y, p)")
    if any(e.delayed for e in cls.events) and cls.event_delay is Model.event_delay:
        raise ModelError(f"{where} declares delayed events but does not implement event_delay(name, t, y, p)")
    for e in cls.events:
        if not (isinstance(e.priority, (int, float)) and math.isfinite(e.priority)):
            raise ModelError(f"{where} event {e.name!r}: priority {e.priority!r} must be a finite number")
    if cls.observed and cls.observables is Model.observables:
        raise ModelError(f"{where} declares observables {[o.name for o in cls.observed]} but does not implement observables(t, y, p)")
