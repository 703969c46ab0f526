"""Latency of the clinician's twin: a FHIR bundle posted to the JSON API until the recommendation comes back.

``vhtwin serve``'s application (:func:`vhtwin.clinic.app.create_app`) runs in a real uvicorn server in a child
process, as a clinic would run it (127.0.0.1, a fresh audit directory, JAX on the CPU). For each prior with an
example bundle in ``examples/clinic/`` the script posts the bundle over HTTP: the first request (the models compile)
and then ``--repeats`` more, each time as a *new patient* (the levels scaled by a factor drawn per request, so
nothing is cached but the compiled programs). A request's time is the wall time from sending the bundle to the
parsed JSON assessment (read, calibrate, forecast band, every dosing option's probability of target attainment,
two audit entries).

Usage::

    python benchmarks/clinic_latency.py --out benchmarks/results/clinic-latency-cpu-2core.json [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

from _machine import machine_info  # benchmarks/_machine.py (the scripts run from this folder)

ROOT = Path(__file__).resolve().parents[1]
CASES = {"vancomycin_goti2018": "vancomycin_bundle.json", "theophylline_boeckmann1994": "theophylline_request_bundle.json"}
TARGET_S = 2.0  # the aim after the first request, on the 2-core CPU machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scaled(bundle: dict, factor: float) -> bytes:
    """The bundle with every valueQuantity of a drug level scaled: a new patient for the service."""
    doc = json.loads(json.dumps(bundle))
    for entry in doc["entry"]:
        res = entry["resource"]
        codes = {c.get("code") for c in res.get("code", {}).get("coding", [])} if res["resourceType"] == "Observation" else set()
        if codes & {"20578-1", "4092-3", "4049-3"}:
            res["valueQuantity"]["value"] = round(res["valueQuantity"]["value"] * factor, 3)
    return json.dumps(doc).encode()


def _post(url: str, body: bytes) -> tuple[float, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/fhir+json"}, method="POST")
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        doc = json.loads(response.read())
    return time.perf_counter() - start, doc


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", help="write the JSON here (default: print it)")
    args = ap.parse_args(argv)
    port = _free_port()
    audit = tempfile.mkdtemp(prefix="vhtwin-audit-")
    server = subprocess.Popen([sys.executable, "-m", "vhtwin", "serve", "--port", str(port), "--audit-dir", audit],
                              env={**os.environ, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    records = []
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{base}/api/priors", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        rng = np.random.default_rng(0)
        for prior, name in CASES.items():
            bundle = json.loads((ROOT / "examples" / "clinic" / name).read_text())
            url = f"{base}/api/twin?model={prior}"
            first, doc = _post(url, json.dumps(bundle).encode())
            warm = []
            for _ in range(args.repeats):
                seconds, doc = _post(url, _scaled(bundle, float(rng.uniform(0.7, 1.4))))
                warm.append(seconds)
            rec = {"type": "measurement", "benchmark": "clinic_latency", "prior": prior, "bundle": name,
                   "first_request_s": first, "warm_request_s": warm, "warm_median_s": float(np.median(warm)),
                   "warm_max_s": float(np.max(warm)), "target_s": TARGET_S,
                   "options": len(doc["assessment"]["options"]),
                   "posterior_draws": 200, "recommended": doc["assessment"]["recommended"]}
            records.append(rec)
            print(f"{prior}: first {first:.2f} s, then median {rec['warm_median_s']:.2f} s (max "
                  f"{rec['warm_max_s']:.2f} s) over {args.repeats} new patients", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    out = {"benchmark": "clinic_latency", "machine": machine_info(), "records": records}
    text = json.dumps(out, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
