"""Reference cohort benchmark: a two-compartment oral PK cohort solved by vhtwin and by plain diffrax, side by side.

The cohort (fixed): ``pharmacokinetics/two_compartment_oral`` with typical values ka = 1 /h, CL = 5 L/h, V1 = 50 L,
Q = 10 L/h, V2 = 100 L, each multiplied by exp(N(0, 0.3^2)) independently per patient (``numpy.random.default_rng(
seed)``); 100 mg into ``depot`` every 12 h x 14 doses from t = 0; Cc saved hourly from 0 to 168 h; rtol 1e-6,
atol 1e-9. Outputs at a dose time are the pre-dose values (vhtwin's convention).

Peers, run in one process, each in its own ``jax.enable_x64(precision == "float64")`` context:

* ``vhtwin``: ``vhtwin.simulate(..., outputs=["Cc"], solver="tsit5")`` (Tsit5, integral step control), the
  batch split over every local device (every CPU core). Timed end to end: input checks, the compiled batched solve,
  transfer to numpy and the xarray Dataset. ``vhtwin_1dev``: the same on one device. ``vhtwin_exact``: the exact
  matrix-exponential path for linear models (``solver="exact"``, what ``"auto"`` picks for this model).
* ``diffrax``: ``diffrax.diffeqsolve`` with ``Tsit5()`` and ``PIDController(rtol, atol)`` (diffrax's defaults
  otherwise), ``jax.vmap`` over patients, the solve restarted at each dose: a ``lax.scan`` over the 14 dosing
  intervals, each a ``diffeqsolve`` from t_k to t_{k+1} with ``SaveAt(ts=<the hourly times in (t_k, t_{k+1}]>)``,
  100 mg added to ``depot`` at the start of each interval. The output at t_{k+1} is therefore the state before dose
  k+1 (pre-dose), and t = 0 is the initial state. The whole cohort solve is ONE jitted function. Timed: the jitted
  call plus transfer of Cc to numpy. ``diffrax_sharded``: the same with the patient axis sharded over every local
  device (XLA SPMD).

Accuracy is measured against the exact solution
:func:`vhtwin.testing.pharmacokinetics.two_compartment_oral_central` (float64 superposition).

Usage::

    python benchmarks/pk_cohort.py                       # table, n = 1000 and 10000, float32 and float64
    python benchmarks/pk_cohort.py --json --n 1000       # JSON lines
    python benchmarks/pk_cohort.py --quick               # smoke run: n = 200, 1 repeat

See benchmarks/README.md for the meaning of every field.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import platform
import resource
import sys
import threading
import time

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "pk_cohort"
MODEL = "pharmacokinetics/two_compartment_oral"
PARAM_NAMES = ("ka", "CL", "V1", "Q", "V2")
TYPICAL = {"ka": 1.0, "CL": 5.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}
OMEGA = 0.3  # standard deviation of the log-normal between-patient variability
DOSE_MG = 100.0
INTERVAL_H = 12.0
N_DOSES = 14
TIMES = np.arange(169.0)  # hourly, 0..168 h
RTOL, ATOL = 1e-6, 1e-9
REF_FLOOR = 1e-6  # relative errors only where the exact Cc > this (mg/L)
SLOW_RUN_S = 60.0  # a warm run slower than this is not repeated
DIFFRAX_MAX_STEPS = 100_000  # per dosing interval; ~45 are needed (diffrax's speed does not depend on it here)


# -- the cohort and its exact solution ---------------------------------------------------------------------------------
def cohort(n: int, seed: int) -> dict[str, np.ndarray]:
    """Per-patient parameters (float64 arrays of shape (n,)), log-normal around the typical values."""
    rng = np.random.default_rng(seed)
    return {k: TYPICAL[k] * np.exp(rng.normal(0.0, OMEGA, n)) for k in PARAM_NAMES}


def dose_times() -> np.ndarray:
    return np.arange(N_DOSES) * INTERVAL_H


def exact_cc(params: dict[str, np.ndarray]) -> np.ndarray:
    """Exact Cc (mg/L), shape (n, T), float64."""
    from vhtwin.testing.pharmacokinetics import two_compartment_oral_central

    col = {k: np.asarray(v, float)[:, None] for k, v in params.items()}
    central = two_compartment_oral_central(TIMES, dose_times(), np.full(N_DOSES, DOSE_MG), col["ka"], col["CL"],
                                           col["V1"], col["Q"], col["V2"])
    return central / col["V1"]


def errors(cc: np.ndarray, ref: np.ndarray) -> dict:
    """Max and 99th-percentile relative error over finite patients and times where ref > REF_FLOOR."""
    cc = np.asarray(cc, dtype=np.float64)
    finite = np.all(np.isfinite(cc), axis=1)
    mask = (ref > REF_FLOOR) & finite[:, None]
    if not mask.any():
        return {"max_rel_error": None, "p99_rel_error": None, "max_abs_error_mg_per_L": None}
    rel = np.abs(cc[mask] - ref[mask]) / ref[mask]
    return {
        "max_rel_error": float(rel.max()),
        "p99_rel_error": float(np.percentile(rel, 99)),
        "max_abs_error_mg_per_L": float(np.abs(cc[finite] - ref[finite]).max()),
    }


# -- peers -------------------------------------------------------------------------------------------------------------
class Peer:
    """One way of solving the cohort at one (precision, n). ``run()`` returns (Cc as numpy (n, T), info dict)."""

    name = ""

    def __init__(self, params: dict[str, np.ndarray], precision: str):
        self.params, self.precision = params, precision
        self.n = len(params["ka"])

    def x64(self):
        import jax

        return jax.enable_x64(self.precision == "float64")

    def run(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict:
        return {}


class VhtwinPeer(Peer):
    name = "vhtwin"
    devices = None  # all local devices (every CPU core), vhtwin's default
    solver = "tsit5"  # the ODE path; the model is linear, so "auto" would take the exact path (vhtwin_exact)

    def __init__(self, params, precision):
        super().__init__(params, precision)
        import vhtwin as vh

        self.vh = vh
        self.model = vh.load_model(MODEL)
        self.regimen = vh.Regimen.repeated(amount=DOSE_MG, interval=INTERVAL_H, count=N_DOSES, into="depot")

    def _simulate(self):
        return self.vh.simulate(self.model, params=self.params, times=TIMES, protocol=self.regimen, rtol=RTOL,
                                atol=ATOL, precision=self.precision, devices=self.devices, outputs=["Cc"],
                                solver=self.solver)

    def run(self):
        with self.x64():
            ds = self._simulate()
            cc = ds["Cc"].values
            status = ds["status"].values
            steps = ds["n_steps"].values + ds["n_rejected"].values
        self.solver = ds.attrs.get("solver")
        return cc, {"failures": int(np.count_nonzero(status != 0)), "mean_steps": float(np.mean(steps)),
                    "max_steps": int(np.max(steps))}

    def describe(self):
        import jax

        used = self.devices or len(jax.local_devices())
        return {"solver": getattr(self, "solver", "auto"), "devices": used,
                "call": "vhtwin.simulate(...) -> xarray.Dataset"}


class VhtwinExactPeer(VhtwinPeer):
    """vhtwin's exact path for linear models: matrix exponentials over the merged output/dose grid."""

    name = "vhtwin_exact"
    solver = "exact"


class VhtwinOneDevicePeer(VhtwinPeer):
    """vhtwin restricted to one device (one CPU core): the same hardware as plain diffrax."""

    name = "vhtwin_1dev"
    devices = 1


class DiffraxPeer(Peer):
    name = "diffrax"

    def __init__(self, params, precision):
        super().__init__(params, precision)
        import diffrax
        import jax
        import jax.numpy as jnp

        self.diffrax_version = diffrax.__version__
        P = np.stack([params[k] for k in PARAM_NAMES], axis=1)  # (n, 5)
        starts = dose_times()
        ends = np.append(starts[1:], TIMES[-1])
        # hourly output times in (t_k, t_{k+1}]: 12 per interval for this regimen (uniform, so lax.scan applies)
        per = [TIMES[(TIMES > a) & (TIMES <= b)] for a, b in zip(starts, ends)]
        if len({len(x) for x in per}) != 1:
            raise ValueError("the diffrax peer needs the same number of outputs in every dosing interval")
        ts = np.stack(per)
        amounts = np.full(N_DOSES, DOSE_MG)

        def rhs(t, y, p):
            ka, CL, V1, Q, V2 = p[0], p[1], p[2], p[3], p[4]
            depot, central, peripheral = y[0], y[1], y[2]
            absorption = ka * depot
            elimination = CL / V1 * central
            distribution = Q / V1 * central - Q / V2 * peripheral
            return jnp.stack([-absorption, absorption - elimination - distribution, distribution])

        term = diffrax.ODETerm(rhs)
        solver = diffrax.Tsit5()
        controller = diffrax.PIDController(rtol=RTOL, atol=ATOL)

        def one_patient(p, y0, starts, ends, ts, amounts):
            def interval(y, k):
                t0, t1, t_save, amount = k
                y = y.at[0].add(amount)  # the dose at t0, after the (pre-dose) output at t0
                sol = diffrax.diffeqsolve(term, solver, t0, t1, None, y, args=p, saveat=diffrax.SaveAt(ts=t_save),
                                          stepsize_controller=controller, max_steps=DIFFRAX_MAX_STEPS, throw=False)
                ok = sol.result == diffrax.RESULTS.successful
                steps = sol.stats["num_accepted_steps"] + sol.stats["num_rejected_steps"]
                return sol.ys[-1], (sol.ys[:, 1] / p[2], ok, steps)

            _, (cc, ok, steps) = jax.lax.scan(interval, y0, (starts, ends, ts, amounts))
            cc = jnp.concatenate([y0[1:2] / p[2], cc.reshape(-1)])  # t = 0: the initial (pre-dose) state
            return cc, jnp.all(ok), jnp.sum(steps)

        batched = jax.vmap(one_patient, in_axes=(0, None, None, None, None, None))
        self.devices = self.shard_over(jax)
        if self.devices > 1:
            # The batch axis split over every local device (XLA SPMD): the same hardware vhtwin uses by default.
            from jax.sharding import Mesh, NamedSharding, PartitionSpec as S

            mesh = Mesh(np.array(jax.local_devices()[: self.devices]), ("batch",))
            lane, rep = NamedSharding(mesh, S("batch")), NamedSharding(mesh, S())
            self.fn = jax.jit(batched, in_shardings=(lane, rep, rep, rep, rep, rep), out_shardings=(lane, lane, lane))
        else:
            self.fn = jax.jit(batched)
        self.inputs = (P, np.zeros(3), starts, ends, ts, amounts)  # numpy float64, like vhtwin's inputs

    def shard_over(self, jax) -> int:
        return 1

    def run(self):
        import jax.numpy as jnp

        with self.x64():
            dtype = jnp.float64 if self.precision == "float64" else jnp.float32
            cc, ok, steps = self.fn(*(jnp.asarray(a, dtype) for a in self.inputs))
            cc, ok, steps = np.asarray(cc), np.asarray(ok), np.asarray(steps)
        bad = ~ok | ~np.all(np.isfinite(cc), axis=1)
        return cc, {"failures": int(np.count_nonzero(bad)), "mean_steps": float(np.mean(steps)),
                    "max_steps": int(np.max(steps))}

    def describe(self):
        return {"solver": "diffrax.Tsit5 + PIDController(rtol, atol)", "diffrax_version": self.diffrax_version,
                "devices": self.devices,
                "call": "jit(vmap(lax.scan over 14 dosing intervals of diffeqsolve(SaveAt(ts))))"}


class DiffraxShardedPeer(DiffraxPeer):
    """diffrax with the batch split over every local device, as vhtwin does by default."""

    name = "diffrax_sharded"

    def shard_over(self, jax) -> int:
        n_dev = len(jax.local_devices())
        return n_dev if self.n % n_dev == 0 else 1


PEERS = {"vhtwin": VhtwinPeer, "vhtwin_1dev": VhtwinOneDevicePeer, "vhtwin_exact": VhtwinExactPeer, "diffrax": DiffraxPeer,
         "diffrax_sharded": DiffraxShardedPeer}
#: Ratios reported: (numerator, denominator, label).
RATIOS = (
    ("vhtwin", "diffrax", "vhtwin_over_diffrax"),  # each as a user gets it by default (the headline ratio)
    ("vhtwin_1dev", "diffrax", "vhtwin_1dev_over_diffrax"),  # one core each
    ("vhtwin", "diffrax_sharded", "vhtwin_over_diffrax_sharded"),  # every core each
    ("vhtwin_exact", "diffrax", "vhtwin_exact_over_diffrax"),  # the closed-form path against the ODE peer
)


# -- compile time and compiled memory, the same way for every peer --------------------------------------------------
_COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "xla_compile",
}


@contextlib.contextmanager
def compile_probe():
    """Watches the JAX compilations inside the block, whoever triggers them.

    * Time: JAX's own (public, ``jax.monitoring``) time spans of tracing, lowering to MLIR and XLA compilation; nested
      spans (a jit traced inside another) are merged, so nothing is counted twice. Yields ``out["compile_s"]`` (the
      wall time of the union of the spans) and ``out["compile_parts_s"]`` (per kind, merged likewise).
    * Memory: every executable XLA compiles in the block is caught on its way out of
      ``jax._src.compiler.compile_or_get_cached`` (JAX-internal, pinned by the JAX version; if it moves, memory is
      reported as unavailable) and its ``get_compiled_memory_stats()`` kept: ``out["executables"]`` is a list of
      (name, stats), the largest first.
    """
    import jax

    spans: list[tuple[str, float, float]] = []
    out = {"compile_s": None, "compile_parts_s": {}, "executables": [], "memory_note": None}

    def on_span(event, start, end, **kw):
        if event in _COMPILE_EVENTS:
            spans.append((_COMPILE_EVENTS[event], start, end))

    jax.monitoring.register_event_time_span_listener(on_span)
    compiler, original = None, None
    try:
        from jax._src import compiler

        original = compiler.compile_or_get_cached

        def catching(backend, computation, *args, **kwargs):
            executable = original(backend, computation, *args, **kwargs)
            try:
                name = str(computation.operation.attributes["sym_name"]).strip('"')
                out["executables"].append((name, _memory_dict(executable.get_compiled_memory_stats())))
            except Exception as e:  # noqa: BLE001 - a probe, never fatal
                out["memory_note"] = f"memory stats unavailable: {type(e).__name__}: {e}"
            return executable

        compiler.compile_or_get_cached = catching
    except (ImportError, AttributeError) as e:
        out["memory_note"] = f"cannot watch XLA compilations in this JAX version ({e})"
    try:
        yield out
    finally:
        if original is not None:
            compiler.compile_or_get_cached = original
        jax.monitoring.unregister_event_time_span_listener(on_span)
        out["compile_s"] = _union(spans) if spans else None
        out["compile_parts_s"] = {k: _union([x for x in spans if x[0] == k]) for k in sorted({x[0] for x in spans})}
        out["executables"].sort(key=lambda e: -(e[1] or {}).get("total_mb", 0.0))


def _union(spans) -> float:
    total, end = 0.0, -math.inf
    for _, a, b in sorted(spans, key=lambda x: x[1]):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _memory_dict(ma) -> dict | None:
    if ma is None:
        return None
    if isinstance(ma, (list, tuple)):
        ma = ma[0]
    mb = lambda x: round(x / 2**20, 3)
    out = {
        "temp_mb": mb(ma.temp_size_in_bytes),
        "argument_mb": mb(ma.argument_size_in_bytes),
        "output_mb": mb(ma.output_size_in_bytes),
        "alias_mb": mb(getattr(ma, "alias_size_in_bytes", 0)),
        "generated_code_mb": mb(getattr(ma, "generated_code_size_in_bytes", 0)),
    }
    out["total_mb"] = round(out["temp_mb"] + out["argument_mb"] + out["output_mb"] - out["alias_mb"], 3)
    return out


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _ru_maxrss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return r / 2**20 if sys.platform == "darwin" else r / 2**10


@contextlib.contextmanager
def _rss_sampler(period_s: float = 0.002):
    """Samples this process's resident set size during the block; yields a dict filled with base and peak bytes."""
    out = {"base": _rss_bytes(), "peak": None}
    if out["base"] is None:
        yield out
        return
    stop = threading.Event()
    peak = [out["base"]]

    def sample():
        while not stop.is_set():
            r = _rss_bytes()
            if r is not None and r > peak[0]:
                peak[0] = r
            stop.wait(period_s)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        yield out
    finally:
        stop.set()
        th.join()
        out["peak"] = max(peak[0], _rss_bytes() or 0)


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _device_peak_bytes() -> int | None:
    import jax

    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001
        return None
    return None if not stats else stats.get("peak_bytes_in_use")


# -- machine -------------------------------------------------------------------------------------------------------
def machine_info() -> dict:
    import jax

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
    }


# -- the measurement -------------------------------------------------------------------------------------------------
def warm_up(peer_names) -> None:
    """Import every peer's packages and initialise the JAX backend in both precisions before anything is timed, so
    the first peer measured does not pay for one-off process start-up costs in its compile time."""
    import jax
    import jax.numpy as jnp

    importlib.import_module("vhtwin")
    if "diffrax" in peer_names:
        importlib.import_module("diffrax")
    for x64 in (False, True):
        with jax.enable_x64(x64):
            jax.block_until_ready(jax.jit(lambda x: jnp.sin(x) * 2.0)(jnp.arange(4.0)))


def measure(peer_names, precision: str, n: int, repeats: int, seed: int, log) -> list[dict]:
    """Measure every peer at one (precision, n); warm runs alternate between peers so machine noise hits both."""
    params = cohort(n, seed)
    ref = exact_cc(params)
    load0 = _loadavg()
    peers, rec = [], {}
    for name in peer_names:
        log(f"[{precision} n={n}] {name}: first call (compile + run) ...")
        ru0 = _ru_maxrss_mb()
        dev0 = _device_peak_bytes()
        peer = PEERS[name](params, precision)  # inputs only; nothing is traced or compiled here
        with compile_probe() as probe:
            t = time.perf_counter()
            cc, info = peer.run()
            first = time.perf_counter() - t
        peers.append(peer)
        rec[name] = {
            "type": "measurement", "benchmark": BENCHMARK, "peer": name, "precision": precision, "n": n,
            "first_call_s": first, "probe": probe, "walls": [], "info": info, "cc": cc, "ru0": ru0, "dev0": dev0,
            "note": [],
        }
        log(f"[{precision} n={n}] {name}: first call {first:.2f} s")
    # warm runs, alternating peers
    for r in range(repeats):
        for peer in peers:
            R = rec[peer.name]
            if r > 0 and R["walls"] and R["walls"][0] > SLOW_RUN_S:
                continue
            t = time.perf_counter()
            cc, info = peer.run()
            R["walls"].append(time.perf_counter() - t)
            R["cc"], R["info"] = cc, info
            log(f"[{precision} n={n}] {peer.name}: warm run {r + 1}: {R['walls'][-1]:.3f} s")
            if r == 0 and R["walls"][0] > SLOW_RUN_S and repeats > 1:
                R["note"].append(f"one warm run took {R['walls'][0]:.0f} s > {SLOW_RUN_S:.0f} s: run once only")
    out = []
    for peer in peers:
        R = rec[peer.name]
        # memory: the largest executable compiled during the first call is the cohort solve; plus one extra untimed
        # run under an RSS sampler
        probe = R["probe"]
        xla = probe["executables"][0][1] if probe["executables"] else None
        with _rss_sampler() as rss:
            peer.run()
        dev1 = _device_peak_bytes()
        best = min(R["walls"])
        first_minus_warm = max(R["first_call_s"] - best, 0.0)
        rss_delta = None if rss["peak"] is None else round((rss["peak"] - rss["base"]) / 2**20, 3)
        m = {
            "type": "measurement", "benchmark": BENCHMARK, "peer": peer.name, "precision": precision, "n": n,
            "patients_per_s": n / best,
            "wall_s_best": best,
            "wall_s_all": R["walls"],
            "repeats": len(R["walls"]),
            "first_call_s": R["first_call_s"],
            "compile_s": probe["compile_s"] if probe["compile_s"] is not None else first_minus_warm,
            "compile_source": ("jax.monitoring spans: trace + lower + XLA compile" if probe["compile_s"] is not None
                               else "first call - best warm run"),
            "compile_parts_s": probe["compile_parts_s"],
            "first_minus_warm_s": first_minus_warm,
            "peak_memory_mb": xla["total_mb"] if xla else None,
            "peak_memory_source": ("XLA compiled memory stats of the largest executable compiled in the first call: "
                                   "temp + argument + output - alias" if xla else probe["memory_note"]),
            "xla_memory": xla,
            "xla_executables": [[name, m["total_mb"] if m else None] for name, m in probe["executables"]],
            "rss_peak_increase_mb": rss_delta,
            "ru_maxrss_mb": round(_ru_maxrss_mb(), 3),
            "ru_maxrss_increase_mb": round(_ru_maxrss_mb() - R["ru0"], 3),
            "device_peak_increase_mb": (None if R["dev0"] is None or dev1 is None
                                        else round((dev1 - R["dev0"]) / 2**20, 3)),
            **errors(R["cc"], ref),
            "failures": R["info"]["failures"],
            "mean_steps": R["info"]["mean_steps"],
            "max_steps_patient": R["info"]["max_steps"],
            "rtol": RTOL, "atol": ATOL, "seed": seed,
            "loadavg_1min": [load0, _loadavg()],
            **peer.describe(),
        }
        if R["note"]:
            m["note"] = "; ".join(R["note"])
        out.append(m)
    return out


def comparisons(records: list[dict]) -> list[dict]:
    by = {(r["peer"], r["precision"], r["n"]): r for r in records}
    out = []
    for num, den, label in RATIOS:
        for (peer, precision, n), v in by.items():
            if peer != num or (den, precision, n) not in by:
                continue
            d = by[(den, precision, n)]
            out.append({
                "ratio": label, "precision": precision, "n": n,
                "speed_ratio": v["patients_per_s"] / d["patients_per_s"],
                "compile_ratio": (v["compile_s"] / d["compile_s"]) if d["compile_s"] > 0 else None,
                "memory_ratio": ((v["peak_memory_mb"] / d["peak_memory_mb"])
                                 if v["peak_memory_mb"] and d["peak_memory_mb"] else None),
            })
    return out


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def print_table(records, comps, machine, file=sys.stdout):
    p = lambda *a: print(*a, file=file)
    p(f"pk_cohort on {machine['platform']}, {machine['cpu_count']} CPUs, jax {machine['jax_version']} "
      f"({machine['jax_backend']}: {', '.join(machine['jax_devices'])})")
    p(f"two-compartment oral, 14 x 100 mg q12h, Cc hourly 0-168 h, rtol {RTOL:g}, atol {ATOL:g}")
    p("")
    head = (f"{'peer':15} {'prec':7} {'n':>6} {'patients/s':>11} {'best s':>8} {'R':>2} {'compile s':>9} "
            f"{'mem MB':>8} {'max rel err':>11} {'p99 rel err':>11} {'fail':>4} {'steps':>6}")
    p(head)
    p("-" * len(head))
    for r in records:
        p(f"{r['peer']:15} {r['precision']:7} {r['n']:>6} {r['patients_per_s']:>11.0f} {r['wall_s_best']:>8.3f} "
          f"{r['repeats']:>2} {r['compile_s']:>9.2f} {_fmt(r['peak_memory_mb'], '>8.1f')} "
          f"{_fmt(r['max_rel_error'], '>11.2e')} {_fmt(r['p99_rel_error'], '>11.2e')} {r['failures']:>4} "
          f"{r['mean_steps']:>6.0f}")
    if comps:
        p("")
        p(f"{'ratio':28} {'prec':7} {'n':>6} {'speed':>7} {'compile':>8} {'memory':>7}")
        for c in comps:
            p(f"{c['ratio']:28} {c['precision']:7} {c['n']:>6} {_fmt(c['speed_ratio'], '>7.2f')} "
              f"{_fmt(c['compile_ratio'], '>8.2f')} {_fmt(c['memory_ratio'], '>7.2f')}")
    p("")
    p("compile s: tracing + lowering + XLA compilation in the first call (JAX's own timings); mem MB: XLA's compiled "
      "memory stats of the cohort solve (temp + arguments + outputs); steps: mean accepted + rejected per patient")
    loads = [x for r in records for x in r["loadavg_1min"] if x is not None]
    if loads:
        p(f"1-min load average during the run: {min(loads):.2f} to {max(loads):.2f} on {machine['cpu_count']} CPUs"
          + ("  (busy machine: timings are noisy)" if max(loads) > 1.5 * (machine["cpu_count"] or 1) else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", default="1000,10000", help="cohort sizes, comma-separated (default 1000,10000)")
    ap.add_argument("--precision", default="float32,float64", help="comma-separated: float32,float64")
    ap.add_argument("--repeats", type=int, default=3, help="warm runs per measurement; the best is reported")
    ap.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated, from {','.join(PEERS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print JSON lines (one per measurement, then a summary)")
    ap.add_argument("--quick", action="store_true", help="smoke run: n = 200, 1 repeat")
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.repeats = "200", 1
    ns = [int(x) for x in a.n.split(",") if x.strip()]
    precisions = [x.strip() for x in a.precision.split(",") if x.strip()]
    peers = [x.strip() for x in a.peers.split(",") if x.strip()]
    bad = [x for x in peers if x not in PEERS] + [x for x in precisions if x not in ("float32", "float64")]
    if bad or a.repeats < 1 or not ns or min(ns) < 1:
        ap.error(f"bad arguments: {bad or 'repeats/n must be >= 1'}")

    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    started = time.time()
    # vhtwin first: importing it makes every CPU core a JAX device, which must happen before JAX starts. The
    # sharded diffrax peer then gets the same devices.
    importlib.import_module("vhtwin")
    machine = machine_info()
    warm_up(peers)
    records = []
    for precision in precisions:
        for n in ns:
            for m in measure(peers, precision, n, a.repeats, a.seed, log):
                records.append(m)
                if a.json:
                    print(json.dumps(m), flush=True)
    comps = comparisons(records)
    summary = {
        "type": "summary", "benchmark": BENCHMARK, "machine": machine, "comparisons": comps,
        "config": {"model": MODEL, "typical": TYPICAL, "omega": OMEGA, "dose_mg": DOSE_MG, "interval_h": INTERVAL_H,
                   "n_doses": N_DOSES, "times": "0..168 h hourly", "rtol": RTOL, "atol": ATOL, "n": ns,
                   "precision": precisions, "peers": peers, "repeats": a.repeats, "seed": a.seed,
                   "quick": a.quick},
        "wall_s": time.time() - started,
    }
    if a.json:
        print(json.dumps(summary), flush=True)
    else:
        print_table(records, comps, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
