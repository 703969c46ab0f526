"""Niederer et al. 2011 N-version cardiac tissue electrophysiology benchmark with vhtwin.pde.

Slab 20 x 7 x 3 mm (x, y, z), fibres along x, ten Tusscher--Panfilov 2006 epicardial cells (celltype 1),
monodomain sigma_l 0.1334 S/m, sigma_t 0.0176 S/m, beta 140 /mm, Cm 1 uF/cm^2; stimulus 50000 uA/cm^3 for 2 ms in
the 1.5 mm cube at the corner (0, 0, 0); activation time = first time V > 0 mV (interpolated within the step).

Points (this script's numbering; P1 is the stimulus corner, P8 the opposite corner, P9 the centre)::

    P1 (0, 0, 0)    P2 (0, 7, 0)    P3 (20, 0, 0)   P4 (20, 7, 0)
    P5 (0, 0, 3)    P6 (0, 7, 3)    P7 (20, 0, 3)   P8 (20, 7, 3)   P9 (10, 3.5, 1.5)

Usage: ``python benchmarks/niederer.py --dx 0.5 --dt 0.05 --json`` prints one JSON object with the activation
times (ms), the node updates per second (MLUPS, compile excluded), compile and run seconds. ``--save FILE`` merges
the result into a JSON file keyed by ``dx/dt`` (the results folder keeps ``niederer-cpu-2core.json``).

Results on the shared 2-core CPU box (explicit diffusion, Godunov splitting; ms):

====  ======  ======  ======  ======  ======  ======  ======  ======  ======  ===============
dx    P1      P2      P3      P4      P5      P6      P7      P8      P9      published P8 FE
====  ======  ======  ======  ======  ======  ======  ======  ======  ======  ===============
0.5   1.30    112.8   44.5    124.5   26.9    114.3   50.1    125.5   55.4    55.8
0.2   1.24    40.3    34.6    53.1    11.9    42.1    36.0    54.1    24.2    38.2
0.1   1.25    30.3    32.1    43.3    9.11    31.7    33.3    44.2    20.1    37.9
====  ======  ======  ======  ======  ======  ======  ======  ======  ======  ===============

(dt 0.05 at dx 0.5, 0.01 at dx 0.2, 0.02 at dx 0.1 in float32 -- within the explicit limit of 0.04 ms there.) The second-order finite differences converge from below in conduction
velocity, slowly across the fibres, where the front (sigma_t 0.0176 S/m, D 0.0126 mm^2/ms) is a few tenths of a mm
thick: on a TP06 cable the transverse speed is 0.145, 0.191, 0.212, 0.221 m/s at dx 0.2, 0.1, 0.05, 0.025 mm and the
longitudinal 0.421, 0.558, 0.598, 0.610, 0.612 m/s at dx 0.5, 0.2, 0.1, 0.05, 0.025. Hence P8 well above the
finite-element values at dx 0.5 and 0.2 (the benchmark paper shows the same spread between codes on coarse grids).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

POINTS = {
    "P1": (0.0, 0.0, 0.0), "P2": (0.0, 7.0, 0.0), "P3": (20.0, 0.0, 0.0), "P4": (20.0, 7.0, 0.0),
    "P5": (0.0, 0.0, 3.0), "P6": (0.0, 7.0, 3.0), "P7": (20.0, 0.0, 3.0), "P8": (20.0, 7.0, 3.0),
    "P9": (10.0, 3.5, 1.5),
}
#: Finite-element results at dt 0.005 ms of Niederer et al. 2011 (Phil Trans R Soc A 369:4331), P8 in ms.
PUBLISHED_P8 = {0.5: 55.8, 0.2: 38.2, 0.1: 37.9}


def run(dx: float, dt: float, *, diffusion: str = "explicit", precision: str = "float64", t_end: float = 150.0,
        model: str = "cardio/tentusscher2006") -> dict:
    import numpy as np

    import vhtwin as vh
    from vhtwin import pde

    grid = pde.Grid.slab(20.0, 7.0, 3.0, dx)
    stim = pde.Stimulus(grid.box((0, 1.5), (0, 1.5), (0, 1.5)), amplitude=50000.0, start=0.0, duration=2.0)
    tissue = pde.Monodomain(vh.load_model(model), grid, conductivity=pde.Conductivity(0.1334, 0.0176),
                            stimuli=[stim], beta=140.0, Cm=1.0, params={"celltype": 1.0})
    t0 = time.perf_counter()
    ds = tissue.run(t_end, dt, diffusion=diffusion, precision=precision, stop_when_activated=True)
    wall = time.perf_counter() - t0
    act = ds.activation_time
    times = {}
    for name, p in POINTS.items():
        # the corners are nodes; the centre is a node only when 3.5 and 1.5 are multiples of dx (else: trilinear)
        v = float(act.interp(x=p[0], y=p[1], z=p[2]))
        times[name] = round(v, 4) if np.isfinite(v) else None
    return {
        "dx": dx, "dt": dt, "activation_ms": times, "mlups": round(ds.attrs["mlups"], 3),
        "published_P8_fe_dt0.005": PUBLISHED_P8.get(dx), "nodes": int(ds.attrs["nodes"]), "steps": int(ds.attrs["steps"]),
        "compile_s": round(ds.attrs["compile_s"], 2), "run_s": round(ds.attrs["run_s"], 2), "wall_s": round(wall, 2),
        "points_mm": POINTS, "diffusion": diffusion, "splitting": ds.attrs["splitting"], "reaction": ds.attrs["reaction"],
        "precision": precision, "model": model, "activated_all": bool(np.isfinite(act.values).all()),
        "machine": f"{platform.machine()} {os.cpu_count()} cpu", "jax_devices": _devices(),
    }


def _devices():
    import jax

    return [str(d) for d in jax.devices()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dx", type=float, default=0.5)
    ap.add_argument("--dt", type=float, default=0.05)
    ap.add_argument("--diffusion", default="explicit", choices=["explicit", "backward-euler", "crank-nicolson"])
    ap.add_argument("--precision", default="float64", choices=["float32", "float64"])
    ap.add_argument("--t-end", type=float, default=150.0)
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ap.add_argument("--save", help="merge the result into this JSON file (keyed by dx/dt/diffusion/precision)")
    args = ap.parse_args(argv)
    out = run(args.dx, args.dt, diffusion=args.diffusion, precision=args.precision, t_end=args.t_end)
    if args.save:
        data = {}
        if os.path.exists(args.save):
            with open(args.save) as f:
                data = json.load(f)
        data[f"dx{args.dx}_dt{args.dt}_{args.diffusion}_{args.precision}"] = out
        with open(args.save, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out["activation_ms"].items():
            print(f"{k}: {v} ms")
        print(f"MLUPS {out['mlups']}, run {out['run_s']} s, compile {out['compile_s']} s")


if __name__ == "__main__":
    sys.exit(main())
