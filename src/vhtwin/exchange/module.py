"""An imported model as a readable Python module (``vhtwin import``): a :class:`vhtwin.Model` subclass a modeller can
review, edit and keep under version control like a hand-written one.

The module holds the declarations (states, parameters, observables with units and descriptions) and one method,
``quantities(t, y, p)``, that computes every named quantity in the order the equations need them -- parameters,
constants, amounts, rules, reaction rates -- then the derivatives (``rates``) and the outputs (``outputs``); ``rhs``
and ``observables`` return those. Its equations are printed from the same expression trees
:func:`vhtwin.exchange.import_sbml` evaluates, so the module and the imported model compute the same numbers (tested).
"""

from __future__ import annotations

import keyword
import re

from .expression import to_python

#: Names a module's own code uses: a model quantity so named gets a trailing underscore in the module.
RESERVED = frozenset({"jnp", "operator", "solve", "x", "self", "t", "y", "p", "q", "rates", "outputs", "values",
                      "Model", "State", "Parameter", "Observable", "Event", "SimpleNamespace", "range", "name"})


def module_source(model, origin: str = "") -> str:
    """The Python source of a model module for an imported model (:func:`vhtwin.exchange.import_sbml`,
    :func:`vhtwin.exchange.import_cellml`)."""
    spec = model.spec
    # text from the file (its name, its title) goes into docstrings only as plain words: it cannot end the string
    prose = lambda text: " ".join(re.sub(r"[^\w .,;:()/+-]", " ", str(text)).split())
    local = lambda s: "t" if s == "time" else (s + "_" if s in RESERVED or keyword.iskeyword(s) else s)
    cls = re.sub(r"\W", "_", spec.name)
    cls = cls[0].upper() + cls[1:] if cls and cls[0].isalpha() else f"Imported_{cls}"
    lines = [f'"""{prose(spec.name)}: imported by ``vhtwin import``{f" from {prose(origin)}" if origin else ""}.',
             "",
             f"Source sha256: {spec.source_hash}. {prose(spec.reference)}".rstrip(),
             "This module is a vhtwin model like a hand-written one: edit it freely.",
             '"""',
             "",
             "from types import SimpleNamespace",
             "",
             "import jax.numpy as jnp",
             "",
             "from vhtwin import Event, Input, Model, Observable, Parameter, State  # noqa: F401",
             "from vhtwin.exchange.expression import operator, solve  # noqa: F401  (rarer MathML operators, "
             "implicit equations)",
             "",
             "",
             f"class {cls}(Model):",
             f'    """{prose(spec.reference or spec.name)} (time in {spec.time_unit})."""',
             "",
             f"    time_unit = {spec.time_unit!r}",
             f"    name = {spec.name!r}",
             "    states = ("]
    for name, unit, initial, dosable, description in spec.states:
        value = 0.0 if initial is None or initial != initial else float(initial)  # NaN: set by initial()
        lines.append(f"        State({name!r}, {unit!r}, {value!r}, dosable={dosable}, description={description!r}),")
    lines += ["    )", "    parameters = ("]
    for name, value, unit, description in spec.parameters:
        lines.append(f"        Parameter({name!r}, {float(value)!r}, {unit!r}, description={description!r}),")
    lines += ["    )", "    observed = ("]
    for name, unit, _, description in spec.observables:
        lines.append(f"        Observable({name!r}, {unit!r}, {description!r}),")
    lines.append("    )")
    if spec.stiff:
        lines.append("    stiff = True")
    if spec.inputs:
        lines.append("    inputs = (")
        for name, unit, default, stimulus, description in spec.inputs:
            lines.append(f"        Input({name!r}, {unit!r}, {float(default)!r}, description={prose(description)!r}, "
                         f"stimulus={stimulus!r}),")
        lines.append("    )")
    if spec.events:
        lines.append("    events = (")
        for e in spec.events:
            lines.append(f"        Event({e['name']!r}, delayed={e['delay'] is not None}, "
                         f"persistent={e['persistent']}, initial_value={e['initial_value']}, "
                         f"values_at_trigger={e['values_at_trigger']}, description={prose(e['description'])!r}),")
        lines.append("    )")
    lines += ["",
              "    def quantities(self, t, y, p, u=None):",
              '        """Every named quantity at time t, in the order the equations need them (inputs: their defaults '
              'without u)."""']
    for name, *_ in spec.parameters:
        lines.append(f"        {local(name)} = p.{name}")
    for name, _, default, *_ in spec.inputs:
        lines.append(f"        {local(name)} = {float(default)!r} if u is None else u.{name}")
    if spec.constants:
        lines.append("        # constants set by initial assignments (read at time 0)")
        for name, expr in spec.constants:
            lines.append(f"        {local(name)} = {to_python(expr, lambda s: '0.0' if s == 'time' else local(s))}")
    for name, *_ in spec.states:
        lines.append(f"        {local(name)} = y.{name}")
    for name, expr in spec.assignments:
        lines.append(f"        {local(name)} = {to_python(expr, local)}")
    lines.append("        rates = {")
    for name, *_ in spec.states:
        lines.append(f"            {name!r}: {to_python(spec.derivatives[name], local)},")
    lines.append("        }")
    lines.append("        outputs = {")
    for name, _, expr, _ in spec.observables:
        lines.append(f"            {name!r}: {to_python(expr, local)},")
    lines += ["        }", "        return locals()", "",
              "    def rhs(self, t, y, p, u):" if spec.inputs else "    def rhs(self, t, y, p):",
              f'        return self.quantities(t, y, p{", u" if spec.inputs else ""})["rates"]', "",
              "    def observables(self, t, y, p):",
              '        return self.quantities(t, y, p)["outputs"]']
    if spec.events:
        read = lambda expr: to_python(expr, lambda s: f"q[{local(s)!r}]")
        lines += ["", "    def event_triggers(self, t, y, p):",
                  '        """Each event\'s trigger: +1 where its condition holds, -1 where not."""',
                  "        q = self.quantities(t, y, p)",
                  "        return {"]
        lines += [f"            {e['name']!r}: {read(e['trigger'])}," for e in spec.events]
        lines += ["        }", "", "    def event_priorities(self, t, y, p):",
                  "        q = self.quantities(t, y, p)",
                  "        return {" + ", ".join(f"{e['name']!r}: {read(e['priority'])}" for e in spec.events) + "}"]
        lines += ["", "    def event_assignments(self, name, t, y, p):",
                  "        q = self.quantities(t, y, p)"]
        for e in spec.events:
            lines.append(f"        if name == {e['name']!r}:")
            lines.append("            return {" + ", ".join(f"{state!r}: {read(expr)}" for state, expr in e["assignments"])
                         + "}")
        lines.append("        return {}")
        delayed = [e for e in spec.events if e["delay"] is not None]
        if delayed:
            lines += ["", "    def event_delay(self, name, t, y, p):", "        q = self.quantities(t, y, p)",
                      "        return {" + ", ".join(f"{e['name']!r}: {read(e['delay'])}" for e in delayed) + "}[name]"]
    if spec.initial:
        lines += ["", "    def initial(self, p):",
                  '        """Initial values set by initial assignments (they may read each other: a pass per '
                  'assignment)."""',
                  "        values = {" + ", ".join(f"{name!r}: {0.0 if init != init else float(init)!r}"
                                            for name, _, init, *_ in spec.states) + "}",
                  "        done = {}",
                  f"        for _ in range({len(spec.initial)}):"]
        for name, expr in spec.initial:
            lines += ["            q = self.quantities(0.0, SimpleNamespace(**{**values, **done}), p)",
                      f"            done[{name!r}] = {to_python(expr, lambda s: f'q[{local(s)!r}]')}"]
        lines.append("        return done")
    return "\n".join(lines) + "\n"
