"""CellML in: a cardiac cell model from the Physiome repository or the Chaste collection as a vhtwin :class:`Model`.

``import_cellml(path_or_string)`` reads CellML 1.0, 1.1 (converted on reading) and 2.0 with libcellml, resolves and
flattens imports of other files (next to the file), and lets libcellml's analyser sort the equations and insert the
unit conversions between connected variables. What a CellML model becomes:

* The **variable of integration** is the model's time; its units give the time unit (ms or s for cell models).
* **State variables** are states, with the file's initial values (a state initialised by another variable reads
  it: ``Model.initial``). The **membrane potential** -- the variable the file annotates as
  ``oxmeta:membrane_voltage`` (the Chaste convention), else a voltage state named ``V``, ``Vm``, ``V_m``, ``v`` or
  ``E`` -- is named ``V``, so APD analysis, ``vh.Pacing`` and tissue models find it like a native model's.
* **Constants** (a value, no equation) are parameters; constants computed from them are computed once per call;
  every other variable is computed in the analyser's dependency order wherever it is read.
* The **stimulus current** -- annotated ``oxmeta:membrane_stimulus_current``, else a computed variable named
  ``i_stim``, ``Istim`` or ``i_stimulus`` (any case, ``_`` optional; a constant so annotated too) -- becomes the
  model's input ``i_stim`` in the file's own units, so ``vh.Pacing`` drives the imported cell like a native one: its
  documented amplitude is the one the file's own stimulus has while it is on (read by evaluating the file's
  stimulus equation), while the file's start offset and period are the protocol's business and no longer used
  (``model.file_stimulus`` gives them as ``vh.Pacing`` arguments). Its default is 0 (unpaced).
* **Observables**: the computed variables the file annotates with an ``oxmeta`` term (a cell model's currents) --
  or, in a file without such annotations, every computed variable -- other than the stimulus, under their model
  names.
* Names: a variable's name in the component that defines it, where unique; else ``<name>_<component>``.

An **implicit equation** in one unknown (an algebraic loop of one variable, such as the septal volume of Smith et al.
2004) is solved wherever it is read by Newton's method (:data:`~vhtwin.exchange.expression.NEWTON_ITERATIONS`
steps from the variable's initial value in the file, else 0; differentiable).

Refused with :class:`ModelError` before anything runs: a file libcellml reports errors for (its first message), a
model with an algebraic loop of several unknowns (variables defined only by equations solved together, or in terms
of each other -- named), an under- or over-constrained model, and imports of other files in CellML given as text.

Like an SBML import, the equations are :mod:`vhtwin.exchange.expression` trees read from libcellml's analysed
equations -- data, evaluated by a fixed set of JAX operators; nothing from the file is executed -- each import is a
class of its own, and its :meth:`~vhtwin.Model.source_hash` is the sha256 of the file's content.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .expression import Call, Expr, Num, Piecewise, Solve, Sym, evaluate, symbols
from .generated import GeneratedModel, generated_model
from .spec import ModelSpec, ordered, python_name, read_source

__all__ = ["import_cellml"]

OXMETA = "https://chaste.comlab.ox.ac.uk/cellml/ns/oxford-metadata#"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_CMETA = "http://www.cellml.org/metadata/1.0#"
_VOLTAGE_NAMES = ("V", "Vm", "V_m", "v", "E", "membrane_potential")
# (not "i_st": in sino-atrial models that is the sustained inward current, an ionic current)
_STIMULUS = re.compile(r"^i_?stim(ulus)?$", re.IGNORECASE)
_UNKNOWN = re.compile(r"The type of variable '([^']+)' in component '([^']+)' is unknown")
#: The input a stimulus current becomes.
STIMULUS_INPUT = "i_stim"


def import_cellml(source) -> GeneratedModel:
    """A vhtwin model from a CellML file (a path) or CellML text (see the module docstring).

    Parameters
    ----------
    source : str or Path
        The file, or its text (CellML 1.0, 1.1 or 2.0).

    Raises
    ------
    ModelError
        libcellml's first error, or naming the construct (an algebraic loop's variables) that cannot be imported.
    """
    try:
        import libcellml
    except ImportError:  # pragma: no cover - the extra is part of the test set-up
        raise ModelError("vh.import_cellml needs libcellml: pip install 'vhtwin[exchange]'") from None

    text, origin = read_source(source, "CellML")
    model = _parse(libcellml, text, origin, None if origin == "text" else Path(source).parent)
    analyser = libcellml.Analyser()
    analyser.analyseModel(model)
    errors = [analyser.issue(i) for i in range(analyser.issueCount())
              if analyser.issue(i).level() == libcellml.Issue.Level.ERROR]
    analysed = analyser.analyserModel()
    loops = _algebraic_loops(libcellml, analysed)
    if loops:
        raise ModelError(f"CellML {origin}: variables {loops} are defined only by equations to be solved together "
                         "(an algebraic loop of several unknowns); vhtwin solves implicit equations of one unknown")
    # variables defined in terms of each other (x = f(y), y = g(x)): libcellml cannot type them
    cyclic = sorted({f"{c}.{v}" for e in errors for v, c in _UNKNOWN.findall(e.description())})
    if cyclic:
        raise ModelError(f"CellML {origin}: variables {cyclic} cannot be computed one after another (an algebraic "
                         "loop, or a variable no equation defines); vhtwin integrates explicit ODE models")
    if errors:
        raise ModelError(f"CellML {origin}: {errors[0].description().strip()}")
    spec = _Reader(libcellml, model, analysed, _annotations(text), origin).read()
    spec.source_hash = hashlib.sha256(text.encode()).hexdigest()
    spec.source_file = None if origin == "text" else str(Path(source).resolve())
    return generated_model(spec)


def _parse(libcellml, text: str, origin: str, folder: Path | None):
    """The file's model, imports resolved and flattened."""
    strict = "http://www.cellml.org/cellml/2.0#" in text
    parser = libcellml.Parser(strict)  # not strict: CellML 1.0/1.1 read and converted to 2.0
    model = parser.parseModel(_plain_numbers(text))
    _refuse_errors(libcellml, parser, origin)
    if model.hasUnresolvedImports():
        if folder is None:
            raise ModelError(f"CellML {origin}: the model imports other files; give the file's path so that they "
                             "resolve next to it")
        importer = libcellml.Importer(strict)
        importer.resolveImports(model, str(folder) + "/")
        _refuse_errors(libcellml, importer, origin)
        if model.hasUnresolvedImports():
            raise ModelError(f"CellML {origin}: imports that do not resolve next to the file")
        model = importer.flattenModel(model)
        _refuse_errors(libcellml, importer, origin)
    return model  # validated by the analyser, which reports a validator's errors as its own


_CN_EXPONENT = re.compile(r"(<cn\b[^>]*>)\s*([-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+)\s*(</cn>)")


def _plain_numbers(text: str) -> str:
    """The text with each MathML number written with an exponent (``6.872e-3``) rewritten as the same number in
    plain decimal notation (``0.006872``, exactly: decimal arithmetic): CellML 1.x files write them so, and
    libcellml's converter rejects some of them ("a 'cn' element ... with no valid text node")."""
    from decimal import Decimal

    return _CN_EXPONENT.sub(lambda m: m.group(1) + format(Decimal(m.group(2)), "f") + m.group(3), text)


def _refuse_errors(libcellml, logger, origin: str) -> None:
    for i in range(logger.issueCount()):
        issue = logger.issue(i)
        if issue.level() == libcellml.Issue.Level.ERROR:
            raise ModelError(f"CellML {origin}: {issue.description().strip()}")


def _algebraic_loops(libcellml, analysed) -> list[str]:
    """Names (``component.variable``) of the variables of algebraic loops of more than one unknown (the analyser's
    non-linear systems; one of one unknown is solved by Newton's method instead)."""
    types = libcellml.AnalyserEquation.Type
    out = []
    for i in range(analysed.analyserEquationCount()):
        eq = analysed.analyserEquation(i)
        if eq.type() == types.NLA:
            found = _unknowns(eq)
            if len(found) > 1 or eq.nlaSiblingCount() > 0:
                out += [f"{v.variable().parent().name()}.{v.variable().name()}" for v in found]
    return sorted(set(out))


def _unknowns(eq) -> list:
    return ([eq.algebraicVariable(k) for k in range(eq.algebraicVariableCount())]
            + [eq.computedConstant(k) for k in range(eq.computedConstantCount())])


def _annotations(text: str) -> dict[str, str]:
    """``cmeta:id`` -> oxmeta term (the Chaste metadata: ``membrane_voltage``, ``membrane_stimulus_current``, ...)
    from the file's RDF; ids named like a term count as that term too (older Chaste files)."""
    from defusedxml import ElementTree

    out: dict[str, str] = {}
    try:
        root = ElementTree.fromstring(text.encode())
    except Exception:  # libcellml read it: the annotations are simply absent from what we can read
        return out
    for description in root.iter(f"{{{_RDF}}}Description"):
        about = description.get(f"{{{_RDF}}}about", "")
        if not about.startswith("#"):
            continue
        for child in description:
            resource = child.get(f"{{{_RDF}}}resource", "")
            if resource.startswith(OXMETA):
                out.setdefault(about[1:], resource[len(OXMETA):])
    return out


class _Reader:
    """The analysed model read into a :class:`ModelSpec`."""

    def __init__(self, libcellml, model, analysed, annotations: dict[str, str], origin: str):
        self.lc, self.model, self.am, self.origin = libcellml, model, analysed, origin
        self.types = libcellml.AnalyserVariable.Type
        self.voi = analysed.voi()
        # every variable of the model by its analyser variable (equivalent variables share one)
        self.terms: dict[int, str] = {}  # analyser variable key -> oxmeta term
        for component in _components(model):
            for j in range(component.variableCount()):
                variable = component.variable(j)
                term = annotations.get(variable.id()) or (variable.id() if variable.id().startswith("membrane_")
                                                           else None)
                found = analysed.analyserVariable(variable) if term else None
                if found is not None:
                    self.terms.setdefault(self.key(found), term)

    def key(self, av) -> tuple:
        return (int(av.type()), av.index())

    def fail(self, what: str) -> ModelError:
        return ModelError(f"CellML {self.origin}: {what}")

    # -- the pieces ----------------------------------------------------------------------------------------------

    def read(self) -> ModelSpec:
        am, T = self.am, self.types
        if self.voi is None:
            raise self.fail("the model has no variable of integration (no differential equation)")
        states = [am.state(i) for i in range(am.stateCount())]
        constants = [am.constant(i) for i in range(am.constantCount())]
        computed = [am.computedConstant(i) for i in range(am.computedConstantCount())]
        algebraic = [am.algebraicVariable(i) for i in range(am.algebraicVariableCount())]
        voltage = self._voltage(states)
        stimulus = self._stimulus(algebraic, constants)
        self.names = self._names(states + constants + computed + algebraic, voltage, stimulus)
        self.names[self.key(self.voi)] = "time"
        self.rates: dict[str, str] = {}  # state -> the name of its derivative, where an equation reads it

        spec = ModelSpec(name=self._model_name(), time_unit=self._time_unit(), stiff=True,
                         reference=f"CellML model {self.model.name()} ({self.origin})")
        for av in constants:
            if stimulus is not None and self.key(av) == self.key(stimulus):
                continue  # a constant stimulus current (the file leaves the protocol to its simulator): the input
            value = _number(av.variable().initialValue())
            if value is None:
                raise self.fail(f"constant {self._where(av)} has no numeric value")
            spec.parameters.append((self.name(av), value, self.unit(av), self._describe(av)))
        defined = {}
        for i in range(am.analyserEquationCount()):
            eq = am.analyserEquation(i)
            ast = eq.ast()
            left, right = ast.leftChild(), ast.rightChild()
            if eq.type() == self.lc.AnalyserEquation.Type.NLA:  # an implicit equation in one unknown
                (target,) = _unknowns(eq)
                guess = _number(target.variable().initialValue())
                expr = Solve(self.name(target), Call("minus", (self.expr(left), self.expr(right))),
                             Num(guess if guess is not None else 0.0))
                defined[self.key(target)] = (target, expr)
                continue
            expr = self.expr(right)
            if left.type() == self.lc.AnalyserEquationAst.Type.DIFF:
                target = am.analyserVariable(left.rightChild().variable())
                spec.derivatives[self.name(target)] = expr
            else:
                target = am.analyserVariable(left.variable())
                defined[self.key(target)] = (target, expr)
        stimulus_expr = None
        for key, (av, expr) in defined.items():
            if stimulus is not None and key == self.key(stimulus):
                stimulus_expr = expr
            elif av.type() in (T.COMPUTED_CONSTANT, T.CONSTANT):
                spec.constants.append((self.name(av), expr))
            else:
                spec.assignments.append((self.name(av), expr))
        self._states(spec, states)
        for state, rate in self.rates.items():  # a derivative read by another equation: computed once, by name
            spec.assignments.append((rate, spec.derivatives[state]))
            spec.derivatives[state] = Sym(rate)
        cycle = lambda names: self.fail(f"variables {names} depend on each other in a cycle")  # noqa: E731
        spec.constants = ordered(spec.constants, cycle)
        spec.assignments = ordered(spec.assignments, cycle)
        if stimulus is not None:  # (its amplitude is evaluated through the ordered assignments)
            self._stimulus_input(spec, stimulus, stimulus_expr)
        # the annotated variables where the file annotates (a cell model's currents: a few of its hundreds of
        # variables), else all of them (a small model without annotations)
        annotated = any(self.key(av) in self.terms for av in algebraic)
        observed = [av for av in algebraic if (self.key(av) in self.terms or not annotated)
                    and (stimulus is None or self.key(av) != self.key(stimulus))]
        spec.observables = [(self.name(av), self.unit(av), Sym(self.name(av)), self._describe(av)) for av in observed]
        _prune(spec)
        return spec

    def _states(self, spec: ModelSpec, states) -> None:
        """The states with the file's initial values (or the variable that initialises one)."""
        am, T = self.am, self.types
        for av in states:
            value = _number(av.variable().initialValue())
            name = self.name(av)
            if value is None:
                source = av.initialisingVariable()
                other = am.analyserVariable(source) if source is not None else None
                if other is None or other.type() not in (T.CONSTANT, T.COMPUTED_CONSTANT):
                    raise self.fail(f"state {self._where(av)} has no initial value")
                spec.initial.append((name, Sym(self.name(other))))
                value = 0.0
            if name not in spec.derivatives:
                raise self.fail(f"state {self._where(av)} has no differential equation")
            spec.states.append((name, self.unit(av), value, False, self._describe(av)))
        if spec.initial:  # the other states keep their values
            spec.initial += [(n, Num(v)) for n, _, v, *_ in spec.states if n not in dict(spec.initial)]

    def _stimulus_input(self, spec: ModelSpec, stimulus, stimulus_expr) -> None:
        """The stimulus current as the input ``i_stim``, documented with the file's amplitude, and the file's own
        protocol (``spec.stimulus``) where the file annotates its timing."""
        if stimulus_expr is None:  # a constant: the annotated amplitude (in its units), else its value
            amplitude = self._annotated("membrane_stimulus_current_amplitude", stimulus.variable().units())
            amplitude = _number(stimulus.variable().initialValue()) if amplitude is None else amplitude
        else:
            amplitude = self._amplitude(spec, stimulus_expr)
        timing = {k: self._annotated(f"membrane_stimulus_current_{k}") for k in ("period", "duration")}
        timing["start"] = self._annotated("membrane_stimulus_current_offset") or 0.0
        if amplitude is not None and all(v is not None and v >= 0 for v in timing.values()) \
                and 0 < timing["duration"] <= timing["period"]:
            spec.stimulus = dict(timing, amplitude=amplitude)
        constant = " (a constant there)" if stimulus_expr is None else ""
        spec.inputs.append((STIMULUS_INPUT, self.unit(stimulus), 0.0, amplitude,
                            f"stimulus current (the file's {self._where(stimulus)}{constant}); its amplitude "
                            + (f"{amplitude:g}" if amplitude is not None else "not given")))

    def _voltage(self, states):
        for av in states:
            if self.terms.get(self.key(av)) == "membrane_voltage":
                return av
        for name in _VOLTAGE_NAMES:
            for av in states:
                if av.variable().name() == name and self._is_voltage(av):
                    return av
        return None

    def _is_voltage(self, av) -> bool:
        volt = self.lc.Units("volt")
        try:
            return self.lc.Units.compatible(av.variable().units(), volt)
        except Exception:
            return False

    def _stimulus(self, algebraic, constants):
        for av in algebraic + constants:
            if self.terms.get(self.key(av)) == "membrane_stimulus_current":
                return av
        for av in algebraic:
            if _STIMULUS.match(av.variable().name()):
                return av
        return None

    def _names(self, variables, voltage, stimulus) -> dict:
        counts: dict[str, int] = {}
        for av in variables:
            counts[av.variable().name()] = counts.get(av.variable().name(), 0) + 1
        taken = {"time", STIMULUS_INPUT}
        names = {}
        if voltage is not None:
            names[self.key(voltage)] = "V"
            taken.add("V")
        if stimulus is not None:
            names[self.key(stimulus)] = STIMULUS_INPUT
        for av in variables:
            if self.key(av) in names:
                continue
            name = av.variable().name()
            if counts[name] > 1 or name in taken:
                name = f"{name}_{av.variable().parent().name()}"
            names[self.key(av)] = python_name(name, taken, prefix="cellml_")
        self.taken = taken
        return names

    def name(self, av) -> str:
        return self.names[self.key(av)]

    def _where(self, av) -> str:
        return f"{av.variable().parent().name()}.{av.variable().name()}"

    def _describe(self, av) -> str:
        term = self.terms.get(self.key(av))
        return f"CellML {self._where(av)}" + (f" (oxmeta:{term})" if term else "")

    def _model_name(self) -> str:
        return re.sub(r"\W", "_", self.model.name() or "cellml_model")

    def _time_unit(self) -> str:
        from ..units import TIME_UNITS

        units = self.voi.variable().units()
        try:
            factor = self.lc.Units.scalingFactor(units, self.lc.Units("second"))
        except Exception:
            factor = math.nan
        for name, seconds in TIME_UNITS.items():
            if factor and math.isclose(1.0 / factor, seconds, rel_tol=1e-12):
                return name
        raise self.fail(f"the variable of integration {self._where(self.voi)} is in {units.name()!r}, not a time "
                        f"unit vhtwin knows ({sorted(TIME_UNITS)})")

    def unit(self, av) -> str:
        return _udunits(self.lc, self.model, av.variable().units())

    def _amplitude(self, spec: ModelSpec, expr: Expr) -> float | None:
        """The file's stimulus current while it is on: its equation evaluated (with the model's initial state and
        parameters) on a fine grid of one cycle, the largest value in magnitude; None if it is never on there."""
        ms = {"ms": 1.0, "s": 1e-3, "min": 1.0 / 60e3, "h": 1.0 / 3.6e6, "d": 1.0 / 8.64e7}[spec.time_unit]
        start, duration, period = (self._annotated(f"membrane_stimulus_current_{t}")
                                   for t in ("offset", "duration", "period"))
        times = [start + duration / 2] if start is not None and duration is not None else []
        step = (duration / 4) if duration else 0.01 * ms
        horizon = (start or 0.0) + (period or 1000.0 * ms) * 1.5
        times = np.concatenate([times, np.arange(0.0, horizon, step)[:2_000_000]])
        env = {"time": times}
        env.update({name: value for name, value, *_ in spec.parameters})
        env.update({name: value for name, _, value, *_ in spec.states})
        needed = _closure(symbols(expr), dict(spec.assignments) | dict(spec.constants))
        for name, e in spec.constants + spec.assignments:
            if name in needed:
                env[name] = evaluate(e, env)
        values = np.broadcast_to(np.asarray(evaluate(expr, env), dtype=float), times.shape)
        values = values[np.isfinite(values)]
        if not values.size or not np.any(values != 0):
            return None
        return float(values[np.argmax(np.abs(values))])

    def _annotated(self, term: str, units=None) -> float | None:
        """The value of the constant annotated with ``term``, in ``units`` (default: the model's time unit)."""
        for i in range(self.am.constantCount()):
            av = self.am.constant(i)
            if self.terms.get(self.key(av)) == term:
                value = _number(av.variable().initialValue())
                try:
                    factor = self.lc.Units.scalingFactor(av.variable().units(),
                                                         units if units is not None else self.voi.variable().units())
                except Exception:
                    return None
                return None if value is None or not factor else value / factor
        return None

    # -- equations -----------------------------------------------------------------------------------------------

    def expr(self, ast) -> Expr:
        A = self.lc.AnalyserEquationAst.Type
        t = ast.type()
        left, right = ast.leftChild(), ast.rightChild()
        if t == A.CN:
            return Num(float(ast.value()))
        if t == A.CI:
            av = self.am.analyserVariable(ast.variable())
            if av is None:
                raise self.fail(f"an equation reads {ast.variable().name()}, which the analyser does not know")
            return Sym(self.name(av))
        constants = {A.E: math.e, A.PI: math.pi, A.INF: math.inf, A.NAN: math.nan, A.TRUE: 1.0, A.FALSE: 0.0}
        if t in constants:
            return Num(constants[t])
        if t == A.PIECEWISE or t == A.PIECE or t == A.OTHERWISE:
            pieces, otherwise = [], None
            for node in _piecewise_parts(A, ast):
                if node.type() == A.PIECE:
                    pieces.append((self.expr(node.leftChild()), self.expr(node.rightChild())))
                else:
                    otherwise = self.expr(node.leftChild())
            return Piecewise(tuple(pieces), otherwise)
        if t == A.DIFF:  # a state's derivative read on a right-hand side
            state = self.name(self.am.analyserVariable(right.variable()))
            if state not in self.rates:
                self.rates[state] = python_name(f"d{state}_dt", self.taken, prefix="cellml_")
            return Sym(self.rates[state])
        if t == A.ROOT:  # left: the degree (when given), right: the argument
            if right is None:
                return Call("sqrt", (self.expr(left),))
            return Call("root", (self.expr(left.leftChild()), self.expr(right)))
        if t == A.LOG:  # left: the base (when given), right: the argument
            if right is None:
                return Call("log10", (self.expr(left),))
            return Call("log", (self.expr(left.leftChild()), self.expr(right)))
        op = _OPS.get(_type_name(A, t))
        if op is None:
            raise self.fail(f"the MathML operator {_type_name(A, t).lower()} is not supported")
        args = tuple(self.expr(x) for x in (left, right) if x is not None)
        if op == "plus" and len(args) == 1:
            return args[0]
        return Call(op, args)


_OPS = {"EQ": "eq", "NEQ": "neq", "LT": "lt", "LEQ": "leq", "GT": "gt", "GEQ": "geq", "AND": "and", "OR": "or",
        "XOR": "xor", "NOT": "not", "PLUS": "plus", "MINUS": "minus", "TIMES": "times", "DIVIDE": "divide",
        "POWER": "power", "ABS": "abs", "EXP": "exp", "LN": "ln", "CEILING": "ceiling", "FLOOR": "floor",
        "MIN": "min", "MAX": "max", "REM": "rem", "SIN": "sin", "COS": "cos", "TAN": "tan", "SEC": "sec",
        "CSC": "csc", "COT": "cot", "SINH": "sinh", "COSH": "cosh", "TANH": "tanh", "SECH": "sech", "CSCH": "csch",
        "COTH": "coth", "ASIN": "arcsin", "ACOS": "arccos", "ATAN": "arctan", "ASEC": "arcsec", "ACSC": "arccsc",
        "ACOT": "arccot", "ASINH": "arcsinh", "ACOSH": "arccosh", "ATANH": "arctanh", "ASECH": "arcsech",
        "ACSCH": "arccsch", "ACOTH": "arccoth"}


def _type_name(A, t) -> str:
    for name in dir(A):
        if not name.startswith("_") and getattr(A, name) == t:
            return name
    return str(t)


def _piecewise_parts(A, ast):
    """The pieces and the otherwise of a PIECEWISE node (libcellml nests further pieces in its right child)."""
    stack, out = [ast], []
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if node.type() == A.PIECEWISE:
            stack.extend([node.rightChild(), node.leftChild()])
        else:
            out.append(node)
    return out


def _components(model):
    stack = [model.component(i) for i in range(model.componentCount())]
    while stack:
        component = stack.pop()
        yield component
        stack.extend(component.component(i) for i in range(component.componentCount()))


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _closure(names: set[str], definitions: dict) -> set[str]:
    out, stack = set(), list(names)
    while stack:
        name = stack.pop()
        if name in out or name not in definitions:
            continue
        out.add(name)
        stack.extend(symbols(definitions[name]))
    return out


def _prune(spec: ModelSpec) -> None:
    """Drop what nothing reads any more (the stimulus protocol's constants once the stimulus is an input)."""
    definitions = dict(spec.assignments) | dict(spec.constants)
    roots = set()
    for expr in list(spec.derivatives.values()) + [e for *_, e, _ in spec.observables] + [e for _, e in spec.initial]:
        roots |= symbols(expr)
    used = _closure(roots, definitions) | roots
    for name in list(used):
        if name in definitions:
            used |= symbols(definitions[name])
    spec.assignments = [(n, e) for n, e in spec.assignments if n in used]
    spec.constants = [(n, e) for n, e in spec.constants if n in used]
    spec.parameters = [p for p in spec.parameters if p[0] in used]


_SI = {"second": "s", "metre": "m", "meter": "m", "gram": "g", "kilogram": "kg", "ampere": "A", "kelvin": "K",
       "mole": "mol", "litre": "L", "liter": "L", "volt": "V", "farad": "F", "siemens": "S", "coulomb": "C",
       "joule": "J", "watt": "W", "newton": "N", "pascal": "Pa", "ohm": "ohm", "hertz": "Hz", "katal": "kat",
       "dimensionless": "1", "becquerel": "Bq", "gray": "Gy", "sievert": "Sv", "henry": "H", "tesla": "T",
       "weber": "Wb", "lux": "lx", "lumen": "lm", "candela": "cd", "steradian": "sr", "radian": "rad",
       "celsius": "degC"}
_PREFIXES = {"yotta": "Y", "zetta": "Z", "exa": "E", "peta": "P", "tera": "T", "giga": "G", "mega": "M",
             "kilo": "k", "hecto": "h", "deca": "da", "deci": "d", "centi": "c", "milli": "m", "micro": "u",
             "nano": "n", "pico": "p", "femto": "f", "atto": "a", "zepto": "z", "yocto": "y", "": "",
             "24": "Y", "21": "Z", "18": "E", "15": "P", "12": "T", "9": "G", "6": "M", "3": "k", "2": "h",
             "1": "da", "-1": "d", "-2": "c", "-3": "m", "-6": "u", "-9": "n", "-12": "p", "-15": "f", "-18": "a",
             "0": ""}


def _udunits(libcellml, model, units, depth: int = 0) -> str:
    """A CellML units definition in UDUNITS spelling (``mV``, ``mmol L-1``, ``uA uF-1``); the CellML name itself
    where it cannot be spelled (a multiplier, an offset)."""
    name = units.name() if units is not None else "dimensionless"
    if name in _SI:
        return _SI[name]
    definition = model.units(name) if model.units(name) is not None else units
    if depth > 8 or definition is None or definition.unitCount() == 0:
        return re.sub(r"[^A-Za-z0-9_]", "_", name) or "1"
    parts = []
    for i in range(definition.unitCount()):
        reference, prefix, exponent, multiplier, _ = definition.unitAttributes(i)
        if float(multiplier) != 1.0 or str(prefix) not in _PREFIXES:
            return re.sub(r"[^A-Za-z0-9_]", "_", name)
        if reference in _SI:
            base = _SI[reference]
            if base == "1":
                continue
            symbol = _PREFIXES[str(prefix)] + base
        else:
            inner = model.units(reference)
            if inner is None or prefix not in ("", "0"):
                return re.sub(r"[^A-Za-z0-9_]", "_", name)
            symbol = _udunits(libcellml, model, inner, depth + 1)
            if symbol == "1":
                continue
            if " " in symbol or re.search(r"-?\d$", symbol):
                if float(exponent) != 1.0:
                    return re.sub(r"[^A-Za-z0-9_]", "_", name)
                parts.append(symbol)
                continue
        e = float(exponent)
        parts.append(symbol if e == 1.0 else f"{symbol}{int(e) if e.is_integer() else e:g}")
    return " ".join(parts) or "1"
