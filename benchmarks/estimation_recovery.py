"""Parameter recovery of FOCE-I: simulate a population dataset from a known truth, fit it, and repeat.

The design (fixed): ``pharmacokinetics/one_compartment_oral``; ``--subjects`` subjects (default 500), each one oral
dose of 320 mg at t = 0 and 10 samples at 0.25, 0.5, 1, 2, 3.5, 5, 7, 9, 12 and 24 h. Covariates: body weight
WT ~ U(50, 100) kg with an allometric power model on CL (``CL = TVCL (WT / 70) ** 0.75``), and SEX ~ Bernoulli(0.5)
(0 male, the reference; 1 female) with a categorical effect on V (``V = TVV * 0.85`` for SEX = 1). Between-subject
variability: log-normal etas on ka, CL and V, diagonal Omega (variances 0.4, 0.07, 0.02). Residual error: combined,
additive SD 0.1 mg/L and proportional SD 0.1 (``y = f + sqrt(0.1^2 + (0.1 f)^2) eps``).

Simulation: in numpy, independently of the engine -- the closed-form one-compartment oral concentration
(Bateman function) plus normal noise, replicate ``r`` drawn with ``numpy.random.default_rng([base_seed, r])``.
A simulated measurement below 0 is dropped from the dataset, as most assays report no negative concentration (about
1 sample in 1,500, at 0.25 h in slow absorbers or at 24 h in fast eliminators): the count is recorded per replicate
(``negative_dropped``). Dropping low values is a small informative censoring, visible if at all in
``sigma(additive)``.

Fit: ``vh.estimate(model, data, start, method="focei", covariance="sandwich")`` with the defaults otherwise, from a
start 20 to 50 % away from the truth (typical ka 1.2, CL 3.4, V 26, exponent 0.5, factor 1.0; Omega 0.2, 0.15, 0.05;
additive 0.5, proportional 0.2). Recorded per replicate: every estimate, its standard error and 95 % confidence
interval (estimate +- 1.96 SE, as ``fit.table()`` gives it), whether the search converged and the covariance status.

Summary per parameter, over the replicates whose fit returned (converged or not; non-converged ones are counted):
mean relative bias % (``100 mean((est - truth) / truth)``), relative RMSE % (``100 sqrt(mean(((est - truth) /
truth)^2))``), the coverage of the 95 % CIs (the fraction of replicates with a successful covariance step whose CI
contains the truth) with its exact binomial (Clopper-Pearson) 95 % interval, and the number of replicates that
converged and that had a successful covariance step.

Usage::

    python benchmarks/estimation_recovery.py --out benchmarks/results/estimation-recovery-cpu-2core.json
    python benchmarks/estimation_recovery.py --replicates 30 --subjects 500
    python benchmarks/estimation_recovery.py --quick          # 5 replicates of 100 subjects
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from _machine import machine_info  # benchmarks/_machine.py (the scripts run from this folder)

import numpy as np
import pandas as pd
from scipy import stats

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "estimation_recovery"
MODEL = "pharmacokinetics/one_compartment_oral"
TYPICAL = {"ka": 1.5, "CL": 2.8, "V": 31.5}  # /h, L/h at 70 kg, L for SEX = 0
CL_WT_EXPONENT = 0.75
V_SEX_FACTOR = 0.85  # V of SEX = 1 relative to SEX = 0
OMEGA = {"ka": 0.4, "CL": 0.07, "V": 0.02}  # variances of the etas
ADDITIVE = 0.1  # mg/L
PROPORTIONAL = 0.1  # fraction
DOSE_MG = 320.0
TIMES = np.array([0.25, 0.5, 1.0, 2.0, 3.5, 5.0, 7.0, 9.0, 12.0, 24.0])  # h
BASE_SEED = 20261204
START = {"typical": {"ka": 1.2, "CL": 3.4, "V": 26.0}, "CL~WT": 0.5, "V~SEX=1": 1.0,
         "omega": {"ka": 0.2, "CL": 0.15, "V": 0.05}, "additive": 0.5, "proportional": 0.2}
TRUTH = {**TYPICAL, "CL~WT": CL_WT_EXPONENT, "V~SEX=1": V_SEX_FACTOR,
         **{f"omega({k})": v for k, v in OMEGA.items()},
         "sigma(additive)": ADDITIVE, "sigma(proportional)": PROPORTIONAL}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the simulated dataset -------------------------------------------------------------------------------------------
def bateman(t, ka, CL, V):
    """Cc (mg/L) after DOSE_MG orally at t = 0; parameters broadcast against ``t``."""
    k = CL / V
    return DOSE_MG * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def simulate(n: int, replicate: int, base_seed: int = BASE_SEED) -> pd.DataFrame:
    """A NONMEM-style table of ``n`` subjects drawn from the truth, replicate ``replicate`` (negative DVs kept)."""
    rng = np.random.default_rng([base_seed, replicate])
    wt = rng.uniform(50.0, 100.0, n)
    sex = rng.integers(0, 2, n)
    eta = rng.normal(0.0, np.sqrt([OMEGA[k] for k in ("ka", "CL", "V")]), (n, 3))
    ka = TYPICAL["ka"] * np.exp(eta[:, 0])
    cl = TYPICAL["CL"] * (wt / 70.0) ** CL_WT_EXPONENT * np.exp(eta[:, 1])
    v = TYPICAL["V"] * np.where(sex == 1, V_SEX_FACTOR, 1.0) * np.exp(eta[:, 2])
    f = bateman(TIMES[None, :], ka[:, None], cl[:, None], v[:, None])
    y = f + np.sqrt(ADDITIVE**2 + (PROPORTIONAL * f) ** 2) * rng.normal(0.0, 1.0, f.shape)
    ids = np.arange(1, n + 1)
    T = TIMES.size
    doses = pd.DataFrame({"ID": ids, "TIME": 0.0, "AMT": DOSE_MG, "EVID": 1, "CMT": 1, "DV": np.nan, "MDV": 1,
                          "WT": wt, "SEX": sex})
    samples = pd.DataFrame({"ID": np.repeat(ids, T), "TIME": np.tile(TIMES, n), "AMT": np.nan, "EVID": 0, "CMT": 2,
                            "DV": y.reshape(-1), "MDV": 0, "WT": np.repeat(wt, T), "SEX": np.repeat(sex, T)})
    return pd.concat([doses, samples]).sort_values(["ID", "TIME", "EVID"], ascending=[True, True, False],
                                                   kind="stable").reset_index(drop=True)


def start_population(model):
    return vh.Population(
        model, typical=START["typical"], omega=START["omega"],
        covariate_models=[vh.PowerCovariate("CL", "WT", 70.0, START["CL~WT"]),
                          vh.CategoricalCovariate("V", "SEX", {0: 1.0, 1: START["V~SEX=1"]})],
        residual=vh.Residual(additive=START["additive"], proportional=START["proportional"]))


# -- one replicate -----------------------------------------------------------------------------------------------------
def replicate(model, n: int, r: int, base_seed: int) -> dict:
    frame = simulate(n, r, base_seed)
    negative = frame["DV"] < 0
    data = vh.read_dataset(frame[~negative].reset_index(drop=True), model)
    start = time.perf_counter()
    compiled = vh.compilation_count()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = vh.estimate(model, data, start_population(model), method="focei", covariance="sandwich")
        except Exception as exc:  # noqa: BLE001 - a failed replicate is a result of the study, recorded
            return {"type": "replicate", "replicate": r, "seed": [base_seed, r], "n": n, "failed": True,
                    "negative_dropped": int(negative.sum()),
                    "error": f"{type(exc).__name__}: {exc}", "wall_s": time.perf_counter() - start}
    table = fit.table()
    out = {"type": "replicate", "replicate": r, "seed": [base_seed, r], "n": n, "failed": False, "negative_dropped": int(negative.sum()),
           "converged": bool(fit.converged), "message": fit.message, "covariance_status": fit.covariance_status,
           "ofv": float(fit.ofv), "iterations": int(fit.iterations), "evaluations": int(fit.evaluations),
           "wall_s": time.perf_counter() - start, "compilations": vh.compilation_count() - compiled,
           "warnings": [str(w.message) for w in caught], "parameters": {}}
    for name in TRUTH:
        row = table.loc[name]
        out["parameters"][name] = {k: float(row[k]) for k in ("estimate", "se", "ci_low", "ci_high")}
    return out


# -- the summary ---------------------------------------------------------------------------------------------------------
def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float | None, float | None]:
    """Exact binomial confidence interval of a proportion ``k / n``."""
    if n == 0:
        return None, None
    alpha = 1.0 - level
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


def summarise(reps: list[dict]) -> dict:
    fitted = [r for r in reps if not r["failed"]]
    with_se = [r for r in fitted if r["covariance_status"] == "ok"]
    per = {}
    for name, truth in TRUTH.items():
        est = np.array([r["parameters"][name]["estimate"] for r in fitted])
        rel = (est - truth) / truth
        inside = [r["parameters"][name]["ci_low"] <= truth <= r["parameters"][name]["ci_high"] for r in with_se]
        low, high = clopper_pearson(int(sum(inside)), len(inside))
        rse = [100.0 * r["parameters"][name]["se"] / abs(r["parameters"][name]["estimate"]) for r in with_se]
        per[name] = {"truth": truth, "mean_estimate": float(np.mean(est)) if est.size else None,
                     "relative_bias_percent": float(100.0 * np.mean(rel)) if est.size else None,
                     "relative_rmse_percent": float(100.0 * np.sqrt(np.mean(rel**2))) if est.size else None,
                     "empirical_sd_percent": float(100.0 * np.std(rel, ddof=1)) if est.size > 1 else None,
                     "mean_rse_percent": float(np.mean(rse)) if rse else None,
                     "coverage_95": float(np.mean(inside)) if inside else None,
                     "coverage_95_interval": [low, high], "coverage_replicates": len(inside)}
    return {"replicates": len(reps), "fitted": len(fitted), "converged": sum(r["converged"] for r in fitted),
            "covariance_ok": len(with_se), "failed": len(reps) - len(fitted),
            "wall_s_median": float(np.median([r["wall_s"] for r in fitted])) if fitted else None,
            "parameters": per}


# -- machine -----------------------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=100, help="simulate-and-refit replicates (default 100)")
    ap.add_argument("--subjects", type=int, default=500, help="subjects per simulated dataset (default 500)")
    ap.add_argument("--base-seed", type=int, default=BASE_SEED, help=f"replicate r uses seed (base, r); default {BASE_SEED}")
    ap.add_argument("--deadline", type=float, default=None,
                    help="stop starting new replicates after this many seconds (the summary says how many ran)")
    ap.add_argument("--note", default=None, help="a sentence stored in the summary (e.g. which source tree ran)")
    ap.add_argument("--json", action="store_true", help="JSON lines on stdout (the default output anyway)")
    ap.add_argument("--out", type=Path, help="also write every record to this JSON file (rewritten after each replicate)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 5 replicates of 100 subjects")
    a = ap.parse_args(argv)
    if a.quick:
        a.replicates, a.subjects = 5, 100
    started = time.time()
    model = vh.load_model(MODEL)
    config = {"model": MODEL, "subjects": a.subjects, "replicates_requested": a.replicates, "base_seed": a.base_seed,
              "truth": TRUTH, "start": START, "dose_mg": DOSE_MG, "times_h": TIMES.tolist(),
              "covariates": "WT ~ U(50, 100) kg, power model on CL (reference 70 kg); SEX ~ Bernoulli(0.5), "
                            "categorical factor on V (SEX = 0 reference)",
              "residual": "combined: sd = sqrt(additive^2 + (proportional f)^2)",
              "simulation": "numpy closed form (Bateman function), rng = numpy.random.default_rng([base_seed, r]); "
                            "negative simulated DVs dropped (count in negative_dropped)",
              "fit": "vh.estimate(method='focei', covariance='sandwich'), other options default",
              "quick": a.quick, "deadline_s": a.deadline}
    records, reps = [], []

    def emit(rec):
        rec = {"benchmark": BENCHMARK, **rec, "loadavg_1min": round(os.getloadavg()[0], 2)}
        records.append(rec)
        print(json.dumps(rec), flush=True)

    def write(summary=None):
        if a.out:
            a.out.parent.mkdir(parents=True, exist_ok=True)
            body = {"config": config, "records": records + ([summary] if summary else [])}
            a.out.write_text(json.dumps(body, indent=1) + "\n")

    stopped_early = False
    for r in range(a.replicates):
        if a.deadline is not None and time.time() - started > a.deadline:
            stopped_early = True
            log(f"deadline reached after {r} replicates")
            break
        rec = replicate(model, a.subjects, r, a.base_seed)
        reps.append(rec)
        emit(rec)
        if rec["failed"]:
            log(f"[{r + 1}/{a.replicates}] FAILED {rec['error']}")
        else:
            log(f"[{r + 1}/{a.replicates}] {rec['wall_s']:.1f} s, converged {rec['converged']}, covariance "
                f"{rec['covariance_status']}, OFV {rec['ofv']:.2f}")
        write()
    summary = {"type": "summary", "machine": machine_info(), "config": config, **summarise(reps),
               "stopped_early": stopped_early,
               "note": " ".join(x for x in (
                   f"{len(reps)} of the {a.replicates} replicates requested ran before the deadline." if stopped_early
                   else None, a.note) if x) or None,
               "wall_s": time.time() - started}
    emit(summary)
    write()
    if a.out:
        log(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
