"""The anchor cohort on a GPU: vhtwin's XLA loop, vhtwin's per-lane kernel and diffrax, side by side in one process.

The cohort is :mod:`pk_cohort`'s (two-compartment oral PK, log-normal parameters, 100 mg every 12 h x 14, Cc hourly
to 168 h, rtol 1e-6, atol 1e-9). Peers, each at n = 1e4, 1e5, 1e6 patients, float32 then float64:

* ``vhtwin_xla``: ``vhtwin.simulate(..., solver="tsit5")``: the batched integration loop (an XLA ``while_loop``);
* ``vhtwin_kernel``: ``vhtwin.simulate(..., solver="tsit5_kernel")``: the whole solve of every patient in one Pallas
  kernel, one patient per GPU thread;
* ``diffrax``: :class:`pk_cohort.DiffraxPeer` (``jit(vmap(...))`` of ``diffeqsolve`` with Tsit5 and a PID
  controller, restarted at each dose);
* ``vhtwin_exact``: the closed-form path for linear models (matrix exponentials), for scale.

Two times per peer: ``device_s``, the compiled program on inputs already on the GPU until its outputs are ready
(what the hardware does), and ``end_to_end_s``, the user's call: inputs from the host, the solve, the outputs back on
the host (for vhtwin an ``xarray.Dataset``). ``cold_s`` is the first call (tracing, compiling, running). Each is the
median of ``--repeats`` runs. Accuracy: the relative error of Cc against the exact solution over the first
``--error-patients`` patients (where Cc > 1e-6 mg/L). A record is written to ``--out`` as soon as it is measured, and
the script stops starting new measurements after ``--deadline`` seconds, so a run cut short still leaves its table.

Usage (on a machine with a GPU)::

    python benchmarks/gpu.py --out benchmarks/results/gpu-h200.json
    python benchmarks/gpu.py --quick            # smoke run on any machine (small n; the kernel interpreted on CPU)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pk_cohort as anchor  # noqa: E402  (the cohort, its exact solution and the diffrax peer)
from _machine import machine_info  # noqa: E402

BENCHMARK = "gpu_anchor_cohort"
PEERS = ("vhtwin_kernel", "vhtwin_xla", "diffrax", "vhtwin_exact")
DEFAULT_BLOCK = 32  # vhtwin.solvers.lane_kernel.BLOCK
DEFAULT_DEPTH = None  # vhtwin.solvers.lane_kernel.default_depth, set in main()
SOLVERS = {"vhtwin_xla": "tsit5", "vhtwin_kernel": "tsit5_kernel", "vhtwin_exact": "exact"}


def x64(enabled: bool):
    """JAX's float64 switch as a context manager (its home moved between JAX versions)."""
    import jax

    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(enabled)
    from jax.experimental import disable_x64, enable_x64

    return enable_x64() if enabled else disable_x64()


def _median(xs):
    return float(np.median(xs)) if xs else None


class Vhtwin:
    """One of vhtwin's paths at one (precision, n)."""

    def __init__(self, name, params, precision):
        import importlib

        import vhtwin as vh

        self.name, self.params, self.precision, self.vh = name, params, precision, vh
        base, _, variant = name.partition("@")  # "vhtwin_kernel@64" or "vhtwin_kernel@32x8": lanes (x queue depth)
        self.solver = SOLVERS[base]
        if base == "vhtwin_kernel":
            from vhtwin.engine import kernel
            from vhtwin.solvers import lane_kernel

            block, _, depth = variant.partition("x")
            lane_kernel.BLOCK = int(block) if block else DEFAULT_BLOCK
            lane_kernel.default_depth = (lambda n, b, d=int(depth): d) if depth else DEFAULT_DEPTH
            kernel.program.cache_clear()  # neither is part of the program's key
        self.model = vh.load_model(anchor.MODEL)
        self.regimen = vh.Regimen.repeated(amount=anchor.DOSE_MG, interval=anchor.INTERVAL_H, count=anchor.N_DOSES,
                                           into="depot")
        self.kwargs = dict(times=anchor.TIMES, protocol=self.regimen, rtol=anchor.RTOL, atol=anchor.ATOL,
                           precision=precision, outputs=["Cc"], solver=self.solver)
        self.engine = importlib.import_module("vhtwin.engine.run")

    def end_to_end(self):
        ds = self.vh.simulate(self.model, params=self.params, **self.kwargs)
        steps = ds["n_steps"].values + ds["n_rejected"].values
        info = {"failures": int(np.count_nonzero(ds["status"].values != 0)), "mean_steps": float(np.mean(steps)),
                "max_steps": int(np.max(steps))}
        return ds["Cc"].values, info

    def device_program(self):
        """The compiled program and its inputs on the device (one chunk), for timing the solve alone."""
        import jax
        import jax.numpy as jnp

        from vhtwin.simulate import prepare

        pr = prepare(self.model, self.params, **self.kwargs)
        lay = self.engine.layout(pr)
        if lay.n_chunks != 1:
            return None
        lanes, shared = self.engine.host_design(pr)
        dtype = jnp.float64 if self.precision == "float64" else jnp.float32
        widen = lambda a: np.concatenate([a, np.repeat(a[:, -1:], lay.total - a.shape[1], axis=1)], axis=1)
        p = widen(np.broadcast_to(pr.params, (pr.params.shape[0], pr.n_patients)))
        y0 = widen(np.broadcast_to(pr.y0, (pr.y0.shape[0], pr.n_patients)))
        args = jax.device_put((jnp.asarray(p, dtype), jnp.asarray(y0, dtype), lanes, shared))
        program = self.engine.BACKENDS[self.engine.backend_of(pr).name].program(lay.key)
        return lambda: jax.block_until_ready(program(*args))


class Diffrax:
    def __init__(self, name, params, precision):
        self.name, self.peer, self.precision = name, anchor.DiffraxPeer(params, precision), precision

    def end_to_end(self):
        return self.peer.run()

    def device_program(self):
        import jax
        import jax.numpy as jnp

        dtype = jnp.float64 if self.precision == "float64" else jnp.float32
        args = jax.device_put(tuple(jnp.asarray(a, dtype) for a in self.peer.inputs))
        return lambda: jax.block_until_ready(self.peer.fn(*args))


def measure(name, params, precision, ref, repeats, log):
    with x64(precision == "float64"):
        peer = (Diffrax if name == "diffrax" else Vhtwin)(name, params, precision)
        t = time.perf_counter()
        cc, info = peer.end_to_end()
        cold = time.perf_counter() - t
        ends = []
        for _ in range(repeats):
            t = time.perf_counter()
            cc, info = peer.end_to_end()
            ends.append(time.perf_counter() - t)
        devices = []
        run = peer.device_program()
        if run is not None:  # the program compiled above, on inputs already on the device
            for _ in range(repeats):
                t = time.perf_counter()
                run()
                devices.append(time.perf_counter() - t)
    n = len(params["ka"])
    k = ref.shape[0]
    record = {"peer": name, "precision": precision, "n": n, "cold_s": cold, "end_to_end_s": _median(ends),
              "device_s": _median(devices), "repeats": repeats, **info,
              "error_patients": k, **anchor.errors(cc[:k], ref)}
    record["patients_per_s_device"] = n / record["device_s"] if record["device_s"] else None
    record["patients_per_s_end_to_end"] = n / record["end_to_end_s"] if record["end_to_end_s"] else None
    log(record)
    return record


def ratios(records):
    """vhtwin's paths over diffrax at each (precision, n), device time and end to end."""
    out = []
    by = {(r["peer"], r["precision"], r["n"]): r for r in records if "error" not in r}
    for (peer, precision, n), r in sorted(by.items()):
        d = by.get(("diffrax", precision, n))
        if peer == "diffrax" or d is None:
            continue
        row = {"peer": peer, "over": "diffrax", "precision": precision, "n": n}
        for field in ("device_s", "end_to_end_s"):
            if r.get(field) and d.get(field):
                row[f"speedup_{field[:-2]}"] = d[field] / r[field]
        out.append(row)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the JSON here (rewritten after every record)")
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--precisions", default="float32,float64")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--kernel-blocks", default="",
                    help="also time the kernel with these lanes per program, optionally x queue depth (e.g. "
                         "64,128,32x1,32x16) at the largest n, float32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--error-patients", type=int, default=100_000)
    ap.add_argument("--deadline", type=float, default=float("inf"), help="start nothing new after this many s")
    ap.add_argument("--quick", action="store_true", help="n = 64, float32, 1 repeat (a smoke run)")
    args = ap.parse_args(argv)
    global DEFAULT_DEPTH
    from vhtwin.solvers import lane_kernel

    DEFAULT_DEPTH = lane_kernel.default_depth
    if args.quick:
        args.sizes, args.precisions, args.repeats = "64", "float32", 1
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    precisions = args.precisions.split(",")
    peers = args.peers.split(",")
    start = time.perf_counter()
    doc = {"benchmark": BENCHMARK, "machine": machine_info(), "cohort": anchor.__doc__.split("\n\n")[1],
           "settings": vars(args) | {"out": str(args.out)}, "records": [], "ratios": []}

    def log(record):
        doc["records"].append(record)
        doc["ratios"] = ratios(doc["records"])
        print(json.dumps(record), flush=True)
        if args.out:
            args.out.write_text(json.dumps(doc, indent=1, default=str) + "\n")

    print(json.dumps(doc["machine"]), flush=True)
    blocks = [f"vhtwin_kernel@{b}" for b in args.kernel_blocks.split(",") if b]
    plan = []
    for precision in precisions:
        plan += [(precision, n, peers) for n in sizes]
        if blocks and precision == "float32":
            plan.append((precision, max(sizes), blocks))
    for precision, n, peers in plan:
        params = anchor.cohort(n, args.seed)
        k = min(n, args.error_patients)
        ref = anchor.exact_cc({key: v[:k] for key, v in params.items()})
        for name in peers:
            if time.perf_counter() - start > args.deadline:
                log({"peer": name, "precision": precision, "n": n, "error": "not run: deadline reached"})
                continue
            try:
                measure(name, params, precision, ref, args.repeats, log)
            except Exception as exc:  # one peer failing must not lose the others' figures
                log({"peer": name, "precision": precision, "n": n, "error": f"{type(exc).__name__}: {exc}"[:2000]})
    doc["wall_s"] = time.perf_counter() - start
    log_final = json.dumps(doc["ratios"], indent=1)
    print(log_final, flush=True)
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
