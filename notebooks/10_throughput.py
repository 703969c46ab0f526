# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Throughput: one cohort, three solve paths, the GPU figures
#
# For benchmarkers. The reference PK cohort (two-compartment oral model, log-normal parameters, 100 mg every 12 h
# x 14, `Cc` hourly for a week) solved three ways -- the batched integration loop (`solver="tsit5"`), the per-lane
# GPU kernel (`"tsit5_kernel"`, one patient per GPU thread) and the exact path for linear models (`"exact"`) --
# checked against the closed-form solution, timed on this machine, and set beside the figures recorded on an
# NVIDIA H200 (`benchmarks/results/gpu-h200.json`, from `python benchmarks/gpu.py`). On a CPU the kernel runs in
# Pallas' interpret mode: correct but slow, so it gets a small cohort here; on a GPU it is the fastest path.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/10_throughput.py`. Set `VHTWIN_NOTEBOOK_SMALL=1` for small sizes and
# `VHTWIN_NOTEBOOK_OUT=<folder>` to choose where figures go (default: a new temporary folder).

# %%
import json
import os
import tempfile
import time
from pathlib import Path

import jax
import matplotlib.pyplot as plt
import numpy as np

import vhtwin as vh
from vhtwin.testing.pharmacokinetics import two_compartment_oral_central

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
ON_GPU = jax.default_backend() == "gpu"

# %% [markdown]
# ## The cohort and its exact solution

# %%
model = vh.load_model("pharmacokinetics/two_compartment_oral")
regimen = vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot")
times = np.arange(169.0)
typical = {"ka": 1.0, "CL": 5.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}


def cohort(n, seed=0):
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(rng.normal(0.0, 0.3, n)) for k, v in typical.items()}


def exact(params):
    col = {k: np.asarray(v)[:, None] for k, v in params.items()}
    central = two_compartment_oral_central(times, np.arange(14) * 12.0, np.full(14, 100.0), col["ka"], col["CL"],
                                           col["V1"], col["Q"], col["V2"])
    return central / col["V1"]


# %% [markdown]
# ## Each path: patients per second, steps, error against the exact solution
#
# The first call compiles; the second is timed. The kernel takes exactly the loop's steps -- it is the same
# algorithm -- and both reach the same error.

# %%
sizes = {"tsit5": 2000 if SMALL else 20000, "exact": 2000 if SMALL else 20000,
         "tsit5_kernel": (2000 if SMALL else 20000) if ON_GPU else 64}
rows = []
for solver, n in sizes.items():
    params = cohort(n)
    run = lambda: vh.simulate(model, params, times=times, protocol=regimen, solver=solver, outputs=["Cc"],
                              precision="float64")
    run()
    start = time.perf_counter()
    ds = run()
    elapsed = time.perf_counter() - start
    ref = exact(params)
    mask = ref > 1e-6
    error = float(np.max(np.abs(ds["Cc"].values[mask] - ref[mask]) / ref[mask]))
    steps = float(ds["n_steps"].values.mean()) if solver != "exact" else float("nan")
    rows.append((solver, n, n / elapsed, steps, error))
    print(f"{solver:13s} n = {n:6d}: {n / elapsed:12,.0f} patients/s, mean steps {steps:6.1f}, max rel. error {error:.1e}")

# %%
kernel = next(r for r in rows if r[0] == "tsit5_kernel")
loop = next(r for r in rows if r[0] == "tsit5")
assert all(r[4] < 1e-4 for r in rows), "every path matches the exact solution"
print("kernel and loop reach the same accuracy:", f"{kernel[4]:.1e} vs {loop[4]:.1e}")

# %% [markdown]
# ## The figures recorded on a GPU
#
# Device time of the compiled solve (inputs already on the GPU), patients per second, for vhtwin's kernel, its XLA
# loop, its exact path and diffrax, in float32, one NVIDIA H200.

# %%
name = Path("benchmarks/results/gpu-h200.json")
here = [Path(__file__).resolve().parents[1]] if "__file__" in globals() else []  # run as a script
recorded = next(p for p in [Path("."), Path(".."), *here] if (p / name).exists()) / name
doc = json.loads(recorded.read_text())
peers = ["vhtwin_kernel", "vhtwin_xla", "vhtwin_exact", "diffrax"]
fig, ax = plt.subplots(figsize=(7, 4))
for peer in peers:
    recs = sorted((r for r in doc["records"] if r.get("peer") == peer and r.get("precision") == "float32"
                   and r.get("patients_per_s_device")), key=lambda r: r["n"])
    ax.plot([r["n"] for r in recs], [r["patients_per_s_device"] for r in recs], "o-", label=peer)
ax.set(xscale="log", yscale="log", xlabel="patients", ylabel="patients per second (device time)",
       title="Reference cohort on one H200, float32")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "10_gpu_throughput.png", dpi=100)
best = max(r["patients_per_s_device"] for r in doc["records"] if r.get("peer") == "vhtwin_kernel")
print(f"kernel, best recorded: {best / 1e6:.0f} million patients/s")
