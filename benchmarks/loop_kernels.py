"""Kernels per iteration of the compiled integration loop: what XLA runs for every step of every lane.

Each iteration of the batch-first loop (:mod:`vhtwin.solvers.loop`) is a sequence of XLA kernels -- fusions, copies,
scatters, nested loops -- each one a pass over the lanes' arrays with its own launch and memory traffic. Fewer,
larger kernels per step is what makes the step cheap (on CPU) and what a GPU needs. This script compiles the anchor
cohort's solve (:mod:`pk_cohort`'s: ``pharmacokinetics/two_compartment_oral``, 100 mg every 12 h x 14, Cc hourly
to 168 h, rtol 1e-6, atol 1e-9) for each method and precision on one device, reads the optimised HLO of the
program and counts, in the body of the loop over steps, the instructions that become kernels: ``fusion``,
``copy``, ``scatter``, ``gather``, ``dynamic-update-slice``, ``custom-call`` and nested ``while`` loops, and
separately the kernels of the output-saving loop nested in it (run once per output written inside a step).

Nothing is timed: the counts are properties of the compiled program, the same on any machine with the same JAX and
XLA versions (recorded with the machine info).

Usage::

    python benchmarks/loop_kernels.py --out benchmarks/results/loop-kernels-cpu.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from _machine import machine_info  # benchmarks/_machine.py (the scripts run from this folder)

import numpy as np

BENCHMARK = "loop_kernels"
N = 1000
KERNELS = ("fusion", "copy", "scatter", "gather", "dynamic-update-slice", "custom-call", "while", "conditional",
           "sort", "reduce")


def _computations(hlo: str) -> dict[str, list[str]]:
    """The HLO module's computations by name, each a list of its instruction lines."""
    out, name = {}, None
    for line in hlo.split("\n"):
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if head and not line.startswith(" "):
            name = head.group(1)
            out[name] = []
        elif name is not None:
            out[name].append(line)
    return out


def _kinds(lines: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        op = re.search(r"= \S+ ([a-z][\w\-]*)\(", line)
        if op and op.group(1) in KERNELS:
            counts[op.group(1)] = counts.get(op.group(1), 0) + 1
    return counts


def loop_kernels(hlo: str) -> dict:
    """Kernel counts of the step loop's body (the while loop with the most instructions) and of the loops nested
    in it."""
    comps = _computations(hlo)
    bodies = []
    for lines in comps.values():
        for line in lines:
            if " while(" in line:
                body = re.search(r"body=%?([\w.\-]+)", line).group(1)
                bodies.append(body)
    if not bodies:
        raise RuntimeError("no while loop in the compiled program")
    step = max(bodies, key=lambda b: len(comps[b]))
    inner = [re.search(r"body=%?([\w.\-]+)", line).group(1) for line in comps[step] if " while(" in line]
    body = _kinds(comps[step])
    return {"step_body": body, "step_body_kernels": sum(v for k, v in body.items() if k != "while"),
            "nested_loops": [{"kinds": _kinds(comps[b]), "kernels": sum(_kinds(comps[b]).values())} for b in inner]}


def case(vh, solver: str, precision: str) -> dict:
    import importlib

    import jax

    from vhtwin.simulate import prepare

    engine_run = importlib.import_module("vhtwin.engine.run")  # the module (the package exports a function ``run``)

    rng = np.random.default_rng(0)
    typical = {"ka": 1.0, "CL": 5.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}
    params = {k: v * np.exp(rng.normal(0.0, 0.3, N)) for k, v in typical.items()}
    model = vh.load_model("pharmacokinetics/two_compartment_oral")
    with jax.enable_x64(precision == "float64"):
        pr = prepare(model, params, times=np.arange(169.0), outputs=["Cc"], solver=solver, rtol=1e-6, atol=1e-9,
                     precision=precision,
                     protocol=vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot"))
        lay = engine_run.layout(pr, 1)
        program = engine_run.BACKENDS[engine_run.backend_of(pr).name].program(lay.key)
        lanes, shared = engine_run.host_design(pr, 1)
        dtype = np.float64 if precision == "float64" else np.float32
        width = lay.width
        pad = lambda a: np.concatenate([a, np.repeat(a[..., -1:], width - a.shape[-1], axis=-1)], axis=-1) \
            if a.shape[-1] < width else a[..., :width]
        p, y0 = pad(pr.params.astype(dtype)), pad(pr.y0.astype(dtype))
        chunk = jax.tree_util.tree_map(lambda a: a if np.ndim(a) == 0 else a[..., :width], lanes)
        hlo = program.lower(p, y0, chunk, shared).compile().as_text()
    return {"benchmark": BENCHMARK, "type": "measurement", "solver": solver, "precision": precision, "n": N,
            "lanes": width, **loop_kernels(hlo)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, help="also write every record to this JSON file")
    ap.add_argument("--note", default=None, help="a sentence stored in the summary (e.g. before or after a change)")
    a = ap.parse_args(argv)
    import vhtwin as vh

    records = []
    for solver in ("tsit5", "rodas4"):
        for precision in ("float32", "float64"):
            r = case(vh, solver, precision)
            print(json.dumps(r), flush=True)
            records.append(r)
    summary = {"benchmark": BENCHMARK, "type": "summary", "note": a.note, "machine": machine_info()}
    print(json.dumps(summary), flush=True)
    if a.out:
        a.out.write_text(json.dumps({"records": records + [summary]}, indent=1) + "\n")
        print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
