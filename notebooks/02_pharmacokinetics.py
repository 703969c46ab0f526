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
# # Population pharmacokinetics of oral theophylline
#
# For pharmacometricians and clinical pharmacologists. We take the one-compartment model with first-order
# absorption, give it the published population parameters of theophylline (typical values, between-subject
# variability, residual error, weight as a covariate), simulate a loading dose plus twice-daily maintenance in a
# virtual population, draw the prediction bands, and run a non-compartmental analysis (NCA) on a single-dose
# profile -- the workflow of a clinical trial simulation, in a few calls.
#
# Population values (one-compartment fits to the classic `Theoph` data): ka 1.5 /h,
# CL/F 0.040 L/h/kg, V/F 0.46 L/kg, between-subject CV 70 % (ka), 28 % (CL), 13 % (V), additive residual SD
# 0.7 mg/L.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/02_pharmacokinetics.py`. Set `VHTWIN_NOTEBOOK_SMALL=1` for small sizes and
# `VHTWIN_NOTEBOOK_OUT=<folder>` to choose where figures go (default: a new temporary folder).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import vhtwin as vh
from vhtwin import plot

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
N = 200 if SMALL else 2000
SEED = 20240501
print(f"{N} virtual patients; figures go to {OUT}")

# %% [markdown]
# ## The structural model
#
# The library's one-compartment model with first-order absorption (NONMEM's ADVAN2): the dose goes into a gut
# `depot`, is absorbed with rate constant ka into `central`, and is eliminated with clearance CL from a volume V.
# Bioavailability is folded into the dose, so CL and V are the apparent CL/F and V/F.

# %%
model = vh.load_model("pharmacokinetics/one_compartment_oral")
print(model.describe())

# %% [markdown]
# ## The dosing regimen
#
# A 400 mg oral loading dose, then 320 mg every 12 h for six doses (12 ... 72 h). Regimens add with `+`; an
# output at a dose time is the value just before that dose (the trough).

# %%
regimen = vh.Regimen.bolus(400.0, into="depot") + vh.Regimen.repeated(
    320.0, interval=12.0, count=6, into="depot", start=12.0
)
print(regimen)
times = np.arange(0.0, 84.0 + 1e-9, 0.5 if SMALL else 0.25)

# %% [markdown]
# ## The population model
#
# - **Covariates**: body weight, log-normal with median 70 kg and CV 20 %, truncated to 40--140 kg.
# - **Covariate model**: allometric clearance, CL = CL_typ (WT/70)^0.75; volume proportional to weight,
#   V = V_typ (WT/70). Typical values at 70 kg: CL = 0.040 x 70 = 2.8 L/h, V = 0.46 x 70 = 32.2 L.
# - **Between-subject variability**: log-normal, P_i = TV_i exp(eta_i), eta ~ N(0, omega^2). The omegas are
#   variances on the log scale, from the CVs by omega^2 = log(1 + CV^2).
# - **Residual error**: additive, SD 0.7 mg/L.

# %%
cv = {"ka": 0.70, "CL": 0.28, "V": 0.13}
omega = {name: float(np.log1p(c**2)) for name, c in cv.items()}
population = vh.Population(
    model,
    typical={"ka": 1.5, "CL": 0.040 * 70.0, "V": 0.46 * 70.0},
    omega=omega,
    covariates=vh.Covariates(WT=vh.LogNormal(median=70.0, cv=0.20, lower=40.0, upper=140.0, unit="kg")),
    covariate_models=[vh.PowerCovariate("CL", "WT", 70.0, 0.75), vh.PowerCovariate("V", "WT", 70.0, 1.0)],
    residual=vh.Residual(additive=0.7),
)
print(population)
print("omega^2 (log-scale variances):", {k: round(v, 4) for k, v in omega.items()})

draw = population.sample(n=N, seed=SEED)
print(draw[["WT", "ka", "CL", "V"]].to_dataframe().describe(percentiles=[0.05, 0.5, 0.95]).round(2))

# %% [markdown]
# ## Simulate the population
#
# The draw is an `xarray.Dataset` of per-patient parameters and goes straight into `simulate`. The model is linear
# and every patient shares the dosing times and output grid, so `solver="auto"` solves it exactly (matrix
# exponential with superposition of the doses) instead of by numerical integration.

# %%
result = vh.simulate(model, params=draw, times=times, protocol=regimen, solver="auto")
print("solver:", result.attrs["solver"], "| patients:", result.sizes["patient"], "| failed:", int((result["status"] != 0).sum()))

# %% [markdown]
# The model gives the *true* concentration of each virtual patient. Observations add residual error; its noise
# depends only on (seed, patient id, sample index), so it is reproducible too. Additive error can give small
# negative values at low concentrations, as a NONMEM simulation does.

# %%
observed = population.residual.apply(result["Cc"], seed=SEED + 1, name="Cc")
result["Cc_obs"] = observed.assign_attrs(long_name="observed concentration (with residual error)")
print("share of simulated observations below 0:", float((observed < 0).mean().round(4)))

# %% [markdown]
# ## Prediction bands
#
# The 5th, 50th and 95th percentiles over the population, for the true concentration and for observations. The
# usual theophylline therapeutic range is 10--20 mg/L.

# %%
for variable in ("Cc", "Cc_obs"):
    fig = plot.time_course(result, variable, percentiles=(5, 50, 95), max_lines=10)
    ax = fig.axes[0]
    ax.axhspan(10.0, 20.0, color="C2", alpha=0.08, lw=0)
    ax.set_title(f"{variable}: {N} virtual patients, 400 mg then 320 mg q12h")
    fig.savefig(OUT / f"theophylline_{variable}_percentiles.png", dpi=100)
fig

# %% [markdown]
# Trough before the last dose (72 h) and peak after it: what share of patients is in the therapeutic range? With
# this regimen most troughs fall below 10 mg/L while a few peaks exceed 20 mg/L -- the wide between-subject
# variability in clearance is why theophylline is dosed by therapeutic drug monitoring.

# %%
trough = result["Cc"].sel(time=72.0)
peak = result["Cc"].sel(time=slice(72.0, 84.0)).max("time")
summary = pd.DataFrame({"trough 72 h [mg/L]": trough.values, "peak 72-84 h [mg/L]": peak.values})
print(summary.quantile([0.05, 0.5, 0.95]).round(2))
print(f"trough >= 10 mg/L: {float((trough >= 10).mean()):.0%}; peak > 20 mg/L: {float((peak > 20).mean()):.0%}")

# %% [markdown]
# ## Non-compartmental analysis of a single dose
#
# NCA as in a phase 1 study: one 320 mg dose, samples at the usual schedule up to 48 h, analysed with
# `vh.nca` (PKNCA conventions: linear-up/log-down AUC, best-fit terminal slope). The dose per patient gives
# CL/F = dose / AUCinf. NCA runs here on the true concentrations (no residual error, so nothing is below the
# limit of quantification); the NCA clearance should then match the clearance each patient was drawn with.

# %%
schedule = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 3.5, 5.0, 7.0, 9.0, 12.0, 24.0, 36.0, 48.0])
single = vh.simulate(model, params=draw, times=schedule, protocol=vh.Regimen.bolus(320.0, into="depot"))
print("solver:", single.attrs["solver"])
table = vh.nca(single["Cc"], dose=np.full(N, 320.0))
columns = ["cmax", "tmax", "auclast", "half_life", "cl_obs"]
nca_table = table[columns].to_dataframe()[columns]
units = {c: table[c].attrs.get("units", "") for c in columns}
nca_summary = nca_table.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).round(2)
nca_summary.columns = [f"{c} [{units[c]}]" for c in columns]
nca_summary.index = [f"P{int(q * 100)}" for q in nca_summary.index]
print(nca_summary)

ratio = table["cl_obs"].values / draw["CL"].values
print(f"NCA CL/F over the drawn CL: median {np.median(ratio):.3f}, 5-95 % {np.percentile(ratio, 5):.3f}-{np.percentile(ratio, 95):.3f}")
print(f"terminal fits with adjusted R^2 < 0.9: {int(table['flag_lambda_z_r2'].sum())} of {N}")

# %% [markdown]
# Steady state of the regimen: NCA of the last dosing interval, the dose at 72 h (`start=72`) and `tau=12`, gives
# Cmin, AUCtau, the average concentration and the peak-trough fluctuation over 72--84 h. `vh.nca` gets the whole
# profile: the terminal slope and half-life are fitted on all of it (PKNCA's rule), the other metrics over the
# interval, with Tmax counted from the dose at 72 h.

# %%
steady = vh.nca(result["Cc"], dose=np.full(N, 320.0), start=72.0, tau=12.0)
cols = ["cmax", "cmin", "auctau", "cavg", "fluctuation"]
steady_summary = steady[cols].to_dataframe()[cols].quantile([0.05, 0.5, 0.95]).round(2)
steady_summary.index = [f"P{int(q * 100)}" for q in steady_summary.index]
print(steady_summary)
print(f"CL/F = dose / AUCtau vs drawn CL: median ratio {np.median(320.0 / steady['auctau'].values / draw['CL'].values):.3f}")

# %% [markdown]
# ## Starting at steady state
#
# Instead of simulating days of dosing to reach steady state, a dose can be *given at steady state*
# (`steady_state=True`, NONMEM's SS=1): the simulation starts as if the regimen had been running for ever. Here
# the same population at steady state on 320 mg q12h, compared with the last interval (72--84 h) of the regimen
# above: after four days most patients are close to steady state, but the slow eliminators are still accumulating.

# %%
at_steady_state = vh.simulate(
    model, params=draw, times=np.arange(0.0, 12.5, 0.5),
    protocol=vh.Regimen.repeated(320.0, interval=12.0, count=1, into="depot", steady_state=True),
)
trough_ss = at_steady_state["Cc"].sel(time=0.0)
gap = (trough_ss.values - trough.values) / trough_ss.values
print("solver:", at_steady_state.attrs["solver"], "| failed:", int((at_steady_state["status"] != 0).sum()))
print(f"trough at steady state, median {float(trough_ss.median()):.2f} mg/L; at 72 h the trough is still below it "
      f"by a median {np.median(gap):.1%} (95th percentile {np.percentile(gap, 95):.1%})")

# %% [markdown]
# ## Reproducible patients
#
# Every random number of patient *i* depends only on (seed, i): a cohort of 10 and a cohort of 2000 drawn with the
# same seed share their first patients exactly, and a cohort can be drawn in chunks (`first_patient=`) that join
# to the same cohort -- so a large trial simulation can be split across machines and still be one population.

# %%
small = population.sample(n=10, seed=SEED)
large = population.sample(n=2000, seed=SEED)
chunk = population.sample(n=5, seed=SEED, first_patient=5)
same = all(np.array_equal(small[v].values[:5], large[v].values[:5]) for v in small.data_vars)
joined = all(np.array_equal(chunk[v].values, large[v].values[5:10]) for v in small.data_vars)
print("first 5 patients of n=10 equal those of n=2000:", same)
print("patients 5-9 drawn as a separate chunk equal those of n=2000:", joined)
print(small[["WT", "ka", "CL", "V"]].isel(patient=slice(0, 5)).to_dataframe().round(4))
assert same and joined
