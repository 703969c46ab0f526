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
# # The clinician's twin: a health record in, a dose out
#
# For those who run or build model-informed precision dosing. A hospitalised 72-year-old woman receives vancomycin,
# 1 g every 12 h; three levels have been measured. Her record arrives from the health record as a FHIR R4 Bundle.
# We read it with the prior library's vancomycin model (Goti 2018), calibrate her twin, look at the fit and its
# uncertainty, rank the regimens by their probability of reaching an AUC24 of 400-600 mg h/L (Rybak 2020), and keep
# an audit trail -- what `vhtwin serve`'s page does for a clinician, step by step.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/11_clinicians_twin.py`. Set `VHTWIN_NOTEBOOK_SMALL=1` for small sizes and
# `VHTWIN_NOTEBOOK_OUT=<folder>` to choose where figures go (default: a new temporary folder).

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

if not os.environ.get("MPLBACKEND"):
    matplotlib.use("Agg")  # run as a script: figures go to files
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import vhtwin as vh
import vhtwin.clinic as clinic

SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
# The repository root: from this file when run as a script, from the notebooks folder in Jupyter.
ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent
N_DRAWS = 100 if SMALL else 1000  # posterior draws behind the band and the probabilities
print(f"{N_DRAWS} posterior draws; figures go to {OUT}")

# %% [markdown]
# ## The prior library
#
# Published population models as data: each prior names its model, typical values, Omega, residual error,
# covariate models, the population it was built on and the monitoring targets, with sources. A prior is identified
# by name, version and the sha256 of its file.

# %%
library = pd.DataFrame([clinic.prior(name).describe() for name in clinic.priors()])
library["source population"] = [f"{p['subjects']} patients, {p['setting'][:60]}..." for p in library["source_population"]]
library["targets"] = [", ".join(t["name"] for t in ts) for ts in library["targets"]]
library[["name", "version", "route", "targets", "source population"]]

# %% [markdown]
# ## The record
#
# `clinic.read_bundle` takes what a dosing decision needs from the bundle -- her age and sex (not her birth date,
# name, identifiers or address), weight, height, serum creatinine, the vancomycin doses given and the levels -- with
# UCUM units converted and times in hours from the first dose. The prior derives its covariates (creatinine
# clearance by Cockcroft-Gault, capped as in the source) and warns when she is outside its source population.

# %%
vanc = clinic.prior("vancomycin_goti2018")
record = clinic.read_bundle(ROOT / "examples" / "clinic" / "vancomycin_bundle.json", vanc)
print(record.facts)
print(record.covariates, record.warnings or "inside the source population")
record.data

# %%
record.doses

# %% [markdown]
# ## The twin and its forecast
#
# `clinic.assess` calibrates the twin (`vh.calibrate`: the MAP of her parameters with the population as prior and
# its Laplace covariance), forecasts her level with a 90 % band over the record and two more days of the current
# regimen, and simulates every regimen of the prior's dosing options at steady state over the same posterior draws.

# %%
a = clinic.assess(record, vanc, n_samples=N_DRAWS, seed=0)
a.parameters

# %%
fig, ax = plt.subplots(figsize=(8, 4))
f = a.forecast
ax.fill_between(f["time"], f["lower"], f["upper"], color="tab:blue", alpha=0.25, label="90 % band")
ax.plot(f["time"], f["map"], color="navy", lw=2, label="her twin (MAP)")
ax.plot(a.observed["time"], a.observed["value"], "o", color="darkred", ms=8, label="measured")
for t in record.doses["time"]:
    ax.axvline(t, color="grey", lw=0.8, ls=":")
ax.set_xlabel("time since the first dose (h)")
ax.set_ylabel("vancomycin (mg/L)")
ax.set_title("1 g every 12 h: measured levels and forecast")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "clinic_forecast.png", dpi=100)
fig

# %% [markdown]
# Her clearance is about half the typical value for a 70-kg adult with normal kidneys (her creatinine clearance is
# 45 mL/min), so 1 g every 12 h accumulates: an AUC24 near 1,000 mg h/L, twice the upper target.
#
# ## The regimens
#
# Each cell: the probability that the AUC24 at steady state is within 400-600 mg h/L, over her posterior. For a
# linear model the AUC over an interval at steady state is dose / CL, so the options with the same daily dose are
# equally good; the recommendation takes the smallest daily dose among the best and then the interval nearest the
# current one.

# %%
grid = a.options.pivot(index="amount_mg", columns="interval_h", values="probability")
fig, ax = plt.subplots(figsize=(6, 4.5))
im = ax.imshow(grid.values, cmap="Blues", vmin=0, vmax=1, aspect="auto")
ax.set_xticks(range(len(grid.columns)), [f"q{t:g}h" for t in grid.columns])
ax.set_yticks(range(len(grid.index)), [f"{v:g} mg" for v in grid.index])
for i in range(grid.shape[0]):
    for j in range(grid.shape[1]):
        ax.text(j, i, f"{grid.values[i, j]:.0%}", ha="center", va="center",
                color="white" if grid.values[i, j] > 0.5 else "black")
fig.colorbar(im, label="probability of target attainment")
ax.set_title("AUC24 400-600 mg h/L at steady state")
fig.tight_layout()
fig.savefig(OUT / "clinic_options.png", dpi=100)
print("current:", {k: round(v, 3) for k, v in a.current.items()})
print("recommended:", {k: round(v, 3) if isinstance(v, float) else v for k, v in a.recommended.items()})
fig

# %% [markdown]
# ## The audit trail
#
# A clinic keeps a record of every calibration and recommendation: `clinic.AuditTrail` appends hash-chained JSON
# lines -- the time, the prior's name, version and sha256, the sha256 of the inputs (not the inputs), the results
# and vhtwin's version; no identifier. Any edit of a past entry breaks the chain, and `verify()` says where.

# %%
trail = clinic.AuditTrail(OUT / "audit")
doc = a.to_dict()
inputs = {"data": record.data, "doses": record.doses, "covariates": record.covariates}
trail.append("calibration", prior=doc["prior"], inputs=inputs, results={"parameters": doc["parameters"]})
trail.append("recommendation", prior=doc["prior"], inputs=inputs, results={"recommended": doc["recommended"]})
print(trail.verify() or "the chain is intact", "; head:", trail.head()[:16])

# %% [markdown]
# The same, for a clinician: `vhtwin serve --audit-dir audit/`, then open `http://127.0.0.1:8000`, choose the
# vancomycin model and load the bundle (or type the levels and doses). Scripts post the bundle to
# `POST /api/twin?model=vancomycin_goti2018` and get this assessment as JSON.
