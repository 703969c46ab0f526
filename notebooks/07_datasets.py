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
# # A clinical dataset in, predictions out -- with one compilation
#
# For pharmacometricians bringing their own data. A NONMEM-style dataset (ID, TIME, AMT, EVID, CMT, DV, MDV, RATE,
# ADDL, II, SS and covariate columns) is read once into a `vh.Dataset`; `vh.simulate(model, params, data=ds)`
# predicts every record of every subject -- each with its own doses and sampling times -- in one batched call, and
# `vh.write_dataset` writes the predictions back as a NONMEM-style table with PRED and IPRED.
#
# The engine compiles a model once and runs any design through it: doses, sampling times and subjects are data.
# `vh.compilation_count()` shows it.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/07_datasets.py`. Set `VHTWIN_NOTEBOOK_SMALL=1` for small sizes and
# `VHTWIN_NOTEBOOK_OUT=<folder>` to choose where figures go (default: a new temporary folder).

# %%
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import vhtwin as vh

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent

# %% [markdown]
# ## Read the dataset
#
# `examples/datasets/theophylline.csv` is R's `Theoph` (12 subjects, one oral dose, 11 samples each) in NONMEM
# layout: a dose record (EVID 1, CMT 1 = the depot) and observation records (EVID 0, CMT 2, DV in mg/L), with the
# weight (WT) and the mg/kg dose (DOSE) as covariate columns.

# %%
model = vh.load_model("pharmacokinetics/one_compartment_oral")
ds = vh.read_dataset(ROOT / "examples" / "datasets" / "theophylline.csv", model)
print(ds)
print(ds.covariates.head())
ds.to_frame().head(4)

# %% [markdown]
# ## Predict every record from a population
#
# With a `vh.Population` as parameters each subject gets its own draw (from `seed`), with its covariates taken from
# the dataset's columns of the same name: here clearance scales with weight. The result is over
# `(patient, record)`: the observables, `IPRED` (the individual prediction of what each record measures), `PRED`
# (the typical values, etas zero), `DV` and `observed`.

# %%
population = vh.Population(
    model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018},
    covariate_models=[vh.PowerCovariate("CL", "WT", 70, 0.75)],
)
before = vh.compilation_count()
pred = vh.simulate(model, population, data=ds, seed=1)
print(f"{vh.compilation_count() - before} program(s) compiled; solver {pred.attrs['solver']}")

fig, ax = plt.subplots(figsize=(6, 4))
obs = pred["observed"].values
ax.scatter(pred["PRED"].values[obs], pred["DV"].values[obs], s=12, label="PRED")
ax.scatter(pred["IPRED"].values[obs], pred["DV"].values[obs], s=12, label="IPRED (a random draw, not a fit)")
ax.plot([0, 12], [0, 12], "k--", lw=0.8)
ax.set_xlabel("prediction [mg/L]")
ax.set_ylabel("observed [mg/L]")
ax.legend()
fig.savefig(OUT / "07_dv_vs_pred.png", dpi=100)

# %% [markdown]
# ## Write it back
#
# One row per record, in the source's order: ID, TIME, EVID, AMT, DV, MDV, DVID, CENS, PRED, IPRED, the predicted
# observables and the covariates.

# %%
path = vh.write_dataset(pred, OUT / "theophylline_predictions.csv", overwrite=True)
pd.read_csv(path, na_values=".").head(4)

# %% [markdown]
# ## Another dataset compiles nothing
#
# A second study with other subjects, doses (repeated by ADDL/II, infusions by RATE) and sampling times falls in the
# same buckets (sizes are padded: up to 16 doses and 16 records per subject share a program), so it runs the
# programs already compiled.

# %%
rng = np.random.default_rng(7)
n = 50 if SMALL else 500
rows = []
for i in range(1, n + 1):
    oral = i % 2 == 0
    rows.append((i, 0.0, 320.0 if oral else 400.0, 0.0 if oral else 200.0, 1 if oral else 2, 12.0 if oral else 0.0,
                 2 if oral else 0, 1, ".", round(rng.uniform(50, 100), 1)))
    for t in np.sort(rng.choice(np.arange(0.5, 36.0, 0.5), rng.integers(3, 10), replace=False)):
        rows.append((i, t, ".", ".", 2, ".", ".", 0, round(rng.uniform(1, 10), 2), rows[-1][-1]))
study = pd.DataFrame(rows, columns=["ID", "TIME", "AMT", "RATE", "CMT", "II", "ADDL", "EVID", "DV", "WT"])
study2 = vh.read_dataset(study, model)

before = vh.compilation_count()
t0 = time.perf_counter()
pred2 = vh.simulate(model, population, data=study2, seed=2)
print(f"{len(study2)} subjects, {len(study2.records)} records: {time.perf_counter() - t0:.2f} s, "
      f"{vh.compilation_count() - before} program(s) compiled")
t0 = time.perf_counter()
again = vh.simulate(model, population, data=study2, seed=3)
print(f"the same study, new draws: {time.perf_counter() - t0:.3f} s, {vh.compilation_count() - before} compiled in all")

# %% [markdown]
# ## Twins at interactive speed
#
# Calibrating a patient twin (`vh.calibrate`) compiles its search once per model and bucket; every next patient --
# other doses, other sampling times -- reuses it.

# %%
prior = vh.Population(model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018},
                      residual=vh.Residual(additive=0.7))
raw = pd.read_csv(ROOT / "tests" / "data" / "theoph.csv")
timings = []
for subject, s in raw.groupby("subject"):
    if SMALL and subject > 4:
        break
    dose = float(s["dose_mg_per_kg"].iloc[0] * s["weight_kg"].iloc[0])
    t0 = time.perf_counter()
    twin = vh.calibrate(model, {"time": s["time_h"], "value": s["conc_mg_per_L"], "unit": "mg/L"}, prior=prior,
                        protocol=vh.Regimen.bolus(dose, into="depot"))
    timings.append(time.perf_counter() - t0)
print(f"first twin {timings[0]:.2f} s (compiling), next twins {np.median(timings[1:]) * 1000:.0f} ms each")

fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(range(1, len(timings) + 1), timings)
ax.set_yscale("log")
ax.set_xlabel("patient")
ax.set_ylabel("calibration [s]")
fig.savefig(OUT / "07_twin_latency.png", dpi=100)
