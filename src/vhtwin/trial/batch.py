"""One batch of a trial, end to end: computed, written into its region, then marked done -- the unit of work of
every executor, and of resume."""

from __future__ import annotations

import time
from pathlib import Path

import xarray as xr

from . import store as st


def run_batch(trial, path: Path, arm: int, batch: int, batch_size: int) -> dict:
    """Compute, write and mark one batch (what every executor does for a task); returns the marker's information."""
    t0 = time.perf_counter()
    ds = trial.compute_batch(arm, batch, batch_size)
    return write_batch(path, ds, arm, batch, batch_size, time.perf_counter() - t0)


def write_batch(path: Path, ds: xr.Dataset, arm: int, batch: int, batch_size: int, compute_s: float) -> dict:
    t0 = time.perf_counter()
    st.write_region(path, ds, arm, batch * batch_size)
    status = ds["status"].values
    info = {
        "arm": arm, "batch": batch, "patients": int(status.size), "status": st.status_counts(status),
        "n_steps_max": int(ds["n_steps"].values.max()), "compute_s": round(compute_s, 4),
        "write_s": round(time.perf_counter() - t0, 4),
    }
    st.mark_done(path, arm, batch, info)
    return info


