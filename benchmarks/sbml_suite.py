"""The SBML Test Suite's semantic cases through ``vh.import_sbml``, with libroadrunner side by side.

For each case (``cases/semantic/NNNNN`` of a checkout of https://github.com/sbmlteam/sbml-test-suite, or the
suite's release archive unpacked) the script takes the model at the highest SBML level the case has (L3V2 first),
imports it, simulates it at the case's output times (``vh.simulate``, float64, rtol 1e-10, atol 1e-14, solver
chosen by vhtwin) and compares every variable the case names with its ``-results.csv`` at the case's own absolute and
relative tolerances -- the suite's pass rule. libroadrunner runs the same file to the same rule in the same process.

Each case ends as ``pass``, ``refused`` (vhtwin names the construct it does not import; the class is the construct),
``mismatch`` (imported and run, but outside the tolerances), or ``error`` (anything else: a bug). Cases of other
types than a time course (steady state, stochastic) and cases in no SBML level vhtwin reads are ``skipped``.
The JSON lists every case and the counts by outcome and by refusal class, for vhtwin and for libroadrunner.

Usage (parts of the suite can run in parallel, one process per core, then be merged)::

    python benchmarks/sbml_suite.py --cases PATH/TO/sbml-test-suite/cases/semantic [--first 1 --last 1821] \\
        --out benchmarks/results/sbml-suite.json
    python benchmarks/sbml_suite.py --merge part1.json part2.json --out benchmarks/results/sbml-suite.json
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _machine import machine_info  # benchmarks/_machine.py (the scripts run from this folder)

LEVELS = ("l3v2", "l3v1", "l2v5", "l2v4", "l2v3", "l2v2", "l2v1", "l1v2")


def read_case(directory: Path) -> dict | None:
    case = directory.name
    settings = {}
    for line in (directory / f"{case}-settings.txt").read_text().splitlines():
        key, _, value = line.partition(":")
        settings[key.strip()] = value.strip()
    header = (directory / f"{case}-model.m").read_text(errors="replace")
    tags = {}
    for key in ("componentTags", "testTags", "testType"):
        found = re.search(rf"{key}:[ \t]*(.*)", header)
        tags[key] = [t.strip() for t in found.group(1).split(",") if t.strip()] if found else []
    model = next((directory / f"{case}-sbml-{lv}.xml" for lv in LEVELS
                  if (directory / f"{case}-sbml-{lv}.xml").is_file()), None)
    results = directory / f"{case}-results.csv"
    return {"case": case, "settings": settings, "tags": tags, "model": model,
            "results": results if results.is_file() else None}


def column(expected: pd.DataFrame, k: int, name: str) -> np.ndarray:
    """The expected values of the k-th variable: its column by position (the first is time, whatever its name;
    a model may name a parameter ``time``), checked against its name."""
    if expected.columns[k + 1] != name:
        raise KeyError(f"column {k + 1} of the results is {expected.columns[k + 1]!r}, not {name!r}")
    return expected.iloc[:, k + 1].to_numpy(float)


def read_results(path: Path) -> pd.DataFrame:
    """A case's expected results, its header as written (names may repeat: a parameter may be called Time)."""
    with open(path) as f:
        header = [c.strip() for c in f.readline().split(",")]
    table = pd.read_csv(path, header=None, skiprows=1)
    table.columns = header
    return table


def times_of(expected: pd.DataFrame) -> np.ndarray:
    return expected.iloc[:, 0].to_numpy(float)


def variables(settings: dict) -> list[str]:
    return [v.strip() for v in settings.get("variables", "").split(",") if v.strip()]


def within(got: np.ndarray, want: np.ndarray, settings: dict) -> bool:
    atol, rtol = float(settings["absolute"]), float(settings["relative"])
    same = (got == want) | (np.isnan(got) & np.isnan(want))  # infinities and NaN as expected
    with np.errstate(invalid="ignore"):
        return bool(np.all(same | (np.abs(got - want) <= atol + rtol * np.abs(want))))


def run_vhtwin(case: dict, expected: pd.DataFrame) -> dict:
    import vhtwin as vh

    try:
        model = vh.import_sbml(case["model"])
    except vh.ModelError as err:
        text = str(err)
        return {"outcome": "refused", "class": refusal_class(text), "message": text[:300]}
    except Exception as err:  # noqa: BLE001 -- a bug: counted and named, the run goes on
        return {"outcome": "error", "class": type(err).__name__, "message": str(err)[:300]}
    try:
        ds = vh.simulate(model, times=times_of(expected), rtol=1e-10, atol=1e-14, precision="float64")
    except Exception as err:  # noqa: BLE001
        return {"outcome": "error", "class": type(err).__name__, "message": str(err)[:300]}
    bad = []
    settings = case["settings"]
    amounts = {v.strip() for v in settings.get("amount", "").split(",") if v.strip()}
    concentrations = {v.strip() for v in settings.get("concentration", "").split(",") if v.strip()}
    for k, v in enumerate(variables(settings)):
        name = model.spec.ids.get(v, v)
        kind = "amount" if v in amounts else "concentration" if v in concentrations else None
        try:
            values = model.value(ds, name, kind)  # the suite reports species as amounts or concentrations
        except vh.ModelError:
            bad.append(f"{v} not an output")
            continue
        if not within(np.asarray(values, float).reshape(-1), column(expected, k, v), settings):
            bad.append(v)
    return {"outcome": "pass"} if not bad else {"outcome": "mismatch", "class": "values", "message": ", ".join(bad)}


def run_roadrunner(case: dict, expected: pd.DataFrame) -> dict:
    try:
        import roadrunner
    except ImportError:
        return {"outcome": "not run", "class": "libroadrunner not installed"}
    try:
        rr = roadrunner.RoadRunner(str(case["model"]))
        rr.integrator.absolute_tolerance = 1e-14
        rr.integrator.relative_tolerance = 1e-10
        wanted = variables(case["settings"])
        amounts = {v.strip() for v in case["settings"].get("amount", "").split(",") if v.strip()}
        species = set(rr.model.getFloatingSpeciesIds()) | set(rr.model.getBoundarySpeciesIds())
        rr.timeCourseSelections = ["time"] + [v if v not in species else (v if v in amounts else f"[{v}]")
                                              for v in wanted]
        out = rr.simulate(times=times_of(expected))
        for k, v in enumerate(wanted):
            if not within(np.asarray(out[:, k + 1], float), column(expected, k, v), case["settings"]):
                return {"outcome": "mismatch", "class": "values", "message": v}
        return {"outcome": "pass"}
    except Exception as err:  # noqa: BLE001
        return {"outcome": "error", "class": type(err).__name__, "message": str(err)[:300]}


def refusal_class(message: str) -> str:
    """The construct a refusal names (what the pass-rate table counts)."""
    if "stoichiometry that changes" in message:
        return "variable stoichiometry"
    for key in ("events", "algebraic rule", "fast reactions", "delay", "rateOf", "variable stoichiometry",
                "hierarchical",
                "varying size", "operator", "time unit", "no initial value", "no value", "no kinetic law",
                "initial state", "not defined", "cycle"):
        if key in message:
            return key
    return "other"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=Path, help="the suite's cases/semantic folder")
    ap.add_argument("--merge", type=Path, nargs="+", help="instead of running: combine the JSON of runs over parts "
                                                          "of the suite (e.g. one per core) into --out")
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--last", type=int, default=1821)
    ap.add_argument("--every", type=int, default=1, help="run every k-th case only (a sample)")
    ap.add_argument("--out", type=Path, help="write the JSON here (rewritten as it goes)")
    args = ap.parse_args(argv)
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        records = sorted((r for part in parts for r in part["records"]), key=lambda r: r["case"])
        doc = {"benchmark": "sbml_suite", "machine": parts[0]["machine"], "parts": [p["settings"] for p in parts],
               "wall_s": sum(p.get("wall_s", 0.0) for p in parts)} | summary(records) | {"records": records}
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        print(json.dumps(summary(records), indent=1))
        return 0
    if args.cases is None:
        ap.error("--cases is required (the suite's cases/semantic folder)")
    records = []
    start = time.perf_counter()
    doc = {"benchmark": "sbml_suite", "machine": machine_info(), "settings": {k: str(v) for k, v in vars(args).items()}}
    for number in range(args.first, args.last + 1, args.every):
        directory = args.cases / f"{number:05d}"
        if not directory.is_dir():
            continue
        case = read_case(directory)
        rec = {"case": case["case"], "tags": case["tags"]["componentTags"] + case["tags"]["testTags"]}
        if case["tags"]["testType"] != ["TimeCourse"] or case["model"] is None or case["results"] is None:
            rec["vhtwin"] = rec["libroadrunner"] = {"outcome": "skipped", "class": ",".join(case["tags"]["testType"])}
        else:
            expected = read_results(case["results"])
            rec["level"] = case["model"].name.rsplit("-", 1)[1][:-4]
            rec["vhtwin"] = run_vhtwin(case, expected)
            rec["libroadrunner"] = run_roadrunner(case, expected)
        records.append(rec)
        print(case["case"], rec["vhtwin"]["outcome"], rec["vhtwin"].get("class", ""),
              "| rr:", rec["libroadrunner"]["outcome"], flush=True)
        if args.out and len(records) % 25 == 0:
            args.out.write_text(json.dumps(doc | summary(records) | {"records": records}, indent=1) + "\n")
    doc["wall_s"] = time.perf_counter() - start
    doc |= summary(records) | {"records": records}
    text = json.dumps(doc, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(json.dumps(summary(records), indent=1))
    return 0


def summary(records: list[dict]) -> dict:
    out = {}
    for peer in ("vhtwin", "libroadrunner"):
        outcomes = collections.Counter(r[peer]["outcome"] for r in records)
        classes = collections.Counter(f"{r[peer]['outcome']}: {r[peer].get('class', '')}" for r in records
                                      if r[peer]["outcome"] not in ("pass", "skipped"))
        run = sum(v for k, v in outcomes.items() if k != "skipped")
        out[peer] = {"cases": len(records), "time_course_cases": run, "outcomes": dict(outcomes),
                     "pass_rate": outcomes.get("pass", 0) / run if run else None,
                     "not_passed_by_class": dict(classes.most_common())}
    return {"summary": out}


if __name__ == "__main__":
    sys.exit(main())
