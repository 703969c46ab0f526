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
# # A trial store you can trust: damage found, named and repaired; results exported
#
# For anyone who hands a trial's results on -- to a colleague, a regulator, next year's self. A vhtwin trial store
# checksums every chunk, marks each batch done only after its data, and names whatever is damaged: a file deleted by
# a clean-up script, cut short by a full disk, or altered by a bad copy. A resumed run computes the damaged batches
# again, to the same bytes. The results leave the store as a table with units in the header.
#
# This file is a Jupyter notebook in jupytext "percent" format: open it in Jupyter (with jupytext) or run it as a
# script, `python notebooks/08_trusting_a_store.py`. Set `VHTWIN_NOTEBOOK_SMALL=1` for small sizes and
# `VHTWIN_NOTEBOOK_OUT=<folder>` to choose where figures go (default: a new temporary folder).

# %%
import filecmp
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import vhtwin as vh

vh.use_cpu_cores()  # batches split over every CPU core
SMALL = os.environ.get("VHTWIN_NOTEBOOK_SMALL") == "1"
OUT = Path(os.environ.get("VHTWIN_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="vhtwin_notebook_"))
OUT.mkdir(parents=True, exist_ok=True)
WORK = Path(tempfile.mkdtemp(prefix="vhtwin_stores_"))

# %% [markdown]
# ## A trial, and a copy of its store
#
# The Theophylline population of the trials guide (docs/guides/trials.md) (one-compartment oral model, log-normal variability), two regimens.
# The store is copied so that the copy can be damaged and compared with the original afterwards.

# %%
oral = vh.load_model("pharmacokinetics/one_compartment_oral")
theo = vh.Population(oral, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018})
trial = vh.Trial(model=oral, population=theo, n_per_arm=400 if SMALL else 4000, times=np.arange(0.0, 49.0),
                 outputs=["Cc"], seed=1,
                 arms={"100 mg q12h": vh.Regimen.repeated(amount=100.0, interval=12.0, count=4, into="depot"),
                       "200 mg q24h": vh.Regimen.repeated(amount=200.0, interval=24.0, count=2, into="depot")})
original = WORK / "trial.zarr"
trial.run(original, batch_size=100 if SMALL else 1000, progress=False)
copy = WORK / "copy.zarr"
shutil.copytree(original, copy)
print(vh.verify_trial(copy).report())

# %% [markdown]
# ## Three kinds of damage
#
# A chunk of the second arm's concentrations deleted, a chunk of the first arm's clearances cut in half, one byte
# of a status chunk flipped. Without checksums the first reads back as NaN and the third as a wrong number; here each
# read that meets damage stops and names it.

# %%
(copy / "Cc" / "c" / "1" / "0" / "0").unlink()
chunk = copy / "CL" / "c" / "0" / "1"
chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
chunk = copy / "status" / "c" / "1" / "2"
data = bytearray(chunk.read_bytes())
data[len(data) // 2] ^= 0x01
chunk.write_bytes(bytes(data))

ds = vh.open_trial(copy)  # opening reads no chunk: the damage shows when a read meets it
try:
    ds["Cc"].values
except vh.StoreDamagedError as err:
    print(err)

# %% [markdown]
# `vh.verify_trial` (the command `vhtwin verify STORE`, exit status 0 / 1 / 2 for complete / incomplete / damaged)
# reads everything and lists each damaged file.

# %%
report = vh.verify_trial(copy)
print(report.report())
print("exit status of vhtwin verify:", report.exit_code)

# %% [markdown]
# ## Repair: resume
#
# A resumed run verifies the store, computes the damaged batches again -- patient i depends on (seed, i) only -- and
# writes them to the same bytes as the original.

# %%
trial.run(copy, batch_size=100 if SMALL else 1000, resume=True, progress=False)
print(vh.verify_trial(copy).report())
same = [p.relative_to(original) for p in sorted(original.rglob("*")) if p.is_file() and "batches" not in p.parts
        and not filecmp.cmp(p, copy / p.relative_to(original), shallow=False)]
print("files that differ from the original store:", same or "none")

# %% [markdown]
# ## Export
#
# `vh.export_trial` (`vhtwin export STORE --format csv|parquet`) streams the long table one batch at a time, with
# the units in the column names; `--table patients` gives one row per patient (parameters, etas, status).

# %%
done = vh.export_trial(copy, WORK / "trial.parquet")
print(done)
table = pd.read_parquet(WORK / "trial.parquet")
print(table.head())

fig, ax = plt.subplots(figsize=(7, 4))
for arm, rows in table.groupby("arm"):
    by_time = rows.groupby("time [h]")["Cc [mg L-1]"]
    ax.fill_between(by_time.quantile(0.05).index, by_time.quantile(0.05), by_time.quantile(0.95), alpha=0.25)
    ax.plot(by_time.median().index, by_time.median(), label=arm)
ax.set_xlabel("time [h]")
ax.set_ylabel("Cc [mg L-1]")
ax.set_title("From the exported table: median and 90 % band per arm")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "08_exported_bands.png", dpi=100)
