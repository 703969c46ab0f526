"""The Chaste CellML collection through ``vh.import_cellml``, each model paced for one beat, Myokit side by side.

For each ``cellml/*.cellml`` of a checkout of https://github.com/Chaste/cellml (about 80 cardiac cell models from
the CellML model repository, annotated with the Chaste metadata) the script imports the file, then runs one beat:
from time 0 to the file's own stimulus offset plus one period, paced by ``vh.Pacing(**model.file_stimulus)`` --
the file's own protocol, now applied through the model's ``i_stim`` input -- (rodas4, float64, rtol 1e-8,
atol 1e-8, output every 0.1 ms). A model *paces* when the run ends with status ok and every value is finite; the
record says whether the beat is an action potential (V rises by at least 30 mV after the stimulus: some files'
own stimuli are below threshold, and Myokit finds the same). A file without a stimulus protocol (pacemaker cells,
or a stimulus current whose timing the file does not annotate) is run unpaced for one second instead; its outcome
says so.

Myokit imports the same file (its own CellML importer, its own stimulus equations untouched -- except in a file
whose stimulus current is a constant, left for the simulator to switch: there Myokit's pacing drives it at the
file's annotated timing and amplitude, as vhtwin's input does) and runs the same
interval with CVODE (tolerances 1e-8, maximum step 0.1 ms) in the same process: the record has both APD90s (from the
stimulus, 90 % repolarisation; NaN where there is none) and the largest difference of V over the beat, relative to
the action potential's amplitude.

Each file ends as ``paces`` / ``runs unpaced`` (pacemaker), ``refused`` (vhtwin names the construct: the class is
the sentence's start), ``failed`` (imported, but the beat did not run or produced no action potential) or ``error``
(anything else: a bug).

Each file runs in a process of its own (``--jobs`` at a time): compiled programs of 79 models do not pile up in one
process's memory, and a crash is that file's outcome (``error``), not the run's end.

Usage::

    python benchmarks/cellml_collection.py --collection PATH/TO/Chaste-cellml/cellml --jobs 2 \\
        --out benchmarks/results/cellml-collection.json
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _machine import machine_info  # benchmarks/_machine.py (the scripts run from this folder)

TOLERANCE = 1e-8
STEP_MS = 0.1
UNPACED_MS = 1000.0


def apd90(t: np.ndarray, v: np.ndarray, start: float) -> float:
    """APD90 from the stimulus time ``start``: to the last downward crossing of 90 % repolarisation after the peak
    (rest: the last sample before the stimulus), linearly interpolated; NaN where V does not repolarise."""
    before = np.nonzero(t <= start)[0]
    rest = v[before[-1]] if before.size else v[0]
    after = t >= start
    tt, vv = t[after], v[after]
    ip = int(np.argmax(vv))
    level = vv[ip] - 0.9 * (vv[ip] - rest)
    below = np.nonzero(vv[ip:] < level)[0]
    if not below.size or vv[ip] - rest < 30.0:
        return math.nan
    i = ip + below[0]
    return float(tt[i - 1] + (level - vv[i - 1]) * (tt[i] - tt[i - 1]) / (vv[i] - vv[i - 1]) - start)


def run_vhtwin(path: Path) -> dict:
    import vhtwin as vh

    out: dict = {}
    start = time.perf_counter()
    try:
        model = vh.import_cellml(path)
    except vh.ModelError as err:
        message = str(err).split(": ", 1)[-1]
        return {"outcome": "refused", "class": _refusal_class(message), "message": message}
    out["import_s"] = time.perf_counter() - start
    out["states"] = len(model.states)
    out["voltage_variable"] = _original_name(next((s.description for s in model.states if s.name == "V"), ""))
    constant = [i for i in model.inputs if "(a constant there)" in i.description]
    out["constant_stimulus"] = _original_name(constant[0].description) if constant else None
    out["time_unit"] = model.time_unit
    ms = {"ms": 1.0, "s": 1e-3}.get(model.time_unit)
    stimulus = model.file_stimulus
    out["stimulus"] = stimulus
    horizon = stimulus["start"] + stimulus["period"] if stimulus else UNPACED_MS * ms
    times = np.arange(0.0, horizon, STEP_MS * ms)
    protocol = vh.Pacing(**stimulus, count=1) if stimulus else None
    start = time.perf_counter()
    ds = vh.simulate(model, times=times, protocol=protocol, solver="rodas4", rtol=TOLERANCE, atol=TOLERANCE,
                     precision="float64", max_steps=1_000_000)
    out["simulate_s"] = time.perf_counter() - start
    v = np.asarray(ds["V"].values, float).reshape(-1) if "V" in ds else None
    status = int(np.asarray(ds["status"].values).reshape(-1)[0])
    out["status"] = status
    if v is None:
        return dict(out, outcome="failed", reason="no membrane potential found")
    finite = bool(np.all(np.isfinite(v)))
    rise = float(np.nanmax(v) - v[0]) if finite else math.nan
    out.update(v_rest=float(v[0]), v_peak=float(np.nanmax(v)), rise=rise, times=times, v=v)
    if status != 0 or not finite:
        return dict(out, outcome="failed", reason=f"status {status}" if status else "non-finite values")
    if stimulus is None:
        return dict(out, outcome="runs unpaced")
    out["apd90"] = apd90(times, v, stimulus["start"])
    out["action_potential"] = bool(rise >= 30.0)
    return dict(out, outcome="paces")


def run_myokit(path: Path, times: np.ndarray, time_unit: str, voltage_name: str, stimulus: dict | None) -> dict:
    """Myokit's import of the file, run over ``times``: its own stimulus equations, or -- where the file's stimulus
    current is a constant (the file leaves the protocol to its simulator) -- that variable bound to Myokit's pacing
    at the file's annotated timing, as vhtwin paces it (``stimulus``: the variable and the protocol)."""
    import myokit
    import myokit.formats

    start = time.perf_counter()
    try:
        model = myokit.formats.importer("cellml").model(str(path))
        protocol = None
        if stimulus is not None:
            variable = model.get(stimulus["variable"])
            pace = variable.parent().add_variable_allow_renaming("pace")
            pace.set_rhs(0)
            pace.set_binding("pace")
            variable.set_rhs(f"{stimulus['amplitude']!r} * {pace.name()}")
            protocol = myokit.Protocol()
            protocol.schedule(1.0, stimulus["start"], stimulus["duration"], stimulus["period"])
        sim = myokit.Simulation(model, protocol)
        sim.set_tolerance(TOLERANCE, TOLERANCE)
        ms = {"ms": 1.0, "s": 1e-3}[time_unit]
        sim.set_max_step_size(STEP_MS * ms)
        # (a Myokit variable without child variables is falsy: no `or` chain here)
        voltage = _myokit_variable(model, voltage_name)
        voltage = voltage if voltage is not None else model.label("membrane_potential")
        voltage = voltage if voltage is not None else _myokit_voltage(model)
        log = sim.run(times[-1] + STEP_MS * ms, log=[model.time().qname(), voltage.qname()], log_times=times)
    except Exception as err:  # a peer's failure is recorded, not ours to fix
        return {"outcome": "error", "message": f"{type(err).__name__}: {err}"[:300]}
    return {"outcome": "ran", "seconds": time.perf_counter() - start,
            "v": np.asarray(log[voltage.qname()], float)[: times.size]}


def _myokit_variable(model, qname: str):
    try:
        return model.get(qname)
    except Exception:
        return None


def _original_name(description: str) -> str:
    """``component.variable`` from an imported quantity's description ("CellML membrane.V ...", "... the file's
    membrane.i_stim ...")."""
    found = re.search(r"(?:CellML |the file's )([\w]+\.[\w]+)", description)
    return found.group(1) if found else ""


def _myokit_voltage(model):
    for name in ("V", "Vm", "V_m", "v", "E"):
        for v in model.states():
            if v.name() == name:
                return v
    raise LookupError("no membrane potential state")


def _refusal_class(message: str) -> str:
    for key in ("algebraic loop", "no initial value", "is not supported", "imports", "not a time unit",
                "no differential equation", "no numeric value"):
        if key in message:
            return key
    return message.split(";")[0][:80]


def one(path: Path, peer: bool) -> dict:
    record = {"file": path.name}
    try:
        mine = run_vhtwin(path)
    except Exception as err:
        return dict(record, outcome="error", message=f"{type(err).__name__}: {err}"[:300])
    times, v = mine.pop("times", None), mine.pop("v", None)
    record.update(mine)
    if peer and v is not None:
        bound = (dict(mine["stimulus"], variable=mine["constant_stimulus"])
                 if mine.get("constant_stimulus") and mine.get("stimulus") else None)
        theirs = run_myokit(path, times, mine["time_unit"], mine.get("voltage_variable", ""), bound)
        record["myokit"] = {k: x for k, x in theirs.items() if k != "v"}
        if "v" in theirs and theirs["v"].size == v.size:
            amplitude = max(float(np.nanmax(v) - np.nanmin(v)), 1e-9)
            record["myokit"]["max_dv_over_amplitude"] = float(np.nanmax(np.abs(theirs["v"] - v)) / amplitude)
            if mine.get("stimulus"):
                record["myokit"]["apd90"] = apd90(times, theirs["v"], mine["stimulus"]["start"])
    return record


def summarise(records: list[dict]) -> dict:
    outcomes = collections.Counter(r["outcome"] for r in records)
    refused = collections.Counter(r.get("class") for r in records if r["outcome"] == "refused")
    compared = [r for r in records if r.get("myokit", {}).get("max_dv_over_amplitude") is not None]
    apd = [abs(r["apd90"] - r["myokit"]["apd90"]) for r in compared
           if np.isfinite(r.get("apd90", np.nan)) and np.isfinite(r["myokit"].get("apd90", np.nan))]
    return {"files": len(records), "outcomes": dict(outcomes), "refused": dict(refused),
            "imports": sum(r["outcome"] not in ("refused", "error") for r in records),
            "paces_or_runs": outcomes["paces"] + outcomes["runs unpaced"],
            "action_potentials": sum(bool(r.get("action_potential")) for r in records),
            "failed_in_myokit_too": sum(r["outcome"] == "failed" and r.get("myokit", {}).get("outcome") == "error"
                                        for r in records),
            "myokit_compared": len(compared), "myokit_errors": sum(r.get("myokit", {}).get("outcome") == "error"
                                                                  for r in records),
            "apd90_abs_difference_ms": {"median": float(np.median(apd)) if apd else None,
                                        "max": float(np.max(apd)) if apd else None, "n": len(apd)}}


def in_own_process(path: Path, peer: bool) -> dict:
    """:func:`one` for ``path`` in a fresh Python process (its record as JSON on the last line of its output)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--one", str(path)] + ([] if peer else ["--no-peer"])
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parent, timeout=3600)
    lines = done.stdout.strip().splitlines()
    try:
        record = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        record = {"file": path.name, "outcome": "error",
                  "message": f"the process ended with status {done.returncode}: {tail[0][:200]}"}
    record["process_s"] = time.perf_counter() - start
    return record


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--collection", type=Path, help="the cellml/ folder of a Chaste/cellml checkout")
    ap.add_argument("--jobs", type=int, default=1, help="files run at once, each in a process of its own")
    ap.add_argument("--no-peer", action="store_true", help="skip Myokit")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)  # one file, in this process: a record as JSON
    ap.add_argument("--out", type=Path)
    ap.add_argument("--update", type=Path, metavar="RESULTS.json",
                    help="run only the --collection's files and replace their records in RESULTS.json (the rest "
                         "kept; the files and this run's commit are listed under 'updated')")
    args = ap.parse_args(argv)
    if args.one is not None:
        import vhtwin as vh

        vh.use_cpu_cores()
        print(json.dumps(one(args.one, peer=not args.no_peer), default=float))
        return
    if args.collection is None or not args.collection.is_dir():
        sys.exit(f"--collection {args.collection}: not a folder of CellML files")
    from concurrent.futures import ThreadPoolExecutor

    files = sorted(args.collection.glob("*.cellml"))
    records = []
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for r in pool.map(lambda path: in_own_process(path, not args.no_peer), files):
            records.append(r)
            print(f"{r['file']}: {r['outcome']} {r.get('apd90', '')} {r.get('myokit', {}).get('apd90', '')} "
                  f"{r.get('reason', r.get('message', ''))}", flush=True)
    doc = {"benchmark": "cellml_collection", "machine": machine_info(), "summary": summarise(records),
           "records": sorted(records, key=lambda r: r["file"])}
    if args.update is not None:
        old = json.loads(args.update.read_text())
        fresh = {r["file"]: r for r in records}
        merged = [fresh.get(r["file"], r) for r in old["records"]]
        merged += [r for name, r in fresh.items() if name not in {m["file"] for m in merged}]
        doc = dict(old, summary=summarise(merged), records=sorted(merged, key=lambda r: r["file"]),
                   updated=old.get("updated", []) + [{"files": sorted(fresh), "machine": machine_info()}])
    print(json.dumps(doc["summary"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
