"""``vhtwin import``: a model file (SBML or CellML) as a readable vhtwin model module
(:mod:`vhtwin.exchange.module`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "import", help="write an SBML or CellML model as a vhtwin model module (a Python file to review, edit and run)",
        description=(
            "Read an SBML file (Level 1-3; .xml or .sbml) or a CellML file (1.0, 1.1 or 2.0; .cellml) and write it "
            "as a vhtwin model module: a Model subclass with its states, parameters, inputs and observables "
            "declared with units, and its equations in Python. Constructs vhtwin does not import (SBML algebraic "
            "rules, fast reactions, delay, rateOf; CellML algebraic loops of several unknowns) are refused naming "
            "the element. Needs libsbml and libcellml (pip install 'vhtwin[exchange]')."
        ),
    )
    p.add_argument("model", help="the SBML or CellML file")
    p.add_argument("--out", required=True, metavar="FILE.py", help="the module to write")
    p.add_argument("--overwrite", action="store_true", help="replace FILE.py if it exists (else refused)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..exchange import import_cellml, import_sbml
    from ..exchange.module import module_source

    out = Path(args.out)
    if out.suffix != ".py":
        raise InputError(f"--out {args.out!r}: a model module is a Python file; give a name ending in .py")
    if out.exists() and not args.overwrite:
        raise InputError(f"--out {args.out!r} exists; pass --overwrite to replace it")
    source = Path(args.model)
    if not source.is_file():
        raise InputError(f"model {args.model!r}: no such file")
    model = (import_cellml if source.suffix.lower() == ".cellml" else import_sbml)(source)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(module_source(model, Path(args.model).name))
    print(f"vhtwin: wrote {out}: model {model.name!r}, {len(model.states)} states, {len(model.parameters)} "
          f"parameters, {len(model.observed)} observables, time in {model.time_unit}")
    return 0
