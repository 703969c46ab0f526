"""Niederer et al. 2011 N-version cardiac tissue electrophysiology benchmark with vhtwin.pde.

Slab 20 x 7 x 3 mm (x, y, z), fibres along x, ten Tusscher--Panfilov 2006 epicardial cells (celltype 1),
monodomain sigma_l 0.1334 S/m, sigma_t 0.0176 S/m, beta 140 /mm, Cm 1 uF/cm^2; stimulus 50000 uA/cm^3 for 2 ms in
the 1.5 mm cube at the corner (0, 0, 0); activation time = first time V > 0 mV (interpolated within the step).

Points (this script's numbering; P1 is the stimulus corner, P8 the opposite corner, P9 the centre)::

    P1 (0, 0, 0)    P2 (0, 7, 0)    P3 (20, 0, 0)   P4 (20, 7, 0)
    P5 (0, 0, 3)    P6 (0, 7, 3)    P7 (20, 0, 3)   P8 (20, 7, 3)   P9 (10, 3.5, 1.5)

Usage: ``python benchmarks/niederer.py --dx 0.5 --dt 0.05 --json`` prints one JSON object with the activation
times (ms), the reference values for that dx, the node updates per second (MLUPS, compile excluded), compile, run
and conductivity-calibration seconds. ``--correction cable`` (default) runs ``pde.Monodomain(...,
conductivity_correction="cable")``, ``--correction none`` the plain finite differences. ``--save FILE`` merges the
result into a JSON file keyed by ``dx/dt/diffusion/correction``; a results file holds one precision, stated in it
(``benchmarks/results/niederer-cpu-2core.json``: float64).

Reference values: ``benchmarks/data/niederer2011_reference.json`` -- P9 and P8 read off panel (F) of the paper's
figure of activation along P1-P8 (dt 0.005 ms; to +-1.5-2.5 ms), and, labelled as what it is, the table of the
fenicsx-beat demo (one finite-element code, not from the paper). The paper's per-code values (its electronic
supplementary material) were not available, so the spread of all codes is not in that file.

Results: ``docs/validation/niederer.md`` (its summary table and the convergence study).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

POINTS = {
    "P1": (0.0, 0.0, 0.0), "P2": (0.0, 7.0, 0.0), "P3": (20.0, 0.0, 0.0), "P4": (20.0, 7.0, 0.0),
    "P5": (0.0, 0.0, 3.0), "P6": (0.0, 7.0, 3.0), "P7": (20.0, 0.0, 3.0), "P8": (20.0, 7.0, 3.0),
    "P9": (10.0, 3.5, 1.5),
}
REFERENCE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "niederer2011_reference.json")


def reference(dx: float) -> dict:
    """The reference activation times (ms) for grid spacing ``dx`` (mm): the paper's figure and the labelled demo."""
    with open(REFERENCE_FILE) as f:
        ref = json.load(f)
    key = f"{dx:g}"
    paper = ref["paper"]["by_dx"].get(key, {}).get("activation_ms")
    demo = ref["fenicsx_beat_demo"]["by_dx_dt0.005"].get(key)
    return {"niederer2011_fig_panel_F_dt0.005": paper, "fenicsx_beat_demo_dt0.005": demo,
            "reading_precision_ms": ref["paper"]["reading_precision_ms"]}


def run(dx: float, dt: float, *, diffusion: str = "explicit", precision: str = "float64", t_end: float = 150.0,
        model: str = "cardio/tentusscher2006", correction: str = "cable") -> dict:
    import numpy as np

    import vhtwin as vh
    from vhtwin import pde

    grid = pde.Grid.slab(20.0, 7.0, 3.0, dx)
    stim = pde.Stimulus(grid.box((0, 1.5), (0, 1.5), (0, 1.5)), amplitude=50000.0, start=0.0, duration=2.0)
    tissue = pde.Monodomain(vh.load_model(model), grid, conductivity=pde.Conductivity(0.1334, 0.0176),
                            stimuli=[stim], beta=140.0, Cm=1.0, params={"celltype": 1.0},
                            conductivity_correction=correction)
    t0 = time.perf_counter()
    factors = None
    if correction == "cable":
        factors = tissue.conductivity_factors(dt, diffusion=diffusion, precision=precision)
    t1 = time.perf_counter()
    ds = tissue.run(t_end, dt, diffusion=diffusion, precision=precision, stop_when_activated=True)
    wall = time.perf_counter() - t1
    act = ds.activation_time
    times = {}
    for name, p in POINTS.items():
        # the corners are nodes; the centre is a node only when 3.5 and 1.5 are multiples of dx (else: trilinear)
        v = float(act.interp(x=p[0], y=p[1], z=p[2]))
        times[name] = round(v, 4) if np.isfinite(v) else None
    return {
        "dx": dx, "dt": dt, "activation_ms": times, "mlups": round(ds.attrs["mlups"], 3),
        "reference_ms": reference(dx), "nodes": int(ds.attrs["nodes"]), "steps": int(ds.attrs["steps"]),
        "compile_s": round(ds.attrs["compile_s"], 2), "run_s": round(ds.attrs["run_s"], 2), "wall_s": round(wall, 2),
        "correction": correction, "calibration_s": round(t1 - t0, 2),
        "conductivity_factors": None if factors is None else {
            "longitudinal": round(factors[0].factor, 4), "transverse": round(factors[1].factor, 4),
            "cable_cv_converged_m_s": [round(float(f.converged), 4) for f in factors],
            "cable_cv_uncorrected_m_s": [round(float(f.uncorrected), 4) for f in factors]},
        "points_mm": POINTS, "diffusion": diffusion, "splitting": ds.attrs["splitting"], "reaction": ds.attrs["reaction"],
        "precision": precision, "model": model, "activated_all": bool(np.isfinite(act.values).all()),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu", "jax_devices": _devices(),
    }


def cable_study(dxs=(0.5, 0.2, 0.1, 0.05, 0.025), *, precision: str = "float64",
                model: str = "cardio/tentusscher2006") -> list[dict]:
    """Conduction velocity (m/s) on TP06 cables along (sigma_l) and across (sigma_t) the fibres, per dx: plain finite
    differences, and with the "cable" correction (the corrected conductivities run again on an independent cable).

    dt 0.01 ms, 0.0025 ms at dx 0.025 mm (explicit limit). A finite-element Q1 discretisation with lumped mass gives
    the plain column exactly on these cables (its stiffness reduces to the same three-point stencil for a field that
    varies along one axis), so it has no column of its own.
    """
    import numpy as np

    import vhtwin as vh
    from vhtwin import pde
    from vhtwin.pde.conduction_tuning import CABLE_LENGTH_SCALES

    cell = vh.load_model(model)
    rows = []
    for dx in dxs:
        dt = 0.01 if dx >= 0.05 else 0.0025
        length = max(round(CABLE_LENGTH_SCALES * 0.309 / dx) * dx, 40 * dx)  # 30 length scales of sigma_l
        grid = pde.Grid.cable(length, dx)

        def speeds(sl, st, correction):
            stim = pde.Stimulus(grid.box((0, max(1.5, 1.5 * dx))), 50000.0, 0.0, 2.0)
            t = pde.Monodomain(cell, grid, conductivity=pde.Conductivity(np.array([sl, st]), np.array([sl, st])),
                               stimuli=[stim], params={"celltype": 1.0}, conductivity_correction=correction)
            ds = t.run(400.0, dt, precision=precision, stop_when_activated=True)
            start = min(1.5 + 0.1 * length, 0.4 * length)
            return pde.velocity_along_line(ds.activation_time, [start], [0.85 * length], trim=0.0)

        plain = speeds(0.1334, 0.0176, "none")
        probe = pde.Monodomain(cell, grid, conductivity=pde.Conductivity(0.1334, 0.0176), params={"celltype": 1.0},
                               stimuli=[pde.Stimulus(grid.box((0, 1.5)), 50000.0, 0.0, 2.0)],
                               conductivity_correction="cable")
        fl, ft = probe.conductivity_factors(dt, precision=precision)
        corrected = speeds(0.1334 * fl.factor, 0.0176 * ft.factor, "none")
        rows.append({"dx": dx, "dt": dt, "cv_plain_m_s": [round(float(v), 4) for v in plain],
                     "factors": [round(fl.factor, 4), round(ft.factor, 4)],
                     "cv_corrected_m_s": [round(float(v), 4) for v in corrected],
                     "cv_converged_m_s": [round(float(fl.converged), 4), round(float(ft.converged), 4)]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _devices():
    import jax

    return [str(d) for d in jax.devices()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dx", type=float, default=0.5)
    ap.add_argument("--dt", type=float, default=0.05)
    ap.add_argument("--diffusion", default="explicit", choices=["explicit", "backward-euler", "crank-nicolson"])
    ap.add_argument("--precision", default="float64", choices=["float32", "float64"])
    ap.add_argument("--correction", default="cable", choices=["cable", "none"],
                    help="conductivity correction of vhtwin.pde.Monodomain (default cable)")
    ap.add_argument("--quick", action="store_true", help="dx 0.5 mm, dt 0.05 ms (about a minute)")
    ap.add_argument("--cable-study", action="store_true",
                    help="print conduction velocity vs dx on TP06 cables, plain and corrected (a few minutes)")
    ap.add_argument("--t-end", type=float, default=150.0)
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("--save", help="merge the result into this JSON file (keyed by dx/dt/diffusion/correction; one "
                                   "precision per file)")
    args = ap.parse_args(argv)
    if args.cable_study:
        cable_study(precision=args.precision)
        return 0
    if args.quick:
        args.dx, args.dt = 0.5, 0.05
    if args.save and os.path.exists(args.save):  # refuse before the run, not after it
        with open(args.save) as f:
            held = json.load(f).get("precision")
        if held not in (None, args.precision):
            ap.error(f"{args.save} holds {held} results; save {args.precision} results to another file")
    out = run(args.dx, args.dt, diffusion=args.diffusion, precision=args.precision, t_end=args.t_end,
              correction=args.correction)
    if args.save:
        data = {}
        if os.path.exists(args.save):
            with open(args.save) as f:
                data = json.load(f)
        data["precision"] = args.precision
        data[f"dx{args.dx}_dt{args.dt}_{args.diffusion}_{args.correction}"] = out
        with open(args.save, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out["activation_ms"].items():
            print(f"{k}: {v} ms")
        print(f"MLUPS {out['mlups']}, run {out['run_s']} s, compile {out['compile_s']} s, "
              f"calibration {out['calibration_s']} s")


if __name__ == "__main__":
    sys.exit(main())
