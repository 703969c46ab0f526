"""Smith et al. 2004 closed loop against its publication: every number of docs/validation/smith2004.md.

The model ``cardio/smith2004`` at its defaults (the published parameter set: the paper's CellML encoding, 0.75 s
beat) is started from the published initial state and simulated in three lanes at once -- baseline (thoracic
pressure -4 mmHg), thoracic pressure 0 mmHg, systemic resistance doubled -- for ``--beats`` beats (rtol 1e-8, float64,
``--samples`` outputs per beat). Per beat: SBP/DBP (the extremes of P_ao), SV, CO (SV x heart rate), EF. Reported:

1. the baseline at periodic steady state (the last beat) and the beat-to-beat change there;
2. how far the published initial state is from that steady state (CO of the first beat against the last);
3. the two published experiments (Smith et al. 2004, abstract): the fall in cardiac output and the blood pressure
   beat by beat after the change, the beats where the published figures (9 %; 165/130 mmHg) are crossed, and the
   values at the new periodic steady state;
4. a control: the same three lanes with a 1 s beat (period 1.0 s, C 0.375 s), to test whether the beat length
   explains the difference between the steady state and the published figures.

Source of the published figures: Smith BW, Chase JG, Nokes RI, Shaw GM, Wake G. Minimal haemodynamic system model
including ventricular interaction and valve dynamics. Med Eng Phys 2004; 26:131-139, abstract.

Usage::

    python benchmarks/smith2004_validation.py            # readable table, 100 beats per lane
    python benchmarks/smith2004_validation.py --json     # JSON lines
    python benchmarks/smith2004_validation.py --quick    # 30 beats per lane (the steady state is then approximate)

Output: JSON lines with ``--json`` (one record per quantity, then a summary), else a table; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "smith2004_validation"
#: Published figures (Smith et al. 2004, Med Eng Phys 26:131, abstract).
PAPER = {"SBP": 120.0, "DBP": 80.0, "drop_pct": 9.0, "SBP_2R": 165.0, "DBP_2R": 130.0}
WHERE = "Smith et al. 2004, abstract"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_lanes(period: float, C: float, beats: int, samples: int):
    """Per-beat indices of the three lanes (baseline, P_th 0, R_sys x 2) from the published initial state."""
    import vhtwin as vh
    from vhtwin.analysis import haemodynamics

    model = vh.load_model("cardio/smith2004")
    r_sys = model.default_parameters()["R_sys"]
    params = {"P_th": np.array([-4.0, 0.0, -4.0]), "R_sys": np.array([1.0, 1.0, 2.0]) * r_sys,
              "period": np.full(3, period), "C": np.full(3, C)}
    times = np.linspace(0.0, beats * period, beats * samples + 1)
    t0 = time.perf_counter()
    ds = vh.simulate(model, params, times=times, rtol=1e-8, atol=1e-8, precision="float64",
                     outputs=["V_lv", "P_ao"])
    wall = time.perf_counter() - t0
    if not (ds.status == 0).all():
        raise RuntimeError(f"solve failed: status {ds.status.values.tolist()}")
    hd = haemodynamics(ds, period=period)
    return {k: np.asarray(hd[k].values) for k in ("CO", "SV", "EF", "SBP", "DBP", "MAP", "EDV", "ESV")}, wall


def first_beat(values, target, tol):
    """1-based number of the first beat within ``tol`` of ``target`` (None if none)."""
    hit = np.nonzero(np.abs(np.asarray(values) - target) <= tol)[0]
    return int(hit[0]) + 1 if hit.size else None


def measure(beats: int, samples: int) -> list[dict]:
    import vhtwin as vh

    defaults = vh.load_model("cardio/smith2004").default_parameters()
    period, C = defaults["period"], defaults["C"]
    log(f"published set: {beats} beats of {period} s, 3 lanes")
    hd, wall = run_lanes(period, C, beats, samples)
    base = {k: v[0] for k, v in hd.items()}
    drop = 100.0 * (1.0 - hd["CO"][1] / hd["CO"][0])
    change = max(abs(base[k][-1] / base[k][-2] - 1.0) for k in ("CO", "SBP", "DBP", "EF"))
    rows = []

    def row(quantity, paper, where, ours, unit, note=""):
        numbers = all(isinstance(x, (int, float)) for x in (paper, ours)) and paper != 0
        ratio = ours / paper if numbers else None
        rows.append({"benchmark": BENCHMARK, "quantity": quantity, "paper": paper, "where": where, "ours": ours,
                     "unit": unit, "ratio": None if ratio is None else round(float(ratio), 4), "note": note})

    rnd = lambda x, n=2: round(float(x), n)
    note_ss = f"periodic steady state (beat {beats}; beat-to-beat change {change:.1e})"
    row("baseline SBP", PAPER["SBP"], WHERE, rnd(base["SBP"][-1], 1), "mmHg", note_ss)
    row("baseline DBP", PAPER["DBP"], WHERE, rnd(base["DBP"][-1], 1), "mmHg", note_ss)
    row("baseline MAP", None, "not in the abstract", rnd(base["MAP"][-1], 1), "mmHg", note_ss)
    row("baseline CO", None, "not in the abstract", rnd(base["CO"][-1], 3), "L min-1", note_ss)
    row("baseline SV", None, "not in the abstract", rnd(base["SV"][-1], 1), "mL", note_ss)
    row("baseline EDV / ESV", None, "not in the abstract", f"{base['EDV'][-1]:.1f} / {base['ESV'][-1]:.1f}", "mL",
        note_ss)
    row("baseline EF", None, "not in the abstract", rnd(100 * base["EF"][-1], 1), "%", note_ss)
    row("published initial state: CO of beat 1 / steady CO", 1.0, "CellML initial state",
        rnd(base["CO"][0] / base["CO"][-1], 4), "1", "how close the published state is to the limit cycle")
    for b in (7, 8, 9):
        row(f"CO fall, P_th -4 -> 0 mmHg, beat {b} after the change", PAPER["drop_pct"], WHERE,
            rnd(drop[b - 1], 1), "%", f"{b * period:.2f} s after the change")
    row("CO fall, P_th -4 -> 0 mmHg, periodic steady state", PAPER["drop_pct"], WHERE, rnd(drop[-1], 1), "%",
        note_ss)
    for b in (7, 8, 9):
        row(f"BP with R_sys doubled, beat {b} after the change", f"{PAPER['SBP_2R']:.0f}/{PAPER['DBP_2R']:.0f}",
            WHERE, f"{hd['SBP'][2][b - 1]:.1f}/{hd['DBP'][2][b - 1]:.1f}", "mmHg",
            f"{b * period:.2f} s after the change")
        rows[-1]["ratio"] = f"{hd['SBP'][2][b - 1] / PAPER['SBP_2R']:.3f}/{hd['DBP'][2][b - 1] / PAPER['DBP_2R']:.3f}"
    row("BP with R_sys doubled, periodic steady state", f"{PAPER['SBP_2R']:.0f}/{PAPER['DBP_2R']:.0f}", WHERE,
        f"{hd['SBP'][2][-1]:.1f}/{hd['DBP'][2][-1]:.1f}", "mmHg", note_ss)
    rows[-1]["ratio"] = f"{hd['SBP'][2][-1] / PAPER['SBP_2R']:.3f}/{hd['DBP'][2][-1] / PAPER['DBP_2R']:.3f}"
    settle = np.nonzero(np.abs(drop - drop[-1]) > 1.0)[0]
    crossings = {
        "drop_within_1pt_of_steady": int(settle[-1]) + 2 if settle.size else 1,
        "drop_within_1pt": first_beat(drop, PAPER["drop_pct"], 1.0),
        "SBP_2R_within_5": first_beat(hd["SBP"][2], PAPER["SBP_2R"], 5.0),
        "DBP_2R_within_5": first_beat(hd["DBP"][2], PAPER["DBP_2R"], 5.0),
    }

    log("control: 1 s beat")
    hd1, wall1 = run_lanes(1.0, C, beats, int(round(samples / period)))
    drop1 = 100.0 * (1.0 - hd1["CO"][1][-1] / hd1["CO"][0][-1])
    note1 = "control: period 1.0 s, C 0.375 s, periodic steady state"
    row("1 s beat: baseline BP", f"{PAPER['SBP']:.0f}/{PAPER['DBP']:.0f}", WHERE,
        f"{hd1['SBP'][0][-1]:.1f}/{hd1['DBP'][0][-1]:.1f}", "mmHg", note1)
    rows[-1]["ratio"] = f"{hd1['SBP'][0][-1] / PAPER['SBP']:.3f}/{hd1['DBP'][0][-1] / PAPER['DBP']:.3f}"
    row("1 s beat: CO fall, P_th -4 -> 0 mmHg", PAPER["drop_pct"], WHERE, rnd(drop1, 1), "%", note1)
    row("1 s beat: BP with R_sys doubled", f"{PAPER['SBP_2R']:.0f}/{PAPER['DBP_2R']:.0f}", WHERE,
        f"{hd1['SBP'][2][-1]:.1f}/{hd1['DBP'][2][-1]:.1f}", "mmHg", note1)
    rows[-1]["ratio"] = f"{hd1['SBP'][2][-1] / PAPER['SBP_2R']:.3f}/{hd1['DBP'][2][-1] / PAPER['DBP_2R']:.3f}"
    summary = {"benchmark": BENCHMARK, "type": "summary", "beats": beats, "samples_per_beat": samples,
               "first_beat_crossing": crossings, "co_fall_by_beat_pct": [rnd(x, 1) for x in drop[:12]],
               "bp_2r_by_beat": [f"{s:.1f}/{d:.1f}" for s, d in zip(hd["SBP"][2][:12], hd["DBP"][2][:12])],
               "wall_s": round(wall + wall1, 2), "loadavg_1min": os.getloadavg()[0]}
    return rows + [summary]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="JSON lines on stdout")
    ap.add_argument("--quick", action="store_true", help="smoke run: 30 beats per lane")
    ap.add_argument("--beats", type=int, default=None, help="beats per lane (default 100; 30 with --quick)")
    ap.add_argument("--samples", type=int, default=300, help="outputs per 0.75 s beat (default 300: 2.5 ms)")
    args = ap.parse_args()
    beats = args.beats or (30 if args.quick else 100)
    if beats < 12:
        ap.error(f"--beats {beats} must be at least 12 (the experiments are read over the first 12 beats)")
    records = measure(beats, args.samples)
    if args.json:
        for r in records:
            print(json.dumps(r), flush=True)
        return 0
    print(f"{'quantity':<58} {'paper':>10} {'ours':>14} {'ratio':>12}  note")
    for r in records[:-1]:
        paper = "-" if r["paper"] is None else str(r["paper"])
        ratio = "-" if r["ratio"] is None else str(r["ratio"])
        print(f"{r['quantity']:<58} {paper:>10} {str(r['ours']) + ' ' + r['unit']:>14} {ratio:>12}  {r['note']}")
    s = records[-1]
    print(f"first beat within tolerance after the change (published figures; steady fall): {s['first_beat_crossing']}")
    print(f"CO fall by beat (%): {s['co_fall_by_beat_pct']}")
    print(f"BP with R_sys doubled by beat: {s['bp_2r_by_beat']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
