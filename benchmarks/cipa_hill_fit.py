"""Hill-equation block uncertainty of the CiPA drugs by the FDA's MCMC method (:func:`vhtwin.cipa.hill_fit.fit_hill`).

``--training``: for each of the 12 training drugs and each of the six non-hERG currents, the MCMC on the patch-clamp
data the FDA fitted its published samples to (``benchmarks/data/cipa/drug_block.csv``) against those samples
(``src/vhtwin/cipa/data/hill_block_samples.csv.gz``): the 2.5, 50 and 97.5 percentiles of IC50 and h side by side,
their ratios (vhtwin / FDA) and the two-sample Kolmogorov-Smirnov distance of log IC50 and of h; the optimal fit
against the one in ``cipa_drugs.csv``; summary counts over the currents both have.

``--validation``: for the 16 validation drugs, the same method on the manual patch-clamp data
(``benchmarks/data/cipa/manual_validationdrug_block.csv``): the optimal fit against the optimal IC50 and h in
``cipa_drugs.csv`` (ratios), and 2000 samples per drug written to ``--samples-out`` in the layout of
``hill_block_samples.csv.gz`` (4 significant digits; a current without block in ``cipa_drugs.csv`` left empty, as is
one whose chain fails the method's checks).

Neither flag: both. Every chain: ``--samples`` 2000 kept, ``--burnin`` 10000, ``--thin`` 10, ``--seed`` 100 (the
FDA's settings). The source files and their provenance: ``benchmarks/data/cipa/README.md``.

Usage::

    python benchmarks/cipa_hill_fit.py --training --validation --out benchmarks/results/cipa-hill-fit.json
    python benchmarks/cipa_hill_fit.py --validation --samples-out /tmp/hill_block_samples_validation.csv.gz
    python benchmarks/cipa_hill_fit.py --quick --json
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from _machine import machine_info  # (benchmarks/_machine.py; the scripts run from this folder)

from vhtwin.cipa.hill_fit import fit_hill

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "cipa"
PACKAGE_DATA = ROOT / "src" / "vhtwin" / "cipa" / "data"
DEFAULT_SAMPLES_OUT = PACKAGE_DATA / "hill_block_samples_validation.csv.gz"

#: the currents fitted, in the column order of hill_block_samples.csv.gz
CURRENTS = ("ICaL", "IK1", "IKs", "INa", "INaL", "Ito")
#: cipa_drugs.csv column prefixes of each current
PREFIX = {"ICaL": "CaL", "IK1": "IK1", "IKs": "IKs", "INa": "Peak_sodium", "INaL": "Late_sodium", "Ito": "Ito"}
TRAINING = ("quinidine", "bepridil", "dofetilide", "sotalol", "chlorpromazine", "cisapride", "terfenadine",
            "ondansetron", "diltiazem", "mexiletine", "ranolazine", "verapamil")
QUANTILES = (2.5, 50.0, 97.5)
FACTORS = (1.1, 1.25, 1.5, 2.0)


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def published() -> pd.DataFrame:
    """cipa_drugs.csv, indexed by drug."""
    return pd.read_csv(PACKAGE_DATA / "cipa_drugs.csv").set_index("drug")


def optimum(table: pd.DataFrame, drug: str, current: str):
    """(IC50, h) of ``cipa_drugs.csv``, or None where it has no block (IC50 0)."""
    ic50 = float(table.loc[drug, f"{PREFIX[current]}IC50"])
    h = float(table.loc[drug, f"{PREFIX[current]}h"])
    return (ic50, h) if ic50 > 0 else None


def block_data(file: Path) -> pd.DataFrame:
    """Patch-clamp rows with a block value (the FDA drops the NA ones), hERG left out (not a Hill fit here)."""
    df = pd.read_csv(file)
    units = set(df["units"].unique())
    if units != {"nM"}:
        raise SystemExit(f"{file.name}: concentration units {sorted(units)}, expected nM only")
    df = df[df["block"].notna() & (df["channel"] != "hERG")]
    return df


def quantiles(x: np.ndarray) -> list[float]:
    return [float(v) for v in np.percentile(x, QUANTILES)]


def fit(df: pd.DataFrame, drug: str, current: str, args) -> tuple[object, dict]:
    rows = df[(df["drug"] == drug) & (df["channel"] == current)]
    t = time.perf_counter()
    conc, block = rows["conc"].to_numpy(float), rows["block"].to_numpy(float)
    f = fit_hill(conc, block, samples=args.samples, burnin=args.burnin, thin=args.thin, seed=args.seed)
    seconds = time.perf_counter() - t
    ours = {"ic50": quantiles(f.ic50_samples), "h": quantiles(f.h_samples)}
    exact = exact_quantiles(conc, block)
    rec = {"n_data": int(len(rows)), "concentrations_nM": sorted(float(c) for c in rows["conc"].unique()),
           "optimal": {"ic50": f.ic50, "h": f.h}, "samples": ours, "exact": exact,
           "samples_vs_exact": {k: [a / b for a, b in zip(ours[k], exact[k])] for k in ("ic50", "h")},
           "acceptance": round(f.acceptance, 4), "converged": f.converged, "burnin": f.burnin,
           "seconds": round(seconds, 3)}
    return f, rec


def vs_exact(records: list[dict], which: str) -> dict:
    """How far the percentiles of ``which`` ("samples" or "fda") are from the exact ones, over all records."""
    return {k: counts([a / b for r in records for a, b in zip(r[which][k], r["exact"][k])]) for k in ("ic50", "h")}


def exact_quantiles(conc: np.ndarray, block: np.ndarray) -> dict:
    """The 2.5, 50 and 97.5 percentiles of IC50 and h of the same posterior by quadrature, no sampling: with the
    error variance integrated out, p(log IC50, h) is proportional to (n0 var0 + SS)^(-(n0 + n)/2) on the bounds (flat
    prior, n0 = n, var0 = the fit's mean squared residual). A coarse grid over the whole box finds where the mass is,
    a fine one there gives the marginals."""
    from vhtwin.cipa.hill_fit import LOWER, UPPER, _least_squares

    _, ssr = _least_squares(conc, block)
    n = block.size
    prior = n * max(ssr / n, 1e-12)

    def log_post(lx, h):
        lx, h = np.meshgrid(lx, h, indexing="ij")
        ss = np.zeros_like(lx)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for c, y in zip(conc, block):
                ss += (y - 100.0 * (1.0 - 1.0 / (1.0 + np.power(c * np.exp(-lx), h)))) ** 2
        return -n * np.log(prior + ss)

    lx = np.linspace(LOWER[0], UPPER[0], 801)
    h = np.linspace(LOWER[1], UPPER[1], 401)
    lp = log_post(lx, h)
    i, j = np.nonzero(lp > lp.max() - 30)  # e^-30 of the peak: nothing beyond
    lx = np.linspace(lx[max(i.min() - 1, 0)], lx[min(i.max() + 1, lx.size - 1)], 1201)
    h = np.linspace(h[max(j.min() - 1, 0)], h[min(j.max() + 1, h.size - 1)], 1201)
    lp = log_post(lx, h)
    w = np.exp(lp - lp.max())
    out = {}
    for key, axis, grid in (("ic50", 1, lx), ("h", 0, h)):
        cdf = np.cumsum(w.sum(axis=axis))
        cdf = cdf / cdf[-1]
        q = np.interp(np.array(QUANTILES) / 100, cdf, grid)
        out[key] = [float(v) for v in (np.exp(q) if key == "ic50" else q)]
    return out


def factor(r: float) -> float:
    """How far a ratio is from 1, as a factor >= 1."""
    return float(max(r, 1 / r)) if r > 0 and np.isfinite(r) else float("inf")


def counts(ratios: list[float]) -> dict:
    f = np.array([factor(r) for r in ratios])
    if f.size == 0:
        return {"n": 0}
    return {"n": int(f.size), "max_factor": float(f.max()), "median_factor": float(np.median(f)),
            **{f"within_{x}": int((f <= x).sum()) for x in FACTORS}}


def training(args) -> dict:
    df = block_data(DATA / "drug_block.csv")
    fda = pd.read_csv(PACKAGE_DATA / "hill_block_samples.csv.gz")
    table = published()
    drugs = TRAINING if not args.drugs else [d for d in TRAINING if d in args.drugs]
    out, per = {}, {k: [] for k in ("median_ic50", "low_ic50", "high_ic50", "median_h", "low_h", "high_h",
                                    "opt_ic50", "opt_h", "ks_log_ic50", "ks_h")}
    not_compared = []
    for drug in drugs:
        theirs = fda[fda["drug"] == drug].sort_values("sample")
        out[drug] = {}
        for current in CURRENTS:
            if not ((df["drug"] == drug) & (df["channel"] == current)).any():
                continue
            f, rec = fit(df, drug, current, args)
            opt = optimum(table, drug, current)
            if opt is not None:
                rec["optimal"]["published"] = {"ic50": opt[0], "h": opt[1]}
                rec["optimal"]["ratio"] = {"ic50": f.ic50 / opt[0], "h": f.h / opt[1]}
                per["opt_ic50"].append(f.ic50 / opt[0])
                per["opt_h"].append(f.h / opt[1])
            s_ic50 = theirs[f"{current}_IC50"].to_numpy(float)
            s_h = theirs[f"{current}_h"].to_numpy(float)
            if s_ic50.size and np.all(np.isfinite(s_ic50)):
                q_ic50, q_h = quantiles(s_ic50), quantiles(s_h)
                r_ic50 = [a / b for a, b in zip(rec["samples"]["ic50"], q_ic50)]
                r_h = [a / b for a, b in zip(rec["samples"]["h"], q_h)]
                ks_ic50 = float(ks_2samp(np.log(f.ic50_samples), np.log(s_ic50)).statistic)
                ks_h = float(ks_2samp(f.h_samples, s_h).statistic)
                rec["fda"] = {"ic50": q_ic50, "h": q_h}
                rec["fda_vs_exact"] = {k: [a / b for a, b in zip(rec["fda"][k], rec["exact"][k])]
                                       for k in ("ic50", "h")}
                rec["ratio"] = {"ic50": r_ic50, "h": r_h}
                rec["ks"] = {"log_ic50": ks_ic50, "h": ks_h}
                for key, r in (("ic50", r_ic50), ("h", r_h)):
                    per[f"low_{key}"].append(r[0])
                    per[f"median_{key}"].append(r[1])
                    per[f"high_{key}"].append(r[2])
                per["ks_log_ic50"].append(ks_ic50)
                per["ks_h"].append(ks_h)
                say(f"{drug:15s} {current:5s} IC50 {fmt(rec['samples']['ic50'])} vs FDA {fmt(q_ic50)}  "
                    f"h {fmt(rec['samples']['h'])} vs FDA {fmt(q_h)}  KS {ks_ic50:.2f}/{ks_h:.2f}"
                    f"{'' if f.converged else '  NOT CONVERGED'}")
            else:
                rec["fda"] = None  # the FDA published no samples for this current (no block in Li et al. 2017)
                not_compared.append(f"{drug}/{current}")
                say(f"{drug:15s} {current:5s} IC50 {fmt(rec['samples']['ic50'])} (no FDA samples)")
            out[drug][current] = rec
    compared = [r for v in out.values() for r in v.values() if r["fda"] is not None]
    ks = {k: {"median": float(np.median(per[k])), "max": float(np.max(per[k])),
              "within_0.1": int(np.sum(np.array(per[k]) <= 0.1)), "n": len(per[k])}
          for k in ("ks_log_ic50", "ks_h") if per[k]}
    summary = {
        "currents_compared": len(per["median_ic50"]),
        "currents_without_fda_samples": not_compared,
        "not_converged": [f"{d}/{c}" for d, v in out.items() for c, r in v.items() if not r["converged"]],
        "median_ratio_ic50": counts(per["median_ic50"]),
        "p2.5_ratio_ic50": counts(per["low_ic50"]),
        "p97.5_ratio_ic50": counts(per["high_ic50"]),
        "median_ratio_h": counts(per["median_h"]),
        "p2.5_ratio_h": counts(per["low_h"]),
        "p97.5_ratio_h": counts(per["high_h"]),
        "ks_distance": ks,
        "optimal_ratio_ic50_vs_cipa_drugs": counts(per["opt_ic50"]),
        "optimal_ratio_h_vs_cipa_drugs": counts(per["opt_h"]),
        "percentiles_vs_exact": {"vhtwin": vs_exact(compared, "samples"), "fda": vs_exact(compared, "fda")},
    }
    return {"data": "benchmarks/data/cipa/drug_block.csv", "settings": settings(args), "summary": summary,
            "drugs": out}


def validation(args) -> dict:
    df = block_data(DATA / "manual_validationdrug_block.csv")
    table = published()
    drugs = [d for d in table.index if d in set(df["drug"])]  # the cipa_drugs.csv order
    if args.drugs:
        drugs = [d for d in drugs if d in args.drugs]
    out, ratios_ic50, ratios_h, written, disagree, failed = {}, [], [], [], [], []
    columns = {}
    for drug in drugs:
        out[drug] = {}
        columns[drug] = {}
        for current in CURRENTS:
            opt = optimum(table, drug, current)
            has_data = ((df["drug"] == drug) & (df["channel"] == current)).any()
            if not has_data:
                if opt is not None:
                    failed.append(f"{drug}/{current}: block in cipa_drugs.csv but no data")
                continue
            f, rec = fit(df, drug, current, args)
            if opt is not None:
                r = {"ic50": f.ic50 / opt[0], "h": f.h / opt[1]}
                rec["optimal"]["published"] = {"ic50": opt[0], "h": opt[1]}
                rec["optimal"]["ratio"] = r
                ratios_ic50.append(r["ic50"])
                ratios_h.append(r["h"])
                if factor(r["ic50"]) > args.agree or factor(r["h"]) > args.agree:
                    disagree.append(f"{drug}/{current}")
                if f.converged:
                    columns[drug][current] = (f.ic50_samples, f.h_samples)
                    written.append(f"{drug}/{current}")
                else:
                    failed.append(f"{drug}/{current}: chain did not converge")
            rec["written"] = f"{drug}/{current}" in written
            say(f"{drug:15s} {current:5s} optimum {f.ic50:.4g} nM, h {f.h:.4g}"
                + (f"  vs cipa_drugs {opt[0]:.4g}, {opt[1]:.4g}  (x{f.ic50 / opt[0]:.3f}, x{f.h / opt[1]:.3f})"
                   if opt else "  (no block in cipa_drugs.csv: not written)")
                + f"  samples IC50 {fmt(rec['samples']['ic50'])}" + ("" if f.converged else "  NOT CONVERGED"))
            out[drug][current] = rec
    medians = [factor(float(np.median(columns[d][c][0])) / optimum(table, d, c)[0])
               for d in columns for c in columns[d]]
    summary = {
        "drugs": len(drugs),
        "currents_fitted": sum(len(v) for v in out.values()),
        "currents_written": len(written),
        "failed": failed,
        "optimal_ratio_ic50_vs_cipa_drugs": counts(ratios_ic50),
        "optimal_ratio_h_vs_cipa_drugs": counts(ratios_h),
        f"outside_factor_{args.agree}": disagree,
        "sample_median_ic50_vs_cipa_drugs_max_factor": max(medians) if medians else None,
        "percentiles_vs_exact": vs_exact([r for v in out.values() for r in v.values()], "samples"),
    }
    if args.samples_out:
        write_samples(args.samples_out, drugs, columns, args.samples)
        summary["samples_file"] = os.path.relpath(args.samples_out, ROOT)
    return {"data": "benchmarks/data/cipa/manual_validationdrug_block.csv", "settings": settings(args),
            "summary": summary, "drugs": out}


def write_samples(path: Path, drugs: list[str], columns: dict, samples: int) -> None:
    """The samples in the layout of hill_block_samples.csv.gz: one row per drug and sample, IC50 (nM) and h of each
    current to 4 significant digits, empty where the current has no samples; gzip without a time stamp, so the same
    samples give the same bytes."""
    rows = []
    for drug in drugs:
        frame = {"drug": [drug] * samples, "sample": np.arange(1, samples + 1)}
        for current in CURRENTS:
            ic50, h = columns[drug].get(current, (np.full(samples, np.nan), np.full(samples, np.nan)))
            frame[f"{current}_IC50"] = signif(ic50)
            frame[f"{current}_h"] = signif(h)
        rows.append(pd.DataFrame(frame))
    text = pd.concat(rows, ignore_index=True).to_csv(index=False, lineterminator="\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename=path.name.removesuffix(".gz"), mode="wb", fileobj=buf, mtime=0) as z:
        z.write(text.encode())
    path.write_bytes(buf.getvalue())


def signif(x: np.ndarray, digits: int = 4) -> np.ndarray:
    """Round to ``digits`` significant digits through the decimal text, so 0.6301 is written 0.6301, not
    0.6301000000000001."""
    return np.array([float(f"{v:.{digits}g}") if np.isfinite(v) else np.nan for v in x])


def fmt(q: list[float]) -> str:
    return "[" + ", ".join(f"{v:.4g}" for v in q) + "]"


def settings(args) -> dict:
    return {"samples": args.samples, "burnin": args.burnin, "thin": args.thin, "seed": args.seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--training", action="store_true", help="the 12 training drugs against the FDA's samples")
    parser.add_argument("--validation", action="store_true", help="the 16 validation drugs: fits and samples file")
    parser.add_argument("--samples", type=int, default=2000, help="samples kept per chain (FDA: 2000)")
    parser.add_argument("--burnin", type=int, default=10000, help="burn-in iterations (FDA: 10000)")
    parser.add_argument("--thin", type=int, default=10, help="thinning (FDA: 10)")
    parser.add_argument("--seed", type=int, default=100, help="seed of every chain (FDA: 100)")
    parser.add_argument("--drugs", help="only these drugs (comma-separated)")
    parser.add_argument("--agree", type=float, default=1.1,
                        help="--validation: optimal fits differing from cipa_drugs.csv by more than this factor are "
                             "listed")
    parser.add_argument("--samples-out", type=Path, default=None,
                        help="--validation: samples file to write (default src/vhtwin/cipa/data/"
                             "hill_block_samples_validation.csv.gz; none with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 drugs each, 500 samples, burn-in 2000")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line on stdout")
    parser.add_argument("--out", type=Path, help="JSON file to write")
    args = parser.parse_args()
    if args.drugs:
        args.drugs = {d.strip().lower() for d in args.drugs.split(",")}
    if args.quick:
        args.samples, args.burnin = min(args.samples, 500), min(args.burnin, 2000)
        args.drugs = args.drugs or {"dofetilide", "verapamil", "risperidone", "nifedipine"}
    elif args.samples_out is None:
        args.samples_out = DEFAULT_SAMPLES_OUT
    if not (args.training or args.validation):
        args.training = args.validation = True
    record = {"machine": machine_info(), "command": "python benchmarks/cipa_hill_fit.py " + " ".join(sys.argv[1:])}
    t = time.perf_counter()
    if args.training:
        record["training"] = training(args)
    if args.validation:
        record["validation"] = validation(args)
    record["seconds"] = round(time.perf_counter() - t, 1)
    summary = {k: record[k]["summary"] for k in ("training", "validation") if k in record}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=1) + "\n")
    if args.json:
        print(json.dumps({"type": "summary", "benchmark": "cipa_hill_fit", **summary, "seconds": record["seconds"]}))
    else:
        print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
