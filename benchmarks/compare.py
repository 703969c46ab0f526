"""Before and after: the reference cohort (``pk_cohort.py``) run by two checkouts of vhtwin, alternately, in one run.

A change to the engine must not make the reference cohort slower. This script runs ``pk_cohort.py --json`` from
two checkouts -- ``--base`` (for example a clone at the commit before the change, with its own ``.venv``) and this
one -- in alternating rounds on the same machine (so that a busy spell hits both alike), keeps each one's best
patients/s per (peer, precision, n), and writes both with the ratio after / before.

Usage::

    git clone . /tmp/base && git -C /tmp/base checkout <commit> && make -C /tmp/base venv
    python benchmarks/compare.py --base /tmp/base --out benchmarks/results/anchor-before-after-cpu-2core.json

Each checkout runs with its own interpreter (``<checkout>/.venv/bin/python``, else this one with the checkout's
``src`` first on ``PYTHONPATH``) and its own ``benchmarks/pk_cohort.py``; the persistent compilation cache is off, so both compile alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def interpreter(checkout: Path) -> str:
    venv = checkout / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def commit(checkout: Path) -> str:
    done = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True)
    return done.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def one_round(checkout: Path, options: list[str]) -> list[dict]:
    env = {**os.environ, "VHTWIN_CACHE_DIR": "off"}
    if interpreter(checkout) == sys.executable:  # no venv of its own: its own source first on the path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout / "src"), env.get("PYTHONPATH")]))
    done = subprocess.run([interpreter(checkout), str(checkout / "benchmarks" / "pk_cohort.py"), "--json", *options],
                          cwd=checkout, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"pk_cohort.py in {checkout} failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def best(records: list[dict]) -> dict:
    """Best patients/s per (peer, precision, n) over every round."""
    out: dict = {}
    for r in records:
        if r.get("type") != "measurement" or "patients_per_s" not in r:
            continue
        key = f"{r['peer']} {r['precision']} n={r['n']}"
        out[key] = max(out.get(key, 0.0), float(r["patients_per_s"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True, help="the checkout to compare against (before)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per checkout (default 3)")
    ap.add_argument("--n", default="1000,10000")
    ap.add_argument("--precision", default="float64")
    ap.add_argument("--peers", default="vhtwin,vhtwin_exact")
    ap.add_argument("--out", type=Path, help="write the comparison as JSON here")
    args = ap.parse_args(argv)
    options = ["--n", args.n, "--precision", args.precision, "--peers", args.peers]
    checkouts = {"before": args.base.resolve(), "after": ROOT}
    records = {"before": [], "after": []}
    started = time.time()
    for k in range(args.rounds):
        # alternate which goes first, so neither always runs on a machine warmed (or loaded) by the other
        for label in (("before", "after") if k % 2 == 0 else ("after", "before")):
            print(f"round {k + 1}: {label} ({checkouts[label]})", file=sys.stderr, flush=True)
            records[label] += [{**r, "round": k} for r in one_round(checkouts[label], options)]
    before, after = best(records["before"]), best(records["after"])
    table = {key: {"before_patients_per_s": before[key], "after_patients_per_s": after[key],
                   "after_over_before": after[key] / before[key]} for key in sorted(before) if key in after}
    result = {"benchmark": "compare", "options": options, "rounds": args.rounds, "wall_s": time.time() - started,
              "commits": {label: commit(path) for label, path in checkouts.items()}, "best": table,
              "records": records}
    for key, row in table.items():
        print(f"{key:32s} before {row['before_patients_per_s']:>10.0f}/s  after {row['after_patients_per_s']:>10.0f}/s"
              f"  after/before {row['after_over_before']:.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
