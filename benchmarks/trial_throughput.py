"""End-to-end in-silico trial throughput: ``vh.Trial(...).run(store, batch_size=...)`` against the solve alone.

The cohort is the one of ``pk_cohort.py``: ``pharmacokinetics/two_compartment_oral``, typical values ka = 1 /h,
CL = 5 L/h, V1 = 50 L, Q = 10 L/h, V2 = 100 L, log-normal between-patient variability with sd 0.3 on the log scale
(``vh.Population`` omega = 0.3^2 = 0.09 on each parameter, diagonal; the draws are vhtwin's counter-based ones, not
pk_cohort's numpy ones), 100 mg into ``depot`` every 12 h x 14, Cc stored hourly 0..168 h, rtol 1e-6, atol 1e-9,
float64 (vhtwin's default precision). ONE arm of ``n`` patients.

Every (n, solver) is measured in a fresh child process (so its peak RSS is its own):

1. a warm-up trial of ``batch_size`` patients (one batch, the same shapes) run twice: the first run compiles;
   ``compile_s`` = first - second;
2. the full trial, ``Trial.run`` with the compile cached: ``e2e_warm_s`` (patients/s compile excluded); the
   compile-included figure is ``e2e_warm_s + compile_s`` ("estimated") and, for n <= ``--cold-max``, also measured
   directly by another fresh child that runs the full trial first thing (``e2e_cold_measured_s``);
3. ``ru_maxrss`` right after the full run (the peak of the process so far), and the store's size on disk;
4. the solve alone on the same batches: ``pop.sample(batch_size, seed, first_patient=k * batch_size)`` (timed
   separately) and ``vh.simulate`` on the draw (Cc, status, step counts to numpy; timed), over the same patients;
   ``e2e_over_solve`` = e2e patients/s / solve-alone patients/s (target >= 0.8);
5. a profile of one batch (medians of 3): population sampling, ``simulate``'s host-side preparation
   (``vhtwin.simulate.prepare``), the solve (the jitted run plus transfer to numpy), building the result Datasets
   (``_to_dataset`` + ``Trial.compute_batch``'s packaging), the Zarr region write, the completion marker.

Usage::

    python benchmarks/trial_throughput.py --json                 # n = 100000 and 1000000, both solvers
    python benchmarks/trial_throughput.py --json --n 100000,300000 --batch-size 10000
    python benchmarks/trial_throughput.py --quick                # n = 4000, batch 1000
    python benchmarks/trial_throughput.py --out results.json     # also write all records to one JSON file

Output: JSON lines on stdout (``"type": "measurement"`` per (n, solver), ``"comparison"`` per solver across sizes,
then a ``"summary"``), progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "trial_throughput"
MODEL = "pharmacokinetics/two_compartment_oral"
TYPICAL = {"ka": 1.0, "CL": 5.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}
OMEGA_SD = 0.3  # sd of log(parameter): omega (variance) = 0.09
DOSE_MG, INTERVAL_H, N_DOSES = 100.0, 12.0, 14
TIMES = np.arange(169.0)
RTOL, ATOL = 1e-6, 1e-9
SEED = 1
OUTPUTS = ["Cc"]


def log(msg: str) -> None:
    try:
        print(msg, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def ru_maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return r / 2**20 if sys.platform == "darwin" else r / 2**10


def dir_bytes(path: Path) -> tuple[int, int, int]:
    """(apparent bytes, allocated bytes, files) of a directory tree."""
    size = alloc = files = 0
    for root, _, names in os.walk(path):
        for name in names:
            s = os.lstat(os.path.join(root, name))
            size += s.st_size
            alloc += s.st_blocks * 512
            files += 1
    return size, alloc, files


# -- patches for experiments (never used by default) -------------------------------------------------------------------
def apply_patches(names: list[str]) -> None:
    """Local experiments on the trial runner (monkeypatched in this process only)."""
    from vhtwin.trial import batch as batch_module, runner

    for name in names:
        if name in ("nocompress", "lz4"):
            original = runner._template

            def template(trial, batch_size, _orig=original, _name=name):
                data, encoding = _orig(trial, batch_size)
                if _name == "nocompress":
                    for enc in encoding.values():
                        enc["compressors"] = None
                else:
                    from zarr.codecs import BloscCodec

                    for enc in encoding.values():
                        enc["compressors"] = [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]
                return data, encoding

            runner._template = template
        elif name == "serial_write":
            # no writer thread: compute, then write, in turn (how much does the overlap buy?)
            def run_local(trial, path, todo, batch_size, finished):
                for arm, batch in todo:
                    finished(batch_module.run_batch(trial, path, arm, batch, batch_size))

            runner._run_local = run_local
        else:
            raise SystemExit(f"unknown patch {name!r}")


# -- the child: one (n, solver) --------------------------------------------------------------------------------------
def build(vh, solver: str, n: int):
    m = vh.load_model(MODEL)
    pop = vh.Population(m, typical=TYPICAL, omega={k: OMEGA_SD**2 for k in TYPICAL})
    regimen = vh.Regimen.repeated(amount=DOSE_MG, interval=INTERVAL_H, count=N_DOSES, into="depot")
    trial = vh.Trial(model=m, population=pop, arms={"100 mg q12h": regimen}, n_per_arm=n, times=TIMES,
                     outputs=OUTPUTS, solver=solver, rtol=RTOL, atol=ATOL, seed=SEED)
    return m, pop, regimen, trial


def run_trial(trial, path: Path, batch_size: int, stored: str | None = None) -> float:
    if path.exists():
        shutil.rmtree(path)
    t = time.perf_counter()
    trial.run(path, batch_size=batch_size, progress=False, stored_precision=stored)
    return time.perf_counter() - t


def solve_alone(vh, m, pop, regimen, trial, n: int, batch_size: int) -> dict:
    """``pop.sample`` + ``vh.simulate`` over the trial's batches (the last padded like Trial.compute_batch does)."""
    t_sample = t_solve = 0.0
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        t = time.perf_counter()
        draw = pop.sample(size, SEED, first_patient=start)
        if size < batch_size:
            draw = draw.isel(patient=np.r_[np.arange(size), np.full(batch_size - size, size - 1)])
        t_sample += time.perf_counter() - t
        t = time.perf_counter()
        out = vh.simulate(m, draw, times=TIMES, protocol=regimen, solver=trial.solver, rtol=RTOL, atol=ATOL,
                          precision=trial.precision, outputs=OUTPUTS)
        out["Cc"].values  # already numpy; touch it anyway
        t_solve += time.perf_counter() - t
    return {"sample_s": t_sample, "solve_s": t_solve}


def profile_batch(vh, trial, path: Path, batch_size: int, repeats: int = 3) -> dict:
    """Phases of one batch (batch 0 of arm 0, into the finished store again), medians over ``repeats``."""
    import jax

    import importlib

    sim_mod = importlib.import_module("vhtwin.simulate")
    from vhtwin.trial import runner
    from vhtwin.trial import store as st

    name = trial.arm_names[0]
    phases: dict[str, list[float]] = {k: [] for k in ("sample_s", "prepare_s", "solve_s", "to_dataset_s",
                                                      "compute_batch_s", "package_s", "zarr_write_s", "marker_s",
                                                      "batch_serial_s")}
    for _ in range(repeats):
        t0 = time.perf_counter()
        draw = trial.population.sample(n=batch_size, seed=trial.seed, first_patient=0)
        t1 = time.perf_counter()
        problem = sim_mod.prepare(trial.model, draw, times=trial.times, protocol=trial.arms[name], solver=trial.solver,
                                  rtol=trial.rtol, atol=trial.atol, precision=trial.precision,
                                  outputs=list(trial.outputs))
        t2 = time.perf_counter()
        with jax.enable_x64(problem.precision == "float64"):
            res = [np.asarray(x) for x in sim_mod.run(problem)]
        t3 = time.perf_counter()
        sim_mod._to_dataset(problem, *res)
        t4 = time.perf_counter()
        phases["sample_s"].append(t1 - t0)
        phases["prepare_s"].append(t2 - t1)
        phases["solve_s"].append(t3 - t2)
        phases["to_dataset_s"].append(t4 - t3)
        t5 = time.perf_counter()
        ds = trial.compute_batch(0, 0, batch_size)
        t6 = time.perf_counter()
        st.write_region(path, ds, 0, 0)
        t7 = time.perf_counter()
        info = {"arm": 0, "batch": 0, "patients": batch_size, "status": st.status_counts(ds["status"].values),
                "n_steps_max": int(ds["n_steps"].values.max()), "compute_s": 0.0, "write_s": 0.0}
        st.mark_done(path, 0, 0, info)
        t8 = time.perf_counter()
        phases["compute_batch_s"].append(t6 - t5)
        phases["zarr_write_s"].append(t7 - t6)
        phases["marker_s"].append(t8 - t7)
        phases["batch_serial_s"].append(t8 - t5)
    out = {k: statistics.median(v) for k, v in phases.items() if k != "package_s"}
    out["package_s"] = max(out["compute_batch_s"] - out["sample_s"] - out["prepare_s"] - out["solve_s"], 0.0)
    out["note"] = ("compute_batch_s = sample + simulate (prepare + solve + to_dataset) + packaging into the store's "
                   "variables; package_s = compute_batch_s - sample - prepare - solve (to_dataset included); "
                   "batch_serial_s = compute_batch + zarr write + marker with no overlap")
    del runner
    return out


def child(cfg: dict) -> dict:
    apply_patches(cfg.get("patches", []))
    import jax

    import vhtwin as vh

    n, bs, solver, mode = cfg["n"], cfg["batch_size"], cfg["solver"], cfg["mode"]
    stored = cfg.get("stored")
    bs = min(bs, n)
    work = Path(cfg["workdir"])
    m, pop, regimen, trial = build(vh, solver, n)
    rec = {"n": n, "batch_size": bs, "solver": solver, "method": trial.methods, "precision": trial.precision,
           "stored_precision": stored or trial.precision,
           "arms": 1, "devices": len(jax.local_devices()), "patches": cfg.get("patches", [])}
    rss0 = ru_maxrss_mb()
    if mode == "cold":
        # fresh process, full trial first: compile included, measured
        t = run_trial(trial, work / "cold.zarr", bs, stored)
        rec.update(e2e_cold_measured_s=t, ru_maxrss_mb=ru_maxrss_mb())
        return rec
    _, _, _, small = build(vh, solver, bs)
    small_cold = run_trial(small, work / "warmup.zarr", bs, stored)
    small_warm = run_trial(small, work / "warmup.zarr", bs, stored)
    rec.update(warmup_cold_s=small_cold, warmup_warm_s=small_warm, compile_s=max(small_cold - small_warm, 0.0))
    log(f"  [{solver} n={n}] warm-up {small_cold:.2f} s cold, {small_warm:.2f} s warm")
    rss_before = ru_maxrss_mb()
    path = work / "trial.zarr"
    t = run_trial(trial, path, bs, stored)
    rss_after = ru_maxrss_mb()
    size, alloc, files = dir_bytes(path)
    rec.update(e2e_warm_s=t, ru_maxrss_mb_start=rss0, ru_maxrss_mb_before_run=rss_before, ru_maxrss_mb=rss_after,
               store_bytes=size, store_bytes_allocated=alloc, store_files=files, store_bytes_per_patient=size / n)
    log(f"  [{solver} n={n}] Trial.run {t:.2f} s ({n / t:,.0f} patients/s), ru_maxrss {rss_after:.0f} MB, "
        f"store {size / 2**20:.1f} MiB")
    if not cfg.get("skip_solve"):
        rec.update(solve_alone(vh, m, pop, regimen, trial, n, bs))
        log(f"  [{solver} n={n}] solve alone {rec['solve_s']:.2f} s + sampling {rec['sample_s']:.2f} s")
    if cfg.get("profile"):
        rec["profile_one_batch"] = profile_batch(vh, trial, path, bs)
    rec["ru_maxrss_mb_end"] = ru_maxrss_mb()
    shutil.rmtree(path, ignore_errors=True)
    return rec


def spawn(cfg: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(cfg)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"child {cfg} exited with {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the parent ------------------------------------------------------------------------------------------------------
def measurement(r: dict) -> dict:
    n = r["n"]
    m = {"type": "measurement", "benchmark": BENCHMARK, **r}
    m["patients_per_s_warm"] = n / r["e2e_warm_s"]
    m["e2e_cold_estimated_s"] = r["e2e_warm_s"] + r["compile_s"]
    m["patients_per_s_cold_estimated"] = n / m["e2e_cold_estimated_s"]
    if r.get("e2e_cold_measured_s"):
        m["patients_per_s_cold_measured"] = n / r["e2e_cold_measured_s"]
    if "solve_s" in r:
        m["solve_alone_patients_per_s"] = n / r["solve_s"]
        m["solve_alone_with_sampling_patients_per_s"] = n / (r["solve_s"] + r["sample_s"])
        m["e2e_over_solve"] = m["patients_per_s_warm"] / m["solve_alone_patients_per_s"]
        m["e2e_over_solve_with_sampling"] = m["patients_per_s_warm"] / m["solve_alone_with_sampling_patients_per_s"]
        m["target_e2e_over_solve_0.8_met"] = m["e2e_over_solve"] >= 0.8
    return m


def machine_info() -> dict:
    import jax

    import vhtwin  # noqa: F401 - makes every CPU core a device, as in the children

    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        rev = None
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "jax_version": jax.__version__, "jax_backend": jax.default_backend(),
            "jax_devices": [str(d) for d in jax.devices()], "git_commit": rev}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="100000,1000000", help="patients (one arm), comma-separated")
    ap.add_argument("--batch-size", type=int, default=10000, help="Trial.run batch_size (default 10000)")
    ap.add_argument("--solvers", default="auto,tsit5", help="comma-separated solver names (default auto,tsit5)")
    ap.add_argument("--cold-max", type=int, default=100000,
                    help="also measure compile-included runs directly (extra fresh child) for n <= this")
    ap.add_argument("--profile-n", type=int, default=None, help="profile one batch in the child of this n "
                    "(default the smallest n)")
    ap.add_argument("--patch", default="", help="experiments: comma-separated nocompress,lz4,serial_write")
    ap.add_argument("--stored-precision", default="",
                    help="comma-separated Trial.run stored_precision values to measure (default: the solve's)")
    ap.add_argument("--skip-solve", action="store_true", help="skip the solve-alone pass")
    ap.add_argument("--json", action="store_true", help="JSON lines on stdout (the default output anyway)")
    ap.add_argument("--out", type=Path, help="also write every record to this JSON file")
    ap.add_argument("--quick", action="store_true", help="smoke run: n = 4000, batch size 1000")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(json.loads(a.child))), flush=True)
        return 0
    if a.quick:
        a.n, a.batch_size, a.cold_max = "4000", 1000, 4000
    ns = [int(float(x)) for x in a.n.split(",") if x.strip()]
    solvers = [x.strip() for x in a.solvers.split(",") if x.strip()]
    patches = [x.strip() for x in a.patch.split(",") if x.strip()]
    storeds = [x.strip() for x in a.stored_precision.split(",") if x.strip()] or [None]
    profile_n = a.profile_n if a.profile_n is not None else min(ns)
    started = time.time()
    machine = machine_info()
    records = []
    emit = lambda r: (records.append(r), print(json.dumps(r), flush=True))
    with tempfile.TemporaryDirectory(prefix="vhtwin-trial-bench-") as tmp:
        for solver, stored, n in ((x, y, z) for x in solvers for y in storeds for z in ns):
            cfg = {"n": n, "batch_size": a.batch_size, "solver": solver, "workdir": tmp, "patches": patches,
                   "skip_solve": a.skip_solve, "profile": n == profile_n, "stored": stored}
            cold = None
            if n <= a.cold_max:
                log(f"[{solver} n={n}] fresh child, full trial first (compile included) ...")
                cold = spawn({**cfg, "mode": "cold"})
            log(f"[{solver} n={n}] fresh child: warm-up, Trial.run, solve alone ...")
            r = spawn({**cfg, "mode": "warm"})
            if cold:
                r["e2e_cold_measured_s"] = cold["e2e_cold_measured_s"]
                r["ru_maxrss_mb_cold_child"] = cold["ru_maxrss_mb"]
            emit(measurement(r))
    comps = []
    for solver, stored in sorted({(r["solver"], r["stored_precision"]) for r in records}):
        rs = sorted((r for r in records if (r["solver"], r["stored_precision"]) == (solver, stored)), key=lambda r: r["n"])
        if len(rs) >= 2:
            lo, hi = rs[0], rs[-1]
            c = {"type": "comparison", "benchmark": BENCHMARK, "solver": solver, "stored_precision": stored,
                 "n_small": lo["n"], "n_large": hi["n"],
                 "peak_rss_ratio": hi["ru_maxrss_mb"] / lo["ru_maxrss_mb"],
                 "store_bytes_ratio": hi["store_bytes"] / lo["store_bytes"],
                 "patients_per_s_ratio": hi["patients_per_s_warm"] / lo["patients_per_s_warm"]}
            c["target_peak_rss_ratio_1.2_met"] = c["peak_rss_ratio"] <= 1.2
            comps.append(c)
            emit(c)
    summary = {"type": "summary", "benchmark": BENCHMARK, "machine": machine,
               "config": {"model": MODEL, "typical": TYPICAL, "omega_variance": OMEGA_SD**2, "dose_mg": DOSE_MG,
                          "interval_h": INTERVAL_H, "n_doses": N_DOSES, "times": "0..168 h hourly", "outputs": OUTPUTS,
                          "rtol": RTOL, "atol": ATOL, "seed": SEED, "arms": 1, "n": ns, "batch_size": a.batch_size,
                          "solvers": solvers, "patches": patches, "quick": a.quick},
               "wall_s": time.time() - started}
    emit(summary)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"records": records}, indent=1) + "\n")
        log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
