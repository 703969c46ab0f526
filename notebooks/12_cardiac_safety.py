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
# # Cardiac safety: the CiPA torsade risk of 28 drugs
#
# For safety pharmacologists. The CiPA in-silico assay as the FDA runs it -- the ORd-CiPA ventricular myocyte
# paced at 2000 ms for 1000 beats, each drug's block of seven currents, qNet of the last beats -- for the 28 CiPA
# reference drugs at 1-4 x their free Cmax, in one batch:
#
# 1. the drugs as data (IC50s, Hill coefficients, hERG binding parameters, free Cmax, published class);
# 2. the assay for all 28 drugs, the torsade metric score (TMS) and the risk class against the published one;
# 3. qNet against concentration by class;
# 4. uncertainty: qNet bands from the FDA's bootstrap samples for one drug of each class;
# 5. drug -> body -> heart: a virtual population on dofetilide, each patient's PK driving block of their own heart
#    cell, as a `vh.Trial` into a Zarr store.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/12_cardiac_safety.py` (the full protocol: about 20 minutes on 2 cores).
# `VHTWIN_NOTEBOOK_SMALL=1` runs one beat of a few drugs (the numbers then are not the drugs' steady state) and
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
from vhtwin import cipa

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
BEATS, ANALYSED = (1, 1) if SMALL else (1000, 250)  # the FDA protocol: 1000 beats, the last 250 analysed
print("figures go to", OUT)

# %% [markdown]
# ## 1. The drugs
#
# Each drug is its rows of the FDA's files: Hill block of six currents, the dynamic hERG binding parameters, the
# free Cmax (nM) and the published class. Twelve trained the metric, sixteen validated it.

# %%
names = cipa.drugs() if not SMALL else ["dofetilide", "cisapride", "verapamil", "ibutilide", "pimozide", "nifedipine"]
drugs = pd.DataFrame([{"drug": n, "class": cipa.drug(n).risk, "training": cipa.drug(n).training,
                       "Cmax (nM)": cipa.drug(n).cmax, "blocks": ", ".join(sorted(cipa.drug(n).hill)),
                       "hERG Kmax": cipa.drug(n).herg["Kmax"]} for n in names])
drugs

# %% [markdown]
# ## 2. The assay: every drug at 1-4 x Cmax, one batch
#
# `cipa.drug(name).parameters(concentrations)` gives each lane's model parameters; `cipa.run_assay` paces all lanes
# together (one compilation) and keeps, per lane, the beat with the largest dV/dt in its EAD window.

# %%
multiples = np.array([1.0, 2.0, 3.0, 4.0])
lanes = {}
for n in names:
    for k, v in cipa.drug(n).parameters(multiples * cipa.drug(n).cmax).items():
        lanes.setdefault(k, []).append(v)
lanes = {k: np.concatenate(v) for k, v in lanes.items()}
BATCH = 24 if SMALL else 64  # lanes per call; the uncertainty runs below have as many, and reuse the compilation
out = cipa.run_assay(lanes, beats=BEATS, analysed=ANALYSED, batch=BATCH)

rows = []
per_drug = {}
for i, n in enumerate(names):
    sl = slice(4 * i, 4 * i + 4)
    ds = out.isel(lane=sl).rename(lane="concentration").assign_coords(
        concentration=multiples * cipa.drug(n).cmax, cmax_multiple=("concentration", multiples))
    per_drug[n] = ds
    rows.append({"drug": n, "published": cipa.drug(n).risk, "TMS (uC/uF)": float(cipa.torsade_metric_score(ds)),
                 "predicted": str(cipa.classify(ds).values), "EAD at": list(multiples[ds["EAD"].values]),
                 "APD90 at 4x (ms)": float(ds["APD90"].values[-1])})
table = pd.DataFrame(rows).sort_values("TMS (uC/uF)")
print(f"{(table.published == table.predicted).sum()} of {len(table)} classes agree "
      f"(thresholds {cipa.THRESHOLDS} uC/uF)")
table

# %% [markdown]
# ## 3. qNet against concentration, by class
#
# High-risk drugs carry less net outward charge; the dotted lines are the TMS thresholds.

# %%
colours = {"high": "#c0392b", "intermediate": "#e67e22", "low": "#2874a6"}
fig, ax = plt.subplots(figsize=(6, 4))
for n, ds in per_drug.items():
    ax.plot(multiples, ds["qNet"].values, "o-", ms=3, color=colours[cipa.drug(n).risk], lw=1)
for level in cipa.THRESHOLDS.values():
    ax.axhline(level, color="grey", ls=":")
for name, colour in colours.items():
    ax.plot([], [], color=colour, label=name)
ax.legend(title="published class")
ax.set(xlabel="concentration (x free Cmax)", ylabel="qNet (uC/uF)")
fig.savefig(OUT / "qnet_by_class.png", dpi=100)

# %% [markdown]
# ## 4. Uncertainty: qNet bands
#
# Sample `k` is row `k` of the FDA's bootstrap (hERG binding) and of the MCMC samples of the Hill block (the FDA's
# for the training drugs, vhtwin's by the same method for the validation drugs); the samples and concentrations of a
# drug run as one batch. The band is the 2.5-97.5 % range over the samples.

# %%
n_samples = BATCH // 4
fig, ax = plt.subplots(figsize=(6, 4))
for n in ("dofetilide", "cisapride", "verapamil"):
    ds = cipa.torsade_metric(n, cmax_multiples=multiples, samples=n_samples, beats=BEATS, analysed=ANALYSED,
                             batch=BATCH)
    lo, mid, hi = np.nanpercentile(ds["qNet"].values, [2.5, 50, 97.5], axis=1)
    ax.fill_between(multiples, lo, hi, color=colours[cipa.drug(n).risk], alpha=0.25)
    ax.plot(multiples, mid, color=colours[cipa.drug(n).risk], label=n)
    tms = cipa.torsade_metric_score(ds)
    print(n, "TMS 2.5-97.5 %:", np.round(np.nanpercentile(tms.values, [2.5, 97.5]), 4),
          "classes:", pd.Series(cipa.classify(ds).values).value_counts().to_dict())
ax.legend()
ax.set(xlabel="concentration (x free Cmax)", ylabel="qNet (uC/uF)")
fig.savefig(OUT / "qnet_bands.png", dpi=100)

# %% [markdown]
# ## 5. A coupled population trial: dofetilide from the gut to the heart cell
#
# Each virtual patient has a PK draw (dofetilide's label PK, `vhtwin/cipa/data/pk_dofetilide.toml`, with
# between-patient variability) and a heart-cell draw (GKr, GKs, PCa, GNaL and GK1 varying between patients). The
# patient's free plasma concentration blocks their cell's currents as dofetilide does, by multi-rate coupling: at
# each time point the cell is paced `beats_per_point` beats at that point's concentration, carrying its state from
# the point before (the guide states this coupling's error against full coupling, beat by beat over 12 h).
# `dAPD90` is the change of APD90 from the patient's own drug-free baseline: a cell-level surrogate of the QTc
# change.

# %%
cell = vh.load_model("cardio/ohara_rudy_cipa2017")
cells = vh.Population(cell, omega={g: 0.04 for g in ("GKr", "GKs", "PCa", "GNaL", "GK1")})
hours = np.array([0.0, 3.0, 15.0]) if SMALL else np.arange(0.0, 73.0, 2.0)
# 60 beats per 2 h point with the drug's binding sped up 60 x: APD90 within about 3 ms of full coupling (the guide)
per_point, baseline = (2, 2) if SMALL else (60, 100)
arms = {f"{dose * 1000:g} ug bid": cipa.DrugExposure.from_label(
            "dofetilide", vh.Regimen.repeated(dose, 12.0, 8, into="depot"), beats_per_point=per_point,
            baseline_beats=baseline, accelerate_binding=not SMALL)
        for dose in (0.25, 0.5)}
trial = vh.Trial(model=cell, population=cells, arms=arms, n_per_arm=2 if SMALL else 24, times=hours * 3.6e6,
                 outputs=["C_free", "APD90", "dAPD90", "qNet", "EAD"], seed=7, solver="rodas4", rtol=1e-4,
                 atol=1e-7, max_steps=50_000_000)
coupled = trial.run(OUT / "dofetilide_trial.zarr", batch_size=2 if SMALL else 24, overwrite=True, progress=False)
coupled[["dAPD90_max", "C_free_max", "pk_CL", "GKr"]].to_dataframe().round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
for a, colour in zip(coupled.arm.values, ("#2874a6", "#c0392b")):
    x = coupled.sel(arm=a)
    for ax, var, label in ((axes[0], "C_free", "free dofetilide (nM)"), (axes[1], "dAPD90", "APD90 change (ms)")):
        lo, mid, hi = np.nanpercentile(x[var].values, [5, 50, 95], axis=0)
        ax.fill_between(hours, lo, hi, color=colour, alpha=0.2)
        ax.plot(hours, mid, color=colour, label=str(a))
        ax.set(xlabel="time (h)", ylabel=label)
axes[0].legend()
fig.savefig(OUT / "coupled_trial.png", dpi=100)
print("patients with an EAD:", {str(a): int((coupled.sel(arm=a).EAD.values > 0).any(axis=1).sum())
                               for a in coupled.arm.values})
