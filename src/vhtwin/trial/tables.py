"""A trial store's results as tables, one batch at a time: long format (one row per arm, patient and time) or one
row per patient, with the units in the column names. Patients not computed yet are left out, never given as NaN.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

#: Table layouts.
TABLES = ("long", "patients")


def header(name: str, attrs: dict) -> str:
    """A column name with its unit, ``"Cc [mg L-1]"`` (a name without units stays as it is)."""
    unit = attrs.get("units")
    return f"{name} [{unit}]" if unit else name


def iter_dataframes(trial: xr.Dataset, table: str = "long") -> Iterator[pd.DataFrame]:
    """The results of an opened trial store as pandas DataFrames, one per batch of one arm.

    Parameters
    ----------
    trial : xarray.Dataset
        A trial store opened with :func:`vhtwin.open_trial` (or a selection of one: fewer arms, patients, times).
    table : {"long", "patients"}
        ``"long"``: one row per arm, patient and output time -- columns ``arm``, ``patient_id``, ``patient``,
        ``time [unit]``, each output ``name [unit]`` and ``status``. ``"patients"``: one row per patient -- ``arm``,
        ``patient_id``, ``patient``, then every per-patient variable (parameters, etas, covariates, ``status``,
        step counts) with its unit.

    Yields
    ------
    pandas.DataFrame
        Batch by batch (the store's chunks), so memory holds one batch at a time. Patients not computed yet
        (status -1) are left out.
    """
    if table not in TABLES:
        raise InputError(f"table {table!r} must be one of {TABLES}")
    if "status" not in trial or trial["status"].dims != ("arm", "patient"):
        raise InputError("iter_dataframes needs a trial store opened with vhtwin.open_trial (variables over arm, "
                         "patient and time, with a status per patient)")
    outputs, per_patient = _columns(trial)
    step = _batch_rows(trial)
    times = np.asarray(trial["time"].values)
    time_name = header("time", trial["time"].attrs)
    for a, arm in enumerate(np.asarray(trial["arm"].values)):
        for start in range(0, trial.sizes["patient"], step):
            block = trial.isel(arm=a, patient=slice(start, start + step))
            status = np.asarray(block["status"].values)
            keep = status >= 0
            if not keep.any():
                continue
            ids = np.asarray(block["patient_id"].values)[keep]
            index = np.asarray(block["patient"].values)[keep]
            if table == "patients":
                columns = {"arm": np.full(ids.size, str(arm)), "patient_id": ids, "patient": index}
                for v in per_patient:
                    columns[header(v, block[v].attrs)] = np.asarray(block[v].values)[keep]
            else:
                T = times.size
                columns = {"arm": np.full(ids.size * T, str(arm)), "patient_id": np.repeat(ids, T),
                           "patient": np.repeat(index, T), time_name: np.tile(times, ids.size)}
                for v in outputs:
                    columns[header(v, block[v].attrs)] = np.asarray(block[v].values)[keep].reshape(-1)
                columns["status"] = np.repeat(status[keep], T)
            yield pd.DataFrame(columns)


def _batch_rows(trial: xr.Dataset) -> int:
    chunks = trial["status"].chunks
    return int(chunks[1][0]) if chunks else max(1, int(trial.attrs.get("vhtwin_batch_size", 1000)))


def empty_table(trial: xr.Dataset, table: str) -> pd.DataFrame:
    """The header alone (a store with no batch done yet)."""
    outputs, per_patient = _columns(trial)
    names = ["arm", "patient_id", "patient"]
    if table == "patients":
        names += [header(v, trial[v].attrs) for v in per_patient]
    else:
        names += [header("time", trial["time"].attrs)] + [header(v, trial[v].attrs) for v in outputs] + ["status"]
    return pd.DataFrame({n: [] for n in names})


def _columns(trial: xr.Dataset) -> tuple[list[str], list[str]]:
    """The outputs over time in the spec's order, each followed by its observation (``Cc``, ``Cc_obs``), and the
    per-patient variables sorted by name: the same columns in the same order whatever order the store lists."""
    import json

    over_time = {v for v in trial.data_vars if trial[v].dims == ("arm", "patient", "time")}
    try:
        named = json.loads(trial.attrs.get("vhtwin_spec", "{}")).get("outputs", [])
    except (ValueError, AttributeError):
        named = []
    outputs = []
    for v in named:
        outputs += [x for x in (v, f"{v}_obs") if x in over_time and x not in outputs]
    outputs += sorted(over_time - set(outputs))
    per_patient = sorted(v for v in trial.data_vars if trial[v].dims == ("arm", "patient") and v != "patient_id")
    return outputs, per_patient
