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
# # An in-silico trial: from spec to store to figures
#
# For trial teams. Two dosing regimens of the same daily dose -- 100 mg every 12 h and 200 mg every 24 h -- are
# compared in the same virtual population: which one keeps more patients above a target trough, and what does
# it cost in peak exposure? The trial is a spec (`vh.Trial`, or the same thing as a TOML file), its run writes a
# Zarr store batch by batch (resumable after a crash), and every summary and figure is computed from the store,
# lazily and in bounded memory.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/03_in_silico_trial.py`. `VHTWIN_NOTEBOOK_SMALL=1` runs it at small size and
# `VHTWIN_NOTEBOOK_OUT=<folder>` chooses where the store and the figures go (default: a new temporary folder).

# %%
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import vhtwin as vh
from vhtwin import analysis, plot

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
N_PER_ARM = 300 if SMALL else 5000
BATCH = 100 if SMALL else 1000
print(f"{N_PER_ARM} virtual patients per arm, batches of {BATCH}; store and figures go to {OUT}")

# %% [markdown]
# ## The spec
#
# The one-compartment oral model with the theophylline-like population of notebook 02 (log-normal variability on
# ka, CL and V; additive residual error), two arms, hourly outputs for a week. Every arm gets the *same* virtual
# patients (a paired design): patient i's parameters depend only on (seed, i).

# %%
model = vh.load_model("pharmacokinetics/one_compartment_oral")
population = vh.Population(model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
                           omega={"ka": 0.42, "CL": 0.073, "V": 0.018}, residual=vh.Residual(additive=0.7))
trial = vh.Trial(
    model=model, population=population, n_per_arm=N_PER_ARM, times=np.arange(0.0, 169.0), outputs=["Cc"], seed=1,
    arms={"100 mg q12h": vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot"),
          "200 mg q24h": vh.Regimen.repeated(amount=200.0, interval=24.0, count=7, into="depot")},
)
print(trial)
print("solver per arm:", trial.methods)  # linear model, shared dose times: the exact (matrix exponential) path

# %% [markdown]
# ## The run
#
# `trial.run` streams batches through one compiled solve, sharded over every local device, and writes each batch
# into its own region of the store; a batch counts as done only once its completion marker is written, after its
# data. The store carries the provenance (versions, git revision, device, precision, solver, tolerances, seed,
# the model's source hash) and the whole spec.

# %%
store = OUT / "trial.zarr"
ds = trial.run(store, batch_size=BATCH, overwrite=True, progress=False)
print(ds)
print("status counts:", json.loads(ds.attrs["vhtwin_status_counts"]))

# %% [markdown]
# A run killed at any moment resumes where it stopped. Here we pretend two batches were lost (their completion
# markers removed) and resume: only those two run again, and the store is the same as before, bit for bit.

# %%
before = ds["Cc"].values.copy()
for name in ("arm0-batch1", "arm1-batch2"):
    (store / "batches" / name / "zarr.json").unlink()
ds = trial.run(store, batch_size=BATCH, resume=True, progress=False)
print("store identical after resume:", np.array_equal(ds["Cc"].values, before, equal_nan=True))

# %% [markdown]
# ## Exposure over time
#
# Percentile bands per arm (exact percentiles over patients, computed per arm in slabs of time from the lazily
# opened store).

# %%
bands = analysis.percentiles(ds, "Cc", q=(5, 50, 95))
fig = plot.trial_bands(bands, "Cc")
fig.savefig(OUT / "trial_Cc_bands.png", dpi=100)
fig

# %% [markdown]
# ## Target attainment and peak exposure
#
# The question of the trial: the fraction of patients whose trough at the end of the week (168 h) is at least
# 2 mg/L, and the peak over the last day.

# %%
pta = analysis.target_attainment(ds, "Cc", threshold=2.0, at=168.0)
peak = analysis.target_attainment(ds, "Cc", threshold=8.0, over=(144.0, 168.0), statistic="max")
for i, arm in enumerate(trial.arm_names):
    print(f"{arm}: trough >= 2 mg/L in {float(pta[i]):.1%}; peak over the last day >= 8 mg/L in {float(peak[i]):.1%}")

# %% [markdown]
# NCA of the last day (144--168 h, the dosing interval of the once-daily arm and two intervals of the twice-daily
# one), per arm: the same daily dose gives the same AUC, while the once-daily regimen has the higher peak and the
# lower trough.

# %%
summary = analysis.nca_summary(ds, "Cc", dose={"100 mg q12h": 200.0, "200 mg q24h": 200.0}, start=144.0, tau=24.0,
                               metrics=("cmax", "cmin", "auctau", "fluctuation"))
table = pd.DataFrame(
    {f"{m} [{summary[m].attrs.get('units', '%' if m == 'fluctuation' else '')}]": [
        "{1:.3g} ({0:.3g}-{2:.3g})".format(*summary[m].sel(arm=arm).values) for arm in trial.arm_names]
     for m in ("cmax", "cmin", "auctau", "fluctuation")},
    index=trial.arm_names,
)
print("median (5th-95th percentile) over patients, last day")
print(table.to_string())
per_patient = analysis.nca_per_patient(ds, "Cc", dose={"100 mg q12h": 200.0, "200 mg q24h": 200.0}, start=144.0,
                                       tau=24.0, metrics=("cmax", "cmin", "auctau"))
fig = plot.nca_distributions(per_patient, metrics=("cmax", "cmin", "auctau"))
fig.savefig(OUT / "trial_nca.png", dpi=100)
fig

# %% [markdown]
# ## The same trial as a file
#
# The spec as TOML (`examples/two_arm_trial.toml` in the repository; every key in `examples/README.md`) runs from
# the command line: `vhtwin run examples/two_arm_trial.toml --out trial.zarr`, then `vhtwin info trial.zarr` and
# `vhtwin plot trial.zarr`. The spec stored in the store is what a resumed run must match.

# %%
spec = json.loads(ds.attrs["vhtwin_spec"])
print("stored spec keys:", sorted(spec))
print("same trial:", vh.Trial.from_dict(spec).to_dict() == trial.to_dict())
