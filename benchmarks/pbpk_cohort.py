"""Whole-body PBPK cohort benchmark: virtual individuals given one oral dose of midazolam, vhtwin against diffrax.

The cohort (fixed by ``--patients`` and ``--seed``): ``pbpk_whole_body.population("midazolam",
vh.physiology.Individuals(age=(20, 80), weight=(50, 100)), omega={"CLint": 0.09})`` sampled with
``Population.sample(n, seed)``: each virtual individual has his own organ volumes and blood flows (23 states, 54
parameters), and a log-normal intrinsic clearance on top. One oral dose of 7.5 mg into ``gut_lumen`` at t = 0; the
venous plasma concentration ``Cp`` every 0.25 h from 0 to 24 h (97 times); rtol 1e-6, atol 1e-9 (mg); float64.

Peers, each measured in a fresh child process of its own (so its peak resident memory, ``ru_maxrss``, is its own);
in each: the first call (compile + run), then ``--repeats`` warm runs, the best kept:

* ``vhtwin_auto``: ``vh.simulate(model, draw, ..., solver="auto")``. The model is linear (``linear = True``) and
  every patient is dosed at the same time, so "auto" takes the exact path: matrix exponentials of each patient's
  23 x 23 system over the output grid. Timed end to end (input checks, the compiled solve, the xarray Dataset).
* ``vhtwin_rodas4``: the same call with ``solver="rodas4"`` (L-stable Rosenbrock, the ODE path), at rtol/atol.
  ``vhtwin_rodas4_1dev``: the same on one device (one CPU core), the hardware of plain ``jit(vmap(...))``.
* ``diffrax_kvaerno5``: ``diffrax.diffeqsolve`` with ``Kvaerno5()`` and ``PIDController(rtol, atol)`` (diffrax's
  defaults otherwise), ``SaveAt(ts=<the output grid>)``, ``jax.jit(jax.vmap(...))`` over patients; the dose is the
  initial state of ``gut_lumen``. The right-hand side is the vhtwin model's own equations (``vhtwin.equations``) (the same
  equations, no transcription). Timed: the jitted call plus transfer of Cp to numpy. On one device, as ``vmap``
  runs by default; ``diffrax_kvaerno5_sharded``: the patient axis split over every local device (XLA SPMD), the
  hardware vhtwin uses by default (not in the default set: see DEFAULT_PEERS). ``diffrax_tsit5``: the same with ``Tsit5()`` (explicit: the lung and arterial
  blood turn over in seconds, so it takes thousands of steps); it solves at most ``--tsit5-patients`` patients and
  its throughput is that of the patients it solved (``patients_solved`` in the record).

Accuracy: the max relative error of Cp (where the reference Cp > 1e-6 mg/L) on the first ``--ref-patients``
patients against a tight reference, vhtwin ``rodas4`` at rtol 1e-10, atol 1e-14; the exact path's own error against
it is reported as that of ``vhtwin_auto``, and the reference's self error (the same at rtol 1e-9) in the summary.

Memory: ``ru_maxrss`` of each child at the end (the peak of a process that imported JAX and vhtwin, sampled the
cohort, compiled and ran one peer) and its increase over the same process just before the peer's first call; and
XLA's compiled memory stats of the largest executable compiled in the first call (temp + arguments + outputs).

Usage::

    python benchmarks/pbpk_cohort.py                                  # 10,000 patients, table
    python benchmarks/pbpk_cohort.py --json --save results.json       # JSON lines, and one JSON file
    python benchmarks/pbpk_cohort.py --patients 500 --peers vhtwin_auto,diffrax_kvaerno5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pk_cohort import _loadavg, compile_probe, machine_info  # noqa: E402  (same measurement helpers)

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "pbpk_cohort"
MODEL = "pharmacokinetics/pbpk_whole_body"
DRUG = "midazolam"
AGE, WEIGHT = (20.0, 80.0), (50.0, 100.0)
OMEGA = {"CLint": 0.09}
DOSE_MG = 7.5
TIMES = np.arange(0.0, 24.0 + 0.125, 0.25)  # 0..24 h every 0.25 h
RTOL, ATOL = 1e-6, 1e-9
REF_RTOL, REF_ATOL = 1e-10, 1e-14
REF_FLOOR = 1e-6  # mg/L: relative errors only where the reference Cp is above this
SLOW_RUN_S = 120.0  # a warm run slower than this is not repeated
DIFFRAX_MAX_STEPS = 1_000_000
PEERS = ("vhtwin_auto", "vhtwin_rodas4", "vhtwin_rodas4_1dev", "diffrax_kvaerno5", "diffrax_kvaerno5_sharded",
         "diffrax_tsit5")
# diffrax_kvaerno5_sharded is left out by default: on the 2-core reference machine its first call at 10,000 patients
# sat idle past 600 s (at 20 patients it ran), so it would only stall the run.
DEFAULT_PEERS = ("vhtwin_auto", "vhtwin_rodas4", "vhtwin_rodas4_1dev", "diffrax_kvaerno5", "diffrax_tsit5")
#: Ratios reported: (numerator, denominator); the first is the headline (each as a user gets it by default).
RATIOS = tuple((a, b) for b in PEERS if b.startswith("diffrax") for a in PEERS if a.startswith("vhtwin"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ru_maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return r / 2**20 if sys.platform == "darwin" else r / 2**10


# -- the cohort ------------------------------------------------------------------------------------------------------
def cohort(n: int, seed: int):
    """(model, per-patient parameters as an xarray Dataset over ``patient``, regimen) for n virtual adults."""
    import vhtwin as vh
    from vhtwin.models.pharmacokinetics import pbpk_whole_body as pb

    pop = pb.population(DRUG, vh.physiology.Individuals(age=AGE, weight=WEIGHT), omega=OMEGA)
    return pop.model, pop.sample(n=n, seed=seed), vh.Regimen.bolus(DOSE_MG, into="gut_lumen")


# -- peers -----------------------------------------------------------------------------------------------------------
class VhtwinPeer:
    """``vh.simulate`` on the whole cohort; ``run()`` returns (Cp as numpy (n, T), info)."""

    def __init__(self, model, draw, regimen, solver: str, devices=None, rtol=RTOL, atol=ATOL):
        import vhtwin as vh

        self.vh, self.model, self.draw, self.regimen = vh, model, draw, regimen
        self.solver, self.devices, self.rtol, self.atol = solver, devices, rtol, atol
        self.used = None

    def run(self):
        ds = self.vh.simulate(self.model, self.draw, times=TIMES, protocol=self.regimen, outputs=["Cp"],
                              solver=self.solver, rtol=self.rtol, atol=self.atol, precision="float64",
                              devices=self.devices)
        self.used = ds.attrs.get("solver")
        cp = np.asarray(ds["Cp"].values)
        steps = np.asarray(ds["n_steps"].values + ds["n_rejected"].values)
        return cp, {"failures": int(np.count_nonzero(np.asarray(ds["status"].values) != 0)),
                    "mean_steps": float(np.mean(steps)), "max_steps_patient": int(np.max(steps))}

    def describe(self) -> dict:
        import jax

        return {"solver": self.used or self.solver, "solver_requested": self.solver,
                "devices": self.devices or len(jax.local_devices()),
                "call": "vhtwin.simulate(model, draw, protocol=Regimen.bolus(7.5, into='gut_lumen')) -> xarray.Dataset"}


class DiffraxPeer:
    """``jit(vmap(diffeqsolve))`` over patients with the model's own equations (``vhtwin.equations``)."""

    def __init__(self, model, draw, method: str, sharded: bool = False):
        import diffrax
        import jax
        import jax.numpy as jnp

        self.method, self.version = method, diffrax.__version__
        names = model.parameter_names
        P = np.stack([np.asarray(draw[k].values, float) for k in names], axis=1)  # (n, n_params)
        n_states, n_rates = len(model.states), len(model.dosable_states)
        i_ven, i_gut = model.state_names.index("venous_blood"), model.state_names.index("gut_lumen")
        i_vol, i_bp = names.index("V_venous_blood"), names.index("BP")
        y0 = np.zeros(n_states)
        y0[i_gut] = DOSE_MG

        from vhtwin.equations import equations

        def rhs(t, y, p):
            u = [jnp.zeros((), y.dtype)] * n_rates  # no infusions: the dose is the initial state
            dy = equations(model).row_rhs(t, [y[i] for i in range(n_states)], [p[i] for i in range(p.shape[0])], u)
            return jnp.stack(dy)

        term = diffrax.ODETerm(rhs)
        solver = {"kvaerno5": diffrax.Kvaerno5, "tsit5": diffrax.Tsit5}[method]()
        controller = diffrax.PIDController(rtol=RTOL, atol=ATOL)

        def one_patient(p, y0, ts):
            sol = diffrax.diffeqsolve(term, solver, ts[0], ts[-1], None, y0, args=p, saveat=diffrax.SaveAt(ts=ts),
                                      stepsize_controller=controller, max_steps=DIFFRAX_MAX_STEPS, throw=False)
            ok = sol.result == diffrax.RESULTS.successful
            steps = sol.stats["num_accepted_steps"] + sol.stats["num_rejected_steps"]
            return sol.ys[:, i_ven] / p[i_vol] / p[i_bp], ok, steps

        batched = jax.vmap(one_patient, in_axes=(0, None, None))
        self.devices = 1
        n_dev = len(jax.local_devices())
        if sharded and n_dev > 1 and P.shape[0] % n_dev == 0:
            from jax.sharding import Mesh, NamedSharding, PartitionSpec as S

            mesh = Mesh(np.array(jax.local_devices()), ("batch",))
            lane, rep = NamedSharding(mesh, S("batch")), NamedSharding(mesh, S())
            self.fn = jax.jit(batched, in_shardings=(lane, rep, rep), out_shardings=(lane, lane, lane))
            self.devices = n_dev
        else:
            self.fn = jax.jit(batched)
        self.inputs = (P, y0, TIMES)

    def run(self):
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(True):
            cp, ok, steps = self.fn(*(jnp.asarray(a, jnp.float64) for a in self.inputs))
            cp, ok, steps = np.asarray(cp), np.asarray(ok), np.asarray(steps)
        bad = ~ok | ~np.all(np.isfinite(cp), axis=1)
        return cp, {"failures": int(np.count_nonzero(bad)), "mean_steps": float(np.mean(steps)),
                    "max_steps_patient": int(np.max(steps))}

    def describe(self) -> dict:
        return {"solver": f"diffrax.{self.method.capitalize()} + PIDController(rtol, atol)",
                "diffrax_version": self.version, "devices": self.devices,
                "call": "jit(vmap(diffeqsolve(ODETerm(equations(model).row_rhs), SaveAt(ts))))"}


def make_peer(name: str, model, draw, regimen):
    if name == "vhtwin_auto":
        return VhtwinPeer(model, draw, regimen, "auto")
    if name == "vhtwin_rodas4":
        return VhtwinPeer(model, draw, regimen, "rodas4")
    if name == "vhtwin_rodas4_1dev":
        return VhtwinPeer(model, draw, regimen, "rodas4", devices=1)
    if name.startswith("diffrax_"):
        parts = name.split("_")
        return DiffraxPeer(model, draw, parts[1], sharded=parts[-1] == "sharded")
    raise SystemExit(f"unknown peer {name!r}; known: {', '.join(PEERS)}")


# -- one peer in a child process ---------------------------------------------------------------------------------------
def child(cfg: dict) -> dict:
    """Sample the cohort, run one peer (first call, then warm runs), save its Cp; returns the record."""
    import jax

    import vhtwin  # noqa: F401  (first: makes every CPU core a JAX device before JAX starts)

    name, n = cfg["peer"], cfg["n"]
    t = time.perf_counter()
    model, draw, regimen = cohort(n, cfg["seed"])
    sample_s = time.perf_counter() - t
    rss_before = ru_maxrss_mb()
    load = [_loadavg()]
    with jax.enable_x64(True):
        peer = make_peer(name, model, draw, regimen)  # inputs only: nothing is traced or compiled here
        with compile_probe() as probe:
            t = time.perf_counter()
            cp, info = peer.run()
            first = time.perf_counter() - t
        log(f"  {name}: first call {first:.2f} s")
        walls = []
        for r in range(cfg["repeats"]):
            if walls and walls[0] > SLOW_RUN_S:
                break
            t = time.perf_counter()
            cp, info = peer.run()
            walls.append(time.perf_counter() - t)
            load.append(_loadavg())
            log(f"  {name}: warm run {r + 1}: {walls[-1]:.3f} s")
    np.save(cfg["cp_file"], cp[: cfg["ref_patients"]])
    best = min(walls)
    xla = probe["executables"][0][1] if probe["executables"] else None
    rss = ru_maxrss_mb()
    return {
        "type": "measurement", "benchmark": BENCHMARK, "peer": name, "patients": cfg["patients"], "patients_solved": n,
        "patients_per_s": n / best, "wall_s_best": best, "wall_s_all": walls, "repeats": len(walls),
        "first_call_s": first,
        "compile_s": probe["compile_s"] if probe["compile_s"] is not None else max(first - best, 0.0),
        "compile_parts_s": probe["compile_parts_s"],
        "peak_rss_mb": round(rss, 1), "peak_rss_increase_mb": round(rss - rss_before, 1),
        "rss_before_first_call_mb": round(rss_before, 1),
        "xla_memory_mb": xla["total_mb"] if xla else None,
        "sample_s": sample_s, **info, "rtol": RTOL, "atol": ATOL, "seed": cfg["seed"], "loadavg_1min": load,
        **peer.describe(),
    }


def spawn(cfg: dict, timeout_s: float) -> dict | None:
    """Run one peer in a fresh child process; None (and a line on stderr) if it fails or runs past ``timeout_s``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(cfg)]
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        log(f"{cfg['peer']}: no result within {timeout_s:.0f} s, left out")
        return None
    if out.returncode != 0:
        log(f"{cfg['peer']}: child exited with {out.returncode}, left out")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the reference -----------------------------------------------------------------------------------------------------
def reference(n: int, seed: int, k: int) -> dict:
    """rodas4 at rtol 1e-10 (and 1e-9, for its self error) on the first k patients of the cohort, one device."""
    import jax

    import vhtwin  # noqa: F401

    model, draw, regimen = cohort(n, seed)
    sub = draw.isel(patient=slice(0, k))
    out = {}
    with jax.enable_x64(True):
        for rtol, atol in ((REF_RTOL, REF_ATOL), (REF_RTOL * 10, REF_ATOL * 10)):
            t = time.perf_counter()
            out[rtol] = VhtwinPeer(model, sub, regimen, "rodas4", devices=1, rtol=rtol, atol=atol).run()
            log(f"reference rodas4 rtol {rtol:g} on {k} patients: {time.perf_counter() - t:.1f} s, "
                f"{out[rtol][1]['mean_steps']:.0f} steps/patient")
    cp = out[REF_RTOL][0]
    return {"cp": cp, "self_error": errors(out[REF_RTOL * 10][0], cp), "mean_steps": out[REF_RTOL][1]["mean_steps"],
            "cmax_mg_per_L": [float(cp.max(axis=1).min()), float(cp.max(axis=1).max())]}


def errors(cp: np.ndarray, ref: np.ndarray) -> dict:
    """Max and 99th-percentile relative error of Cp where ref > REF_FLOOR; max absolute error."""
    cp = np.asarray(cp, float)[: ref.shape[0]]
    if not np.all(np.isfinite(cp)):
        return {"max_rel_error": None, "p99_rel_error": None, "max_abs_error_mg_per_L": None}
    mask = ref > REF_FLOOR
    rel = np.abs(cp[mask] - ref[mask]) / ref[mask]
    return {"max_rel_error": float(rel.max()), "p99_rel_error": float(np.percentile(rel, 99)),
            "max_abs_error_mg_per_L": float(np.abs(cp - ref).max())}


def comparisons(records: list[dict]) -> list[dict]:
    by = {r["peer"]: r for r in records}
    out = []
    for num, den in RATIOS:
        if num in by and den in by:
            a, b = by[num], by[den]
            out.append({"ratio": f"{num}_over_{den}", "speed_ratio": a["patients_per_s"] / b["patients_per_s"],
                        "compile_ratio": a["compile_s"] / b["compile_s"] if b["compile_s"] else None,
                        "peak_rss_ratio": a["peak_rss_mb"] / b["peak_rss_mb"],
                        "denominator_patients_solved": b["patients_solved"]})
    return out


def _f(x, spec):
    return "-" if x is None else format(x, spec)


def print_table(records, comps, summary, file=sys.stdout):
    p = lambda *a: print(*a, file=file)
    m, c = summary["machine"], summary["config"]
    p(f"pbpk_cohort on {m['platform']}, {m['cpu_count']} CPUs, jax {m['jax_version']} ({', '.join(m['jax_devices'])})")
    p(f"{c['model']} ({c['drug']}): {c['patients']} virtual adults {AGE[0]:g}-{AGE[1]:g} y, {DOSE_MG:g} mg oral, "
      f"Cp every 0.25 h over 24 h; rtol {RTOL:g}, atol {ATOL:g}; errors on {c['ref_patients']} patients against "
      f"rodas4 rtol {REF_RTOL:g}")
    head = (f"{'peer':25} {'solved':>6} {'patients/s':>11} {'best s':>8} {'R':>2} {'compile s':>9} {'RSS MB':>7} "
            f"{'+RSS MB':>8} {'XLA MB':>7} {'max rel err':>11} {'fail':>4} {'steps':>7}")
    p(head)
    p("-" * len(head))
    for r in records:
        p(f"{r['peer']:25} {r['patients_solved']:>6} {r['patients_per_s']:>11.0f} {r['wall_s_best']:>8.3f} "
          f"{r['repeats']:>2} {r['compile_s']:>9.2f} {r['peak_rss_mb']:>7.0f} {r['peak_rss_increase_mb']:>8.0f} "
          f"{_f(r['xla_memory_mb'], '>7.1f')} {_f(r['max_rel_error'], '>11.2e')} {r['failures']:>4} "
          f"{r['mean_steps']:>7.0f}")
    p("")
    for x in comps:
        p(f"{x['ratio']:45} speed {x['speed_ratio']:8.2f}   compile {_f(x['compile_ratio'], '.2f')}   "
          f"peak RSS {x['peak_rss_ratio']:.2f}")
    loads = [x for r in records for x in r["loadavg_1min"] if x is not None]
    if loads:
        p(f"1-min load average during the run: {min(loads):.2f} to {max(loads):.2f} on {m['cpu_count']} CPUs")
    if summary["left_out"]:
        p(f"left out (failed or timed out): {', '.join(summary['left_out'])}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=10_000, help="virtual individuals (default 10000)")
    ap.add_argument("--peers", default=",".join(DEFAULT_PEERS), help=f"comma-separated, from {','.join(PEERS)}")
    ap.add_argument("--repeats", type=int, default=3, help="warm runs per peer; the best is reported")
    ap.add_argument("--ref-patients", type=int, default=200, help="patients solved by the tight reference")
    ap.add_argument("--child-timeout", type=float, default=1800.0,
                    help="seconds a peer's child process may run before it is left out")
    ap.add_argument("--tsit5-patients", type=int, default=500,
                    help="at most this many patients for diffrax_tsit5 (thousands of steps each)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print JSON lines (one per peer, then a summary)")
    ap.add_argument("--save", help="also write every record and the summary to this JSON file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(json.loads(a.child))), flush=True)
        return 0
    peers = [x.strip() for x in a.peers.split(",") if x.strip()]
    bad = [x for x in peers if x not in PEERS]
    if bad or a.patients < 1 or a.repeats < 1:
        ap.error(f"bad arguments: {bad or 'patients and repeats must be >= 1'}")
    started = time.time()
    ref_k = min(a.ref_patients, a.patients)
    import vhtwin  # noqa: F401  (first: makes every CPU core a JAX device before JAX starts)

    machine = machine_info()
    records, left_out = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in peers:
            n = min(a.patients, a.tsit5_patients) if name == "diffrax_tsit5" else a.patients
            log(f"{name}: {n} patients, in a child process ...")
            cfg = {"peer": name, "n": n, "patients": a.patients, "seed": a.seed, "repeats": a.repeats,
                   "ref_patients": ref_k, "cp_file": os.path.join(tmp, f"{name}.npy")}
            rec = spawn(cfg, a.child_timeout)
            if rec is None:
                left_out.append(name)
                continue
            rec["cp"] = np.load(cfg["cp_file"])
            records.append(rec)
        ref = reference(a.patients, a.seed, ref_k)
        for rec in records:
            rec.update(errors(rec.pop("cp"), ref["cp"]))
            if a.json:
                print(json.dumps(rec), flush=True)
    comps = comparisons(records)
    summary = {
        "type": "summary", "benchmark": BENCHMARK, "machine": machine, "comparisons": comps,
        "config": {"model": MODEL, "drug": DRUG, "individuals": {"age": AGE, "weight": WEIGHT}, "omega": OMEGA,
                   "dose_mg": DOSE_MG, "into": "gut_lumen", "times": "0..24 h every 0.25 h", "rtol": RTOL,
                   "atol": ATOL, "precision": "float64", "patients": a.patients, "peers": peers,
                   "repeats": a.repeats, "seed": a.seed, "ref_patients": ref_k,
                   "tsit5_patients": min(a.patients, a.tsit5_patients),
                   "reference": f"vhtwin rodas4 rtol {REF_RTOL:g} atol {REF_ATOL:g}, one device"},
        "left_out": left_out,
        "reference_self_error": ref["self_error"], "reference_mean_steps": ref["mean_steps"],
        "reference_cmax_range_mg_per_L": ref["cmax_mg_per_L"],
        "command": "benchmarks/pbpk_cohort.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "wall_s": time.time() - started,
    }
    if a.json:
        print(json.dumps(summary), flush=True)
    else:
        print_table(records, comps, summary)
    if a.save:
        with open(a.save, "w") as f:
            json.dump({"records": records, "summary": summary}, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
