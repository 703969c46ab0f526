"""A population with covariates and a block Omega through ``simulate``: patients/s and peak memory.

The population: ``pharmacokinetics/two_compartment_oral``; covariates body weight (log-normal, median 70 kg, CV 20 %,
40-140 kg), age (uniform 18-80 y), sex (Bernoulli 0.5) and creatinine clearance (Cockcroft-Gault from a log-normal
serum creatinine); allometric CL and Q (weight^0.75), V1 and V2 (weight^1), CL changing linearly by 0.5 % per
mL/min of creatinine clearance around 100 mL/min; between-subject variability log-normal with a (CL, V1) block (variances 0.09, 0.04,
covariance 0.03) and ka (0.16); 100 mg into depot every 12 h x 14; Cc hourly to 168 h. Measured separately: drawing
the population, and simulating it on the exact linear path (``solver="auto"``) and on the ODE path (Tsit5,
rtol 1e-6, atol 1e-9). Peak memory: XLA's compiled memory statistics of the solve (temp + arguments + outputs) and
the process's resident-set high-water mark.

Usage::

    python benchmarks/pk_population.py --json            # n = 100,000 (JSON lines)
    python benchmarks/pk_population.py --quick           # n = 2,000
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "pk_population"
TIMES = np.arange(169.0)


def population(vh):
    m = vh.load_model("pharmacokinetics/two_compartment_oral")
    covariates = vh.Covariates(
        WT=vh.LogNormal(median=70.0, cv=0.2, lower=40.0, upper=140.0, unit="kg"),
        AGE=vh.Uniform(18.0, 80.0, unit="y"),
        SEX=vh.Bernoulli(0.5),
        SCR=vh.LogNormal(median=0.9, cv=0.2, unit="mg dL-1"),
        CRCL=vh.CockcroftGault(),
    )
    models = (
        vh.PowerCovariate("CL", "WT", 70.0, 0.75),
        vh.PowerCovariate("Q", "WT", 70.0, 0.75),
        vh.PowerCovariate("V1", "WT", 70.0, 1.0),
        vh.PowerCovariate("V2", "WT", 70.0, 1.0),
        vh.LinearCovariate("CL", "CRCL", 100.0, 0.005),
    )
    omega = vh.Omega({"ka": 0.16}, blocks=[(("CL", "V1"), [[0.09, 0.03], [0.03, 0.04]])])
    pop = vh.Population(m, typical={"ka": 1.0, "CL": 5.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}, omega=omega,
                        covariates=covariates, covariate_models=models)
    return m, pop


def _compiled_memory_mb(vh, problem) -> float | None:
    """XLA's compiled memory of the solve for this problem (temp + arguments + outputs - aliased), in MB."""
    import jax

    from vhtwin.simulate import run

    try:
        with jax.enable_x64(problem.precision == "float64"):
            lowered = jax.jit(lambda: run(problem)).lower()
            stats = lowered.compile().memory_analysis()
        total = stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes
        return (total - stats.alias_size_in_bytes) / 2**20
    except Exception:  # memory statistics are not available on every backend
        return None


def measure(n: int, seed: int, solver: str, log) -> dict:
    import vhtwin as vh
    from vhtwin.simulate import prepare

    m, pop = population(vh)
    regimen = vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot")
    start = time.perf_counter()
    draw = pop.sample(n=n, seed=seed)
    sample_s = time.perf_counter() - start
    kwargs = dict(times=TIMES, protocol=regimen, rtol=1e-6, atol=1e-9, precision="float64", outputs=["Cc"],
                  solver=solver)
    first = time.perf_counter()
    vh.simulate(m, params=draw, **kwargs)
    first_s = time.perf_counter() - first
    walls = []
    for _ in range(2):
        t0 = time.perf_counter()
        ds = vh.simulate(m, params=draw, **kwargs)
        walls.append(time.perf_counter() - t0)
    best = min(walls)
    log(f"   {BENCHMARK}: n={n} solver={ds.attrs['solver']}: sample {sample_s:.2f} s, simulate {best:.2f} s")
    problem = prepare(m, draw, **kwargs)
    return {
        "type": "measurement", "benchmark": BENCHMARK, "n": n, "solver": ds.attrs["solver"],
        "sample_s": sample_s, "patients_per_s_sample": n / sample_s,
        "simulate_s_best": best, "simulate_s_all": walls, "first_call_s": first_s,
        "patients_per_s": n / best, "patients_per_s_sample_and_simulate": n / (best + sample_s),
        "failures": int(np.count_nonzero(ds["status"].values != 0)),
        "compiled_memory_mb": _compiled_memory_mb(vh, problem),
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "median_cmax_mg_per_L": float(np.median(ds["Cc"].max("time"))),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--solvers", default="auto,tsit5", help="comma-separated: auto (exact path), tsit5")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smoke run: n = 2,000")
    a = ap.parse_args(argv)
    import vhtwin  # noqa: F401 -- first, so every CPU core is a JAX device

    n = 2000 if a.quick else a.n
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    records = [measure(n, a.seed, s.strip(), log) for s in a.solvers.split(",") if s.strip()]
    for r in records:
        if a.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"{r['solver']:6} n={r['n']:>7} sample {r['patients_per_s_sample']:>10.0f}/s  simulate "
                  f"{r['patients_per_s']:>9.0f}/s  compiled memory {r['compiled_memory_mb'] or float('nan'):8.1f} MB  "
                  f"max RSS {r['ru_maxrss_mb']:8.1f} MB  failures {r['failures']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
