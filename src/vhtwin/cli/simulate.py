"""``vhtwin simulate``: one model -- a library name, a ``.py`` file, an SBML or a CellML file -- simulated from the
command line, its outputs printed as a table and optionally written as CSV or a Zarr store."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "simulate", help="simulate one model (library name, .py, SBML or CellML file) and print or write its outputs",
        description=(
            "Simulate one patient of a model -- a library model (vhtwin models), a model module (.py), an SBML "
            "file (.xml, imported as vh.import_sbml does) or a CellML file (.cellml, as vh.import_cellml does) -- "
            "and print its outputs at a few times, or write them all as CSV (one row per time) or a Zarr store."
        ),
    )
    p.add_argument("model", help="library name, FILE.py, FILE.xml (SBML) or FILE.cellml")
    p.add_argument("--times", required=True, metavar="START:STOP:N",
                   help="N output times from START to STOP, in the model's time unit (e.g. 0:24:97)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a parameter's value")
    p.add_argument("--initial", action="append", default=[], metavar="NAME=VALUE", help="a state's initial value")
    p.add_argument("--bolus", action="append", default=[], metavar="AMOUNT:STATE[@TIME]",
                   help="a bolus of AMOUNT into STATE at TIME (default 0)")
    p.add_argument("--pace", metavar="PERIOD:DURATION:COUNT[@START]",
                   help="pace a cell model: COUNT stimuli of DURATION every PERIOD from START (default 0), at the "
                        "amplitude its stimulus input documents")
    p.add_argument("--solver", default="auto", help="the method (default: auto)")
    p.add_argument("--out", metavar="FILE", help="write every output: FILE.csv or FILE.zarr (never replaced)")
    p.set_defaults(run=run)


def _assignments(items: list[str], flag: str) -> dict[str, float]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name.strip() or not math.isfinite(number):
            raise InputError(f"{flag} {item!r}: give NAME=VALUE with a finite number")
        out[name.strip()] = number
    return out


def _times(text: str):
    import numpy as np

    parts = text.split(":")
    try:
        start, stop, n = float(parts[0]), float(parts[1]), int(parts[2])
    except (ValueError, IndexError):
        start = stop = math.nan
        n = 0
    if len(parts) != 3 or not (math.isfinite(start) and math.isfinite(stop)) or stop <= start or n < 2:
        raise InputError(f"--times {text!r}: give START:STOP:N with STOP > START and N >= 2 output times")
    return np.linspace(start, stop, n)


def _boluses(items: list[str]):
    from ..protocols import Dose, Regimen

    doses = []
    for item in items:
        head, _, at = item.partition("@")
        amount, sep, state = head.partition(":")
        try:
            value, time = float(amount), float(at or 0.0)
        except ValueError:
            value = time = math.nan
        if not sep or not state.strip() or not (math.isfinite(value) and math.isfinite(time)):
            raise InputError(f"--bolus {item!r}: give AMOUNT:STATE or AMOUNT:STATE@TIME with finite numbers")
        doses.append(Dose(time, value, state.strip()))
    return Regimen(tuple(sorted(doses, key=lambda d: d.time))) if doses else None


def _pacing(text: str | None):
    if text is None:
        return None
    from ..protocols import Pacing

    head, _, at = text.partition("@")
    parts = head.split(":")
    try:
        period, duration, count, start = float(parts[0]), float(parts[1]), int(parts[2]), float(at or 0.0)
    except (ValueError, IndexError):
        period = math.nan
    if len(parts) != 3 or not all(math.isfinite(x) for x in (period, duration, start)) or count < 1 \
            or not 0 < duration <= period:
        raise InputError(f"--pace {text!r}: give PERIOD:DURATION:COUNT[@START] with 0 < DURATION <= PERIOD and "
                         "COUNT >= 1")
    return Pacing(period=period, duration=duration, count=count, start=start)


def run(args) -> int:
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix not in (".csv", ".zarr"):
        raise InputError(f"--out {args.out!r}: write FILE.csv or FILE.zarr")
    if out is not None and out.exists():
        raise InputError(f"--out {args.out!r} exists; vhtwin does not replace files it did not create")
    params, initial = _assignments(args.param, "--param"), _assignments(args.initial, "--initial")
    times, protocol, pacing = _times(args.times), _boluses(args.bolus), _pacing(args.pace)
    if pacing is not None:
        protocol = pacing if protocol is None else protocol + pacing
    from ..library import load_model
    from ..simulate import simulate

    model = load_model(args.model)
    ds = simulate(model, params or None, times=times, initial=initial or None, protocol=protocol,
                  solver=args.solver)
    names = list(model.observable_names) or list(model.state_names)
    if "V" in model.state_names and "V" not in names:  # a cell model: its membrane potential first
        names = ["V"] + names
    print(f"{model.name}: {len(model.states)} states, time in {model.time_unit}, status "
          f"{'ok' if int(ds['status'].values.reshape(-1)[0]) == 0 else 'failed'}")
    shown = names[:6]
    print("  ".join([f"{'time':>10}"] + [f"{n[:12]:>12}" for n in shown]))
    step = max(1, (len(times) - 1) // 8)
    for i in list(range(0, len(times), step))[:9] + ([len(times) - 1] if (len(times) - 1) % step else []):
        row = [f"{times[i]:>10.4g}"] + [f"{float(ds[n].values.reshape(-1, len(times))[0, i]):>12.5g}" for n in shown]
        print("  ".join(row))
    if len(names) > len(shown):
        print(f"({len(names) - len(shown)} more outputs; --out FILE.csv writes them all)")
    if out is not None:
        if out.suffix == ".csv":
            out.parent.mkdir(parents=True, exist_ok=True)
            ds[names].squeeze(drop=True).to_dataframe()[names].to_csv(out)
        else:  # the whole result (states, outputs, status, provenance), as every vhtwin store
            from ..io import write_zarr

            write_zarr(ds, out)
        print(f"vhtwin: wrote {out}")
    return 0
