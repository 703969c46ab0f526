"""The model class an imported file becomes: declarations from a :class:`~vhtwin.exchange.spec.ModelSpec`, equations
evaluated from its expression trees.

Each import creates a class of its own (model identity in vhtwin is the class: two imports never share compiled
programs by accident), whose ``source_hash`` is the sha256 of the file it came from.

Evaluation order inside ``rhs`` and ``observables``: time; parameters; inputs (a stimulus current: the protocol's
value in ``rhs``, the input's default in ``observables``); states -- a species' id meaning its amount or its
concentration (the amount over its compartment's size) as the file says; then the assignments (assignment rules,
reaction rates, a CellML file's computed variables) in dependency order -- in ``rhs`` only those the derivatives
read. The derivatives and observables are expressions over all of these.
"""

from __future__ import annotations

import math
import re

from ..errors import ModelError
from ..model import Event, Input, Model, Observable, Parameter, State
from .expression import Num, evaluate, symbols


class GeneratedModel(Model):
    """Base of the classes :func:`generated_model` makes (not a model by itself)."""

    _abstract = True
    spec = None  # the ModelSpec, set on each generated class
    #: The assignments the derivatives read, directly or through others: ``rhs`` computes only those (an output-only
    #: quantity -- an implicit equation among them -- is not computed at every step). Set on each generated class.
    rhs_reads: frozenset = frozenset()

    def source_hash(self) -> str:
        return self.spec.source_hash

    @property
    def source_file(self) -> str | None:
        """The absolute path of the file this model was imported from (None for text): what a trial spec stores, so
        that ``vh.load_model`` finds the model again (and its source hash proves it is the same file)."""
        return self.spec.source_file

    @property
    def file_stimulus(self) -> dict | None:
        """The stimulus protocol the file itself applies (a CellML cell model), as keyword arguments of
        :class:`vhtwin.Pacing` -- ``start``, ``period``, ``duration`` (model time unit) and ``amplitude`` (the
        input's unit) -- so ``vh.Pacing(**model.file_stimulus, count=3)`` paces as the file does; None where the file
        has no stimulus or does not annotate its timing."""
        return None if self.spec.stimulus is None else dict(self.spec.stimulus)

    def value(self, ds, ident: str, kind: str | None = None):
        """What a file's id names, over a simulation's output ``ds`` of this model (default parameters): a species'
        amount or concentration (``kind``: ``"amount"`` or ``"concentration"``; by default what the id means), an
        output, or a constant (a parameter, or one computed from parameters by an initial assignment) at every
        time -- what the SBML Test Suite's results report."""
        import numpy as np

        if ident in self.spec.species_info and kind is not None:
            comp, means_concentration = self.spec.species_info[ident]
            value = ds[ident]  # what the id means
            if comp is None or (kind == "concentration") == means_concentration:
                return value
            size = ds[comp] if comp in ds else self.constants()[comp]
            return value * size if kind == "amount" else value / size
        if ident in ds:
            return ds[ident]
        constants = self.constants()
        if ident in constants:
            return np.full(ds.sizes["time"], constants[ident])
        raise ModelError(f"{ident!r} is neither an output nor a constant of {self.name}")

    def constants(self) -> dict:
        """The parameters' default values and the constants computed from them (initial assignments)."""
        values = {**self.default_parameters(), "time": 0.0}
        for name, expr in self.spec.constants:
            values[name] = float(evaluate(expr, values))
        del values["time"]
        return values

    def _env(self, t, y, p, u=None, needed: frozenset | None = None) -> dict:
        spec = self.spec
        env = {"time": t}
        for name, *_ in spec.parameters:
            env[name] = p[name]
        for name, _, default, *_ in spec.inputs:
            env[name] = default if u is None else u[name]
        at_start = dict(env, time=0.0)  # constants are initial assignments: read at time 0
        for name, expr in spec.constants:
            env[name] = at_start[name] = evaluate(expr, at_start)
        for name, *_ in spec.states:  # the amounts; a concentration species' id is an assignment over its amount
            env[name] = y[name]
        for name, expr in spec.assignments:
            if needed is None or name in needed:
                env[name] = evaluate(expr, env)
        return env

    def rhs(self, t, y, p):
        env = self._env(t, y, p, needed=self.rhs_reads)
        return {name: evaluate(self.spec.derivatives[name], env) for name, *_ in self.spec.states}

    def observables(self, t, y, p):
        env = self._env(t, y, p)
        return {name: evaluate(expr, env) for name, _, expr, _ in self.spec.observables}

    def event_triggers(self, t, y, p):
        env = self._env(t, y, p)
        return {e["name"]: evaluate(e["trigger"], env) for e in self.spec.events}

    def event_assignments(self, name, t, y, p):
        return self.all_event_assignments(t, y, p)[name]

    def all_event_assignments(self, t, y, p):
        env = self._env(t, y, p)  # once for every event
        return {e["name"]: {state: evaluate(expr, env) for state, expr in e["assignments"]} for e in self.spec.events}

    def event_priorities(self, t, y, p):
        env = self._env(t, y, p)
        return {e["name"]: evaluate(e["priority"], env) for e in self.spec.events}

    def event_delay(self, name, t, y, p):
        event = next(e for e in self.spec.events if e["name"] == name)
        return evaluate(event["delay"], self._env(t, y, p))

    def initial(self, p):
        if not self.spec.initial:
            return {}
        values = {name: initial for name, _, initial, *_ in self.spec.states}
        done = {}

        class _Row(dict):
            __getattr__ = dict.__getitem__

        # initial assignments may read each other: each pass reads the values of the pass before, and as many passes
        # as assignments reach the fixed point of any order of dependence (one evaluation of the model per pass)
        for _ in range(len(self.spec.initial)):
            env = self._env(0.0, _Row({**values, **done}), p)
            done = {name: evaluate(expr, env) for name, expr in self.spec.initial}
        return done


class GeneratedModelWithInputs(GeneratedModel):
    """Base of a generated model with inputs (a cell model's stimulus current): ``rhs`` reads them."""

    _abstract = True

    def rhs(self, t, y, p, u):
        env = self._env(t, y, p, u, needed=self.rhs_reads)
        return {name: evaluate(self.spec.derivatives[name], env) for name, *_ in self.spec.states}


def generated_model(spec) -> GeneratedModel:
    """An instance of a new model class built from ``spec`` (checked like any model class when it is made)."""
    assigned = {name for name, _ in spec.initial}
    states = []
    for name, unit, initial, dosable, description in spec.states:
        if initial is None or not math.isfinite(initial):
            if name not in assigned:
                raise ModelError(f"imported model {spec.name}: {description} has no initial value")
            initial = 0.0  # set by its initial assignment
        states.append(State(name, unit, float(initial), dosable=dosable, description=description))
    parameters = []
    for name, value, unit, description in spec.parameters:
        if value is None or math.isnan(value):
            raise ModelError(f"imported model {spec.name}: {description} has no value")
        if not math.isfinite(value):
            raise ModelError(f"imported model {spec.name}: {description} is {value}; a vhtwin parameter is a finite "
                             f"number (no value)")
        parameters.append(Parameter(name, float(value), unit, description=description))
    known = ({"time"} | {n for n, *_ in spec.parameters} | {n for n, *_ in spec.states} | {n for n, *_ in spec.inputs}
             | {n for n, _ in spec.assignments} | {n for n, _ in spec.constants})
    for where, expr in ([(f"derivative of {k}", e) for k, e in spec.derivatives.items()]
                        + [(f"observable {n}", e) for n, _, e, _ in spec.observables]
                        + [(f"assignment {n}", e) for n, e in spec.assignments + spec.constants]
                        + [(f"initial value of {n}", e) for n, e in spec.initial]
                        + [(f"{ev['description']}", e) for ev in spec.events
                           for e in [ev["trigger"], ev["priority"]] + [x for _, x in ev["assignments"]]
                           + ([ev["delay"]] if ev["delay"] is not None else [])]):
        unknown = symbols(expr) - known
        if unknown:
            raise ModelError(f"imported model {spec.name}: {where} reads {sorted(unknown)}, which the model does not "
                             f"define")
    definitions = dict(spec.assignments)
    rhs_reads, stack = set(), [n for e in spec.derivatives.values() for n in symbols(e)]
    while stack:
        name = stack.pop()
        if name in definitions and name not in rhs_reads:
            rhs_reads.add(name)
            stack.extend(symbols(definitions[name]))
    cls_name = re.sub(r"\W", "_", f"Imported_{spec.name}")
    attrs = {"spec": spec, "rhs_reads": frozenset(rhs_reads), "time_unit": spec.time_unit, "states": tuple(states),
             "parameters": tuple(parameters),
             "observed": tuple(Observable(n, u, d) for n, u, _, d in spec.observables),
             "name": spec.name, "reference": spec.reference, "__module__": __name__, "stiff": spec.stiff,
             "inputs": tuple(Input(n, unit, float(default), description=d, stimulus=stim)
                             for n, unit, default, stim, d in spec.inputs),
             "events": tuple(Event(e["name"], priority=e["priority"].value if isinstance(e["priority"], Num) else 0.0,
                                   delayed=e["delay"] is not None,
                                   persistent=e["persistent"], initial_value=e["initial_value"],
                                   values_at_trigger=e["values_at_trigger"], description=e["description"])
                             for e in spec.events)}
    cls = type(cls_name, (GeneratedModelWithInputs if spec.inputs else GeneratedModel,), attrs)
    return cls()
