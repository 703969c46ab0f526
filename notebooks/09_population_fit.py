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
# # Fitting a population model: FOCE-I and SAEM on the Theophylline dataset
#
# A pharmacometrician's first job: typical values, between-subject variability and residual error, with their
# uncertainty, from a clinical dataset -- and then trials simulated from the fitted model. `vh.estimate` does it with
# every subject's inner problem solved in one batched, compiled step: the conditional modes of all subjects move
# together by Newton-type steps with exact JAX derivatives, and the objective's gradient is exact too.
#
# The model is the one NONMEM's and nlmixr2's Theophylline examples fit: one compartment, first-order absorption,
# exponential between-subject variability on ka, CL and V, additive residual error. The published NONMEM 7.4.4 FOCE-I
# run of this model on this dataset is in `tests/data/estimation/theoph_published.json`.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/09_population_fit.py`. Set `VHTWIN_NOTEBOOK_SMALL=1` for small sizes and
# `VHTWIN_NOTEBOOK_OUT=<folder>` to choose where figures go (default: a new temporary folder).

# %%
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import vhtwin as vh
from vhtwin.estimation.saem import SaemSettings

vh.use_cpu_cores()
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent

# %% [markdown]
# ## The dataset and the starting point
#
# `vh.read_dataset` reads the NONMEM-style table (ID, TIME, AMT, EVID, CMT, DV, MDV and covariates). The starting
# `vh.Population` gives the structure: the parameters named in `omega` are estimated (their typical values and
# variances), the residual model's SDs too.

# %%
model = vh.load_model("pharmacokinetics/one_compartment_oral")
data = vh.read_dataset(ROOT / "examples" / "datasets" / "theophylline.csv", model)
start = vh.Population(model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.4, "CL": 0.07, "V": 0.02},
                      residual=vh.Residual(additive=0.7))
print(data)

# %% [markdown]
# ## FOCE-I
#
# The objective is reported as NONMEM reports it (without the constant `n log 2 pi`); `fit.table()` has the
# estimates, standard errors from the sandwich covariance matrix, RSE %, 95 % intervals and eta shrinkage.

# %%
t0 = time.perf_counter()
fit = vh.estimate(model, data, start)
print(f"first fit (compilation included): {time.perf_counter() - t0:.1f} s")
t0 = time.perf_counter()
vh.estimate(model, data, start, covariance=None)
print(f"the same fit again (compiled programs reused): {time.perf_counter() - t0:.2f} s")
print(fit)
fit.table().round(4)

# %% [markdown]
# ## Against the published NONMEM fit
#
# NONMEM 7.4.4 FOCE-I of the same model on the same data (the `theopd` repository's run 1; provenance in
# `tests/data/estimation/README.md`).

# %%
published = {e["id"]: e for e in json.loads((ROOT / "tests" / "data" / "estimation" / "theoph_published.json").read_text())}
nonmem = published["nonmem744_focei_theopd_run1"]
reference = {"ka": nonmem["theta"]["ka"], "CL": nonmem["theta"]["cl"], "V": nonmem["theta"]["v"],
             "omega(ka)": nonmem["omega"]["variance"]["ka"], "omega(CL)": nonmem["omega"]["variance"]["cl"],
             "omega(V)": nonmem["omega"]["variance"]["v"], "sigma(additive)": nonmem["sigma"]["additive_sd"],
             "OFV": nonmem["ofv"]["value"]}
ours = {**fit.estimates.to_dict(), "OFV": fit.ofv}
comparison = pd.DataFrame({"vhtwin FOCE-I": ours, "NONMEM 7.4.4 FOCE-I": reference})
comparison["difference %"] = 100 * (comparison.iloc[:, 0] / comparison.iloc[:, 1] - 1)
comparison.round(5)

# %% [markdown]
# ## Goodness of fit, etas, VPC
#
# CWRES linearise the model at each subject's modes (Hooker et al. 2007); the VPC compares the observed 5th, 50th
# and 95th percentiles per time bin with their intervals over datasets simulated from the fit.

# %%
fit.plot_goodness_of_fit().savefig(OUT / "theophylline_gof.png", dpi=110)
fit.plot_etas().savefig(OUT / "theophylline_etas.png", dpi=110)
replicates = 50 if SMALL else 500
fit.plot_vpc(replicates, n_bins=8).savefig(OUT / "theophylline_vpc.png", dpi=110)
fit.plot_vpc(replicates, n_bins=8, prediction_corrected=True).savefig(OUT / "theophylline_pcvpc.png", dpi=110)
residuals = fit.residuals(npde_simulations=replicates)  # fit.predictions: NPDE from 1,000 simulated datasets
print({name: (round(float(residuals[name].mean()), 3), round(float(residuals[name].std()), 3))
       for name in ("CWRES", "NPDE")})

# %% [markdown]
# ## SAEM
#
# Stochastic approximation EM: the E-step is a Metropolis-Hastings sampler over every subject and chain at once.
# Its objective and standard errors are the FOCE-I approximation at the SAEM estimates.

# %%
settings = SaemSettings(exploration=60, smoothing=30, seed=1) if SMALL else SaemSettings(seed=1)
saem = vh.estimate(model, data, start, method="saem", saem=settings, covariance=None)
pd.DataFrame({"FOCE-I": fit.estimates, "SAEM": saem.estimates}).round(4)

# %% [markdown]
# ## From the fit to a trial
#
# `fit.to_population()` is a `vh.Population` a trial simulates; with `uncertainty=True` each replicate draws its
# parameters from the estimates' covariance matrix.

# %%
population = fit.to_population()
regimen = vh.Regimen.repeated(320.0, interval=12.0, count=6, into="depot")
times = np.linspace(0.0, 72.0, 145)
n = 200 if SMALL else 2000
sims = vh.simulate(model, population.sample(n, seed=5), times=times, protocol=regimen)
trough = sims["Cc"].sel(time=72.0, method="nearest")
print(f"median trough at 72 h: {float(trough.median()):.2f} mg/L; 90 % of patients between "
      f"{float(trough.quantile(0.05)):.2f} and {float(trough.quantile(0.95)):.2f} mg/L")
uncertain = [fit.to_population(uncertainty=True, replicate=r, seed=3).typical["CL"] for r in range(5)]
print("CL of five replicates with parameter uncertainty:", np.round(uncertain, 3))
