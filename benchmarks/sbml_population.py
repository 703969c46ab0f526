"""A published PBPK model with SBML events run as a virtual population: vhtwin batched against libroadrunner.

Zake et al. 2021's whole-body metformin PBPK (BioModels BIOMD0000001029, ``tests/data/biomodels``: 21 tissues, four
oral doses every 12 h given by SBML events) is imported with ``vh.import_sbml`` and simulated for N virtual patients
whose kidney and intestine scaling coefficients and liver partition coefficient are drawn log-normally (30 % CV,
seed 0), 0-60 h, 241 output times. vhtwin solves them in one call (``solver="rodas4"``, float64, rtol 1e-8, atol
1e-10; compiled once, timed warm, best of ``--repeats``); libroadrunner (CVODE, the same tolerances) solves the first
``--rr-n`` of them one after the other, as its users do (reset, set the parameters' initial values so that what the
file's initial assignments compute from them follows, reset, simulate). The record has the
patients per second of each, their ratio, and the largest difference in venous plasma metformin between the two
over the patients both ran (relative to that patient's peak); also libroadrunner's fast path -- the parameters set
directly, which leaves what the initial assignments computed at load unchanged -- with its speed and how far its
numbers are from the model's.

Usage::

    python benchmarks/sbml_population.py --n 1000 --rr-n 200 --out benchmarks/results/sbml-population-cpu-2core.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

from _machine import ROOT, machine_info  # noqa: E402  (benchmarks/_machine.py; the scripts run from this folder)

MODEL = ROOT / "tests" / "data" / "biomodels" / "Zake2021_Metformin_Human_multiple_PO_dose.xml"
VARIED = ("Kidney_Coefficient", "Intestine_Coefficient", "Ktp_Liver")
OUTPUT = "mPlasmaVenous"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="virtual patients for vhtwin")
    ap.add_argument("--rr-n", type=int, default=200, help="of them, how many libroadrunner runs")
    ap.add_argument("--repeats", type=int, default=3, help="warm vhtwin calls (the best is kept)")
    ap.add_argument("--out", type=Path, help="write the JSON record here")
    args = ap.parse_args(argv)

    import jax
    import roadrunner

    jax.config.update("jax_enable_x64", True)
    model = vh.import_sbml(MODEL, time_unit="h")
    rng = np.random.default_rng(0)
    defaults = model.default_parameters()
    params = {k: defaults[k] * np.exp(rng.normal(0.0, np.sqrt(np.log(1 + 0.3**2)), args.n)) for k in VARIED}
    times = np.linspace(0.0, 60.0, 241)
    options = dict(times=times, rtol=1e-8, atol=1e-10, precision="float64", solver="rodas4")

    start = time.perf_counter()
    ds = vh.simulate(model, params, **options)
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(args.repeats):
        start = time.perf_counter()
        ds = vh.simulate(model, params, **options)
        best = min(best, time.perf_counter() - start)
    ours = ds[OUTPUT].values

    rr = roadrunner.RoadRunner(str(MODEL))
    rr.integrator.relative_tolerance, rr.integrator.absolute_tolerance = 1e-8, 1e-10
    theirs = []
    start = time.perf_counter()
    for i in range(args.rr_n):
        # values that initial assignments compute from the varied parameters are recomputed only through init()
        rr.resetAll()
        for k in VARIED:
            rr.setValue(f"init({k})", float(params[k][i]))
        rr.reset()
        rr.timeCourseSelections = [OUTPUT]
        theirs.append(np.asarray(rr.simulate(times=times)).reshape(-1))
    rr_s = time.perf_counter() - start
    theirs = np.array(theirs)
    peak = np.abs(theirs).max(axis=1, keepdims=True)
    diff = np.max(np.abs(ours[: args.rr_n] - theirs) / peak)
    # libroadrunner's fast path: the parameters set directly -- what the initial assignments computed from them at
    # load does not follow, so the numbers differ from the model's (recorded, not the comparison)
    direct = []
    start = time.perf_counter()
    for i in range(args.rr_n):
        rr.resetAll()
        for k in VARIED:
            rr[k] = float(params[k][i])
        rr.timeCourseSelections = [OUTPUT]
        direct.append(np.asarray(rr.simulate(times=times)).reshape(-1))
    direct_s = time.perf_counter() - start
    direct_diff = np.max(np.abs(np.array(direct) - theirs) / peak)
    record = {
        "benchmark": "sbml_population", "machine": machine_info(), "model": "BIOMD0000001029 (Zake 2021 metformin "
        "PBPK, multiple oral doses by SBML events)", "patients": args.n, "libroadrunner_patients": args.rr_n,
        "varied": list(VARIED), "vhtwin_first_call_s": first, "vhtwin_s": best,
        "vhtwin_patients_per_s": args.n / best, "libroadrunner_s": rr_s,
        "libroadrunner_patients_per_s": args.rr_n / rr_s,
        "vhtwin_over_libroadrunner": (args.n / best) / (args.rr_n / rr_s),
        "failed": int(np.sum(ds["status"].values != 0)), "max_relative_difference": float(diff),
        "libroadrunner_direct_patients_per_s": args.rr_n / direct_s,
        "libroadrunner_direct_max_relative_difference": float(direct_diff),
    }
    text = json.dumps(record, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
