"""What an imported file becomes before it is a model: plain declarations and expression trees (:class:`ModelSpec`),
with the helpers both readers use (the file or text given, and ids as Python names).

:mod:`.sbml` and :mod:`.cellml` each read their format into a :class:`ModelSpec`; :func:`.generated.generated_model`
turns one into a model class. Nothing here knows a file format.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelError


@dataclass
class ModelSpec:
    """An imported model as plain declarations and expression trees (what :func:`generated_model` builds on)."""

    name: str
    time_unit: str
    states: list = field(default_factory=list)  # (name, unit, initial, dosable, description)
    parameters: list = field(default_factory=list)  # (name, value, unit, description)
    constants: list = field(default_factory=list)  # (name, Expr over parameters): initial assignments of constants
    assignments: list = field(default_factory=list)  # (name, Expr), in evaluation order
    derivatives: dict = field(default_factory=dict)  # state name -> Expr (time derivative of the stored value)
    observables: list = field(default_factory=list)  # (name, unit, Expr, description)
    initial: list = field(default_factory=list)  # (state name, Expr over parameters), in evaluation order
    species: dict = field(default_factory=dict)  # amount state -> (the id's name, its compartment or None)
    species_info: dict = field(default_factory=dict)  # id's name -> (compartment or None (0-D), id means concentration)
    ids: dict = field(default_factory=dict)  # file's id -> Python name (where they differ)
    events: list = field(default_factory=list)  # dicts: name, trigger, priority, delay, flags, assignments
    inputs: list = field(default_factory=list)  # (name, unit, default, stimulus, description): read as symbols
    stiff: bool = False  # the solver "auto" picks for it: a stiff one when True
    stimulus: dict | None = None  # the file's own stimulus protocol: start, period, duration, amplitude
    source_hash: str = ""
    source_file: str | None = None  # the absolute path of the file it came from (None: given as text)
    reference: str = ""


def read_source(source, fmt: str) -> tuple[str, str]:
    """The text of ``source`` (a path, or the text itself when it starts with ``<``) and how to name it in errors:
    the file's name, or ``"text"``."""
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("<")):
        path = Path(source)
        if not path.is_file():
            raise ModelError(f"{fmt}: {str(source)[:200]!r} is neither a file nor {fmt} text")
        try:
            return path.read_text(encoding="utf-8"), path.name
        except UnicodeDecodeError as err:
            raise ModelError(f"{fmt}: {path.name} is not UTF-8 text ({err.reason} at byte {err.start}); "
                             f"a {fmt} file is XML text") from None
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ModelError(f"{fmt}: the bytes given are not UTF-8 text ({err.reason} at byte {err.start})") from None
    return str(source), "text"


def python_name(ident: str, taken: set[str], prefix: str = "sbml_") -> str:
    """A file's id as a model name: itself when it is a Python identifier not starting with '_' and not taken
    (nearly always), else ``prefix`` + it, with trailing underscores until it is new. The name is added to
    ``taken``."""
    name = ident
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name == "time":
        name = prefix + name.lstrip("_")
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def ordered(assignments: list, cycle) -> list:
    """``(name, Expr)`` assignments in an order where each reads only those before it (a depth-first topological
    sort, stable: the given order wherever dependences allow). ``cycle(names)`` makes the exception raised for
    assignments that depend on each other in a cycle."""
    from .expression import symbols

    by_name = {name: expr for name, expr in assignments}
    needs = {name: symbols(expr) & by_name.keys() for name, expr in assignments}
    out, state = [], {}  # state: 1 visiting, 2 done

    for root, _ in assignments:
        if state.get(root) == 2:
            continue
        stack = [(root, iter(sorted(needs[root])))]
        state[root] = 1
        while stack:
            name, todo = stack[-1]
            for dep in todo:
                if state.get(dep) == 1:
                    members = [n for n, _ in stack[[s[0] for s in stack].index(dep):]]
                    raise cycle(sorted(members))
                if state.get(dep) is None:
                    state[dep] = 1
                    stack.append((dep, iter(sorted(needs[dep]))))
                    break
            else:
                stack.pop()
                state[name] = 2
                out.append((name, by_name[name]))
    return out
