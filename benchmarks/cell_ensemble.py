"""Cardiac cell-ensemble benchmark: N paced cells with varied conductances, vhtwin against diffrax and Myokit.

The ensemble (fixed by ``--model``, ``--cells``, ``--beats``, ``--seed``): one cell model from the library, paced at
1 Hz from rest (its declared initial state) with ``vh.Pacing(period=1000, duration=<the model's>, count=beats)``
at the input's documented amplitude; each cell's main conductances multiplied by exp(N(0, SIGMA^2)) independently
(``numpy.random.default_rng(seed)``). The membrane potential is saved every ``SAMPLE_MS`` over the last beat
(an output at a stimulus edge is the value just before it, vhtwin's convention, reproduced by every peer).

Peers, run in one process in float64 (each measured the same way: first call = compile + run, then warm runs that
alternate between peers, best kept):

* ``vhtwin_rl_<dt>``: ``vh.simulate(..., solver="rush_larsen", dt0=dt)`` (generalized Rush--Larsen, fixed step);
  ``vhtwin_rodas4``: ``solver="rodas4"`` at RTOL/ATOL; ``vhtwin_tsit5``: ``solver="tsit5"`` at RTOL/ATOL. The batch
  split over every local device (every CPU core), vhtwin's default. Timed end to end (input checks, compiled solve,
  the xarray Dataset).
* ``diffrax_kvaerno5`` / ``diffrax_tsit5``: ``diffrax.diffeqsolve`` with ``Kvaerno5()`` / ``Tsit5()`` and
  ``PIDController(RTOL, ATOL)``, ``jax.vmap`` over cells, restarted at every stimulus edge (a ``lax.scan`` over
  beats, each beat two solves: stimulus on, stimulus off), so the right-hand side is smooth inside every solve and
  no step straddles an edge; the last beat saves ``SaveAt(ts=...)``. The right-hand side is the vhtwin model's own
  ``vhtwin.equations`` (the same equations). One jitted function; timed: the call plus transfer to numpy. On one
  device, as ``vmap`` runs by default; ``*_sharded``: the cell axis split over every local device (XLA SPMD).
* ``myokit``: Myokit's CVODE ``Simulation`` (only for ``--model ord``, with ``--myokit-mmt`` pointing to Myokit's
  ``ohara-2011.mmt``, version 20230208; the file is not shipped here), cells one after the other on one core, endo
  (``cell.mode = 0``), the vhtwin model's initial state, the same conductance scalings, ``set_tolerance(ATOL,
  RTOL)``. Its error also contains any difference between the two transcriptions of the model.

Accuracy against a reference on the first ``--ref-cells`` cells: vhtwin ``rodas4`` at rtol 1e-10, atol 1e-12 (its
own convergence is reported: the same at rtol 1e-9, ``reference_self_error``). Per peer: max |V| error over the
last beat (on the saved grid) and max |APD90| error (APD90: from the upward crossing of the half-amplitude level to
the downward crossing of 90 % repolarisation, both linearly interpolated on the grid).

Usage::

    python benchmarks/cell_ensemble.py --model ms --cells 1000 --beats 2          # table
    python benchmarks/cell_ensemble.py --model ord --json --out results.json      # JSON lines, and the file
    python benchmarks/cell_ensemble.py --quick                                     # smoke run: 32 cells, 1 beat

Throughput is cells x beats per second (compilation excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pk_cohort import _loadavg, compile_probe, machine_info  # noqa: E402  (same measurement helpers)

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "cell_ensemble"
PERIOD = 1000.0  # ms, 1 Hz
SAMPLE_MS = 1.0  # output spacing over the last beat
SIGMA = 0.2  # log-normal SD of the conductance scalings
RTOL, ATOL = 1e-6, 1e-9
REF_RTOL, REF_ATOL = 1e-10, 1e-12
SLOW_RUN_S = 120.0  # a warm run slower than this is not repeated

MODELS = {
    "ms": {"name": "cardio/mitchell_schaeffer", "V": "v", "duration": 1.0, "sigma": 0.1,
           "vary": ("tau_in", "tau_out", "tau_open", "tau_close")},
    "ord": {"name": "cardio/ohara_rudy2011", "V": "V", "duration": 0.5, "sigma": SIGMA,
            "vary": ("GNa", "GNaL", "Gto", "PCa", "GKr", "GKs", "GK1", "Gncx", "Pnak"),
            "myokit": {"GNa": "ina.gNa", "GNaL": "inal.gNaL", "Gto": "ito.gto", "PCa": "ical.base",
                       "GKr": "ikr.gKr", "GKs": "iks.gKs", "GK1": "ik1.gK1", "Gncx": "inaca.gNaCa",
                       "Pnak": "inak.PNaK"}},
    "tp06": {"name": "cardio/tentusscher2006", "V": "V", "duration": 1.0, "sigma": SIGMA,
             "vary": ("g_Na", "g_CaL", "g_Kr", "g_Ks", "g_K1", "g_to", "K_NaCa", "P_NaK")},
}


# -- the ensemble ------------------------------------------------------------------------------------------------------
class Ensemble:
    def __init__(self, key: str, cells: int, beats: int, seed: int):
        import vhtwin as vh

        self.key, self.cfg, self.cells, self.beats, self.seed = key, MODELS[key], cells, beats, seed
        self.vh = vh
        self.model = vh.load_model(self.cfg["name"])
        defaults = self.model.default_parameters()
        rng = np.random.default_rng(seed)
        self.scalings = {k: np.exp(rng.normal(0.0, self.cfg["sigma"], cells)) for k in self.cfg["vary"]}
        self.params = {k: defaults[k] * s for k, s in self.scalings.items()}
        self.pacing = vh.Pacing(period=PERIOD, duration=self.cfg["duration"], count=beats)
        self.amplitude = self.pacing.for_model(self.model).amplitude
        t_last = (beats - 1) * PERIOD
        self.times = t_last + np.arange(0.0, PERIOD + SAMPLE_MS / 2, SAMPLE_MS)  # the last beat, both ends included
        self.V = self.cfg["V"]

    def subset(self, k: int) -> dict:
        return {name: v[:k] for name, v in self.params.items()}


# -- APD and errors --------------------------------------------------------------------------------------------------
def apd90(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """APD90 per row of v (cells, T) on the grid t: half-amplitude upward crossing to 90 % repolarisation."""
    out = np.full(v.shape[0], np.nan)
    for i, row in enumerate(v):
        if not np.all(np.isfinite(row)):
            continue
        rest, k_peak = row[0], int(np.argmax(row))
        amp = row[k_peak] - rest
        if amp <= 0:
            continue
        half, level = rest + 0.5 * amp, row[k_peak] - 0.9 * amp
        up = np.nonzero((row[:k_peak] < half) & (row[1 : k_peak + 1] >= half))[0]
        down = np.nonzero((row[k_peak:-1] > level) & (row[k_peak + 1 :] <= level))[0]
        if not len(up) or not len(down):
            continue
        a = up[0]
        t_up = t[a] + (half - row[a]) / (row[a + 1] - row[a]) * (t[a + 1] - t[a])
        b = k_peak + down[0]
        t_dn = t[b] + (row[b] - level) / (row[b] - row[b + 1]) * (t[b + 1] - t[b])
        out[i] = t_dn - t_up
    return out


def accuracy(v: np.ndarray, ref_v: np.ndarray, ref_apd: np.ndarray, t: np.ndarray) -> dict:
    k = ref_v.shape[0]
    v = np.asarray(v[:k], float)
    if not np.all(np.isfinite(v)):
        return {"max_abs_V_error": None, "max_abs_apd90_error_ms": None, "mean_abs_apd90_error_ms": None}
    err_apd = np.abs(apd90(t, v) - ref_apd)
    return {"max_abs_V_error": float(np.max(np.abs(v - ref_v))),
            "max_abs_apd90_error_ms": float(np.nanmax(err_apd)) if np.any(np.isfinite(err_apd)) else None,
            "mean_abs_apd90_error_ms": float(np.nanmean(err_apd)) if np.any(np.isfinite(err_apd)) else None}


# -- peers -------------------------------------------------------------------------------------------------------------
class VhtwinPeer:
    def __init__(self, ens: Ensemble, solver: str, dt: float | None = None, rtol=RTOL, atol=ATOL, params=None,
                 devices=None):
        self.ens, self.solver, self.dt, self.rtol, self.atol, self.devices = ens, solver, dt, rtol, atol, devices
        self.params = ens.params if params is None else params
        self.name = f"vhtwin_rl_{dt:g}" if solver == "rush_larsen" else f"vhtwin_{solver}"
        total = ens.beats * PERIOD
        # fixed step: every step plus the stimulus edges; adaptive: generous
        self.max_steps = int(total / dt * 1.05) + 4 * ens.beats + 100 if dt is not None else 10_000_000

    def run(self):
        e = self.ens
        ds = e.vh.simulate(e.model, params=self.params, times=e.times, protocol=e.pacing, t0=0.0,
                           solver=self.solver, dt0=self.dt, rtol=self.rtol, atol=self.atol, precision="float64",
                           max_steps=self.max_steps, outputs=[e.V], devices=self.devices)
        v = np.asarray(ds[e.V].values)
        if v.ndim == 1:
            v = v[None]
        steps = np.atleast_1d(ds["n_steps"].values + ds["n_rejected"].values)
        return v, {"failures": int(np.count_nonzero(np.atleast_1d(ds["status"].values) != 0)),
                   "mean_steps": float(np.mean(steps)), "max_steps_cell": int(np.max(steps)),
                   "rejected_mean": float(np.mean(ds["n_rejected"].values))}

    def describe(self):
        import jax

        return {"solver": self.solver, "dt": self.dt, "rtol": None if self.dt else self.rtol,
                "atol": None if self.dt else self.atol, "devices": self.devices or len(jax.local_devices()),
                "call": "vhtwin.simulate(..., protocol=vh.Pacing(...)) -> xarray.Dataset"}


class DiffraxPeer:
    def __init__(self, ens: Ensemble, method: str, sharded: bool = False, max_steps: int = 1_000_000):
        import diffrax
        import jax
        import jax.numpy as jnp

        self.ens, self.method, self.sharded = ens, method, sharded
        self.name = f"diffrax_{method.lower()}" + ("_sharded" if sharded else "")
        self.version = diffrax.__version__
        model = ens.model
        n_rates = len(model.dosable_states)
        pnames = model.parameter_names
        defaults = model.default_parameters()
        P = np.stack([np.asarray(ens.params.get(k, np.full(ens.cells, defaults[k])), float) for k in pnames], 1)
        y0 = np.array([s.initial for s in model.states], float)
        dur, amp, beats = ens.cfg["duration"], ens.amplitude, ens.beats
        t_last = (beats - 1) * PERIOD
        grid = ens.times
        on_ts = grid[(grid > t_last) & (grid <= t_last + dur)]
        off_ts = grid[(grid > t_last + dur)]

        from vhtwin.equations import equations

        def rhs(t, y, args):
            p, stim = args
            u = [jnp.zeros_like(stim)] * n_rates + [stim]
            return jnp.stack(equations(model).row_rhs(t, [y[i] for i in range(y.shape[0])], [p[i] for i in range(p.shape[0])], u))

        term = diffrax.ODETerm(rhs)
        solver = {"kvaerno5": diffrax.Kvaerno5, "tsit5": diffrax.Tsit5}[method.lower()]()
        controller = diffrax.PIDController(rtol=RTOL, atol=ATOL)
        iV = model.state_names.index(ens.V)

        def seg(y, p, t0, t1, stim, ts=()):
            """Solve [t0, t1] with the stimulus ``stim``; returns (state at t1, V at ts, ok, steps). ``ts`` must end
            at t1 when given (the grid does: it ends at the end of the beat, and a point inside the stimulus can only
            be its end, SAMPLE_MS >= every stimulus duration)."""
            saveat = diffrax.SaveAt(ts=jnp.asarray(ts)) if len(ts) else diffrax.SaveAt(t1=True)
            sol = diffrax.diffeqsolve(term, solver, t0, t1, None, y, args=(p, stim), saveat=saveat,
                                      stepsize_controller=controller, max_steps=max_steps, throw=False)
            ok = sol.result == diffrax.RESULTS.successful
            steps = sol.stats["num_accepted_steps"] + sol.stats["num_rejected_steps"]
            return sol.ys[-1], sol.ys[:, iV], ok, steps

        for ts, end in ((on_ts, t_last + dur), (off_ts, t_last + PERIOD)):
            if len(ts) and ts[-1] != end:
                raise ValueError("diffrax peer: the output grid must end each stimulus phase it enters")

        def one_cell(p, y0):
            def beat(y, k):
                t0 = k * PERIOD
                y, _, ok1, s1 = seg(y, p, t0, t0 + dur, jnp.asarray(amp, y.dtype))
                y, _, ok2, s2 = seg(y, p, t0 + dur, t0 + PERIOD, jnp.zeros((), y.dtype))
                return y, (ok1 & ok2, s1 + s2)

            y, (ok, steps) = jax.lax.scan(beat, y0, jnp.arange(beats - 1, dtype=y0.dtype))
            v = [y[iV][None]]  # t_last: the state before the last stimulus
            y, v_on, ok1, s1 = seg(y, p, t_last, t_last + dur, jnp.asarray(amp, y.dtype), on_ts)
            if len(on_ts):
                v.append(v_on)
            y, v_off, ok2, s2 = seg(y, p, t_last + dur, t_last + PERIOD, jnp.zeros((), y.dtype), off_ts)
            v.append(v_off)
            return jnp.concatenate(v), jnp.all(ok) & ok1 & ok2, jnp.sum(steps) + s1 + s2

        self.on_ts = on_ts
        batched = jax.vmap(one_cell, in_axes=(0, None))
        self.devices = 1
        n_dev = len(jax.local_devices())
        if sharded and n_dev > 1 and ens.cells % n_dev == 0:
            from jax.sharding import Mesh, NamedSharding, PartitionSpec as S

            mesh = Mesh(np.array(jax.local_devices()), ("batch",))
            lane, rep = NamedSharding(mesh, S("batch")), NamedSharding(mesh, S())
            self.fn = jax.jit(batched, in_shardings=(lane, rep), out_shardings=(lane, lane, lane))
            self.devices = n_dev
        else:
            self.fn = jax.jit(batched)
        self.inputs = (P, y0)

    def run(self):
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(True):
            v, ok, steps = self.fn(*(jnp.asarray(a, jnp.float64) for a in self.inputs))
            v, ok, steps = np.asarray(v), np.asarray(ok), np.asarray(steps)
        full = v  # t_last, the points inside the stimulus (if any), the rest of the beat: the whole grid
        bad = ~ok | ~np.all(np.isfinite(v), axis=1)
        return full, {"failures": int(np.count_nonzero(bad)), "mean_steps": float(np.mean(steps)),
                      "max_steps_cell": int(np.max(steps))}

    def describe(self):
        return {"solver": f"diffrax.{self.method} + PIDController(rtol, atol)", "rtol": RTOL, "atol": ATOL,
                "diffrax_version": self.version, "devices": self.devices,
                "call": "jit(vmap(lax.scan over beats of 2 diffeqsolve (stimulus on/off), last beat SaveAt(ts)))"}


class MyokitPeer:
    name = "myokit"

    def __init__(self, ens: Ensemble, mmt: str, rtol=RTOL, atol=ATOL):
        import myokit

        self.ens, self.myokit, self.rtol, self.atol = ens, myokit, rtol, atol
        self.version = myokit.__version__
        m = myokit.load_model(mmt)
        m.get("cell.mode").set_rhs(0)  # endo, vhtwin's default celltype
        m.get("stimulus.amplitude").set_rhs(ens.amplitude)
        names = [s.qname() for s in m.states()]
        if len(names) != len(ens.model.states):
            raise RuntimeError(f"myokit model has {len(names)} states, vhtwin's {len(ens.model.states)}")
        m.set_initial_values([s.initial for s in ens.model.states])  # same order (the authors' code)
        self.iV = names.index("membrane.V")
        self.map = ens.cfg["myokit"]
        self.base = {k: float(m.get(v).eval()) for k, v in self.map.items()}
        proto = myokit.pacing.blocktrain(period=PERIOD, duration=ens.cfg["duration"], offset=0.0, limit=ens.beats)
        self.sim = myokit.Simulation(m, proto)
        self.sim.set_tolerance(atol, rtol)
        self.sim.set_max_step_size(None)

    def run(self):
        e, sim = self.ens, self.sim
        t_last = (e.beats - 1) * PERIOD
        out = np.empty((e.cells, len(e.times)))
        for i in range(e.cells):
            sim.reset()
            for k, var in self.map.items():
                sim.set_constant(var, self.base[k] * e.scalings[k][i])
            if t_last > 0:
                sim.run(t_last, log=self.myokit.LOG_NONE)
            d = sim.run(PERIOD + SAMPLE_MS / 2, log=["membrane.V"], log_times=e.times)
            out[i] = np.asarray(d["membrane.V"])[: len(e.times)]
        return out, {"failures": int(np.count_nonzero(~np.all(np.isfinite(out), axis=1))), "mean_steps": None,
                     "max_steps_cell": None}

    def describe(self):
        return {"solver": "Myokit Simulation (CVODE BDF)", "rtol": self.rtol, "atol": self.atol,
                "myokit_version": self.version, "devices": 1, "call": "Simulation.run per cell, one core"}


# -- measurement -----------------------------------------------------------------------------------------------------
def make_peers(ens: Ensemble, names, mmt):
    out = []
    for n in names:
        if n.startswith("vhtwin_rl_"):
            out.append(VhtwinPeer(ens, "rush_larsen", dt=float(n[len("vhtwin_rl_"):])))
        elif n in ("vhtwin_rodas4", "vhtwin_tsit5"):
            out.append(VhtwinPeer(ens, n.split("_")[1]))
        elif n.startswith("diffrax_"):
            parts = n.split("_")
            out.append(DiffraxPeer(ens, parts[1], sharded=len(parts) > 2 and parts[2] == "sharded"))
        elif n == "myokit":
            if ens.key != "ord" or not mmt:
                print("myokit: skipped (needs --model ord and --myokit-mmt)", file=sys.stderr)
                continue
            try:
                out.append(MyokitPeer(ens, mmt))
            except Exception as ex:  # noqa: BLE001
                print(f"myokit: skipped ({type(ex).__name__}: {ex})", file=sys.stderr)
        else:
            raise SystemExit(f"unknown peer {n!r}")
    return out


def reference(ens: Ensemble, k: int, log, ref_rtol: float = REF_RTOL) -> dict:
    import jax

    sub = ens.subset(k)
    out = {}
    ref_atol = ref_rtol * REF_ATOL / REF_RTOL
    for rtol, atol in ((ref_rtol, ref_atol), (ref_rtol * 10, ref_atol * 10)):
        t = time.perf_counter()
        with jax.enable_x64(True):
            v, info = VhtwinPeer(ens, "rodas4", rtol=rtol, atol=atol, params=sub, devices=1).run()
        out[rtol] = (v, info)
        log(f"reference rodas4 rtol {rtol:g} on {k} cells: {time.perf_counter() - t:.1f} s, "
            f"{info['mean_steps']:.0f} steps/cell")
    ref_v = out[ref_rtol][0]
    ref_apd = apd90(ens.times, ref_v)
    self_err = accuracy(out[ref_rtol * 10][0], ref_v, ref_apd, ens.times)
    return {"v": ref_v, "apd": ref_apd, "self_error": self_err, "steps": out[ref_rtol][1]["mean_steps"],
            "rtol": ref_rtol, "atol": ref_atol}


def measure(ens: Ensemble, peer_names, repeats, ref_cells, mmt, log, ref_rtol=REF_RTOL) -> tuple[list[dict], dict]:
    import jax

    ref = reference(ens, min(ref_cells, ens.cells), log, ref_rtol)
    peers, rec = [], {}
    for peer in make_peers(ens, peer_names, mmt):
        log(f"{peer.name}: first call (compile + run) ...")
        with jax.enable_x64(True), compile_probe() as probe:
            t = time.perf_counter()
            v, info = peer.run()
            first = time.perf_counter() - t
        peers.append(peer)
        rec[peer.name] = {"first": first, "probe": probe, "walls": [], "v": v, "info": info, "load": [_loadavg()]}
        log(f"{peer.name}: first call {first:.2f} s")
    for r in range(repeats):
        for peer in peers:
            R = rec[peer.name]
            if R["walls"] and min(R["walls"]) > SLOW_RUN_S:
                continue
            with jax.enable_x64(True):
                t = time.perf_counter()
                v, info = peer.run()
                R["walls"].append(time.perf_counter() - t)
            R["v"], R["info"] = v, info
            R["load"].append(_loadavg())
            log(f"{peer.name}: warm run {r + 1}: {R['walls'][-1]:.3f} s")
    records = []
    for peer in peers:
        R = rec[peer.name]
        best = min(R["walls"])
        probe = R["probe"]
        compile_s = probe["compile_s"] if probe["compile_s"] is not None else max(R["first"] - best, 0.0)
        if peer.name == "myokit":
            compile_s = max(R["first"] - best, 0.0)  # Myokit compiles C in the constructor; first call ~ a warm one
        records.append({
            "type": "measurement", "benchmark": BENCHMARK, "model": ens.cfg["name"], "peer": peer.name,
            "cells": ens.cells, "beats": ens.beats,
            "cell_beats_per_s": ens.cells * ens.beats / best,
            "wall_s_best": best, "wall_s_all": R["walls"], "repeats": len(R["walls"]), "first_call_s": R["first"],
            "compile_s": compile_s, "compile_parts_s": probe["compile_parts_s"],
            **accuracy(R["v"], ref["v"], ref["apd"], ens.times),
            **{k: v for k, v in R["info"].items()},
            "loadavg_1min": R["load"],
            **peer.describe(),
        })
    return records, ref


def ratios(records):
    by = {r["peer"]: r for r in records}
    out = []
    for den in [p for p in by if p.startswith("diffrax") or p == "myokit"]:
        for num in [p for p in by if p.startswith("vhtwin")]:
            out.append({"ratio": f"{num}_over_{den}",
                        "speed_ratio": by[num]["cell_beats_per_s"] / by[den]["cell_beats_per_s"],
                        "compile_ratio": (by[num]["compile_s"] / by[den]["compile_s"]) if by[den]["compile_s"] else None})
    return out


def _f(x, spec):
    return "-" if x is None else format(x, spec)


def print_table(records, comps, ref, machine, ens, file=sys.stdout):
    p = lambda *a: print(*a, file=file)
    p(f"cell_ensemble on {machine['platform']}, {machine['cpu_count']} CPUs, jax {machine['jax_version']}")
    p(f"{ens.cfg['name']}: {ens.cells} cells x {ens.beats} beats at 1 Hz, conductances x exp(N(0, "
      f"{ens.cfg['sigma']}^2)); rtol {RTOL:g}, atol {ATOL:g}; reference rodas4 rtol {ref['rtol']:g} "
      f"(self error at 10x: |V| {_f(ref['self_error']['max_abs_V_error'], '.2e')}, "
      f"APD90 {_f(ref['self_error']['max_abs_apd90_error_ms'], '.2e')} ms)")
    head = (f"{'peer':26} {'cell-beats/s':>12} {'best s':>8} {'R':>2} {'compile s':>9} {'max|dV|':>9} "
            f"{'dAPD90 ms':>9} {'fail':>4} {'steps':>8}")
    p(head)
    p("-" * len(head))
    for r in records:
        p(f"{r['peer']:26} {r['cell_beats_per_s']:>12.2f} {r['wall_s_best']:>8.2f} {r['repeats']:>2} "
          f"{r['compile_s']:>9.2f} {_f(r['max_abs_V_error'], '>9.2e')} {_f(r['max_abs_apd90_error_ms'], '>9.2e')} "
          f"{r['failures']:>4} {_f(r['mean_steps'], '>8.0f')}")
    p("")
    for c in comps:
        p(f"{c['ratio']:50} speed {c['speed_ratio']:8.2f}   compile {_f(c['compile_ratio'], '.2f')}")
    loads = [x for r in records for x in r["loadavg_1min"] if x is not None]
    if loads:
        p(f"1-min load average during the run: {min(loads):.2f} to {max(loads):.2f} on {machine['cpu_count']} CPUs")


DEFAULT_PEERS = ("vhtwin_rl_0.01,vhtwin_rl_0.005,vhtwin_rodas4,vhtwin_tsit5,diffrax_kvaerno5,diffrax_tsit5,"
                 "diffrax_kvaerno5_sharded,myokit")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="ord", choices=sorted(MODELS))
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--beats", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="warm runs per peer; the best is reported")
    ap.add_argument("--ref-cells", type=int, default=8, help="cells solved by the reference")
    ap.add_argument("--ref-rtol", type=float, default=REF_RTOL,
                    help="reference tolerance (atol scaled alike); its self error is measured at 10x")
    ap.add_argument("--peers", default=DEFAULT_PEERS)
    ap.add_argument("--myokit-mmt", default=os.environ.get("MYOKIT_ORD_MMT"),
                    help="Myokit's ohara-2011.mmt (version 20230208) for the myokit peer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print JSON lines (one per measurement, then a summary)")
    ap.add_argument("--out", help="also write every record and the summary to this JSON file")
    ap.add_argument("--quick", action="store_true", help="smoke run: 32 cells, 1 beat, 1 repeat")
    a = ap.parse_args(argv)
    if a.quick:
        a.cells, a.beats, a.repeats = 32, 1, 1
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    started = time.time()
    import vhtwin  # noqa: F401  (first: makes every CPU core a JAX device before JAX starts)

    machine = machine_info()
    ens = Ensemble(a.model, a.cells, a.beats, a.seed)
    peers = [x.strip() for x in a.peers.split(",") if x.strip()]
    records, ref = measure(ens, peers, a.repeats, a.ref_cells, a.myokit_mmt, log, a.ref_rtol)
    comps = ratios(records)
    summary = {"type": "summary", "benchmark": BENCHMARK, "machine": machine, "comparisons": comps,
               "config": {"model": ens.cfg["name"], "vary": ens.cfg["vary"], "sigma": ens.cfg["sigma"],
                          "period_ms": PERIOD, "stimulus_ms": ens.cfg["duration"], "amplitude": ens.amplitude,
                          "cells": a.cells, "beats": a.beats, "sample_ms": SAMPLE_MS, "rtol": RTOL, "atol": ATOL,
                          "reference": f"vhtwin rodas4 rtol {ref['rtol']:g} atol {ref['atol']:g}",
                          "ref_cells": min(a.ref_cells, a.cells), "peers": peers, "repeats": a.repeats,
                          "seed": a.seed, "quick": a.quick},
               "reference_self_error": ref["self_error"], "reference_mean_steps": ref["steps"],
               "reference_apd90_ms": [None if not np.isfinite(x) else float(x) for x in ref["apd"]],
               "wall_s": time.time() - started}
    if a.json:
        for r in records:
            print(json.dumps(r), flush=True)
        print(json.dumps(summary), flush=True)
    else:
        print_table(records, comps, ref, machine, ens)
    if a.out:
        with open(a.out, "w") as f:
            json.dump({"records": records, "summary": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
