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
# # Whole-body PBPK: from a virtual individual to a population to exposure by age group
#
# For PBPK modellers and clinical pharmacologists. The library's whole-body PBPK model
# (`pharmacokinetics/pbpk_whole_body`: arterial and venous blood, lung and 15 organs, perfusion-limited) is built
# from physiology, not fitted: organ volumes and blood flows come from a virtual individual
# (`vh.physiology.individual`, ICRP 2002 reference values scaled to age, sex, weight and height), and the
# tissue:plasma partition coefficients (Kp) from the drug's physico-chemical properties and the tissues'
# composition (Rodgers & Rowland). We
#
# 1. build one virtual individual given midazolam: his organs, flows and Kp, and his plasma profile after an
#    intravenous and an oral dose;
# 2. draw a virtual population of adults aged 20-80 y, each with his own organs and flows, and simulate it in one
#    call;
# 3. compare exposure (AUC, Cmax) after a 7.5 mg oral dose between age groups and between the sexes.
#
# **Every number below is a model prediction** for virtual individuals; none is an observation. The model's
# validation against observed midazolam and theophylline data (clearance, Vss, half-life, bioavailability, Cmax
# within 2-fold) is in the model's module and its tests.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/06_pbpk.py`. `VHTWIN_NOTEBOOK_SMALL=1` runs it at small size and
# `VHTWIN_NOTEBOOK_OUT=<folder>` chooses where the figures go (default: a new temporary folder).

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import vhtwin as vh
from vhtwin.models.pharmacokinetics import pbpk_whole_body as pbpk

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
N = 50 if SMALL else 500
SEED = 20240611
pd.set_option("display.width", 140)
pd.set_option("display.max_columns", 12)
print(f"{N} virtual adults in the population; figures go to {OUT}")

# %% [markdown]
# ## 1. One virtual individual
#
# A 45-year-old woman of 65 kg and 165 cm. `vh.physiology.individual` gives her organ volumes and blood flows (her
# cardiac output scaled to her size and age) and the composition of her tissues; `pbpk_whole_body.personalise`
# turns those and the drug file `drugs/midazolam.toml` (log P, pKa, fu, B:P, intrinsic clearance, absorption) into
# the model's parameters, Kp included.

# %%
person = vh.physiology.individual(45.0, "female", 65.0, 165.0)
drug = pbpk.load_drug("midazolam")
params = pbpk.personalise(person, drug)
print(f"{drug['name']}: log P {drug['log_p']}, pKa {drug.get('pka')}, fu {drug['fu']}, B:P {drug['blood_plasma_ratio']}, "
      f"CLint {drug['intrinsic_clearance']} L/h ({drug['kind']}, Kp by {drug['partition_method']})")
print(f"cardiac output {float(person.cardiac_output):.0f} L/h, haematocrit {float(person.haematocrit):.2f}")

organs = pd.DataFrame(
    {
        "volume [L]": [float(params[f"V_{o}"]) for o in pbpk.TISSUES],
        "blood flow [L/h]": [float(params[f"Q_{o}"]) if f"Q_{o}" in params else np.nan for o in pbpk.TISSUES],
        "Kp": [float(params[f"Kp_{o}"]) for o in pbpk.TISSUES],
    },
    index=[o.replace("_", " ") for o in pbpk.TISSUES],
)
# The lung receives the whole cardiac output and the liver the hepatic artery plus the portal organs' flows.
organs.loc["lung", "blood flow [L/h]"] = float(person.cardiac_output)
organs.loc["liver", "blood flow [L/h]"] = float(pbpk._liver_flow(params))
organs["drug in tissue at equilibrium [L]"] = organs["volume [L]"] * organs["Kp"]
print(organs.round(3))

# %% [markdown]
# The apparent volume V x Kp says where the drug goes at equilibrium: midazolam is lipophilic, so fat and muscle
# hold most of it. The bar plot shows each organ's volume, flow and Kp.

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 4.5), sharey=True)
for ax, column, colour in zip(axes, ["volume [L]", "blood flow [L/h]", "Kp"], ["C0", "C3", "C2"]):
    ax.barh(organs.index, organs[column], color=colour)
    ax.set_xlabel(column)
    ax.grid(axis="x", alpha=0.3)
axes[0].invert_yaxis()
fig.suptitle("virtual individual (45 y, female, 65 kg, 165 cm) given midazolam: model inputs")
fig.tight_layout()
fig.savefig(OUT / "pbpk_individual_organs.png", dpi=100)
fig

# %% [markdown]
# Her plasma profile after 2 mg intravenously (into venous blood) and 7.5 mg orally (into the gut lumen). The
# model is linear, so `simulate` solves it exactly (matrix exponentials). Fine sampling at first: an intravenous
# bolus passes the venous pool within seconds to minutes. The model's own clearance and bioavailability
# (`pbpk_whole_body.clearance`, `oral_bioavailability`) are printed next to the NCA of the simulated curves, which
# should agree with them; for the volume, `steady_state_volume` is the true Vss and `nca_steady_state_volume` the
# slightly smaller one an NCA of the venous curve returns (drug eliminated in the liver never comes back to the
# sampled blood).

# %%
model = vh.load_model("pharmacokinetics/pbpk_whole_body")
times = np.concatenate([np.arange(0.0, 0.5, 0.001), np.arange(0.5, 4.0, 0.05), np.arange(4.0, 72.0 + 1e-9, 0.25)])
doses = {"2 mg intravenous": (2.0, "venous_blood"), "7.5 mg oral": (7.5, "gut_lumen")}
profiles = {label: vh.simulate(model, params=params, times=times, protocol=vh.Regimen.bolus(amount, into=into),
                               outputs=["Cp"])
            for label, (amount, into) in doses.items()}
print("solver:", profiles["7.5 mg oral"].attrs["solver"])

fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
for label, ds in profiles.items():
    for ax in axes:
        ax.plot(times, ds["Cp"].values * 1000.0, label=label)  # mg/L -> ng/mL
oral_peak = float(profiles["7.5 mg oral"]["Cp"].max()) * 1000.0
iv_peak = float(profiles["2 mg intravenous"]["Cp"].max()) * 1000.0
axes[0].set_xlim(0, 12)
axes[0].set_ylim(0, 2.0 * oral_peak)  # the intravenous peak (at t = 0) is far above: cut, see the log panel
axes[1].set_xlim(0, 72)
axes[1].set_yscale("log")
axes[1].set_ylim(0.1, None)
for ax in axes:
    ax.set_xlabel("time [h]")
    ax.set_ylabel("plasma concentration [ng/mL]")
    ax.grid(alpha=0.3)
axes[0].legend()
axes[0].set_title(f"first 12 h (IV peak {iv_peak:.0f} ng/mL cut)")
axes[1].set_title("72 h, log scale")
fig.tight_layout()
fig.savefig(OUT / "pbpk_individual_profiles.png", dpi=100)

single_nca = {label: vh.nca(ds["Cp"].assign_attrs(units="mg/L"), dose=amount,
                             route="iv_bolus" if into == "venous_blood" else "extravascular")
              for (label, ds), (amount, into) in zip(profiles.items(), doses.values())}
auc = {label: float(t["aucinf_obs"]) for label, t in single_nca.items()}
print(f"model clearance {float(pbpk.clearance(params)):.1f} L/h; NCA dose / AUC(0-inf) after the IV dose "
      f"{2.0 / auc['2 mg intravenous']:.1f} L/h")
print(f"model bioavailability {float(pbpk.oral_bioavailability(params)):.3f}; NCA AUC ratio oral/IV per mg "
      f"{auc['7.5 mg oral'] / 7.5 / (auc['2 mg intravenous'] / 2.0):.3f}")
print(f"steady-state volume {float(pbpk.steady_state_volume(params)):.0f} L "
      f"({float(pbpk.steady_state_volume(params)) / 65.0:.2f} L/kg); the NCA of the venous curve sees "
      f"{float(pbpk.nca_steady_state_volume(params)):.0f} L (nca_steady_state_volume), NCA gives "
      f"{float(single_nca['2 mg intravenous']['vss_obs']):.0f} L")
print(f"oral Cmax {oral_peak:.1f} ng/mL at {float(single_nca['7.5 mg oral']['tmax']):.2f} h; terminal half-life "
      f"{float(single_nca['2 mg intravenous']['half_life']):.1f} h")
fig

# %% [markdown]
# ## 2. A virtual population
#
# `pbpk_whole_body.population` makes a `vh.Population` whose covariates are virtual adults
# (`vh.physiology.Individuals`: age, sex, weight, height, and every organ volume and flow drawn per patient),
# each organ volume and flow linked to the individual's own; the drug's intrinsic clearance varies on top
# (log-normal, omega^2 = 0.09, about 30 % CV), standing in for enzyme variability. Adults 20-80 y, half women,
# 50-100 kg. Patient *i* depends only on (seed, i).

# %%
individuals = vh.physiology.Individuals(age=(20.0, 80.0), sex="both", weight=(50.0, 100.0))
population = pbpk.population("midazolam", individuals, omega={"CLint": 0.09})
draw = population.sample(n=N, seed=SEED)
print(draw[["AGE", "SEX", "WT", "HT", "CO", "V_liver", "Q_kidney", "CLint"]].to_dataframe()
      .describe(percentiles=[0.05, 0.5, 0.95]).round(2))

# %% [markdown]
# The whole population in one call: 7.5 mg orally, plasma concentration every 0.25 h for 24 h. Every patient has
# the same dosing time, so `solver="auto"` again takes the exact path, batched over the patients.

# %%
grid = np.arange(0.0, 24.0 + 1e-9, 0.25)
result = vh.simulate(population.model, draw, times=grid, protocol=vh.Regimen.bolus(7.5, into="gut_lumen"),
                     outputs=["Cp"])
print("solver:", result.attrs["solver"], "| patients:", result.sizes["patient"],
      "| failed:", int((result["status"] != 0).sum()))

# %% [markdown]
# ## 3. Exposure by age group and by sex
#
# NCA of each patient's curve (`vh.nca`, PKNCA conventions): Cmax and AUC(0-24 h) (`auclast`). The model's own
# clearance of each patient (`pbpk_whole_body.clearance` of his parameters) is listed too: it explains most of the
# spread in AUC.

# %%
cp = result["Cp"].copy()
cp.attrs["units"] = "mg/L"
table = vh.nca(cp, dose=np.full(N, 7.5))
patient_params = {k: draw[k].values for k in population.model.parameter_names}
exposure = pd.DataFrame({
    "age": draw["AGE"].values,
    "sex": np.where(draw["SEX"].values == 1, "female", "male"),
    "weight": draw["WT"].values,
    "Cmax [ng/mL]": table["cmax"].values * 1000.0,
    "AUC0-24 [ng h/mL]": table["auclast"].values * 1000.0,
    "CL [L/h]": pbpk.clearance(patient_params),
})
exposure["age group"] = pd.cut(exposure["age"], [20, 40, 60, 80], labels=["20-40 y", "40-60 y", "60-80 y"],
                               include_lowest=True)


def summarise(frame, by):
    """n and median [5th-95th percentile] of each exposure measure per group."""
    rows = {}
    for key, group in frame.groupby(by, observed=True):
        row = {"n": len(group)}
        for column in ("Cmax [ng/mL]", "AUC0-24 [ng h/mL]", "CL [L/h]"):
            q = np.percentile(group[column], [5, 50, 95])
            row[column] = f"{q[1]:.1f} [{q[0]:.1f}-{q[2]:.1f}]"
        rows[key] = row
    return pd.DataFrame(rows).T


by_age = summarise(exposure, "age group")
by_sex = summarise(exposure, "sex")
print("median [5th-95th percentile], model predictions for 7.5 mg oral midazolam")
print(by_age.to_string())
print()
print(by_sex.to_string())

# %%
rng = np.random.default_rng(0)  # horizontal jitter of the strip plot only
fig, axes = plt.subplots(2, 2, figsize=(12, 8))
for row, measure in enumerate(["AUC0-24 [ng h/mL]", "Cmax [ng/mL]"]):
    for col, (by, levels) in enumerate([("age group", ["20-40 y", "40-60 y", "60-80 y"]), ("sex", ["male", "female"])]):
        ax = axes[row, col]
        values = [exposure.loc[exposure[by] == level, measure].values for level in levels]
        ax.boxplot(values, showfliers=False, widths=0.5)
        ax.set_xticks(range(1, len(levels) + 1), [f"{lv}\n(n={len(v)})" for lv, v in zip(levels, values)])
        for i, v in enumerate(values, start=1):
            ax.plot(i + rng.uniform(-0.15, 0.15, len(v)), v, "o", ms=3, alpha=0.45, color=f"C{i - 1}")
        ax.set_ylabel(measure)
        ax.grid(axis="y", alpha=0.3)
        if row == 0:
            ax.set_title(f"by {by}")
fig.suptitle(f"7.5 mg oral midazolam in {N} virtual adults: predicted exposure (model, not observed data)")
fig.tight_layout()
fig.savefig(OUT / "pbpk_exposure_by_group.png", dpi=100)
fig

# %% [markdown]
# What the model says about these differences. In this population model the drug parameters (fu, B:P, intrinsic
# clearance) carry no age or sex effect: only the physiology differs between individuals. For a drug cleared by a
# well-stirred liver alone (midazolam's renal clearance is negligible), the oral dose that reaches the blood is
# Fa Fg (1 - E_H) and the clearance Q_H E_H, so
#
#     AUC_oral = Fa Fg Dose (1 - E_H) / (B:P Q_H E_H) = Fa Fg Dose / (fu CLint)
#
# and liver blood flow cancels: the age-related fall in cardiac output lowers each patient's clearance (the
# `CL [L/h]` column) but raises his bioavailability alike, and oral AUC does not move. Its spread is that of CLint.
# Cmax, which also depends on the volume of distribution and on how fast the drug reaches the tissues, can differ
# a little. The check below computes each patient's AUC(0-inf) by NCA and compares it with Fa Fg Dose / (fu CLint).
# An age effect on the enzymes (CYP3A4 activity) or a liver-size-scaled CLint would be added as a covariate
# model on `CLint`, and would then show in the groups.

# %%
expected = 7.5 * pbpk.oral_bioavailability(patient_params) / pbpk.clearance(patient_params)  # F Dose / CL
no_flow = 7.5 * draw["Fa"].values * draw["Fg"].values / (draw["fu"].values * draw["CLint"].values)
nca_auc = table["aucinf_obs"].values
print(f"NCA AUC(0-inf) over F Dose / CL: median {np.median(nca_auc / expected):.3f} "
      f"(range {np.min(nca_auc / expected):.3f}-{np.max(nca_auc / expected):.3f})")
print(f"F Dose / CL over Fa Fg Dose / (fu CLint), the flow-free form: max deviation "
      f"{np.max(np.abs(expected / no_flow - 1)):.1e}")
fit = {measure: np.polyfit(exposure["age"], np.log(exposure[measure]), 1)[0]
       for measure in ("CL [L/h]", "AUC0-24 [ng h/mL]", "Cmax [ng/mL]")}
print("change per decade of age (log-linear fit over the population): "
      + ", ".join(f"{m.split(' ')[0]} {np.expm1(10 * b):+.1%}" for m, b in fit.items()))
