"""SBML in: a model file from BioModels, COPASI, PK-Sim/MoBi or the SBML Test Suite as a vhtwin :class:`Model`.

``import_sbml(path_or_string)`` reads SBML Level 1-3 with python-libsbml and returns a model class's instance that
the engine runs like a hand-written one (populations, trials, calibration, gradients). What an SBML model becomes:

* **Species** are states, kept as *amounts* (substance units). In the model's equations, and in a simulation's
  output, a species' SBML id means what the SBML specification says: its amount when ``hasOnlySubstanceUnits`` is
  true (or its compartment has 0 dimensions and no size), else its concentration, the amount over its
  compartment's size. The
  state is the id itself in the first case; in the second it is ``<id>_amount`` and the id is an observable, the
  concentration: ``ds["S1"]`` is what the file means by ``S1`` either way. Doses go into the amount states.
* **Reactions** change their species by stoichiometry x rate (the kinetic law, in substance per time; local
  parameters become parameters named ``<reaction>_<parameter>``), times the species' (or the model's) conversion
  factor; boundary and constant species are not changed by reactions.
* **Parameters** and **compartments** of constant value are parameters (a compartment's size in its units);
  non-constant ones with a rate rule are states, with an assignment rule computed values.
* **Rate rules** give the derivative of their variable (of a species' concentration when that is what its id
  means: the amount changes by the compartment's size times it); **assignment rules** are computed in dependency
  order wherever they are read, and are observables; **initial assignments** set initial values from the
  parameters (``Model.initial``), or a parameter's value from other parameters; **function definitions** are
  expanded where they are called.
* **Events** are the engine's state-triggered events (:class:`vhtwin.Event`): the trigger is the file's condition
  (``+1`` where it holds, ``-1`` where not: the crossing is located by bisection, so strict and non-strict relations
  keep their meaning), with its priority (which may change with the state), delay, persistence, initial value and
  ``useValuesFromTriggerTime``. A parameter or compartment that an event sets becomes a state that changes only at
  events; an assignment to a concentration species sets its amount in the compartment's size before the event.
  Events of equal priority at one time run in declaration order (SBML leaves it random).
* The time unit is the model's (seconds unless it says otherwise: ``s``, ``min``, ``h``, ``d`` or ``ms``), or the
  one given as ``time_unit=`` for a file whose declaration is missing or wrong.

Refused with :class:`ModelError` naming the SBML element's id, before anything runs: algebraic rules, fast
reactions, ``delay`` and ``rateOf``, a concentration rate rule in a compartment of varying size. A file that
libsbml reports errors for is refused with libsbml's first message.

The equations are the :mod:`vhtwin.exchange.expression` trees read from the file's MathML: data, evaluated by a fixed
set of JAX operators -- nothing from the file is executed. Two imported models are never the same model: each is a
class of its own, and its :meth:`~vhtwin.Model.source_hash` is the sha256 of the file's content.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from ..errors import ModelError
from .expression import Call, Expr, Num, Piecewise, Sym, symbols
from .generated import GeneratedModel, generated_model
from .spec import ModelSpec, ordered, python_name, read_source

#: Avogadro's number as SBML Level 3 defines it.
AVOGADRO = 6.02214179e23

_SI = {"mole": "mol", "litre": "L", "liter": "L", "second": "s", "gram": "g", "metre": "m", "meter": "m",
       "kilogram": "kg", "dimensionless": "1", "item": "1", "ampere": "A", "kelvin": "K", "volt": "V",
       "joule": "J", "watt": "W", "hertz": "Hz", "newton": "N", "pascal": "Pa", "coulomb": "C", "farad": "F",
       "siemens": "S", "ohm": "ohm", "katal": "kat", "mole_per_second": "mol s-1"}
_PREFIX = {0: "", -3: "m", -6: "u", -9: "n", -12: "p", -15: "f", 3: "k", -2: "c", -1: "d"}
_TIME = {(1.0, "s"): "s", (60.0, "s"): "min", (3600.0, "s"): "h", (86400.0, "s"): "d", (0.001, "s"): "ms"}


def import_sbml(source, *, time_unit: str | None = None) -> GeneratedModel:
    """A vhtwin model from an SBML file (a path) or SBML text (see the module docstring).

    Parameters
    ----------
    source : str or Path
        The file, or its text.
    time_unit : str, optional
        The unit of the model's time (``"s"``, ``"min"``, ``"h"``, ``"d"``, ``"ms"``) when the file's own
        declaration is missing or wrong (a file whose rates are per hour but whose time unit says otherwise): it
        replaces the file's, and nothing is converted.

    Raises
    ------
    ModelError
        Naming the SBML element (its id) of the first construct that cannot be imported, or libsbml's first error.
    """
    try:
        import libsbml
    except ImportError:  # pragma: no cover - the extra is part of the test set-up
        raise ModelError("vh.import_sbml needs libsbml: pip install 'vhtwin[exchange]'") from None

    text, origin = read_source(source, "SBML")
    # a file is read as a file, so that the models a hierarchical model refers to resolve next to it
    doc = libsbml.readSBMLFromFile(str(source)) if origin != "text" else libsbml.readSBMLFromString(text)
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:
        raise ModelError(f"SBML {origin}: line {errors[0].getLine()}: {errors[0].getMessage().strip()}")
    if doc.getPlugin("comp") is not None and doc.isPackageEnabled("comp"):
        # a hierarchical model (the comp package): flattened into one model first, as libsbml defines it
        props = libsbml.ConversionProperties()
        props.addOption("flatten comp", True)
        if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise ModelError(f"SBML {origin}: the hierarchical model (comp package) could not be flattened: "
                             f"{doc.getError(doc.getNumErrors() - 1).getMessage().strip() if doc.getNumErrors() else ''}")
    sbml = doc.getModel()
    if sbml is None:
        raise ModelError(f"SBML {origin}: the document has no model")
    if time_unit is not None:
        from ..units import check_time_unit

        check_time_unit(time_unit, "import_sbml time_unit")
    spec = _Reader(sbml, origin, time_unit).read()
    spec.source_hash = hashlib.sha256(text.encode()).hexdigest()
    spec.source_file = None if origin == "text" else str(Path(source).resolve())
    return generated_model(spec)


class _Reader:
    def __init__(self, model, origin: str, time_unit: str | None = None):
        self.m = model
        self.given_time_unit = time_unit
        self.origin = origin
        self.functions = {f.getId(): f for f in model.getListOfFunctionDefinitions()}
        self.taken: set[str] = set()
        taken = self.taken
        self.names: dict[str, str] = {}
        ids = [x.getId() for group in (model.getListOfCompartments(), model.getListOfSpecies(),
                                       model.getListOfParameters(), model.getListOfReactions()) for x in group]
        # species references with an id (SBML Level 3): their stoichiometry is a symbol of the math
        self.references = {ref.getId(): ref for r in model.getListOfReactions()
                           for ref in list(r.getListOfReactants()) + list(r.getListOfProducts()) if ref.isSetId()}
        ids += list(self.references)
        for sid in ids:
            self.names[sid] = python_name(sid, taken)

    def fail(self, what: str) -> ModelError:
        return ModelError(f"SBML {self.origin}: {what}")

    def _cycle(self, names) -> ModelError:
        return self.fail(f"assignment rules {names} depend on each other in a cycle")

    # -- math -------------------------------------------------------------------------------------------------------
    def expr(self, ast, where: str, local: dict | None = None) -> Expr:
        """A libsbml ASTNode as an expression tree; ``local`` renames symbols (kinetic laws' local parameters,
        function arguments)."""
        import libsbml as L

        if ast is None:
            raise self.fail(f"{where}: no math")
        t = ast.getType()
        kids = lambda: tuple(self.expr(ast.getChild(i), where, local) for i in range(ast.getNumChildren()))
        if t in (L.AST_INTEGER,):
            return Num(float(ast.getInteger()))
        if t in (L.AST_REAL, L.AST_REAL_E, L.AST_RATIONAL):
            return Num(float(ast.getReal()))
        if t == L.AST_NAME:
            name = ast.getName()
            if local and name in local:
                return local[name]
            if name not in self.names:
                raise self.fail(f"{where}: symbol {name!r} is not a compartment, species, parameter or reaction")
            return Sym(self.names[name])
        if t == L.AST_NAME_TIME:
            return Sym("time")
        if t == L.AST_NAME_AVOGADRO:
            return Num(AVOGADRO)
        if t == L.AST_CONSTANT_E:
            return Num(math.e)
        if t == L.AST_CONSTANT_PI:
            return Num(math.pi)
        if t == L.AST_CONSTANT_TRUE:
            return Call("eq", (Num(1.0), Num(1.0)))
        if t == L.AST_CONSTANT_FALSE:
            return Call("neq", (Num(1.0), Num(1.0)))
        if t == L.AST_FUNCTION_DELAY:
            raise self.fail(f"{where}: the delay function is not supported")
        if t == L.AST_FUNCTION_RATE_OF:
            raise self.fail(f"{where}: the rateOf function is not supported")
        if t == L.AST_FUNCTION:
            return self.call_function(ast.getName(), kids(), where)
        if t == L.AST_FUNCTION_PIECEWISE:
            args = kids()
            pieces = tuple((args[i], args[i + 1]) for i in range(0, len(args) - 1, 2))
            return Piecewise(pieces, args[-1] if len(args) % 2 else None)
        if t == L.AST_FUNCTION_LOG:  # log with a base (default 10)
            args = kids()
            return Call("log10", args) if len(args) == 1 else Call("log", args)
        if t == L.AST_FUNCTION_ROOT:
            args = kids()
            return Call("sqrt", args) if len(args) == 1 else Call("root", args)
        if t in (L.AST_POWER, L.AST_FUNCTION_POWER):
            return Call("power", kids())
        op = _AST_OPS.get(t)
        if op is None:
            raise self.fail(f"{where}: MathML {L.formulaToL3String(ast)!r} uses an operator vhtwin does not import")
        return Call(op, kids())

    def call_function(self, name: str, args: tuple, where: str) -> Expr:
        f = self.functions.get(name)
        if f is None or f.getMath() is None:
            raise self.fail(f"{where}: function {name!r} is not defined")
        lam = f.getMath()
        n = lam.getNumBvars()
        if n != len(args):
            raise self.fail(f"{where}: function {name!r} takes {n} arguments, {len(args)} given")
        params = {lam.getChild(i).getName(): args[i] for i in range(n)}
        # a function's body sees only its arguments (SBML forbids other symbols there, time aside)
        return self.expr(lam.getChild(lam.getNumChildren() - 1), f"function {name!r}", params)

    # -- the model --------------------------------------------------------------------------------------------------
    def read(self) -> ModelSpec:
        m = self.m
        # (constraints are checks on a simulation, not part of it: they are not read)
        rules = {}
        for r in m.getListOfRules():
            if not r.isSetMath():  # a rule without math constrains nothing (Level 3 Version 2)
                continue
            if r.isAlgebraic():
                raise self.fail(f"algebraic rule {r.getMetaId() or r.getId() or '(no id)'}: algebraic rules are not "
                                f"supported")
            rules[r.getVariable()] = r
        for r in m.getListOfReactions():
            if r.isSetFast() and r.getFast():
                raise self.fail(f"reaction {r.getId()}: fast reactions are not supported")
        spec = ModelSpec(name=m.getId() or m.getName() or "sbml_model", time_unit=self.time_unit())
        spec.reference = m.getName() or ""
        spec.ids = {k: v for k, v in self.names.items() if k != v}
        n = self.names
        size = {}  # compartment id -> Expr of its size
        initial_values = {}
        # compartments
        for c in m.getListOfCompartments():
            cid = c.getId()
            value = c.getSize() if c.isSetSize() else (c.getVolume() if c.getLevel() == 1 else math.nan)
            if c.getSpatialDimensionsAsDouble() == 0 and not c.isSetSize():
                value = 1.0  # a point: no size (a species in it is an amount); its id, if read, is 1
            unit = self.unit(c.getUnits()) if c.isSetUnits() else self.default_unit(c.getSpatialDimensions())
            self.declare(spec, cid, value, unit, rules, "compartment size", initial_values)
            size[cid] = None if c.getSpatialDimensionsAsDouble() == 0 and not c.isSetSize() else Sym(n[cid])
        # parameters
        for q in m.getListOfParameters():
            unit = self.unit(q.getUnits()) if q.isSetUnits() else "unknown"
            value = q.getValue() if q.isSetValue() else math.nan
            self.declare(spec, q.getId(), value, unit, rules, "parameter", initial_values)
        # species: amounts as states
        conc_of = {}
        for s in m.getListOfSpecies():
            sid, name = s.getId(), n[s.getId()]
            comp = size[s.getCompartment()]
            amount_unit = self.unit(s.getSubstanceUnits()) if s.isSetSubstanceUnits() else self.model_unit("substance")
            if s.isSetInitialAmount():
                amount = s.getInitialAmount()
            elif s.isSetInitialConcentration():
                v = initial_values.get(s.getCompartment(), 1.0)
                amount = s.getInitialConcentration() * (v if comp is not None else 1.0)
            else:
                amount = math.nan
            only_substance = s.getHasOnlySubstanceUnits()
            volume_unit = self.compartment_unit(s.getCompartment())
            meaning_unit = amount_unit if only_substance or comp is None else _per(amount_unit, volume_unit)
            spec.species_info[name] = (None if comp is None else comp.name, not only_substance and comp is not None)
            if sid in rules and rules[sid].isAssignment():
                spec.assignments.append((name, self.expr(rules[sid].getMath(), f"assignment rule for {sid}")))
                spec.observables.append((name, meaning_unit, Sym(name), f"species {sid} (assignment rule)"))
                continue
            # the state is the amount: under the id when the id means the amount, else as <id>_amount (the id is
            # then the concentration, an output of its own)
            concentration = not only_substance and comp is not None
            state = python_name(f"{sid}_amount", self.taken) if concentration else name
            if s.isSetInitialConcentration() and comp is not None and any(
                    ia.getSymbol() == s.getCompartment() for ia in m.getListOfInitialAssignments()):
                # a compartment sized by an initial assignment: the amount follows from that size
                spec.initial.append((state, Call("times", (Num(s.getInitialConcentration()), comp))))
            spec.states.append((state, amount_unit, amount, True, f"amount of species {sid}"))
            initial_values[sid] = amount
            conc_of[sid] = (state, comp, only_substance)
            spec.species[state] = (name, comp.name if concentration else None)
            if concentration:
                spec.assignments.append((name, Call("divide", (Sym(state), comp))))
                spec.observables.append((name, meaning_unit, Sym(name), f"concentration of species {sid}"))
        for rid_, ref in self.references.items():
            # a named stoichiometry: a parameter, or what its rule makes it (computed, or a state of a rate rule)
            st = ref.getStoichiometry() if ref.isSetStoichiometry() else math.nan
            what = f"stoichiometry {rid_} of species {ref.getSpecies()}"
            rule = rules.get(rid_)
            if ref.isSetStoichiometryMath():  # Level 2: the id names the math's value
                spec.assignments.append((n[rid_], self.expr(ref.getStoichiometryMath().getMath(),
                                                            f"stoichiometryMath of {rid_}")))
            elif rule is not None and rule.isAssignment():
                spec.assignments.append((n[rid_], self.expr(rule.getMath(), f"assignment rule for {rid_}")))
            elif rule is not None and rule.isRate():
                spec.states.append((n[rid_], "1", st, False, what))
            else:
                spec.parameters.append((n[rid_], st, "1", what))
        # reactions: rates as assignments (an id of a reaction means its rate), then stoichiometry
        flux: dict[str, list[Expr]] = {}
        extent = self.unit(m.getExtentUnits()) if m.getLevel() == 3 and m.isSetExtentUnits() else (
            self.model_unit("substance"))
        rate_unit = "unknown" if extent == "unknown" else f"{extent} {spec.time_unit}-1"
        for r in m.getListOfReactions():
            rid = r.getId()
            law = r.getKineticLaw()
            if law is None or law.getMath() is None:
                raise self.fail(f"reaction {rid}: no kinetic law")
            local = {}
            seen = {}
            for lp in list(law.getListOfLocalParameters()) + list(law.getListOfParameters()):
                seen.setdefault(lp.getId(), lp)  # Level 3 lists its local parameters under both names
            for lp in seen.values():
                pname = python_name(f"{rid}_{lp.getId()}", self.taken)
                spec.parameters.append((pname, lp.getValue(), self.unit(lp.getUnits()) if lp.isSetUnits() else "unknown",
                                        f"local parameter {lp.getId()} of reaction {rid}"))
                local[lp.getId()] = Sym(pname)
            spec.assignments.append((n[rid], self.expr(law.getMath(), f"kinetic law of reaction {rid}", local)))
            spec.observables.append((n[rid], rate_unit, Sym(n[rid]), f"rate of reaction {rid}"))
            for refs, sign in ((r.getListOfReactants(), -1.0), (r.getListOfProducts(), 1.0)):
                for ref in refs:
                    sid = ref.getSpecies()
                    if ref.isSetStoichiometryMath():  # Level 2's form: the math is the stoichiometry
                        stoich_math = self.expr(ref.getStoichiometryMath().getMath(),
                                                f"stoichiometryMath of {sid} in reaction {rid}")
                    else:
                        stoich_math = None
                    sp = m.getSpecies(sid)
                    if sp.getBoundaryCondition() or sp.getConstant() or sid not in conc_of:
                        continue
                    if stoich_math is not None:
                        stoichiometry = stoich_math
                    elif ref.isSetId():  # a named stoichiometry (a parameter, a constant, a rule's value)
                        stoichiometry = Sym(n[ref.getId()])
                    else:
                        st = ref.getStoichiometry() if ref.isSetStoichiometry() or ref.getLevel() < 3 else 1.0
                        stoichiometry = Num(1.0 if math.isnan(st) else st)
                    signed = (Num(sign * stoichiometry.value) if isinstance(stoichiometry, Num)
                              else Call("times", (Num(sign), stoichiometry)))
                    term = Call("times", (signed, Sym(n[rid])))
                    factor = sp.getConversionFactor() if sp.isSetConversionFactor() else (
                        m.getConversionFactor() if m.isSetConversionFactor() else "")
                    if factor:
                        term = Call("times", (term, Sym(n[factor])))
                    flux.setdefault(sid, []).append(term)
        # derivatives of the species' amounts
        for sid, (name, comp, only_substance) in conc_of.items():
            if sid in rules and rules[sid].isRate():
                rate = self.expr(rules[sid].getMath(), f"rate rule for {sid}")
                if not only_substance and comp is not None:
                    cid = m.getSpecies(sid).getCompartment()
                    if cid in rules or not m.getCompartment(cid).getConstant():
                        raise self.fail(f"rate rule for {sid}: the concentration of a species in compartment {cid} "
                                        f"of varying size is not supported")
                    rate = Call("times", (rate, comp))  # d amount / dt = size x d concentration / dt
                spec.derivatives[name] = rate
            else:
                spec.derivatives[name] = Call("plus", tuple(flux.get(sid, ()))) if sid in flux else Num(0.0)
        # rate rules of parameters and compartments
        for var, r in rules.items():
            if r.isRate() and var not in conc_of:
                if var not in n:
                    raise self.fail(f"rate rule for {var}: not a compartment, species or parameter")
                spec.derivatives[n[var]] = self.expr(r.getMath(), f"rate rule for {var}")
        # initial assignments
        computed = []
        for ia in m.getListOfInitialAssignments():
            if not ia.isSetMath():  # SBML Level 3 Version 2: an assignment without math assigns nothing
                continue
            sym = ia.getSymbol()
            value = self.expr(ia.getMath(), f"initial assignment of {sym}")
            if sym in conc_of:
                name, comp, only_substance = conc_of[sym]
                if not only_substance and comp is not None:
                    value = Call("times", (value, comp))
                spec.initial.append((name, value))
            elif n.get(sym) in spec.derivatives:
                spec.initial.append((n[sym], value))
            elif sym in n and any(p[0] == n[sym] for p in spec.parameters):
                computed.append((n[sym], value))
            else:
                raise self.fail(f"initial assignment of {sym}: not a species, compartment or parameter of the model")
        # A parameter set by an initial assignment is a constant: computed from the parameters wherever it is read,
        # or -- when it reads the model's state at the start (a species, a rule, a reaction rate) or an event sets it
        # -- a state that does not change between events, started at that value.
        units = {p[0]: p[2] for p in spec.parameters}
        targets = self.event_targets(conc_of)
        by_initial = {name for name, _ in computed}
        for name, value, unit, description in [p for p in spec.parameters if p[0] in targets - by_initial]:
            spec.states.append((name, unit, value, False, f"{description} (set by events)"))
            spec.derivatives[name] = Num(0.0)
        spec.parameters = [p for p in spec.parameters if p[0] not in by_initial | targets]
        varying = {x[0] for x in spec.states} | {name for name, _ in spec.assignments}
        frozen: set[str] = targets & by_initial
        while True:
            more = {name for name, value in computed if name not in frozen and symbols(value) & (varying | frozen)}
            if not more:
                break
            frozen |= more
        for name, value in computed:
            if name in frozen:
                spec.states.append((name, units[name], math.nan, False, f"{name}: constant from the initial state"))
                spec.derivatives[name] = Num(0.0)
                spec.initial.append((name, value))
            else:
                spec.constants.append((name, value))
        spec.assignments = ordered(spec.assignments, self._cycle)
        spec.constants = ordered(spec.constants, self._cycle)
        spec.events = self.events(conc_of)
        if not spec.states:  # only rules of time: the engine integrates at least one state
            spec.states.append(("sbml_no_state", "1", 0.0, False, "the model has no differential equation; the "
                                "engine integrates this constant"))
            spec.derivatives["sbml_no_state"] = Num(0.0)
        return spec

    # -- events -----------------------------------------------------------------------------------------------------
    def event_targets(self, conc_of) -> set[str]:
        """The model names that events set, other than species (parameters, compartments, stoichiometries)."""
        out = set()
        for e in self.m.getListOfEvents():
            for a in e.getListOfEventAssignments():
                var = a.getVariable()
                if var not in conc_of and var in self.names:
                    out.add(self.names[var])
        return out

    def events(self, conc_of) -> list:
        """SBML events as :class:`vhtwin.Event` declarations with their trigger, delay and assignments.

        The trigger's sign is the file's condition itself (:func:`_trigger_function`), so strict and non-strict
        relations keep their meaning exactly."""
        n, out, taken = self.names, [], set()
        for k, e in enumerate(self.m.getListOfEvents()):
            eid = e.getId() or f"event{k + 1}"
            where = f"event {eid}"
            trigger = e.getTrigger()
            if trigger is None or not trigger.isSetMath():  # (Level 3 Version 2: an event that never triggers)
                condition = Call("neq", (Num(1.0), Num(1.0)))
            else:
                condition = self.expr(trigger.getMath(), f"trigger of {where}")
            level3 = e.getLevel() >= 3
            priority = Num(0.0)  # (SBML leaves the order of events without a priority open)
            if e.isSetPriority() and e.getPriority().isSetMath():
                priority = self.expr(e.getPriority().getMath(), f"priority of {where}")
            delay = None
            if e.isSetDelay() and e.getDelay().isSetMath():
                delay = self.expr(e.getDelay().getMath(), f"delay of {where}")
            assigned = []
            for a in e.getListOfEventAssignments():
                var = a.getVariable()
                if not a.isSetMath():
                    continue
                value = self.expr(a.getMath(), f"assignment to {var} by {where}")
                if var in conc_of:
                    state, comp, only_substance = conc_of[var]
                    if not only_substance and comp is not None:
                        # the file gives the concentration; the state is the amount, in the compartment's size
                        # when the values are computed (before the event, even if the event also sets the size, as
                        # the SBML Test Suite has it)
                        value = Call("times", (value, comp))
                    assigned.append((state, value))
                elif var in n:
                    assigned.append((n[var], value))
                else:
                    raise self.fail(f"{where}: assigns {var!r}, which is not a species, compartment or parameter")
            out.append(dict(
                name=python_name(eid, taken), description=where,
                trigger=_trigger_function(condition),
                priority=priority, delay=delay,
                persistent=trigger.getPersistent() if level3 and trigger is not None else True,
                initial_value=trigger.getInitialValue() if level3 and trigger is not None else True,
                values_at_trigger=e.getUseValuesFromTriggerTime() if (level3 or e.isSetUseValuesFromTriggerTime())
                else True,
                assignments=assigned,
            ))
        return out

    def declare(self, spec, sid, value, unit, rules, what, initial_values):
        """A compartment or parameter: a parameter, a state (rate rule) or an assignment (assignment rule)."""
        name = self.names[sid]
        rule = rules.get(sid)
        if rule is not None and rule.isAssignment():
            spec.assignments.append((name, self.expr(rule.getMath(), f"assignment rule for {sid}")))
            spec.observables.append((name, unit, Sym(name), f"{what} {sid} (assignment rule)"))
            return
        if rule is not None and rule.isRate():
            spec.states.append((name, unit, value, False, f"{what} {sid} (rate rule)"))
            initial_values[sid] = value
            return
        spec.parameters.append((name, value, unit, f"{what} {sid}"))
        initial_values[sid] = value

    # -- units ------------------------------------------------------------------------------------------------------
    def time_unit(self) -> str:
        m = self.m
        if self.given_time_unit is not None:
            return self.given_time_unit
        if m.getLevel() == 3 and m.isSetTimeUnits():
            return self.time_of(m.getTimeUnits(), "the model's timeUnits")
        ud = m.getUnitDefinition("time")
        if ud is not None:
            return self.time_of("time", "unit definition 'time'")
        return "s"

    def time_of(self, unit_id: str, where: str) -> str:
        if unit_id == "second":
            return "s"
        ud = self.m.getUnitDefinition(unit_id)
        if ud is not None and ud.getNumUnits() == 1:
            u = ud.getUnit(0)
            kind = _kind(u.getKind())
            factor = u.getMultiplier() * 10.0 ** u.getScale()
            key = (round(factor, 9), _SI.get(kind, kind))
            if u.getExponent() == 1 and key in _TIME:
                return _TIME[key]
        raise self.fail(f"{where} {unit_id!r}: not one of the time units vhtwin runs in (ms, s, min, h, d)")

    def unit(self, unit_id: str) -> str:
        if not unit_id:
            return "unknown"
        if unit_id in _SI:
            return _SI[unit_id]
        ud = self.m.getUnitDefinition(unit_id)
        if ud is None:
            return "unknown"
        parts = []
        for i in range(ud.getNumUnits()):
            u = ud.getUnit(i)
            symbol = _SI.get(_kind(u.getKind()), _kind(u.getKind()))
            if symbol == "1":
                continue
            exponent = u.getExponent() if u.isSetExponent() else 1
            exponent = int(exponent) if float(exponent).is_integer() else exponent
            scale, mult = int(u.getScale()), float(u.getMultiplier())
            if mult == 1.0 and scale in _PREFIX and symbol not in ("kg",):
                base = _PREFIX[scale] + symbol
            else:
                base = f"({mult * 10.0 ** scale:g} {symbol})"
            parts.append(base + ("" if exponent == 1 else str(exponent)))
        return " ".join(parts) or "1"

    def model_unit(self, which: str) -> str:
        m = self.m
        if m.getLevel() == 3:
            attr = {"substance": m.getSubstanceUnits, "volume": m.getVolumeUnits}[which]()
            return self.unit(attr) if attr else "unknown"
        return self.unit(which) if self.m.getUnitDefinition(which) else {"substance": "mol", "volume": "L"}[which]

    def default_unit(self, dimensions) -> str:
        if dimensions == 3:
            return self.model_unit("volume")
        return "unknown" if self.m.getLevel() == 3 else {2: "m2", 1: "m", 0: "1"}.get(int(dimensions), "L")

    def compartment_unit(self, cid: str) -> str:
        c = self.m.getCompartment(cid)
        return self.unit(c.getUnits()) if c.isSetUnits() else self.default_unit(c.getSpatialDimensions())


def _kind(code) -> str:
    import libsbml

    return libsbml.UnitKind_toString(code)


def _per(amount: str, volume: str) -> str:
    if "unknown" in (amount, volume):
        return "unknown"
    return f"{amount} {volume}-1" if " " not in volume and not volume.startswith("(") else f"{amount} ({volume})-1"


def _distance(condition: Expr) -> Expr | None:
    """A continuous quantity positive where a relation holds and negative where not (``a > b``: ``a - b``; ``and``:
    the least of its parts, ``or``: the greatest, ``not``: minus), or None for a condition without one."""
    if not isinstance(condition, Call):
        return None
    op, args = condition.op, condition.args
    if op in ("gt", "geq", "lt", "leq") and len(args) == 2:
        a, b = args if op in ("gt", "geq") else args[::-1]
        return Call("minus", (a, b))
    parts = [_distance(a) for a in args]
    if op in ("and", "or") and parts and all(x is not None for x in parts):
        return Call("min" if op == "and" else "max", tuple(parts))
    if op == "not" and len(parts) == 1 and parts[0] is not None:
        return Call("minus", (parts[0],))
    return None


def _trigger_function(condition: Expr) -> Expr:
    """An event's trigger function for the engine (true where ``>= 0``): its sign is the condition's truth (so
    ``>`` and ``>=`` keep their meaning exactly), its size the distance to the threshold where the condition is a
    relation -- continuous at the crossing, so derivatives through a solve see the event move with the parameters
    (a condition without one gives +1 / -1: found as exactly, but its time moves with nothing)."""
    distance = _distance(condition)
    size = Num(1.0) if distance is None else Call("abs", (distance,))
    # a tiny offset keeps the false side strictly negative where the distance is zero (a strict relation at equality)
    return Piecewise(((size, condition),), Call("minus", (Call("plus", (size, Num(1e-30))),)))


def _ast_ops() -> dict:
    import libsbml as L

    pairs = {"AST_PLUS": "plus", "AST_MINUS": "minus", "AST_TIMES": "times", "AST_DIVIDE": "divide",
             "AST_FUNCTION_EXP": "exp", "AST_FUNCTION_LN": "ln", "AST_FUNCTION_ABS": "abs",
             "AST_FUNCTION_FLOOR": "floor", "AST_FUNCTION_CEILING": "ceiling", "AST_FUNCTION_SIN": "sin",
             "AST_FUNCTION_COS": "cos", "AST_FUNCTION_TAN": "tan", "AST_FUNCTION_SEC": "sec",
             "AST_FUNCTION_CSC": "csc", "AST_FUNCTION_COT": "cot", "AST_FUNCTION_SINH": "sinh",
             "AST_FUNCTION_COSH": "cosh", "AST_FUNCTION_TANH": "tanh", "AST_FUNCTION_SECH": "sech",
             "AST_FUNCTION_CSCH": "csch", "AST_FUNCTION_COTH": "coth", "AST_FUNCTION_ARCSIN": "arcsin",
             "AST_FUNCTION_ARCCOS": "arccos", "AST_FUNCTION_ARCTAN": "arctan", "AST_FUNCTION_ARCSEC": "arcsec",
             "AST_FUNCTION_ARCCSC": "arccsc", "AST_FUNCTION_ARCCOT": "arccot", "AST_FUNCTION_ARCSINH": "arcsinh",
             "AST_FUNCTION_ARCCOSH": "arccosh", "AST_FUNCTION_ARCTANH": "arctanh",
             "AST_FUNCTION_ARCSECH": "arcsech", "AST_FUNCTION_ARCCSCH": "arccsch",
             "AST_FUNCTION_ARCCOTH": "arccoth", "AST_FUNCTION_MIN": "min", "AST_FUNCTION_MAX": "max",
             "AST_FUNCTION_REM": "rem", "AST_FUNCTION_FACTORIAL": "factorial", "AST_FUNCTION_QUOTIENT": "quotient", "AST_RELATIONAL_EQ": "eq",
             "AST_RELATIONAL_NEQ": "neq", "AST_RELATIONAL_LT": "lt", "AST_RELATIONAL_LEQ": "leq",
             "AST_RELATIONAL_GT": "gt", "AST_RELATIONAL_GEQ": "geq", "AST_LOGICAL_AND": "and",
             "AST_LOGICAL_OR": "or", "AST_LOGICAL_XOR": "xor", "AST_LOGICAL_NOT": "not",
             "AST_LOGICAL_IMPLIES": "implies"}
    return {getattr(L, k): v for k, v in pairs.items() if hasattr(L, k)}


class _LazyOps(dict):
    def get(self, key, default=None):
        if not self:
            self.update(_ast_ops())
        return super().get(key, default)


_AST_OPS = _LazyOps()
