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
# # The heart: action potentials, tissue activation, circulation, and a small virtual cohort
#
# For cardiac modellers. Four views of the library's cardiovascular models, each in a few calls:
#
# 1. a cardiac cell paced at 1 Hz, with its action-potential biomarkers (APD90, resting potential, upstroke);
# 2. a sheet of tissue activated from one corner, with its activation map (monodomain reaction-diffusion);
# 3. the Smith et al. 2004 closed-loop circulation: pressure-volume loop and haemodynamic indices at periodic
#    steady state;
# 4. a small cohort of virtual hearts with variability, through the same batched `simulate`;
# 5. a cohort of virtual myocytes paced at two rates as an in-silico trial, stored in Zarr.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/04_cardio.py`. `VHTWIN_NOTEBOOK_SMALL=1` runs it at small size and
# `VHTWIN_NOTEBOOK_OUT=<folder>` chooses where the figures go (default: a new temporary folder).

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import vhtwin as vh
from vhtwin import analysis, plot

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
print("figures go to", OUT)

# %% [markdown]
# ## 1. An action potential
#
# The Mitchell-Schaeffer model (two variables) paced at 1 Hz for two beats; `vh.Pacing` drives the model's
# documented stimulus input, and each stimulus edge is an event the solver lands on exactly.

# %%
ms = vh.load_model("cardio/mitchell_schaeffer")
times = np.arange(0.0, 2000.0, 0.5)
ap = vh.simulate(ms, params={}, times=times, protocol=vh.Pacing(period=1000.0, duration=1.0, count=2))
markers = analysis.action_potential_biomarkers(ap["Vm"], beat_starts=[0.0, 1000.0])
print(markers[["apd90", "apd50", "resting_potential", "peak_voltage"]].to_dataframe())
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(times, ap["Vm"].values)
ax.set(xlabel="time [ms]", ylabel="Vm [mV]", title="Mitchell-Schaeffer, paced at 1 Hz")
fig.savefig(OUT / "cardio_action_potential.png", dpi=100)
fig

# %% [markdown]
# ## 2. Tissue: an activation map
#
# A 10 x 6 mm sheet of ten Tusscher-Panfilov 2006 epicardial cells, fibres at 30 degrees, stimulated in one corner
# (the stimulus and conductivities of the Niederer et al. 2011 benchmark). The monodomain equation is split into
# a reaction step (Rush-Larsen at every node) and an explicit diffusion step; the run records each node's
# activation time (first crossing of 0 mV) on the fly and stops once every node has activated.

# %%
import vhtwin.pde as pde

grid = pde.Grid.sheet(10.0, 6.0, 0.25)
fibre = (np.cos(np.pi / 6), np.sin(np.pi / 6))
tissue = pde.Monodomain("cardio/tentusscher2006", grid, conductivity=pde.Conductivity(0.1334, 0.0176, fibre=fibre),
                        stimuli=[pde.Stimulus(grid.box((0, 1.5), (0, 1.5)), 50000.0, 0.0, 2.0)],
                        params={"celltype": 1})
sheet = tissue.run(t_end=60.0, dt=0.02, stop_when_activated=True)
at = sheet["activation_time"]
print(f"last node activated at {float(at.max()):.1f} ms; {sheet.attrs['mlups']:.2f} million node updates/s "
      f"(compile {sheet.attrs['compile_s']:.0f} s)")
fig, ax = plt.subplots(figsize=(7, 4))
mesh = ax.pcolormesh(at["x"], at["y"], at.T, shading="auto", cmap="viridis")
ax.contour(at["x"], at["y"], at.T, levels=np.arange(0, float(at.max()), 2.0), colors="white", linewidths=0.6)
ax.set(xlabel="x [mm]", ylabel="y [mm]", title="activation time, fibres at 30 degrees", aspect="equal")
fig.colorbar(mesh, ax=ax, label="activation time [ms]")
fig.savefig(OUT / "cardio_activation_map.png", dpi=100)
fig

# %% [markdown]
# ## 3. The circulation at periodic steady state
#
# The Smith et al. 2004 closed-loop model: ten states (six volumes, four valve flows), the ventricles interacting
# through the septum, with the published parameters (a 0.75 s beat). Beats from the published initial state stay on
# its periodic steady state; the last beat gives the pressure-volume loop and the haemodynamic indices.

# %%
smith = vh.load_model("cardio/smith2004")
period = smith.default_parameters()["period"]  # s: the published beat, 80 min-1
beats = 25
t = np.linspace(0.0, beats * period, beats * 150 + 1)  # 5 ms
circ = vh.simulate(smith, params={}, times=t)
indices = analysis.steady_state_haemodynamics(circ, period=period)
for name in ("HR", "SV", "CO", "EF", "SBP", "DBP", "MAP"):
    print(f"{name:>4} {float(indices[name]):8.2f} {indices[name].attrs.get('units', '')}")
print("periodic steady state reached:", bool(indices["converged"]))
fig = plot.pv_loop(circ, period=period)
fig.savefig(OUT / "cardio_pv_loop.png", dpi=100)
fig

# %% [markdown]
# ## 4. A small cohort of virtual hearts
#
# Variability in the systemic resistance and the LV contractility: 16 virtual hearts drawn from a population
# (log-normal, 20 % CV), simulated in one batched solve.

# %%
population = vh.Population(smith, omega={"R_sys": 0.04, "E_es_lvf": 0.04})
cohort = population.sample(n=16, seed=7)
hearts = vh.simulate(smith, params=cohort, times=t)
cohort_indices = analysis.steady_state_haemodynamics(hearts, period=period)
table = cohort_indices[["CO", "MAP", "EF"]].to_dataframe()[["CO", "MAP", "EF"]]
print(table.describe().loc[["mean", "min", "max"]].round(2))
fig = plot.pv_loop(hearts, period=period)
fig.savefig(OUT / "cardio_cohort_pv_loops.png", dpi=100)
fig

# %% [markdown]
# ## 5. A paced cohort as an in-silico trial
#
# The same runner as a drug trial: each arm is a pacing protocol, every cell of the population is paced under each
# (a paired design), the last beat goes into a Zarr store, and the biomarkers are read back per arm. Faster pacing
# leaves the gate less time to recover, so the action potentials shorten (restitution).

# %%
ms = vh.load_model("cardio/mitchell_schaeffer")
cells = vh.Population(ms, omega={"tau_close": 0.04, "tau_open": 0.04})
trial = vh.Trial(model=ms, population=cells, n_per_arm=20 if SMALL else 200, times=np.arange(1500.0, 2000.0, 0.5),
                 outputs=["v"], solver="rodas4", seed=11,
                 arms={"2 Hz": vh.Pacing(period=500.0, duration=1.0, count=4),
                       "1.33 Hz": vh.Pacing(period=750.0, duration=1.0, count=3)})
store = trial.run(OUT / "paced_cells.zarr", overwrite=True, progress=False)
per_cell = analysis.action_potential_per_patient(store, "v", beat_start=1500.0)
print(analysis.action_potential_summary(per_cell)["apd90"].to_pandas().round(1))
fig = plot.nca_distributions(per_cell, metrics=("apd90", "apd50"), log=False, title="Last-beat biomarkers per arm")
fig.savefig(OUT / "cardio_paced_cohort.png", dpi=100)
fig

# %% [markdown]
# ## 6. A published cell model from CellML, as a population
#
# `vh.import_cellml` reads a CellML file -- here ten Tusscher & Panfilov 2006's epicardial cell as the Chaste
# collection publishes it (`examples/cellml/`) -- into a model like a hand-written one: its membrane potential is
# `V`, its stimulus current the input `vh.Pacing` drives at the file's own amplitude, `model.file_stimulus` the
# file's own protocol. 1,000 cells with log-normal IKr, IKs and ICaL conductances (30 % CV) are paced for one beat
# in one batched solve; a smaller IKr lengthens the action potential (the repolarisation reserve).

# %%
ROOT = Path(__file__).resolve().parents[1] if "__file__" in globals() else Path.cwd().parent
tt06 = vh.import_cellml(ROOT / "examples" / "cellml" / "ten_tusscher_model_2006_epi.cellml")
print(tt06.describe().splitlines()[0], "| stimulus:", tt06.file_stimulus)
n_cells = 100 if SMALL else 1000
rng = np.random.default_rng(5)
base = tt06.default_parameters()
variation = {name: base[name] * rng.lognormal(-0.5 * 0.3**2, 0.3, n_cells) for name in ("g_Kr", "g_Ks", "g_CaL")}
beat = vh.Pacing(**{**tt06.file_stimulus, "start": 10.0})
cells = vh.simulate(tt06, params=variation, times=np.arange(0.0, 600.0, 0.5), protocol=beat, solver="rodas4",
                    rtol=1e-6, atol=1e-6, outputs=["V"])
apd = analysis.action_potential_biomarkers(cells["V"], beat_starts=beat)["apd90"].values.reshape(-1)
print(f"{n_cells} cells, status ok: {(cells['status'].values == 0).sum()}; APD90 median {np.nanmedian(apd):.0f} ms, "
      f"5-95 %: {np.nanpercentile(apd, 5):.0f}-{np.nanpercentile(apd, 95):.0f} ms")
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
for k in range(min(n_cells, 30)):
    left.plot(cells["time"], cells["V"].values[k], lw=0.6, alpha=0.6)
left.set(xlabel="time (ms)", ylabel="V (mV)", title="ten Tusscher 2006 (CellML), 30 of the cells")
right.scatter(variation["g_Kr"], apd, s=4)
right.set(xlabel="g_Kr (nS/pF)", ylabel="APD90 (ms)", title="APD90 against IKr conductance")
fig.tight_layout()
fig.savefig(OUT / "cardio_cellml_population.png", dpi=100)
fig
