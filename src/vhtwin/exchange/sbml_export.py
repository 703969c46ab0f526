"""SBML out: a vhtwin model that SBML can express (compartmental PK, PD, PBPK) as an SBML Level 3 Version 2 file.

``export_sbml(model, path)`` reads the model's equations by tracing them (``jax.make_jaxpr`` on scalars: nothing is
parsed from source) and writes them as SBML:

* each state is a species (``hasOnlySubstanceUnits``: its id means the amount, as in vhtwin) in a compartment of
  size 1, changed by a rate rule -- its derivative as the model computes it;
* each parameter is a constant parameter with its default value; each observable a parameter computed by an
  assignment rule; parameter-dependent initial values (``Model.initial``) are initial assignments;
* the time unit is the model's; declared units are written as unit definitions where vhtwin can spell them in SBML
  (mass, volume, amount, time and their products), else left out (SBML units are optional).

Imported again with :func:`vhtwin.import_sbml`, the file gives the same states, parameters and outputs under the
same names and the same trajectories (tested). What SBML cannot hold is refused with :class:`ModelError` naming it:
inputs (a stimulus current) and state-triggered events are not exported yet, nor an operation outside the set below.
Doses are not part of a model in vhtwin or SBML: a protocol stays with the simulation.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import InputError, ModelError
from ..model import Model, Names
from .expression import Call, Expr, Num, Piecewise, Sym

#: jaxpr primitives and the expression operator each becomes (same arity).
_PRIMITIVES = {
    "add": "plus", "sub": "minus", "mul": "times", "div": "divide", "neg": "minus", "exp": "exp", "log": "ln",
    "pow": "power", "sqrt": "sqrt", "abs": "abs", "max": "max", "min": "min", "sin": "sin", "cos": "cos",
    "tan": "tan", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "atan": "arctan", "asin": "arcsin",
    "acos": "arccos", "floor": "floor", "ceil": "ceiling", "gt": "gt", "lt": "lt", "ge": "geq", "le": "leq",
    "eq": "eq", "ne": "neq", "and": "and", "or": "or", "not": "not",
}
#: Primitives that pass their one argument on unchanged (casts, reshapes of scalars).
_IDENTITY = {"convert_element_type", "broadcast_in_dim", "reshape", "squeeze", "copy", "copy_p", "stop_gradient",
             "reduce_precision"}

_TIME_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def export_sbml(model: Model, path=None, *, overwrite: bool = False) -> str:
    """The SBML Level 3 Version 2 text of ``model`` (see the module docstring), written to ``path`` if given.

    Raises
    ------
    ModelError
        Naming what SBML cannot express (inputs, events, an operation outside the supported set).
    InputError
        If ``path`` exists and ``overwrite`` is false.
    """
    import libsbml

    if model.inputs:
        raise ModelError(f"export_sbml: model {model.name} has inputs {list(model.input_names)} (a protocol signal); "
                         "SBML export of inputs is not supported")
    if model.events:
        raise ModelError(f"export_sbml: model {model.name} has state-triggered events; their export is not "
                         "supported yet")
    if path is not None and Path(path).exists() and not overwrite:
        raise InputError(f"export_sbml: {str(path)!r} exists; pass overwrite=True to replace it")
    derivatives, outputs, initial = _traced(model)

    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId(_sid(model.name))
    m.setName(str(model.name))
    time_unit = _unit_definition(m, model.time_unit)
    if time_unit:
        m.setTimeUnits(time_unit)
    c = m.createCompartment()
    taken = set(model.state_names) | set(model.parameter_names) | set(model.observable_names)
    compartment = next(name for name in ("compartment", "compartment_", "compartment__", "body_compartment")
                       if name not in taken)
    c.setId(compartment)
    c.setSize(1.0)
    c.setConstant(True)
    c.setSpatialDimensions(3.0)
    for s in model.states:
        sp = m.createSpecies()
        sp.setId(s.name)
        sp.setCompartment(compartment)
        sp.setInitialAmount(float(s.initial))
        sp.setHasOnlySubstanceUnits(True)
        sp.setBoundaryCondition(False)
        sp.setConstant(False)
        unit = _unit_definition(m, s.unit)
        if unit:
            sp.setSubstanceUnits(unit)
        rule = m.createRateRule()
        rule.setVariable(s.name)
        rule.setMath(_math(derivatives[s.name], f"the derivative of {s.name}"))
    for q in model.parameters:
        par = m.createParameter()
        par.setId(q.name)
        par.setValue(float(q.default))
        par.setConstant(True)
        unit = _unit_definition(m, q.unit)
        if unit:
            par.setUnits(unit)
    for o in model.observed:
        par = m.createParameter()
        par.setId(o.name)
        par.setConstant(False)
        unit = _unit_definition(m, o.unit)
        if unit:
            par.setUnits(unit)
        rule = m.createAssignmentRule()
        rule.setVariable(o.name)
        rule.setMath(_math(outputs[o.name], f"the output {o.name}"))
    for name, expr in initial.items():
        ia = m.createInitialAssignment()
        ia.setSymbol(name)
        ia.setMath(_math(expr, f"the initial value of {name}"))
    text = libsbml.writeSBMLToString(doc)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    return text


def _traced(model: Model):
    """The model's derivatives, outputs and parameter-dependent initial values as expression trees."""
    import jax

    from ..equations import equations

    eq = equations(model)
    states, params = model.state_names, model.parameter_names
    n = len(states)
    args = [Sym("time")] + [Sym(s) for s in states] + [Sym(q) for q in params]
    values = [0.0] + [float(s.initial) for s in model.states] + [float(q.default) for q in model.parameters]

    def view(flat):
        return Names(eq.state_index, flat[1:n + 1], "state"), Names(eq.parameter_index, flat[n + 1:], "parameter")

    def rhs(*flat):
        y, p = view(flat)
        out = model.rhs(flat[0], y, p)
        return tuple(out[s] for s in states)

    def observe(*flat):
        y, p = view(flat)
        out = model.observables(flat[0], y, p) if model.observed else {}
        return tuple(out[o] for o in model.observable_names)

    derivatives = dict(zip(states, _expressions(jax.make_jaxpr(rhs)(*values), args)))
    outputs = dict(zip(model.observable_names, _expressions(jax.make_jaxpr(observe)(*values), args)))
    initial = {}
    if model.has_initial:
        p_shapes = [jax.ShapeDtypeStruct((), "float32") for _ in params]
        keys = tuple(jax.eval_shape(lambda *p: dict(model.initial(Names(eq.parameter_index, p, "parameter"))),
                                    *p_shapes))
        start = lambda *p: tuple(model.initial(Names(eq.parameter_index, p, "parameter"))[k] for k in keys)
        initial = dict(zip(keys, _expressions(jax.make_jaxpr(start)(*values[n + 1:]), args[n + 1:])))
    return derivatives, outputs, initial


def _expressions(closed, args: list[Expr]) -> list[Expr]:
    """The outputs of a traced scalar function as expression trees over ``args`` (its inputs in order)."""
    jaxpr = closed.jaxpr
    env = {}
    for var, value in zip(jaxpr.constvars, closed.consts):
        env[var] = Num(float(value))
    for var, arg in zip(jaxpr.invars, args):
        env[var] = arg
    return _walk(jaxpr, env)


def _walk(jaxpr, env) -> list[Expr]:
    from jax.extend.core import Literal

    read = lambda v: Num(float(v.val)) if isinstance(v, Literal) else env[v]
    for e in jaxpr.eqns:
        name = e.primitive.name
        ins = [read(v) for v in e.invars]
        if any(getattr(v.aval, "shape", ()) != () for v in e.outvars):
            raise ModelError(f"export_sbml: the equations use arrays ({name}); SBML export needs scalar equations")
        if name in _IDENTITY:
            out = [ins[0]]
        elif name in ("pjit", "jit", "closed_call", "custom_jvp_call", "custom_vjp_call", "remat"):
            inner = e.params.get("jaxpr") or e.params.get("call_jaxpr") or e.params.get("fun_jaxpr")
            inner_jaxpr = getattr(inner, "jaxpr", inner)
            consts = getattr(inner, "consts", [])
            sub = {v: Num(float(c)) for v, c in zip(inner_jaxpr.constvars, consts)}
            sub.update(zip(inner_jaxpr.invars, ins))
            out = _walk(inner_jaxpr, sub)
        elif name == "integer_pow":
            out = [Call("power", (ins[0], Num(float(e.params["y"]))))]
        elif name == "square":
            out = [Call("power", (ins[0], Num(2.0)))]
        elif name == "rsqrt":
            out = [Call("divide", (Num(1.0), Call("sqrt", (ins[0],))))]
        elif name == "log1p":
            out = [Call("ln", (Call("plus", (Num(1.0), ins[0])),))]
        elif name == "expm1":
            out = [Call("minus", (Call("exp", (ins[0],)), Num(1.0)))]
        elif name == "select_n":  # select_n(which, case0, case1): case1 where which is true
            out = [Piecewise(((ins[2], ins[0]),), ins[1])] if len(ins) == 3 else None
            if out is None:
                raise ModelError("export_sbml: a choice among more than two cases is not supported")
        elif name in _PRIMITIVES:
            out = [Call(_PRIMITIVES[name], tuple(ins))]
        else:
            raise ModelError(f"export_sbml: the operation {name!r} has no SBML form in vhtwin's export")
        for var, value in zip(e.outvars, out):
            env[var] = value
    return [read(v) for v in jaxpr.outvars]


_INFIX = {"plus": "+", "minus": "-", "times": "*", "divide": "/", "gt": ">", "lt": "<", "geq": ">=", "leq": "<=",
          "eq": "==", "neq": "!=", "and": "&&", "or": "||"}
_FUNCTIONS = {"power": "pow", "ln": "ln", "exp": "exp", "sqrt": "sqrt", "abs": "abs", "max": "max", "min": "min",
              "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh", "sinh": "sinh", "cosh": "cosh",
              "arctan": "arctan", "arcsin": "arcsin", "arccos": "arccos", "floor": "floor", "ceiling": "ceiling",
              "not": "not"}


def _formula(x: Expr) -> str:
    """An expression tree in SBML Level 3 infix syntax (fully parenthesised)."""
    if isinstance(x, Num):
        if math.isnan(x.value):
            return "NaN"
        if math.isinf(x.value):
            return "INF" if x.value > 0 else "(-INF)"
        return repr(float(x.value)) if x.value >= 0 else f"({float(x.value)!r})"
    if isinstance(x, Sym):
        return x.name
    if isinstance(x, Piecewise):
        parts = [f"{_formula(v)}, {_formula(c)}" for v, c in x.pieces]
        return f"piecewise({', '.join(parts)}{', ' + _formula(x.otherwise) if x.otherwise is not None else ''})"
    if x.op == "minus" and len(x.args) == 1:
        return f"(-{_formula(x.args[0])})"
    if x.op in _INFIX:
        return "(" + f" {_INFIX[x.op]} ".join(_formula(a) for a in x.args) + ")"
    return f"{_FUNCTIONS[x.op]}({', '.join(_formula(a) for a in x.args)})"


def _math(expr: Expr, what: str):
    import libsbml

    settings = libsbml.L3ParserSettings()
    settings.setParseLog(libsbml.L3P_PARSE_LOG_AS_LN)
    ast = libsbml.parseL3FormulaWithSettings(_formula(expr), settings)
    if ast is None:
        raise ModelError(f"export_sbml: {what} could not be written as SBML: {libsbml.getLastParseL3Error()}")
    return ast


def _sid(name: str) -> str:
    text = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(name)) or "model"
    return text if text[0].isalpha() or text[0] == "_" else f"m_{text}"


_BASE = {"g": ("gram", 0), "mg": ("gram", -3), "ug": ("gram", -6), "ng": ("gram", -9), "kg": ("gram", 3),
         "L": ("litre", 0), "mL": ("litre", -3), "uL": ("litre", -6), "dL": ("litre", -1),
         "mol": ("mole", 0), "mmol": ("mole", -3), "umol": ("mole", -6), "nmol": ("mole", -9),
         "pmol": ("mole", -12), "1": None}


def _unit_definition(m, unit: str) -> str | None:
    """An SBML unit definition for a UDUNITS string of products of known units with integer powers (``mg L-1``,
    ``L h-1``), added to ``m`` once; None where vhtwin cannot spell it (the unit is then left out)."""
    import libsbml

    text = str(unit).strip()
    if not text or text in ("unknown",):
        return None
    uid = "u_" + "".join(ch if ch.isalnum() else "_" for ch in text).replace("__", "_")
    if m.getUnitDefinition(uid) is not None:
        return uid
    parts = []
    for token in text.replace(".", " ").split():
        base = token.rstrip("-0123456789")
        power = token[len(base):] or "1"
        try:
            exponent = int(power)
        except ValueError:
            return None
        if base in _TIME_UNITS:
            parts.append(("second", 0, _TIME_UNITS[base], exponent))
        elif base in _BASE:
            if _BASE[base] is None:
                continue
            kind, scale = _BASE[base]
            parts.append((kind, scale, 1.0, exponent))
        else:
            return None
    ud = m.createUnitDefinition()
    ud.setId(uid)
    if not parts:
        parts = [("dimensionless", 0, 1.0, 1)]
    for kind, scale, multiplier, exponent in parts:
        u = ud.createUnit()
        u.setKind(libsbml.UnitKind_forName(kind))
        u.setScale(scale)
        u.setMultiplier(multiplier)
        u.setExponent(exponent)
    return uid
