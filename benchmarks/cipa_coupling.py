"""Dofetilide from the gut to the heart cell: the multi-rate coupling's error against full coupling, and a
population trial.

``--error``: one case -- the typical patient of ``vhtwin/cipa/data/pk_dofetilide.toml`` (the label's PK) after one
oral dose of ``--dose`` mg, the free plasma concentration driving the ORd-CiPA cell paced at 2000 ms for ``--hours``
of real time. Full coupling (the concentration updated every beat: 1800 beats an hour) against multi-rate coupling
with ``--beats`` beats per PK time point (every ``--every`` h), same solver and tolerance; per method the APD90 and
qNet at each point, their largest differences from full coupling, the beats simulated and the wall time.

``--trial``: a ``vh.Trial`` with one :class:`vhtwin.cipa.DrugExposure` arm per ``--doses`` (mg twice daily):
``--n`` patients with the label PK and its chosen variability, and variability in the cell's conductances (GKr,
GKs, PCa, GNaL, GK1; omega ``--omega-cell``), ``--trial-hours`` h at points every ``--trial-every`` h, into a Zarr
store; per arm the percentiles of free concentration and dAPD90 over time, dAPD90_max, EAD counts; optionally a
figure.

Usage::

    python benchmarks/cipa_coupling.py --error --every 1.0 --beats 20,100,300,900 \
        --out benchmarks/results/cipa-coupling-error.json
    python benchmarks/cipa_coupling.py --error --every 1.0 --beats "" --accelerated 10,30,100 \
        --reference benchmarks/results/cipa-coupling-error.json --out benchmarks/results/cipa-coupling-error-accelerated.json
    python benchmarks/cipa_coupling.py --trial --n 24 --batch 24 --trial-every 2 --trial-beats 60 --accelerate \
        --out benchmarks/results/cipa-coupling-trial.json --figure docs/images/cipa-coupled-trial.png
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import vhtwin as vh

from _machine import machine_info  # noqa: E402  (benchmarks/_machine.py; the scripts run from this folder)

from vhtwin import cipa  # noqa: E402

CYCLE = cipa.coupling.CYCLE_LENGTH  # ms
BEATS_PER_HOUR = int(round(3.6e6 / CYCLE))


def free_concentration(arm, times_h: np.ndarray) -> np.ndarray:
    """The typical patient's free concentration (nM) at ``times_h``."""
    m = arm.pk.model
    ds = vh.simulate(m, dict(arm.pk.typical), times=times_h, protocol=arm.regimen, outputs=[arm.concentration])
    return ds[arm.concentration].values.ravel() * 1e6 / arm.molar_mass * arm.fraction_unbound


def error(args) -> dict:
    arm = cipa.DrugExposure.from_label("dofetilide", vh.Regimen.bolus(args.dose, into="depot"))
    block = {k: v for k, v in cipa.drug("dofetilide").parameters(0.0).items() if k != "D"}
    options = dict(rtol=args.rtol, atol=args.atol)
    n_beats = int(args.hours * BEATS_PER_HOUR) + 1
    every = int(round(args.every * BEATS_PER_HOUR))
    points = np.arange(0, n_beats, every)  # beats at the PK time points
    t_points = points * CYCLE / 3.6e6  # h
    beat_conc = free_concentration(arm, np.arange(n_beats) * CYCLE / 3.6e6)
    out = {"case": {"drug": "dofetilide", "dose_mg": args.dose, "hours": args.hours, "every_h": args.every,
                    "pk": dict(arm.pk.typical), "fraction_unbound": arm.fraction_unbound,
                    "molar_mass": arm.molar_mass, "baseline_beats": args.baseline, "rtol": args.rtol, "atol": args.atol,
                    "free_cmax_nM": float(beat_conc.max()),
                    "tmax_h": float(np.argmax(beat_conc) * CYCLE / 3.6e6)},
           "times_h": t_points.tolist(), "free_nM": beat_conc[points].tolist(), "methods": {}}
    if args.reference:  # the full coupling of an earlier run of the same case
        earlier = json.loads(args.reference.read_text())["error"]
        if earlier["case"] != out["case"] or earlier["times_h"] != out["times_h"]:
            raise SystemExit(f"--reference {args.reference} is another case: {earlier['case']}")
        out["methods"]["full"] = dict(earlier["methods"]["full"], from_reference=str(args.reference))
        ref = {k: np.asarray(out["methods"]["full"][k]) for k in ("APD90", "qNet")}
    else:
        t = time.perf_counter()
        full = cipa.full_coupling(block, beat_conc[None, :], points, baseline_beats=args.baseline, chunk=every,
                                  **options)
        wall = time.perf_counter() - t
        ref = {"APD90": full["APD90"][0], "qNet": full["qNet"][0]}
        out["methods"]["full"] = {"beats": int(args.baseline + n_beats), "wall_s": round(wall, 1), "APD90":
                                  ref["APD90"].tolist(), "qNet": ref["qNet"].tolist(), "status": int(full["status"][0])}
        print("full", round(wall, 1), "s", flush=True)
    real = np.concatenate([[0], np.diff(points)])  # beats of real time each point stands for
    variants = [(m, False) for m in [int(b) for b in args.beats.split(",") if b]]
    variants += [(m, True) for m in [int(b) for b in args.accelerated.split(",") if b]]
    for m, accelerated in variants:
        t = time.perf_counter()
        mr = cipa.multirate_coupling(block, beat_conc[points][None, :], beats_per_point=m, baseline_beats=args.baseline,
                                     real_beats=real if accelerated else None, **options)
        wall = time.perf_counter() - t
        apd, q = mr["APD90"][0], mr["qNet"][0]
        d_apd = apd - ref["APD90"]
        name = f"multirate_{m}" + ("_accelerated" if accelerated else "")
        out["methods"][name] = {
            "beats_per_point": m, "binding_accelerated": accelerated, "beats": int(args.baseline + m * points.size), "wall_s": round(wall, 1),
            "APD90": apd.tolist(), "qNet": q.tolist(), "status": int(mr["status"][0]),
            "max_abs_APD90_error_ms": float(np.max(np.abs(d_apd))),
            "max_abs_dAPD90_error_ms": float(np.max(np.abs(d_apd[1:] - d_apd[0]))),
            "max_abs_qNet_error": float(np.max(np.abs(q - ref["qNet"]))),
            "max_dAPD90_full_ms": float(np.max(ref["APD90"][1:] - ref["APD90"][0])),
        }
        print(name, {k: v for k, v in out["methods"][name].items() if k not in ("APD90", "qNet")}, flush=True)
    return out


def trial(args) -> dict:
    cell = vh.load_model(cipa.assay.MODEL)
    names = ("GKr", "GKs", "PCa", "GNaL", "GK1")
    cells = vh.Population(cell, omega={n: args.omega_cell for n in names})
    doses = [float(d) for d in args.doses.split(",")]
    days = int(np.ceil(args.trial_hours / 12.0)) + 1
    arms = {f"{d * 1000:g} ug bid": cipa.DrugExposure.from_label(
        "dofetilide", vh.Regimen.repeated(d, 12.0, 2 * days, into="depot"), beats_per_point=args.trial_beats,
        baseline_beats=args.baseline, accelerate_binding=args.accelerate) for d in doses}
    times = np.arange(0.0, args.trial_hours + 1e-9, args.trial_every) * 3.6e6  # ms
    tr = vh.Trial(model=cell, population=cells, arms=arms, n_per_arm=args.n, times=times, seed=args.seed,
                  solver="rodas4", rtol=args.rtol, atol=args.atol, max_steps=50_000_000)
    store = Path(tempfile.mkdtemp()) / "coupled.zarr"
    t = time.perf_counter()
    ds = tr.run(store, batch_size=args.batch, progress=True)
    wall = time.perf_counter() - t
    beats = args.baseline + args.trial_beats * times.size
    summary = {"n_per_arm": args.n, "arms": list(arms), "times_h": (times / 3.6e6).tolist(), "wall_s": round(wall, 1),
               "cell_beats": int(beats * args.n * len(arms)), "cell_beats_per_s": round(beats * args.n * len(arms) / wall, 1),
               "omega_cell": {n: args.omega_cell for n in names}, "beats_per_point": args.trial_beats,
               "accelerate_binding": args.accelerate, "rtol": args.rtol, "atol": args.atol, "by_arm": {}}
    q = [5, 50, 95]
    for a in arms:
        x = ds.sel(arm=a)
        summary["by_arm"][a] = {
            "C_free_nM_percentiles": {str(p): np.nanpercentile(x.C_free.values, p, axis=0).round(3).tolist() for p in q},
            "dAPD90_ms_percentiles": {str(p): np.nanpercentile(x.dAPD90.values, p, axis=0).round(2).tolist() for p in q},
            "dAPD90_max_ms_percentiles": {str(p): float(np.nanpercentile(x.dAPD90_max.values, p)) for p in q},
            "patients_with_EAD": int((x.EAD.values > 0).any(axis=1).sum()),
            "status": {str(k): int(v) for k, v in zip(*np.unique(x.status.values, return_counts=True))},
        }
    if args.figure:
        figure(ds, args.figure)
    shutil.rmtree(store.parent, ignore_errors=True)
    return summary


def figure(ds, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = ds.time.values / 3.6e6
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for a, colour in zip(ds.arm.values, ("tab:blue", "tab:red", "tab:green")):
        x = ds.sel(arm=a)
        for ax, var, label in ((axes[0], "C_free", "free dofetilide (nM)"), (axes[1], "dAPD90", "APD90 change (ms)")):
            v = x[var].values
            lo, mid, hi = (np.nanpercentile(v, p, axis=0) for p in (5, 50, 95))
            ax.fill_between(hours, lo, hi, color=colour, alpha=0.2)
            ax.plot(hours, mid, color=colour, label=str(a))
            ax.set_xlabel("time (h)")
            ax.set_ylabel(label)
    axes[0].legend(frameon=False)
    axes[1].set_title("median and 5-95 % of the virtual patients", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--error", action="store_true")
    parser.add_argument("--trial", action="store_true")
    parser.add_argument("--dose", type=float, default=0.5, help="mg, one oral dose (--error)")
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--every", type=float, default=0.5, help="h between PK time points (--error)")
    parser.add_argument("--beats", default="5,20,50,200", help="beats per point of the multi-rate runs (--error)")
    parser.add_argument("--accelerated", default="", help="beats per point of multi-rate runs with the drug's binding "
                        "kinetics sped up by the real beats per point over these (--error)")
    parser.add_argument("--reference", type=Path, help="a JSON of an earlier --error run of the same case: its full "
                        "coupling is reused (--error)")
    parser.add_argument("--baseline", type=int, default=100)
    parser.add_argument("--rtol", type=float, default=1e-4)
    parser.add_argument("--atol", type=float, default=1e-7)
    parser.add_argument("--doses", default="0.25,0.5", help="mg twice daily, one arm each (--trial)")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--omega-cell", type=float, default=0.04)
    parser.add_argument("--trial-hours", type=float, default=72.0)
    parser.add_argument("--trial-every", type=float, default=3.0)
    parser.add_argument("--trial-beats", type=int, default=50)
    parser.add_argument("--accelerate", action="store_true", help="speed up the drug's binding kinetics (--trial)")
    parser.add_argument("--figure", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    record = {"machine": machine_info(), "command": "python benchmarks/cipa_coupling.py " + " ".join(os.sys.argv[1:])}
    if args.error:
        record["error"] = error(args)
    if args.trial:
        record["trial"] = trial(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
