"""The CiPA assay: the 28-drug risk table, and its speed against Myokit.

``--table``: every CiPA drug at its optimal fit (the FDA's ``pars.txt`` and newCiPA IC50s) at ``--multiples`` x
free Cmax plus a drug-free control, through the FDA protocol (``--beats`` 1000 at 2000 ms from the FDA's control
steady state, the last ``--analysed`` 250 measured, the beat with the largest dV/dt in its EAD window kept) as one
batch; per drug qNet, APD90, APD50 and EADs per concentration, the torsade metric score (TMS, mean qNet over 1-4 x
Cmax), the class by the published thresholds (:data:`vhtwin.cipa.THRESHOLDS`) and by thresholds vhtwin fits by
ordinal logistic regression on the 12 training drugs (:func:`vhtwin.cipa.fit_thresholds`), against the published
classes: the number that agree.

``--speed``: cell-beats per second of the assay (dofetilide at ``--lanes`` concentrations and uncertainty samples,
``--speed-beats`` beats, warm) against Myokit (CVODE) pacing the same model from the Chaste CellML file
(tests/data/cellml/chaste/ohara_rudy_cipa_v1_2017.cellml) on one core, in the same run; each at the fastest of
its tolerances (vhtwin rtol 3e-2 to 1e-6, Myokit 1e-3 to 1e-8) whose APD90 after the last beat is within 1 ms of a
reference solve (Myokit at rtol 1e-10) on ``--myokit-lanes`` lanes; qNet's error is reported beside it. Per core =
the figure divided by the cores it ran on. The chosen tolerance is timed again in batches of ``--widths`` lanes.

Usage::

    python benchmarks/cipa.py --table --out benchmarks/results/cipa-table.json --figure docs/images/cipa-qnet.png
    python benchmarks/cipa.py --speed --out benchmarks/results/cipa-speed.json
    python benchmarks/cipa.py --table --drugs dofetilide --multiples 10,25,50,75,100,150,200,300 \
        --out benchmarks/results/cipa-dofetilide-high.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import xarray as xr

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

from _machine import machine_info  # noqa: E402  (benchmarks/_machine.py; the scripts run from this folder)

from vhtwin import cipa  # noqa: E402

CELLML = Path(__file__).resolve().parents[1] / "tests" / "data" / "cellml" / "chaste" / "ohara_rudy_cipa_v1_2017.cellml"


def table(args) -> dict:
    names = cipa.drugs() if not args.drugs else [cipa.drug(n).name for n in args.drugs.split(",")]
    multiples = [float(m) for m in args.multiples.split(",")]
    rows = []
    params: dict[str, list] = {}
    for name in names:
        d = cipa.drug(name)
        p = d.parameters(np.array(multiples) * d.cmax)
        for k, v in p.items():
            params.setdefault(k, []).append(v)
    control = {k: np.zeros(1) if k == "D" else v[0][:1] for k, v in params.items()}
    lanes = {k: np.concatenate([control[k], *v]) for k, v in params.items()}
    t = time.perf_counter()
    out = cipa.run_assay(lanes, beats=args.beats, analysed=args.analysed, batch=args.batch)
    elapsed = time.perf_counter() - t
    n_lanes = lanes["D"].size
    result = {"control": {k: float(out[k].values[0]) for k in ("qNet", "APD90", "APD50")}}
    per = len(multiples)
    datasets = {}
    for i, name in enumerate(names):
        d = cipa.drug(name)
        sl = slice(1 + i * per, 1 + (i + 1) * per)
        ds = xr.Dataset({k: ("concentration", out[k].values[sl]) for k in ("qNet", "APD90", "APD50", "EAD", "n_EAD",
                                                                           "status")},
                        coords={"concentration": np.array(multiples) * d.cmax, "cmax_multiple": ("concentration", multiples)})
        datasets[name] = ds
        scored = all(m in multiples for m in (1.0, 2.0, 3.0, 4.0))
        tms = float(cipa.torsade_metric_score(ds)) if scored else None
        rows.append({
            "drug": name, "published_class": d.risk, "training": d.training, "cmax_nM": d.cmax,
            "qNet": [float(x) for x in ds["qNet"].values], "APD90": [float(x) for x in ds["APD90"].values],
            "APD50": [float(x) for x in ds["APD50"].values], "n_EAD": [int(x) for x in ds["n_EAD"].values],
            "status": [int(x) for x in ds["status"].values], "TMS": tms,
            "class_published_thresholds": str(cipa.classify(ds).values) if scored else None,
        })
    if not all(m in multiples for m in (1.0, 2.0, 3.0, 4.0)) or len(names) < 28:
        return {"multiples": multiples, "beats": args.beats, "analysed": args.analysed, "lanes": int(n_lanes),
                "seconds": elapsed, "drugs": rows, **result}
    training = [r for r in rows if r["training"]]
    fitted = cipa.fit_thresholds([r["TMS"] for r in training], [r["published_class"] for r in training])
    for r in rows:
        r["class_fitted_thresholds"] = str(cipa.classify(datasets[r["drug"]], fitted).values)
    agree = {key: {"all": sum(r[key] == r["published_class"] for r in rows),
                   "training": sum(r[key] == r["published_class"] for r in rows if r["training"]),
                   "validation": sum(r[key] == r["published_class"] for r in rows if not r["training"])}
             for key in ("class_published_thresholds", "class_fitted_thresholds")}
    return {"multiples": multiples, "beats": args.beats, "analysed": args.analysed, "lanes": int(n_lanes),
            "seconds": elapsed, "cell_beats_per_s": n_lanes * args.beats / elapsed,
            "thresholds_published": cipa.THRESHOLDS, "thresholds_source": cipa.THRESHOLDS_SOURCE,
            "thresholds_fitted_on_training_drugs": fitted, "agreement": agree, "drugs": rows, **result}


# -- speed against Myokit -----------------------------------------------------------------------------------------
_CELLML_NAMES = {"GNa": "GNa", "GNaL": "GNaL_b", "Gto": "Gto_b", "PCa": "PCa_b", "GKs": "GKs_b", "GK1": "GK1_b"}


def _blocked(params: dict, i: int) -> dict[str, float]:
    """The conductances of lane ``i`` after Hill block, by the CellML file's names, and its hERG drug parameters."""
    model = vh.load_model("cardio/ohara_rudy_cipa2017")
    base = model.default_parameters()
    out = {}
    for current, g in (("INa", "GNa"), ("INaL", "GNaL"), ("ICaL", "PCa"), ("Ito", "Gto"), ("IKs", "GKs"),
                       ("IK1", "GK1")):
        ratio = params["D"][i] / params[f"IC50_{current}"][i]
        out[_CELLML_NAMES[g]] = base[g] / (1.0 + ratio ** params[f"h_{current}"][i])
    for name in ("D", "Kmax", "Ku", "n", "halfmax", "Vhalf"):
        out[name] = float(params[name][i])
    out["Kt"] = 3.5e-5
    return out


def _myokit_lanes(params: dict, lanes: list[int], beats: int, tol: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Myokit (its CellML import of the Chaste file, CVODE at rtol = atol = ``tol``, one core): APD90 (ms) and qNet
    (uC/uF) of the last of ``beats`` beats per lane, by vhtwin.cipa's beat definitions, and the seconds spent pacing
    (compilation left out)."""
    from vhtwin.cipa.assay import beat_grid
    from vhtwin.cipa.beats import beat_metrics
    from vhtwin.testing.cipa import MyokitCiPA

    native = vh.load_model("cardio/ohara_rudy_cipa2017")
    reference = MyokitCiPA(CELLML, {s.name: s.initial for s in native.states}, tol=tol)
    grid = beat_grid(2000.0)
    apd, qnet, seconds = [], [], 0.0
    for i in lanes:
        v, q, spent = reference.last_beat(beats, grid, _blocked(params, i))
        seconds += spent
        m = beat_metrics(grid, v[None], q[None])
        apd.append(float(m["APD90"][0]))
        qnet.append(float(m["qNet"][0]))
    return np.array(apd), np.array(qnet), seconds


#: Tolerances tried (rtol; atol = rtol / 100 for vhtwin, = rtol for Myokit as its CVODE is set up here).
VHTWIN_RTOLS = (3e-2, 2e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6)
MYOKIT_RTOLS = (1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6, 1e-7, 1e-8)


def speed(args) -> dict:
    d = cipa.drug("dofetilide")
    n = args.lanes
    multiples = np.linspace(0.0, 25.0, n)
    params = d.parameters(multiples * d.cmax)
    subset = [int(i) for i in np.linspace(0, n - 1, args.myokit_lanes).round()]
    beats = args.speed_beats
    ref_apd, ref_qnet, _ = _myokit_lanes(params, subset, beats, 1e-10)

    def row(apd, qnet, seconds, lanes, cores, rtol):
        error = lambda a, b: float(np.max(np.abs(a - b))) if a is not None else None
        return {"rtol": rtol, "lanes": lanes, "seconds": seconds, "cell_beats_per_s": lanes * beats / seconds,
                "max_apd90_error_ms": error(apd, ref_apd), "max_qnet_error": error(qnet, ref_qnet), "cores": cores}

    def vhtwin_run(rtol, lanes):
        # a batch of another width repeats (or cuts) the n concentrations; errors where it holds the compared lanes
        tiled = {k: np.resize(v, lanes) for k, v in params.items()}
        options = dict(beats=beats, analysed=1, batch=lanes, chunk=beats, rtol=rtol, atol=rtol * 1e-2)
        cipa.run_assay(tiled, **options)  # compile
        t = time.perf_counter()
        out = cipa.run_assay(tiled, **options)
        seconds = time.perf_counter() - t
        held = max(subset) < lanes
        return row(out["APD90"].values[subset] if held else None, out["qNet"].values[subset] if held else None,
                   seconds, lanes, _cores(), rtol)

    runs = {"vhtwin": [vhtwin_run(rtol, n) for rtol in VHTWIN_RTOLS], "myokit": []}
    for tol in MYOKIT_RTOLS:
        apd, qnet, seconds = _myokit_lanes(params, subset, beats, tol)
        runs["myokit"].append(row(apd, qnet, seconds, len(subset), 1, tol))
    best = {}
    for tool, rows in runs.items():
        ok = [r for r in rows if r["max_apd90_error_ms"] <= 1.0]
        best[tool] = max(ok, key=lambda r: r["cell_beats_per_s"]) if ok else None
    per_core = lambda r: r["cell_beats_per_s"] / r["cores"]
    ratio = per_core(best["vhtwin"]) / per_core(best["myokit"]) if best["vhtwin"] and best["myokit"] else None
    # the chosen tolerance again in batches of other widths (lanes per call; a lane's work is the same)
    widths = [vhtwin_run(best["vhtwin"]["rtol"], w) for w in args.widths] if best["vhtwin"] else []
    return {"drug": "dofetilide", "lanes": n, "cmax_multiples": [float(m) for m in multiples], "beats": beats,
            "myokit_lanes": subset, "reference": "Myokit CVODE rtol = atol = 1e-10, same lanes",
            "reference_apd90_ms": ref_apd.tolist(), "reference_qnet": ref_qnet.tolist(), "runs": runs,
            "at_1ms": best, "per_core_ratio_vhtwin_over_myokit": ratio, "batch_widths": widths}


def _cores() -> int:
    import jax

    return len(jax.devices("cpu"))


def figure(record: dict, path: Path) -> None:
    """qNet against concentration (multiples of free Cmax) per drug, coloured by published class, with the TMS
    thresholds; and TMS per drug with the class each gets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = record["table"]
    colours = {"high": "#c0392b", "intermediate": "#e67e22", "low": "#2874a6"}
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.4]})
    for row in t["drugs"]:
        q = np.array(row["qNet"], float)
        ead = np.array(row["n_EAD"]) > 0
        ax.plot(t["multiples"], q, "-", color=colours[row["published_class"]], lw=1, alpha=0.8)
        ax.plot(np.array(t["multiples"])[ead], q[ead], "x", color="k")
    for level in t["thresholds_published"].values():
        ax.axhline(level, color="grey", ls=":", lw=1)
    ax.axhline(t["control"]["qNet"], color="k", lw=0.8)
    ax.set(xlabel="concentration (x free Cmax)", ylabel="qNet (uC/uF)", title="qNet by published class (x: EAD)")
    rows = sorted(t["drugs"], key=lambda r: r["TMS"])
    y = np.arange(len(rows))
    bx.scatter([r["TMS"] for r in rows], y, c=[colours[r["published_class"]] for r in rows], s=25, zorder=3)
    bx.set_yticks(y, [f"{r['drug']} ({r['class_published_thresholds'][0]})" for r in rows], fontsize=7)
    for level in t["thresholds_published"].values():
        bx.axvline(level, color="grey", ls=":", lw=1)
    bx.set(xlabel="TMS: mean qNet over 1-4 x Cmax (uC/uF)",
           title=f"{t['agreement']['class_published_thresholds']['all']} of 28 classes agree (h/i/l: predicted)")
    for name, colour in colours.items():
        ax.plot([], [], color=colour, label=name)
    ax.legend(fontsize=8, title="published class")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", action="store_true", help="the 28-drug table at the optimal fits")
    parser.add_argument("--speed", action="store_true", help="cell-beats/s against Myokit")
    parser.add_argument("--multiples", default="1,2,3,4", help="Cmax multiples of the table (comma-separated)")
    parser.add_argument("--drugs", help="only these drugs (comma-separated; no classification then)")
    parser.add_argument("--beats", type=int, default=1000, help="beats per cell (FDA: 1000)")
    parser.add_argument("--analysed", type=int, default=250, help="last beats measured (FDA: 250)")
    parser.add_argument("--batch", type=int, default=64, help="lanes per simulation call")
    parser.add_argument("--lanes", type=int, default=256, help="--speed: lanes of the vhtwin batch")
    parser.add_argument("--widths", type=lambda s: [int(w) for w in s.split(",")], default=[64, 1024],
                        help="--speed: also time the chosen tolerance in batches of these widths (comma-separated)")
    parser.add_argument("--myokit-lanes", type=int, default=4, help="--speed: of those, lanes Myokit runs")
    parser.add_argument("--speed-beats", type=int, default=20, help="--speed: beats per cell")
    parser.add_argument("--figure", type=Path, help="also draw the table's figure to this PNG")
    parser.add_argument("--from-json", type=Path, help="--figure only: draw from this earlier --table result")
    parser.add_argument("--out", type=Path, help="JSON file to write")
    args = parser.parse_args()
    if args.from_json:
        if not args.figure:
            parser.error("--from-json draws a figure: give --figure")
        figure(json.loads(args.from_json.read_text()), args.figure)
        return
    if not (args.table or args.speed) or not args.out:
        parser.error("give --table, --speed or both, and --out")
    record = {"machine": machine_info(), "command": "python benchmarks/cipa.py " + " ".join(os.sys.argv[1:])}
    if args.table:
        record["table"] = table(args)
    if args.speed:
        record["speed"] = speed(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))
    if args.figure and args.table:
        figure(record, args.figure)
    print(json.dumps({k: v for k, v in record.get("table", {}).items() if k != "drugs"}, indent=1))
    print(json.dumps(record.get("speed", {}).get("at_1ms"), indent=1), record.get("speed", {}).get(
        "per_core_ratio_vhtwin_over_myokit"))


if __name__ == "__main__":
    main()
