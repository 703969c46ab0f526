"""Lane refill against lockstep batches: the anchor cohort at sizes where a device has more patients than lanes.

The loop (:func:`vhtwin.solvers.integrate`) integrates a batch in lanes. In lockstep (one lane per patient, the
engine's layout before lane refill: chunks of 8,192 patients per CPU device) a chunk runs as many iterations as its
slowest patient needs, so lanes whose patient is done idle; on the anchor cohort the mean patient needs about 612
step attempts and the slowest of 8,192 about 900. With lane refill (the engine's layout now: up to 65,536 patients
per device in one call, :data:`vhtwin.engine.backend.LOOP_LANES` lanes) a lane whose patient is done takes the next
waiting one, so the loop runs about (patients x mean steps / lanes) iterations.

Both layouts are run by this checkout in one process, alternately (a busy spell on a shared machine hits both
alike), on the anchor cohort of :mod:`pk_cohort` (``pharmacokinetics/two_compartment_oral``, log-normal patients,
100 mg every 12 h x 14, Cc hourly to 168 h, rtol 1e-6, atol 1e-9, ``solver="tsit5"``, every local device). Each
record has the best wall time of ``--repeats`` warm calls of ``vhtwin.simulate`` (end to end), patients/s, the
steps, the largest relative error against the exact solution, and whether both layouts gave the same numbers bit
for bit (they must: a patient's arithmetic does not depend on its lane).

Usage::

    python benchmarks/lane_refill.py --out benchmarks/results/lane-refill-cpu-2core.json
    python benchmarks/lane_refill.py --n 20000 --repeats 1          # a quick look
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

from _machine import machine_info  # noqa: E402  (benchmarks/_machine.py; the scripts run from this folder)
import pk_cohort as pk  # noqa: E402

BENCHMARK = "lane_refill"
#: The engine's layout before lane refill: this many patients per device per call, one lane each.
LOCKSTEP_CHUNK = 8192


def _engine_layout():
    from vhtwin.engine import backend

    return backend.LANES_PER_DEVICE, backend.LOOP_LANES


#: name -> (patients per device per call, loop lanes per device): the engine's own settings, and lockstep
LAYOUTS = {"refill": _engine_layout(), "lockstep": (LOCKSTEP_CHUNK, 10**9)}


def measure(n: int, precision: str, repeats: int) -> list[dict]:
    import jax

    from vhtwin.engine import backend

    model = vh.load_model(pk.MODEL)
    regimen = vh.Regimen.repeated(amount=pk.DOSE_MG, interval=pk.INTERVAL_H, count=pk.N_DOSES, into="depot")
    params = pk.cohort(n, seed=0)
    exact = pk.exact_cc(params)
    chosen = LAYOUTS
    best = {name: np.inf for name in chosen}
    first, results = {}, {}
    with jax.enable_x64(precision == "float64"):
        for round_ in range(repeats + 1):  # round 0 compiles
            for name, (chunk, lanes) in chosen.items():
                backend.LANES_PER_DEVICE, backend.LOOP_LANES = chunk, lanes
                start = time.perf_counter()
                ds = vh.simulate(model, params=params, times=pk.TIMES, protocol=regimen, rtol=pk.RTOL, atol=pk.ATOL,
                                 precision=precision, outputs=["Cc"], solver="tsit5")
                wall = time.perf_counter() - start
                if round_ == 0:
                    first[name] = wall
                    results[name] = ds
                else:
                    best[name] = min(best[name], wall)
    backend.LANES_PER_DEVICE, backend.LOOP_LANES = LAYOUTS["refill"]  # the engine's own settings again
    same = all(np.array_equal(results["refill"][v].values, results["lockstep"][v].values, equal_nan=True)
               for v in ("Cc", "n_steps", "n_rejected", "status"))
    records = []
    for name, ds in results.items():
        steps = ds["n_steps"].values + ds["n_rejected"].values
        records.append({
            "type": "measurement", "benchmark": BENCHMARK, "layout": name, "precision": precision, "n": n,
            "patients_per_device_per_call": chosen[name][0], "loop_lanes": min(chosen[name][1], chosen[name][0]),
            "wall_s_best": best[name], "patients_per_s": n / best[name], "first_call_s": first[name],
            "repeats": repeats, "mean_steps": float(steps.mean()), "max_steps_patient": int(steps.max()),
            "failures": int(np.count_nonzero(ds["status"].values)),
            **pk.errors(ds["Cc"].values, exact), "bitwise_equal_to_other_layout": same,
            "devices": len(jax.local_devices()),
        })
    records.append({"type": "comparison", "benchmark": BENCHMARK, "precision": precision, "n": n,
                    "speed_ratio_refill_over_lockstep": best["lockstep"] / best["refill"],
                    "bitwise_equal": same})
    return records


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, nargs="+", default=[65536, 262144])
    ap.add_argument("--precision", nargs="+", default=["float32", "float64"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", help="write the JSON here (default: print it)")
    args = ap.parse_args(argv)
    records = []
    for n in args.n:
        for precision in args.precision:
            for rec in measure(n, precision, args.repeats):
                records.append(rec)
                if rec["type"] == "comparison":
                    print(f"n={n:>7} {precision}: refill {rec['speed_ratio_refill_over_lockstep']:.2f}x lockstep, "
                          f"bitwise equal: {rec['bitwise_equal']}", flush=True)
    out = {"benchmark": BENCHMARK, "machine": machine_info(), "records": records}
    text = json.dumps(out, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
