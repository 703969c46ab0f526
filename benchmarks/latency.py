"""Latency of the resident engine: what a new patient, design or dataset costs once a model is compiled.

Every measurement that needs a fresh process runs in one (``--worker NAME``), with its own persistent compilation
cache folder, so "cold" means cold:

* ``cli`` -- ``import vhtwin`` and the ``vhtwin`` command's start-up (``--help``, ``models``), wall time of a process;
* ``anchor`` -- the reference cohort of ``pk_cohort.py`` (two-compartment oral, 14 doses q12h, hourly Cc to 168 h;
  1,000 patients): the first call in a new process (compilation included), a call with a *new design* in the same
  buckets (10 doses of another amount every 8 h, outputs every 0.5 h to 80 h, new patients), a repeat, and a design
  in another bucket of output times (every 2 h to 80 h), on the Tsit5 and the exact path,
  with ``vh.compilation_count()`` after each; diffrax (Tsit5, ``jit(vmap(scan over dosing intervals of
  diffeqsolve))``, the design as arguments) on the same calls in a process of its own; then a *second process* with
  the first one's persistent cache;
* ``theophylline`` -- patient twins (one-compartment oral MAP + Laplace, ``vh.calibrate``) for the 12 subjects of
  Theophylline one after another: the first (compiling) and each next one, with their own doses and sampling;
* ``smith`` -- Smith 2004 circulation twins (``vh.calibrate_circulation``): the first, a second patient, and the
  first in a new process with the cache;
* ``dataset`` -- a NONMEM CSV of 1,000 subjects with mixed designs (oral ADDL/II, infusions by RATE, 3 to 12
  samples): reading it, predicting every record (``vh.simulate(model, population, data=ds)``), and predicting a
  second dataset of the same buckets; then 100,000 subjects (reading, predicting, peak memory).

Usage::

    python benchmarks/latency.py                 # everything (about 10 minutes on 2 cores)
    python benchmarks/latency.py --json          # JSON lines, then a summary line
    python benchmarks/latency.py --out benchmarks/results/latency-cpu-2core.json   # also every record in one file
    python benchmarks/latency.py --quick         # no Smith twin; 10,000 instead of 100,000 subjects
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BENCHMARK = "latency"

# -- the anchor cohort and its new design ------------------------------------------------------------------------------
TYPICAL = {"ka": 1.0, "CL": 5.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}
ANCHOR = {"dose": 100.0, "interval": 12.0, "count": 14, "every": 1.0, "end": 168.0}
# another design in the anchor's buckets (10 doses and 161 output times: up to 16 doses, 161-192 times) ...
NEW = {"dose": 150.0, "interval": 8.0, "count": 10, "every": 0.5, "end": 80.0}
# ... and one in another bucket of output times (41: 41-48 times)
OTHER = {"dose": 150.0, "interval": 8.0, "count": 10, "every": 2.0, "end": 80.0}
CALLS = (("first", ANCHOR, 0), ("new_design", NEW, 1), ("again", NEW, 2), ("other_bucket", OTHER, 3))


def cohort(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(rng.normal(0.0, 0.3, n)) for k, v in TYPICAL.items()}


def times_of(design: dict) -> np.ndarray:
    return np.arange(0.0, design["end"] + 1e-9, design["every"])


def timed(call):
    t0 = time.perf_counter()
    out = call()
    return time.perf_counter() - t0, out


def worker_anchor(n: int) -> dict:
    import vhtwin as vh
    from vhtwin.engine import cache_loads, compilation_seconds

    model = vh.load_model("pharmacokinetics/two_compartment_oral")
    out = {}
    for solver in ("tsit5", "exact"):
        rows = {}
        for label, design, seed in CALLS:
            reg = vh.Regimen.repeated(design["dose"], design["interval"], design["count"], into="depot")
            before, seconds = vh.compilation_count(), compilation_seconds()
            wall, ds = timed(lambda: vh.simulate(model, cohort(n, seed), times=times_of(design), protocol=reg,
                                                 solver=solver, outputs=["Cc"], rtol=1e-6, atol=1e-9))
            assert (ds["status"].values == 0).all()
            rows[label] = {"wall_s": wall, "compilations": vh.compilation_count() - before,
                           "compile_s": compilation_seconds() - seconds}
        out[f"vhtwin_{solver}"] = rows
    out["cache_loads"] = cache_loads()
    return out


def worker_diffrax(n: int) -> dict:
    import diffrax
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)

    def rhs(t, y, p):
        ka, CL, V1, Q, V2 = p[0], p[1], p[2], p[3], p[4]
        absorption, elimination = ka * y[0], CL / V1 * y[1]
        distribution = Q / V1 * y[1] - Q / V2 * y[2]
        return jnp.stack([-absorption, absorption - elimination - distribution, distribution])

    term, solver = diffrax.ODETerm(rhs), diffrax.Tsit5()
    controller = diffrax.PIDController(rtol=1e-6, atol=1e-9)

    def one_patient(p, starts, ends, ts, amounts):
        def interval(y, k):
            t0, t1, t_save, amount = k
            y = y.at[0].add(amount)
            sol = diffrax.diffeqsolve(term, solver, t0, t1, None, y, args=p, saveat=diffrax.SaveAt(ts=t_save),
                                      stepsize_controller=controller, max_steps=100_000, throw=False)
            return sol.ys[-1], sol.ys[:, 1] / p[2]

        _, cc = jax.lax.scan(interval, jnp.zeros(3), (starts, ends, ts, amounts))
        return cc.reshape(-1)

    # The design is passed as arrays (no recompilation for new values of the same shapes); a design with another
    # number of doses or of outputs per interval has other shapes, so jit compiles again.
    fn = jax.jit(jax.vmap(one_patient, in_axes=(0, None, None, None, None)))
    out = {}
    for label, design, seed in CALLS:
        starts = np.arange(design["count"]) * design["interval"]
        ends = np.append(starts[1:], design["end"])
        t = times_of(design)
        ts = np.stack([t[(t > a) & (t <= b)] for a, b in zip(starts, ends)])
        p = np.stack([cohort(n, seed)[k] for k in TYPICAL], axis=1)
        amounts = np.full(design["count"], design["dose"])
        wall, cc = timed(lambda: np.asarray(fn(p, starts, ends, ts, amounts)))
        assert np.isfinite(cc).all()
        out[label] = {"wall_s": wall}
    return {"diffrax": out, "diffrax_version": diffrax.__version__}


def worker_theophylline() -> dict:
    import pandas as pd

    import vhtwin as vh

    model = vh.load_model("pharmacokinetics/one_compartment_oral")
    prior = vh.Population(model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
                          omega={"ka": 0.42, "CL": 0.073, "V": 0.018}, residual=vh.Residual(additive=0.7))
    data = pd.read_csv(ROOT / "tests" / "data" / "theoph.csv")
    rows = []
    for subject, s in data.groupby("subject", sort=True):
        dose = float(s["dose_mg_per_kg"].iloc[0] * s["weight_kg"].iloc[0])
        before = vh.compilation_count()
        wall, twin = timed(lambda: vh.calibrate(model, {"time": s["time_h"], "value": s["conc_mg_per_L"], "unit": "mg/L"}, prior=prior,
                                                protocol=vh.Regimen.bolus(dose, into="depot")))
        rows.append({"subject": int(subject), "wall_s": wall, "compilations": vh.compilation_count() - before,
                     "converged": bool(twin.converged), "CL": float(twin.params["CL"])})
    return {"twins": rows}


SMITH_PATIENTS = (({"SBP": 118.0, "DBP": 76.0, "CO": 5.0}, 60.0), ({"SBP": 130.0, "DBP": 82.0, "CO": 5.4}, 66.0))


def worker_smith(patients: int) -> dict:
    import vhtwin as vh

    model = vh.load_model("cardio/smith2004")
    prior = vh.Population(model, omega={"R_sys": 0.09, "E_es_lvf": 0.09})
    rows = []
    for measured, hr in SMITH_PATIENTS[:patients]:
        before = vh.compilation_count()
        wall, twin = timed(lambda: vh.calibrate_circulation(model, measured, prior=prior, heart_rate=hr))
        rows.append({"heart_rate": hr, "wall_s": wall, "compilations": vh.compilation_count() - before,
                     "converged": bool(twin.converged), "R_sys": float(twin.params["R_sys"]),
                     "E_es_lvf": float(twin.params["E_es_lvf"]), "iterations": int(np.max(twin.iterations)),
                     "fitted": {k: float(np.ravel(v)[0]) for k, v in twin.fitted.items()}})
    return {"twins": rows}


def write_dataset_csv(path: Path, n: int, seed: int) -> None:
    """A NONMEM CSV of ``n`` subjects with mixed designs: oral doses repeated by ADDL/II or an infusion by RATE,
    3 to 12 samples each, a weight column."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 2, n)
    n_obs = rng.integers(3, 13, n)
    ids = np.arange(1, n + 1)
    weight = np.round(rng.uniform(50, 110, n), 1)
    doses = pd.DataFrame({
        "ID": ids, "TIME": 0.0, "AMT": np.where(kind == 0, 100.0, 500.0), "RATE": np.where(kind == 0, 0.0, 250.0),
        "CMT": np.where(kind == 0, 1, 2), "II": np.where(kind == 0, 12.0, 0.0), "ADDL": np.where(kind == 0, 3, 0),
        "EVID": 1, "DV": np.nan, "WT": weight,
    })
    obs_id = np.repeat(ids, n_obs)
    obs = pd.DataFrame({
        "ID": obs_id, "TIME": np.round(rng.uniform(0.25, 48.0, obs_id.size), 2), "AMT": np.nan, "RATE": np.nan,
        "CMT": 2, "II": np.nan, "ADDL": np.nan, "EVID": 0, "DV": np.round(rng.uniform(0.1, 5.0, obs_id.size), 3),
        "WT": np.repeat(weight, n_obs),
    })
    frame = pd.concat([doses, obs]).sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False], kind="stable")
    frame.to_csv(path, index=False, na_rep=".")


def worker_dataset(sizes: list[int]) -> dict:
    import vhtwin as vh

    model = vh.load_model("pharmacokinetics/two_compartment_oral")
    prior = vh.Population(model, typical=TYPICAL, omega={"ka": 0.09, "CL": 0.09, "V1": 0.04},
                          covariate_models=[vh.PowerCovariate("CL", "WT", 70, 0.75), vh.PowerCovariate("V1", "WT", 70, 1.0)])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            for label, seed in (("first", 0), ("second", 1)):
                path = Path(tmp) / f"data_{n}_{seed}.csv"
                write_dataset_csv(path, n, seed)
                read_s, ds = timed(lambda: vh.read_dataset(path, model))
                before = vh.compilation_count()
                wall, out = timed(lambda: vh.simulate(model, prior, data=ds))
                assert (out["status"].values == 0).all()
                rows.append({"subjects": n, "records": int(len(ds.records)), "dataset": label, "read_s": read_s,
                             "simulate_s": wall, "compilations": vh.compilation_count() - before,
                             "solver": out.attrs["solver"], "subjects_per_s": n / wall,
                             "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    return {"datasets": rows}


WORKERS = {"anchor": worker_anchor, "diffrax": worker_diffrax, "theophylline": worker_theophylline,
           "smith": worker_smith, "dataset": worker_dataset}


# -- the parent: fresh processes ---------------------------------------------------------------------------------------
def in_process(name: str, args: list, cache: str, log) -> dict:
    """Run a worker in a new Python process with the persistent cache at ``cache``; its JSON and wall time."""
    env = {**os.environ, "VHTWIN_CACHE_DIR": cache}
    code = (f"import sys, json; sys.path.insert(0, {str(HERE)!r}); import latency; "
            f"print(json.dumps(latency.WORKERS[{name!r}](*{args!r})))")
    log(f"  {name}{tuple(args)} (cache {Path(cache).name if cache != 'off' else 'off'}) ...")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"worker {name} failed:\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "process_s": time.perf_counter() - t0}


def process_start(argv: list[str], repeats: int = 3) -> float:
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=True, env={**os.environ, "VHTWIN_CACHE_DIR": "off"})
        walls.append(time.perf_counter() - t0)
    return float(np.median(walls))


def vhtwin_command() -> list[str]:
    script = Path(sys.executable).with_name("vhtwin")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vhtwin"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON lines")
    ap.add_argument("--quick", action="store_true", help="no Smith twin; datasets of 1,000 and 10,000 subjects")
    ap.add_argument("--n", type=int, default=1000, help="patients of the anchor cohort (default 1000)")
    ap.add_argument("--out", type=Path, help="also write every record and the summary to this JSON file")
    args = ap.parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    records = []

    def emit(record):
        record = {"type": "measurement", "benchmark": BENCHMARK, **record}
        records.append(record)
        if args.json:
            print(json.dumps(record), flush=True)

    with tempfile.TemporaryDirectory(prefix="vhtwin-latency-") as tmp:
        cache = lambda name: str(Path(tmp) / name)
        log("process start-up")
        emit({"case": "cli", "import_vhtwin_s": process_start([sys.executable, "-c", "import vhtwin"]),
              "vhtwin_help_s": process_start(vhtwin_command() + ["--help"]),
              "vhtwin_models_s": process_start(vhtwin_command() + ["models"]),
              "python_alone_s": process_start([sys.executable, "-c", "pass"])})
        log("anchor cohort: vhtwin (cold, new design) and diffrax, then a second process on the cache")
        first = in_process("anchor", [args.n], cache("anchor"), log)
        peer = in_process("diffrax", [args.n], "off", log)
        second = in_process("anchor", [args.n], cache("anchor"), log)
        emit({"case": "anchor", "n": args.n, "first_process": first, "second_process": second, "diffrax": peer})
        log("Theophylline twins")
        emit({"case": "theophylline_twins", **in_process("theophylline", [], cache("theoph"), log)})
        if not args.quick:
            log("Smith 2004 circulation twins")
            cold = in_process("smith", [2], cache("smith"), log)
            cached = in_process("smith", [1], cache("smith"), log)
            emit({"case": "smith_twins", "first_process": cold, "second_process": cached})
        log("datasets")
        sizes = [1000, 10_000] if args.quick else [1000, 100_000]
        emit({"case": "datasets", **in_process("dataset", [sizes], cache("dataset"), log)})
    summary = summarise(records)
    summary.update({"type": "summary", "benchmark": BENCHMARK, "python": platform.python_version(),
                    "cpu_count": os.cpu_count()})
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(json.dumps(summary, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"records": records, "summary": summary}, indent=1) + "\n")
    return 0


def summarise(records: list[dict]) -> dict:
    """The figures docs/benchmarks.md quotes, with their ratios."""
    by = {r["case"]: r for r in records}
    out = {}
    if "cli" in by:
        out["import_vhtwin_s"] = by["cli"]["import_vhtwin_s"]
        out["vhtwin_help_s"] = by["cli"]["vhtwin_help_s"]
    if "anchor" in by:
        a = by["anchor"]
        for path in ("vhtwin_tsit5", "vhtwin_exact"):
            f, s = a["first_process"][path], a["second_process"][path]
            out[path] = {
                "cold_first_call_s": f["first"]["wall_s"], "cold_compilations": f["first"]["compilations"],
                "new_design_s": f["new_design"]["wall_s"], "new_design_compilations": f["new_design"]["compilations"],
                "again_s": f["again"]["wall_s"],
                "other_bucket_s": f["other_bucket"]["wall_s"],
                "other_bucket_compilations": f["other_bucket"]["compilations"],
                "second_process_first_call_s": s["first"]["wall_s"],
                "second_process_compilations": s["first"]["compilations"] + s["new_design"]["compilations"],
            }
        d = a["diffrax"]["diffrax"]
        out["diffrax"] = {"cold_first_call_s": d["first"]["wall_s"], "new_design_s": d["new_design"]["wall_s"],
                          "same_design_again_s": d["again"]["wall_s"], "other_bucket_s": d["other_bucket"]["wall_s"]}
        out["new_design_diffrax_over_vhtwin_tsit5"] = d["new_design"]["wall_s"] / out["vhtwin_tsit5"]["new_design_s"]
    if "theophylline_twins" in by:
        twins = by["theophylline_twins"]["twins"]
        out["theophylline_twin"] = {
            "first_s": twins[0]["wall_s"], "next_median_s": float(np.median([t["wall_s"] for t in twins[1:]])),
            "next_max_s": max(t["wall_s"] for t in twins[1:]),
            "next_compilations": sum(t["compilations"] for t in twins[1:]),
            "converged": sum(t["converged"] for t in twins),
        }
    if "smith_twins" in by:
        s = by["smith_twins"]
        out["smith_twin"] = {"first_s": s["first_process"]["twins"][0]["wall_s"],
                             "next_patient_s": s["first_process"]["twins"][1]["wall_s"],
                             "next_patient_compilations": s["first_process"]["twins"][1]["compilations"],
                             "new_process_with_cache_s": s["second_process"]["twins"][0]["wall_s"],
                             "first_patient": {k: s["first_process"]["twins"][0][k]
                                               for k in ("R_sys", "E_es_lvf", "fitted", "converged", "iterations")}}
    if "datasets" in by:
        out["datasets"] = [{k: r[k] for k in ("subjects", "dataset", "read_s", "simulate_s", "compilations")}
                           for r in by["datasets"]["datasets"]]
    return out


if __name__ == "__main__":
    sys.exit(main())
