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
# # Build a model, simulate a patient, sweep a parameter
#
# For modellers. We write a new model in a few lines -- a one-compartment model with intravenous dosing and
# saturable (Michaelis--Menten) elimination, as for phenytoin or high-dose ethanol -- simulate one patient, plot the
# concentration, then sweep the maximum elimination rate over a batch of virtual patients in one call.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/01_build_a_model.py`. Set `VHTWIN_NOTEBOOK_SMALL=1` for small sizes and
# `VHTWIN_NOTEBOOK_OUT=<folder>` to choose where figures go (default: a new temporary folder).

# %%
import os
import tempfile
from pathlib import Path

import numpy as np

import vhtwin as vh
from vhtwin import plot

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
print(f"figures go to {OUT}")

# %% [markdown]
# ## The model
#
# A model declares its states, parameters and observables -- each with a unit -- and writes the equations with
# names: `y.central`, `p.Vmax`. `rhs` returns the time derivative of every state.
#
# $$\frac{dA}{dt} = -\frac{V_{max}\, C}{K_m + C}, \qquad C = \frac{A}{V}$$
#
# Doses need no code: a state marked `dosable=True` can receive boluses and infusions.

# %%
class OneCompartmentMichaelisMenten(vh.Model):
    """One compartment, IV dosing, Michaelis--Menten elimination (amounts in mg, time in h)."""

    time_unit = "h"
    states = (vh.State("central", "mg", dosable=True, description="amount in the body"),)
    parameters = (
        vh.Parameter("Vmax", 20.0, "mg h-1", positive=True, description="maximum elimination rate"),
        vh.Parameter("Km", 5.0, "mg L-1", positive=True, description="concentration at half the maximum rate"),
        vh.Parameter("V", 40.0, "L", positive=True, description="volume of distribution"),
    )
    observed = (vh.Observable("Cc", "mg L-1", "plasma concentration"),)

    def rhs(self, t, y, p):
        concentration = y.central / p.V
        return {"central": -p.Vmax * concentration / (p.Km + concentration)}

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V}


model = OneCompartmentMichaelisMenten()
print(model.describe())

# %% [markdown]
# ## One patient
#
# A loading infusion of 600 mg over 1 h, then 300 mg IV boluses every 24 h. Scalar parameters mean one patient;
# the result is an `xarray.Dataset` with units on every variable. An output at a dose time is the value just
# before the dose.

# %%
regimen = vh.Regimen.infusion(amount=600.0, duration=1.0, into="central") + vh.Regimen.repeated(
    amount=300.0, interval=24.0, count=4, into="central", start=24.0
)
times = np.arange(0.0, 120.0 + 1e-9, 0.5 if SMALL else 0.25)
one = vh.simulate(model, params={"Vmax": 20.0, "Km": 5.0, "V": 40.0}, times=times, protocol=regimen)
print(one["Cc"].attrs["units"], float(one["Cc"].max()), "status", int(one["status"]))

fig = plot.time_course(one, "Cc")
fig.savefig(OUT / "one_patient_Cc.png", dpi=100)
fig

# %% [markdown]
# ## A parameter sweep is a batch
#
# Give a parameter as an array and `simulate` runs one patient per entry, all in one compiled solve -- no Python
# loop. With saturable elimination, a lower `Vmax` makes the drug accumulate much more than proportionally.

# %%
n = 8 if SMALL else 64
vmax = np.linspace(12.0, 40.0, n)
sweep = vh.simulate(model, params={"Vmax": vmax}, times=times, protocol=regimen)
print(dict(sweep.sizes), "failed:", int((sweep["status"] != 0).sum()))

fig = plot.sweep(sweep, "Cc", vmax, "Vmax", unit=model.unit_of("Vmax"))
fig.savefig(OUT / "sweep_Vmax_Cc.png", dpi=100)
fig

# %% [markdown]
# Exposure over the last dosing interval (trapezoidal AUC, 96--120 h) against `Vmax`: halving the elimination
# capacity more than doubles the exposure.

# %%
auc = sweep["Cc"].sel(time=slice(96.0, 120.0)).integrate("time").values  # trapezoidal rule, per patient
for v, a in list(zip(vmax, auc))[:: max(1, n // 8)]:
    print(f"Vmax {v:5.1f} mg h-1   AUC(96-120 h) {a:8.1f} mg h L-1")

# %% [markdown]
# ## Sensitivities by automatic differentiation
#
# `vh.Simulator` is the same solve as a JAX function of the parameters: `jax.grad` and `jax.jacfwd` work through
# it. Here, how much the peak concentration moves per unit of `Vmax` and `Km`, for the patient above.

# %%
import jax

sim = vh.Simulator(model, times=times, protocol=regimen, rtol=1e-8, atol=1e-10, precision="float64")
with jax.enable_x64(True):
    peak = lambda p: sim(p)["Cc"].max()
    sensitivity = jax.grad(peak)({"Vmax": 20.0, "Km": 5.0, "V": 40.0})
for name, value in sensitivity.items():
    print(f"d Cmax / d {name} = {float(value):+.4f} (mg L-1 per {model.unit_of(name)})")

# %% [markdown]
# ## Mistakes are caught before any compute
#
# A misspelt parameter, a negative dose, a dose into a state that cannot take one: each is refused with a message
# naming the field, the value and what is allowed.

# %%
for attempt in (
    lambda: vh.simulate(model, params={"vmax": 20.0}, times=times, protocol=regimen),
    lambda: vh.simulate(model, params={"Km": -1.0}, times=times, protocol=regimen),
    lambda: vh.simulate(model, times=times, protocol=vh.Regimen.bolus(100.0, into="gut")),
):
    try:
        attempt()
    except vh.InputError as err:
        print("InputError:", err)
