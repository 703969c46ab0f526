"""Linking a pharmacodynamic (PD) model to a pharmacokinetic (PK) model: ``vh.link(pk, pd)``.

A PK model predicts a concentration; a PD model turns a concentration into an effect. :func:`link` joins the two
into one :class:`~vhtwin.Model` whose states are the PK states followed by the PD states, so one solve carries the
drug from the dose to the effect. Nothing in :mod:`vhtwin.model` or the engine knows about PD: the linked model is an
ordinary model, declared (and checked) like any other.

Conventions for a PD model
--------------------------
The concentration is an input named ``C``. A PD component declares ``inputs = (Input("C", "mg L-1"),)`` (the unit
is that of its potency parameters, e.g. ``EC50``) and reads the concentration as ``u.C``.

Observables that need the concentration are *effects*: they are declared in a class attribute ``effects`` (a tuple
of :class:`~vhtwin.Observable`) and computed by a method ``effect(t, y, p, u)`` that returns them by name, with
``u.C`` available. (``observables(t, y, p)`` has no inputs, which is why effects are declared apart.)

There are two kinds of PD component:

- a PD model with states (effect compartment, indirect response) is a :class:`~vhtwin.Model` with the input ``C``,
  ``rhs(t, y, p, u)``, optionally ``observed``/``observables(t, y, p)`` for quantities of its states alone, and
  optionally ``effects``/``effect(t, y, p, u)``. On its own it is a valid model driven by the input ``C``;
- a direct-effect PD model (Emax, sigmoid Emax) has no states, so it is not a Model (a model must have states, and
  a fake state would be a lie): it is a :class:`DirectEffect`, which declares ``time_unit``, ``parameters``,
  ``inputs`` and ``effects`` and implements ``effect(t, y, p, u)`` (``y`` holds no states).

The linked model
----------------
``link(pk, pd, concentration="Cc")`` returns an instance of a new Model subclass whose

- states are the PK states then the PD states (a PD state, or a PD observable or effect, whose name is already
  used by the PK model is renamed ``pd_<name>``); only PK states are dosable;
- parameters are the PK parameters then the PD parameters (a shared parameter name is an error: rename one);
- inputs are the PK model's inputs: the PD input ``C`` is wired to the PK observable ``concentration``;
- observables are the PK observables, then the PD observables, then the PD effects.

The two models must use the same time unit, and the PK concentration must have the unit of the PD input ``C``
(vhtwin does not convert units). The class is created once per (PK class, PD class, concentration, name), so
linking twice returns equal models and the engine's compiled solves are reused.

Examples
--------
>>> pk = vh.load_model("pharmacokinetics/one_compartment_oral")
>>> pd = vh.load_model("pharmacokinetics/pd_indirect_response_1")
>>> model = vh.link(pk, pd)  # states depot, central, R; parameters ka, CL, V, kin, kout, Imax, IC50
>>> ds = vh.simulate(model, times=np.arange(0.0, 49.0), protocol=vh.Regimen.bolus(100.0, into="depot"))

Initial values that depend on parameters (``Model.initial(p)``, e.g. the indirect-response baseline
``R(0) = kin / kout``) carry over to the linked model, for the PK and the PD states alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any, ClassVar, Mapping

import numpy as np

from .errors import InputError, ModelError
from .model import (
    Input, Model, Names, Observable, Parameter, State, check_group, check_keys, class_source_hash,
)
from .units import check_time_unit, check_unit

__all__ = ["DirectEffect", "link"]

#: Name of the input through which a PD component receives the concentration.
CONCENTRATION_INPUT = "C"
#: Prefix given to a PD name that the PK model already uses.
PD_PREFIX = "pd_"


class DirectEffect:
    """Base class of a stateless PD model: an effect that is a function of the concentration at the same instant.

    A subclass declares ``time_unit``, ``parameters`` (tuple of :class:`~vhtwin.Parameter`), ``inputs`` (exactly
    ``(Input("C", <concentration unit>),)``) and ``effects`` (tuple of :class:`~vhtwin.Observable`), and implements
    ``effect(t, y, p, u)`` returning the effects by name (``y`` holds no states; the concentration is ``u.C``).
    Declarations are checked when the subclass is defined. It is not simulated on its own: :func:`link` it to a PK
    model.

    Examples
    --------
    >>> class Linear(vh.DirectEffect):
    ...     time_unit = "h"
    ...     parameters = (vh.Parameter("slope", 1.0, "L mg-1"),)
    ...     inputs = (vh.Input("C", "mg L-1"),)
    ...     effects = (vh.Observable("E", "1"),)
    ...     def effect(self, t, y, p, u):
    ...         return {"E": p.slope * u.C}
    """

    time_unit: ClassVar[str] = "s"
    parameters: ClassVar[tuple[Parameter, ...]] = ()
    inputs: ClassVar[tuple[Input, ...]] = ()
    effects: ClassVar[tuple[Observable, ...]] = ()
    states: ClassVar[tuple[State, ...]] = ()
    observed: ClassVar[tuple[Observable, ...]] = ()
    stiff: ClassVar[bool] = False
    name: ClassVar[str] = ""
    reference: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__
        _validate_direct(cls)

    def effect(self, t, y: Names, p: Names, u: Names) -> Mapping[str, Any]:
        """The effects, as a dict keyed by effect name (units as declared in ``effects``)."""
        raise NotImplementedError

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(q.name for q in self.parameters)

    @property
    def effect_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.effects)

    @property
    def state_names(self) -> tuple[str, ...]:
        return ()

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def default_parameters(self) -> dict[str, float]:
        return {q.name: float(q.default) for q in self.parameters}

    def source_hash(self) -> str:
        """SHA-256 of the source of the class (provenance of a result)."""
        return class_source_hash(type(self))

    def describe(self) -> str:
        """A table of the declarations, for humans."""
        lines = [f"{self.name} (direct effect; time unit: {self.time_unit})", "", "parameters:"]
        for q in self.parameters:
            lines.append(f"  {q.name:<16} = {q.default:g} [{q.unit}] ({q.allowed()}) {q.source}".rstrip())
        lines.append("effects:")
        for e in self.effects:
            lines.append(f"  {e.name:<16} [{e.unit}] {e.description}".rstrip())
        for i in self.inputs:
            lines.append(f"input {i.name} [{i.unit}] (the concentration, wired by vhtwin.link)")
        return "\n".join(lines)

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self))

    def __repr__(self):
        return (
            f"<vhtwin direct effect {self.name!r}: parameters {list(self.parameter_names)}, "
            f"effects {list(self.effect_names)}, time in {self.time_unit}>"
        )


def link(pk: Model, pd: Model | DirectEffect, concentration: str = "Cc", name: str | None = None) -> Model:
    """One model that drives a PD model with the concentration predicted by a PK model.

    Parameters
    ----------
    pk : Model
        The pharmacokinetic model; its doses, inputs and observables carry over unchanged.
    pd : Model or DirectEffect
        The pharmacodynamic model, with the input ``C`` (see the module docstring for the conventions).
    concentration : str
        The PK observable that feeds the PD input ``C`` (default ``"Cc"``, the central concentration).
    name : str, optional
        Name of the linked model; default ``"<pk name>+<pd name>"``.

    Returns
    -------
    Model
        States: PK then PD; parameters: PK then PD; observables: PK, PD, then PD effects. Equal to any other
        result of ``link`` with the same arguments.

    Raises
    ------
    InputError
        If ``pk`` is not a Model or ``pd`` is neither a Model nor a DirectEffect.
    ModelError
        If the time units differ, ``concentration`` is not a PK observable, its unit differs from that of the PD
        input ``C``, the PD model does not declare exactly the input ``C``, both models declare a parameter of the
        same name, or a PD name still clashes after renaming.
    """
    if not isinstance(pk, Model):
        raise InputError(f"link: pk must be a vhtwin.Model instance, got {type(pk).__name__}")
    if not isinstance(pd, (Model, DirectEffect)):
        raise InputError(f"link: pd must be a vhtwin.Model or vhtwin.DirectEffect instance, got {type(pd).__name__}")
    label = f"{pk.name}+{pd.name}" if name is None else name
    key = (type(pk), type(pd), concentration, label)
    if key not in _LINKED:
        _LINKED[key] = _linked_class(pk, pd, concentration, label)
    return _LINKED[key]()


_LINKED: dict[tuple, type] = {}


# -- building the linked class --------------------------------------------------------------------------------------
def _linked_class(pk: Model, pd: Model | DirectEffect, concentration: str, label: str) -> type:
    where = f"link({pk.name}, {pd.name})"
    _check_compatible(pk, pd, concentration, where)
    pd_effects = _effects_of(pd, where)

    taken = set(pk.state_names) | set(pk.parameter_names) | set(pk.observable_names) | set(pk.input_names)
    rename = _renaming(pk, pd, pd_effects, taken, where)
    states = pk.states + tuple(dataclasses.replace(s, name=rename[s.name], dosable=False) for s in pd.states)
    observed = (
        pk.observed
        + tuple(dataclasses.replace(o, name=rename[o.name]) for o in pd.observed)
        + tuple(dataclasses.replace(o, name=rename[o.name]) for o in pd_effects)
    )
    pk_states = {s: s for s in pk.state_names}
    pd_states = {s.name: rename[s.name] for s in pd.states}
    pk_params = {q: q for q in pk.parameter_names}
    pd_params = {q: q for q in pd.parameter_names}
    has_pd_rhs = isinstance(pd, Model)

    def concentration_input(t, y, p):
        c = pk.observables(t, _view(y, pk_states, "state"), _view(p, pk_params, "parameter"))[concentration]
        return Names({CONCENTRATION_INPUT: 0}, (c,), "input")

    def derivatives(self, t, y, p, u=None):
        py, pp = _view(y, pk_states, "state"), _view(p, pk_params, "parameter")
        out = dict(pk.rhs(t, py, pp, u) if pk.inputs else pk.rhs(t, py, pp))
        if has_pd_rhs:
            dy = pd.rhs(t, _view(y, pd_states, "state"), _view(p, pd_params, "parameter"), concentration_input(t, y, p))
            check_keys(dy, tuple(pd_states), f"{type(pd).__name__}.rhs", "state")
            out.update({pd_states[k]: v for k, v in dy.items()})
        return out

    def observables(self, t, y, p):
        out = dict(pk.observables(t, _view(y, pk_states, "state"), _view(p, pk_params, "parameter")))
        pdy, pdp = _view(y, pd_states, "state"), _view(p, pd_params, "parameter")
        if pd.observed:
            own = pd.observables(t, pdy, pdp)
            check_keys(own, tuple(o.name for o in pd.observed), f"{type(pd).__name__}.observables", "observable")
            out.update({rename[k]: v for k, v in own.items()})
        if pd_effects:
            eff = pd.effect(t, pdy, pdp, concentration_input(t, y, p))
            check_keys(eff, tuple(e.name for e in pd_effects), f"{type(pd).__name__}.effect", "effect")
            out.update({rename[k]: v for k, v in eff.items()})
        return out

    def initial(self, p):
        out = dict(pk.initial(_view(p, pk_params, "parameter"))) if isinstance(pk, Model) else {}
        if has_pd_rhs:
            out.update({pd_states[k]: v for k, v in pd.initial(_view(p, pd_params, "parameter")).items()})
        return out

    if pk.inputs:
        rhs = lambda self, t, y, p, u: derivatives(self, t, y, p, u)
    else:
        rhs = lambda self, t, y, p: derivatives(self, t, y, p)
    digest = hashlib.sha256(f"{pk.source_hash()}+{pd.source_hash()}@{concentration}".encode()).hexdigest()
    body = {
        "__module__": __name__,
        "__doc__": f"{pk.name} linked to {pd.name} through the concentration {concentration!r} (vhtwin.link).",
        "time_unit": pk.time_unit,
        "states": states,
        "parameters": pk.parameters + pd.parameters,
        "observed": observed,
        "inputs": pk.inputs,
        "stiff": bool(pk.stiff or pd.stiff),
        # a direct effect adds no states, so the linked rhs is the PK rhs: affine if that one is
        "linear": bool(getattr(pk, "linear", False)) and isinstance(pd, DirectEffect),
        "name": label,
        "reference": "; ".join(r for r in (pk.reference, pd.reference) if r),
        "rhs": rhs,
        "observables": observables,
        **({"initial": initial} if pk.has_initial or (has_pd_rhs and pd.has_initial) else {}),
        "source_hash": lambda self: digest,
        "__reduce__": lambda self: (link, (pk, pd, concentration, label)),
    }
    return type(_class_name(pk, pd), (Model,), body)


def _check_compatible(pk: Model, pd: Model | DirectEffect, concentration: str, where: str) -> None:
    if pk.time_unit != pd.time_unit:
        raise ModelError(
            f"{where}: time units differ: {pk.name} is in {pk.time_unit!r}, {pd.name} in {pd.time_unit!r}; "
            "vhtwin does not convert units, so declare both models in the same time unit"
        )
    if concentration not in pk.observable_names:
        raise ModelError(
            f"{where}: concentration {concentration!r} is not an observable of {pk.name}; "
            f"its observables are {list(pk.observable_names)}"
        )
    if tuple(i.name for i in pd.inputs) != (CONCENTRATION_INPUT,):
        raise ModelError(
            f"{where}: {pd.name} must declare exactly one input, {CONCENTRATION_INPUT!r} (the concentration); "
            f"it declares {[i.name for i in pd.inputs]}"
        )
    c_unit, want = pk.unit_of(concentration), pd.inputs[0].unit
    if c_unit != want:
        raise ModelError(
            f"{where}: {pk.name} gives {concentration!r} in {c_unit!r} but {pd.name} expects {CONCENTRATION_INPUT!r} "
            f"in {want!r}; vhtwin does not convert units, so declare them alike"
        )
    pd_params = set(pd.parameter_names)
    clash = [q for q in pk.parameter_names if q in pd_params]
    if clash:
        raise ModelError(
            f"{where}: parameters {clash} are declared by both {pk.name} and {pd.name}; rename them in one model"
        )


def _effects_of(pd: Model | DirectEffect, where: str) -> tuple[Observable, ...]:
    """The PD effects, checked (a Model subclass's ``effects`` are not seen by the Model declaration checks)."""
    effects = getattr(pd, "effects", ())
    check_group(effects, Observable, f"{where}: {pd.name}.effects", "effect")
    if effects and getattr(type(pd), "effect", None) in (None, DirectEffect.effect):
        raise ModelError(f"{where}: {pd.name} declares effects but does not implement effect(t, y, p, u)")
    clash = sorted(set(e.name for e in effects) & set(pd.state_names + pd.parameter_names + tuple(o.name for o in pd.observed)))
    if clash:
        raise ModelError(f"{where}: {pd.name} effects {clash} reuse the names of its states, parameters or observables")
    return effects


def _renaming(pk, pd, effects, taken: set[str], where: str) -> dict[str, str]:
    """PD state, observable and effect names in the linked model: unchanged, or ``pd_<name>`` if the PK uses it."""
    items = (*pd.states, *pd.observed, *effects)
    own = {x.name for x in (*items, *pd.parameters, *pd.inputs)}
    rename = {}
    for item in items:
        if item.name not in taken:
            rename[item.name] = item.name
            continue
        new = PD_PREFIX + item.name
        if new in taken or new in own:
            raise ModelError(
                f"{where}: {pd.name}'s {item.name!r} is already a name in {pk.name}, and the renamed {new!r} is "
                "taken too; rename it in one of the models"
            )
        rename[item.name] = new
    return rename


def _view(values: Names, mapping: Mapping[str, str], kind: str) -> Names:
    """A component's view of the linked model's variables: its own name -> the linked model's name."""
    return Names({own: i for i, own in enumerate(mapping)}, tuple(values[linked] for linked in mapping.values()), kind)


def _class_name(pk, pd) -> str:
    return f"{type(pk).__name__}_{type(pd).__name__}"


# -- declaration checks of a DirectEffect ---------------------------------------------------------------------------
def _validate_direct(cls: type) -> None:
    where = f"direct effect {cls.__name__}"
    check_time_unit(cls.time_unit, f"{where}.time_unit")
    check_group(cls.parameters, Parameter, f"{where}.parameters", "parameter")
    check_group(cls.inputs, Input, f"{where}.inputs", "input")
    check_group(cls.effects, Observable, f"{where}.effects", "effect")
    if cls.states or cls.observed:
        raise ModelError(f"{where}: a direct effect has no states or observables; declare a Model for a PD model with states")
    if tuple(i.name for i in cls.inputs) != (CONCENTRATION_INPUT,):
        raise ModelError(f"{where} must declare exactly one input, {CONCENTRATION_INPUT!r} (the concentration)")
    if not cls.effects:
        raise ModelError(f"{where} declares no effects")
    if cls.effect is DirectEffect.effect:
        raise ModelError(f"{where} does not implement effect(t, y, p, u)")
    names = [x.name for x in (*cls.parameters, *cls.inputs, *cls.effects)]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ModelError(f"{where}: names {clash} are used for more than one of parameters, inputs and effects")
    for q in cls.parameters:
        if not (isinstance(q.default, (int, float)) and math.isfinite(q.default)):
            raise ModelError(f"{where} parameter {q.name!r}: default {q.default!r} must be a finite number")
        if q.violations(np.asarray([float(q.default)])).any():
            raise ModelError(f"{where} parameter {q.name!r}: default {q.default:g} is outside its bounds ({q.allowed()})")
