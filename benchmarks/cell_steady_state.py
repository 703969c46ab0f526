"""Steady-state action potentials after 1,000 beats at 1 Hz: vhtwin beside Myokit (CVODE), cell by cell.

Every shipped cell model -- ten Tusscher 2006 and O'Hara-Rudy 2011 as endocardial, epicardial and M cells, and
Mitchell-Schaeffer -- is paced from its published initial state with the stimulus vhtwin documents for it (TP06
-52 A/F for 1 ms, ORd -80 A/F for 0.5 ms, Mitchell-Schaeffer 0.2 /ms for 1 ms), every ``period`` ms for ``beats``
beats, and the last beat is sampled every 0.1 ms. Both peers' APD90, APD50 and resting potential come from the same
function (:func:`vhtwin.analysis.action_potential_biomarkers`) on their sampled last beat, so the comparison is of
the solutions, not of two APD definitions.

* ``vhtwin``: ``vh.simulate`` with every solver setting at its default (``solver="auto"``, rtol 1e-6, atol 1e-9,
  ``max_steps`` 100,000 per interval between events or outputs), the three cell types of a model in one batch.
* ``myokit``: Myokit's ``Simulation`` (CVODE, BDF with Newton) at rtol 1e-8, atol 1e-10, one cell after another,
  on the Myokit model files of the public ``myokit/models`` repository (``--tp06-mmt``, ``--ord-mmt``; the ORd file
  is version 20230208, whose states are in the authors' order, as vhtwin's; the TP06 file is version 20240904), with
  the cell type, the stimulus amplitude and the initial state set to vhtwin's. Mitchell-Schaeffer has no Myokit
  file; the script writes its two equations in Myokit's language (:data:`MS_MMT`).

``--save-reference FILE`` writes Myokit's numbers, with their settings and provenance, as the reference that
``tests/models/test_cell_steady_state.py`` compares vhtwin with (``tests/data/cell_steady_state_cvode.json``, one
entry per protocol length: 1,000 beats, and 50 beats for a check of ORd cheap enough for every test run)::

    python benchmarks/cell_steady_state.py --tp06-mmt tentusscher-2006.mmt --ord-mmt ohara-2011.mmt \\
        --out benchmarks/results/cell-steady-state-cpu-2core.json
    python benchmarks/cell_steady_state.py --peers myokit --beats 1000 --tp06-mmt tentusscher-2006.mmt \\
        --ord-mmt ohara-2011.mmt --save-reference tests/data/cell_steady_state_cvode.json      # and --beats 50

Myokit (``pip install myokit``) runs CVODE once Debian's ``libsundials-dev`` is installed; it is not a vhtwin
dependency, and without it (or without a model file) the ``myokit`` peer is skipped with a message.
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

PERIOD = 1000.0  # ms, 1 Hz
SAMPLE_MS = 0.1  # sampling of the last beat
MYOKIT_RTOL, MYOKIT_ATOL = 1e-8, 1e-10

#: model key -> vhtwin model, its potential variable, stimulus duration (ms), cell types, Myokit names
MODELS = {
    "tp06": {"name": "cardio/tentusscher2006", "V": "V", "duration": 1.0, "celltypes": {"endo": 0, "epi": 1, "M": 2},
             "myokit_celltype": "cell.type", "myokit_amplitude": "stimulus.amplitude", "myokit_V": "membrane.V"},
    "ord": {"name": "cardio/ohara_rudy2011", "V": "V", "duration": 0.5, "celltypes": {"endo": 0, "epi": 1, "M": 2},
            "myokit_celltype": "cell.mode", "myokit_amplitude": "stimulus.amplitude", "myokit_V": "membrane.V"},
    "ms": {"name": "cardio/mitchell_schaeffer", "V": "Vm", "duration": 1.0, "celltypes": {"-": None},
           "myokit_celltype": None, "myokit_amplitude": "ms.amplitude", "myokit_V": "ms.Vm"},
}

#: Mitchell & Schaeffer 2003 (Bull Math Biol 65:767), section 2, in Myokit's model language; Vm = -80 + 100 v.
MS_MMT = """[[model]]
name: mitchell_schaeffer_2003
ms.v = 0
ms.h = 1

[engine]
time = 0 [ms] bind time
    in [ms]
pace = 0 bind pace

[ms]
tau_in = 0.3
tau_out = 6
tau_open = 120
tau_close = 150
v_gate = 0.13
amplitude = 0.2
dot(v) = h * v^2 * (1 - v) / tau_in - v / tau_out + engine.pace * amplitude
dot(h) = if(v < v_gate, (1 - h) / tau_open, -h / tau_close)
Vm = -80 + 100 * v
"""


def _last_beat_times(beats: int) -> np.ndarray:
    start = (beats - 1) * PERIOD
    return start + np.arange(0.0, PERIOD + SAMPLE_MS / 2, SAMPLE_MS)


def _biomarkers(v: np.ndarray, times: np.ndarray, labels) -> dict:
    """APD90, APD50 (ms) and resting potential (mV) of each row of ``v`` over the last beat."""
    import xarray as xr

    from vhtwin.analysis import action_potential_biomarkers

    da = xr.DataArray(np.atleast_2d(v), dims=("patient", "time"), coords={"time": times})
    bm = action_potential_biomarkers(da, beat_starts=[float(times[0])], period=PERIOD)
    return {lab: {"apd90": float(bm["apd90"].values[i]), "apd50": float(bm["apd50"].values[i]),
                  "resting_potential": float(bm["resting_potential"].values[i])} for i, lab in enumerate(labels)}


def run_vhtwin(key: str, beats: int) -> dict:
    """All cell types of one model in one batch, every solver setting at its default."""
    import vhtwin as vh

    cfg = MODELS[key]
    model = vh.load_model(cfg["name"])
    labels = list(cfg["celltypes"])
    # one cell of Mitchell-Schaeffer: its default parameters (a one-element array keeps the patient axis)
    params = ({"tau_close": np.array([150.0])} if labels == ["-"]
              else {"celltype": np.array([cfg["celltypes"][c] for c in labels], float)})
    times = _last_beat_times(beats)
    pacing = vh.Pacing(period=PERIOD, duration=cfg["duration"], count=beats)
    t = time.perf_counter()
    ds = vh.simulate(model, params=params, times=times, protocol=pacing, outputs=[cfg["V"]])
    wall = time.perf_counter() - t
    status = [vh.Status(int(s)).name.lower() for s in np.atleast_1d(ds["status"].values)]
    out = _biomarkers(ds[cfg["V"]].values, times, labels)
    for i, lab in enumerate(labels):
        out[lab].update(status=status[i], n_steps=int(np.atleast_1d(ds["n_steps"].values)[i]))
    return {"cells": out, "wall_s": wall, "settings": "vh.simulate defaults (solver auto, rtol 1e-6, atol 1e-9)"}


def run_myokit(key: str, beats: int, mmt: str | None) -> dict:
    """Each cell type in turn with Myokit's CVODE, from vhtwin's initial state and stimulus."""
    import myokit

    import vhtwin as vh

    cfg = MODELS[key]
    model = vh.load_model(cfg["name"])
    m = myokit.parse_model(MS_MMT) if key == "ms" else myokit.load_model(mmt)
    states = [s.qname() for s in m.states()]
    if len(states) != len(model.states):
        raise RuntimeError(f"{key}: the Myokit model has {len(states)} states, vhtwin's {len(model.states)}")
    m.set_initial_values([s.initial for s in model.states])  # both in the authors' order
    stimulus = next(i.stimulus for i in model.inputs if i.stimulus is not None)
    m.get(cfg["myokit_amplitude"]).set_rhs(stimulus)
    protocol = myokit.pacing.blocktrain(period=PERIOD, duration=cfg["duration"], offset=0.0, limit=beats)
    times = _last_beat_times(beats)
    traces, labels, t = [], list(cfg["celltypes"]), time.perf_counter()
    for lab in labels:
        if cfg["myokit_celltype"]:
            m.get(cfg["myokit_celltype"]).set_rhs(cfg["celltypes"][lab])
        sim = myokit.Simulation(m, protocol)
        sim.set_tolerance(MYOKIT_ATOL, MYOKIT_RTOL)
        sim.run(times[0], log=myokit.LOG_NONE)
        d = sim.run(PERIOD + SAMPLE_MS / 2, log=[cfg["myokit_V"]], log_times=times)
        traces.append(np.asarray(d[cfg["myokit_V"]])[: times.size])
    wall = time.perf_counter() - t
    return {"cells": _biomarkers(np.array(traces), times, labels), "wall_s": wall,
            "settings": f"myokit {myokit.__version__} Simulation (CVODE BDF), rtol {MYOKIT_RTOL}, atol {MYOKIT_ATOL}",
            "model_file": "written in this script (MS_MMT)" if key == "ms" else os.path.basename(mmt)}


def _load(path: str) -> dict:
    """The JSON object in ``path``, or an empty one if there is no such file."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tp06,ord,ms", help="comma-separated: tp06, ord, ms")
    ap.add_argument("--beats", type=int, default=1000)
    ap.add_argument("--peers", default="vhtwin,myokit")
    ap.add_argument("--tp06-mmt", default=os.environ.get("MYOKIT_TP06_MMT"), help="Myokit's tentusscher-2006.mmt")
    ap.add_argument("--ord-mmt", default=os.environ.get("MYOKIT_ORD_MMT"), help="Myokit's ohara-2011.mmt (20230208)")
    ap.add_argument("--save-reference", help="write Myokit's numbers as the test reference (JSON)")
    ap.add_argument("--out", help="write every record (JSON)")
    ap.add_argument("--json", action="store_true", help="JSON lines on stdout")
    ap.add_argument("--quick", action="store_true", help="20 beats, Mitchell-Schaeffer and TP06 only")
    a = ap.parse_args(argv)
    if a.quick:
        a.beats, a.models = 20, "ms,tp06"
    if a.beats < 2:
        ap.error(f"--beats {a.beats} must be at least 2")
    import jax

    jax.devices()  # start the backend before Myokit's compiler redirects the standard streams
    mmts = {"tp06": a.tp06_mmt, "ord": a.ord_mmt, "ms": None}
    records = []
    for key in a.models.split(","):
        if key not in MODELS:
            ap.error(f"--models: {key!r} is not one of {sorted(MODELS)}")
        for peer in a.peers.split(","):
            if peer == "myokit" and key != "ms" and not mmts[key]:
                print(f"myokit {key}: skipped (give --{key}-mmt)", file=sys.stderr)
                continue
            try:
                res = run_vhtwin(key, a.beats) if peer == "vhtwin" else run_myokit(key, a.beats, mmts[key])
            except ImportError as ex:
                print(f"{peer} {key}: skipped ({ex})", file=sys.stderr)
                continue
            rec = {"type": "measurement", "model": MODELS[key]["name"], "peer": peer, "beats": a.beats,
                   "period_ms": PERIOD, "stimulus_ms": MODELS[key]["duration"], **res,
                   "loadavg_1min": os.getloadavg()[0]}
            records.append(rec)
            line = json.dumps(rec)
            print(line if a.json else f"{key:5s} {peer:7s} {res['wall_s']:7.1f} s  " + "  ".join(
                f"{c}: APD90 {v['apd90']:.2f} ms" for c, v in res["cells"].items()), flush=True)
    if a.out:
        # A run of some models updates their records in an existing file and keeps the others.
        done = {(r["model"], r["peer"]) for r in records}
        kept = [r for r in _load(a.out).get("records", []) if (r["model"], r["peer"]) not in done]
        with open(a.out, "w") as f:
            json.dump({"benchmark": "cell_steady_state", "records": kept + records}, f, indent=1)
    if a.save_reference:
        # One file holds the references of several protocol lengths ("by_beats"): a run updates its own length's
        # models and keeps the rest.
        previous = _load(a.save_reference).get("by_beats", {})
        this = {r["model"]: {"settings": r["settings"], "cells": r["cells"]} for r in records if r["peer"] == "myokit"}
        by_beats = {**previous, str(a.beats): {**previous.get(str(a.beats), {}), **this}}
        ref = {"description": ("APD90/APD50 (ms) and resting potential (mV) of the last beat, by Myokit's CVODE, after "
                               f"each number of beats at {1000.0 / PERIOD:g} Hz: the reference for vhtwin's solutions"),
               "command": "python benchmarks/cell_steady_state.py --peers myokit --beats N --tp06-mmt "
                          "tentusscher-2006.mmt --ord-mmt ohara-2011.mmt --save-reference "
                          "tests/data/cell_steady_state_cvode.json   (N = 1000 and 50)",
               "sources": {"tp06": "github.com/myokit/models c/tentusscher-2006.mmt (version 20240904, commit "
                                   "91fb907); stimulus -52 A/F for 1 ms",
                           "ord": "github.com/myokit/models c/ohara-2011.mmt (version 20230208, commit 694b188); "
                                  "stimulus -80 A/F for 0.5 ms",
                           "ms": "benchmarks/cell_steady_state.py MS_MMT (Mitchell & Schaeffer 2003, section 2); "
                                 "stimulus 0.2 /ms for 1 ms"},
               "period_ms": PERIOD, "sample_ms": SAMPLE_MS,
               "by_beats": dict(sorted(by_beats.items(), key=lambda kv: int(kv[0])))}
        with open(a.save_reference, "w") as f:
            json.dump(ref, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
