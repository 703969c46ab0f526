"""Latency of the clinician's twin: a FHIR bundle in, the recommendation out -- over the JSON API and through the page.

``vhtwin serve`` runs in a child process (:func:`vhtwin.cli.serve.in_background`: a real uvicorn server on
127.0.0.1, a fresh audit directory, JAX on the CPU), as a clinic would run it. For each prior with an example bundle
in ``examples/clinic/`` the script sends the bundle over HTTP: the first request (the models compile) and then
``--repeats`` more, each time as a *new patient* (the levels scaled by a factor drawn per request, so nothing is
cached but the compiled programs), alternately to the JSON API (``POST /api/twin``, the parsed JSON assessment back)
and to the page (``POST /assess``: the form with the bundle as a file upload and its CSRF token, the rendered HTML
report back, figures included). A request's time is the wall time from sending the bundle to the whole answer
(read, calibrate, forecast band, every dosing option's probability of target attainment, two audit entries).

The figures in ``results/`` were measured with ``VHTWIN_CACHE_DIR=off`` (no persistent compilation cache: the first
request compiles every program, as on a fresh machine).

Usage::

    python benchmarks/clinic_latency.py --out benchmarks/results/clinic-latency-cpu-2core.json [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from vhtwin.cli.serve import in_background

from _machine import machine_info  # benchmarks/_machine.py (the scripts run from this folder)

ROOT = Path(__file__).resolve().parents[1]
CASES = {"vancomycin_goti2018": "vancomycin_bundle.json", "theophylline_boeckmann1994": "theophylline_request_bundle.json"}
TARGET_S = 2.0  # the aim after the first request, on the 2-core CPU machine


def _scaled(bundle: dict, factor: float) -> bytes:
    """The bundle with every valueQuantity of a drug level scaled: a new patient for the service."""
    doc = json.loads(json.dumps(bundle))
    for entry in doc["entry"]:
        res = entry["resource"]
        codes = {c.get("code") for c in res.get("code", {}).get("coding", [])} if res["resourceType"] == "Observation" else set()
        if codes & {"20578-1", "4092-3", "4049-3"}:
            res["valueQuantity"]["value"] = round(res["valueQuantity"]["value"] * factor, 3)
    return json.dumps(doc).encode()


def _api(client: httpx.Client, prior: str, body: bytes) -> tuple[float, dict]:
    start = time.perf_counter()
    response = client.post(f"/api/twin?model={prior}", content=body,
                           headers={"Content-Type": "application/fhir+json"})
    response.raise_for_status()
    doc = response.json()
    return time.perf_counter() - start, doc["assessment"]["recommended"]


def _page(client: httpx.Client, prior: str, body: bytes) -> tuple[float, dict]:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)  # the form, as a browser has it
    start = time.perf_counter()
    response = client.post("/assess", data={"csrf": token, "model": prior},
                           files={"bundle": ("record.json", body, "application/fhir+json")})
    response.raise_for_status()
    html = response.text
    seconds = time.perf_counter() - start
    amount = float(re.search(r'id="rec-amount">([^<]+)<', html).group(1))
    interval = float(re.search(r'id="rec-interval">([^<]+)<', html).group(1))
    return seconds, {"amount_mg": amount, "interval_h": interval}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--out", help="write the JSON here (default: print it)")
    args = ap.parse_args(argv)
    audit = tempfile.mkdtemp(prefix="vhtwin-audit-")
    records = []
    with in_background(audit, env={"JAX_PLATFORMS": "cpu"}) as base, httpx.Client(base_url=base, timeout=600) as client:
        rng = np.random.default_rng(0)
        for prior, name in CASES.items():
            bundle = json.loads((ROOT / "examples" / "clinic" / name).read_text())
            first, _ = _api(client, prior, json.dumps(bundle).encode())
            times = {"api": [], "page": []}
            for k in range(args.repeats):
                path = "page" if k % 2 else "api"
                seconds, recommended = (_page if k % 2 else _api)(client, prior,
                                                                   _scaled(bundle, float(rng.uniform(0.7, 1.4))))
                times[path].append(seconds)
            warm = times["api"] + times["page"]
            rec = {"type": "measurement", "benchmark": "clinic_latency", "prior": prior, "bundle": name,
                   "first_request_s": first, "api_request_s": times["api"], "page_request_s": times["page"],
                   "api_median_s": float(np.median(times["api"])), "page_median_s": float(np.median(times["page"])),
                   "warm_median_s": float(np.median(warm)), "warm_max_s": float(np.max(warm)), "target_s": TARGET_S,
                   "posterior_draws": 200, "last_recommended": recommended}
            records.append(rec)
            print(f"{prior}: first {first:.2f} s, then API median {rec['api_median_s']:.2f} s, page median "
                  f"{rec['page_median_s']:.2f} s (max {rec['warm_max_s']:.2f} s) over {args.repeats} new patients",
                  flush=True)
    cache = os.environ.get("VHTWIN_CACHE_DIR", "default")  # "off": the first request compiles everything
    out = {"benchmark": "clinic_latency", "machine": machine_info(), "persistent_cache": cache, "records": records}
    text = json.dumps(out, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
