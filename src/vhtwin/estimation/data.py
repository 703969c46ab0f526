"""A clinical dataset laid out for population estimation: measurements per subject, doses, baseline covariates.

A :class:`vhtwin.Dataset` (NONMEM layout) is turned into the per-subject arrays the batched objective reads
(:class:`vhtwin.calibration.data.Observations`, subjects in sorted ID order), one regimen per subject and each
subject's covariates. An observation record measures DV of the observable its DVID names (the model's first without
DVID); ``CENS = 1`` marks a DV below the limit of quantification (``LIMIT``, or DV itself, is the limit), which
enters the likelihood by Beal's M3 method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..calibration.data import Observations, read
from ..dataset import Dataset
from ..errors import InputError
from ..model import Model


@dataclass(frozen=True)
class Subjects:
    """What estimation reads of a dataset, subjects in sorted ID order."""

    obs: Observations
    regimens: dict  # ID -> Regimen
    covariates: pd.DataFrame  # one row per ID (index ID, sorted), baseline values
    records: pd.DataFrame  # the observation records with a measurement: ID, TIME, DV, CENS, LIMIT, DVID, ROW
    record_index: np.ndarray  # (B, N) row of ``records`` of each measurement in ``obs`` (-1 at padding)


def subjects(data: Dataset, model: Model, covariates_needed=()) -> Subjects:
    """Check ``data`` against ``model`` and lay it out per subject.

    Raises
    ------
    InputError
        If ``data`` is not a Dataset read for ``model``, has no measured observation, has a negative TIME, a
        subject without a measurement, or a covariate the population needs that is missing or changes within a
        subject (time-varying covariates are not estimated yet).
    """
    if not isinstance(data, Dataset):
        raise InputError(f"estimate data = {type(data).__name__}: must be a vhtwin.Dataset (vh.read_dataset(path, model))")
    if data.model_name and data.model_name != model.name:
        raise InputError(f"estimate data: the dataset was read for model {data.model_name!r}, not {model.name!r}; "
                         f"read it with vh.read_dataset(path, model)")
    rec = data.records
    if (rec["TIME"] < 0).any():
        first = rec.index[rec["TIME"] < 0][0]
        raise InputError(f"estimate data: record {int(rec.at[first, 'ROW'])} (ID {rec.at[first, 'ID']}) has TIME = "
                         f"{rec.at[first, 'TIME']:g}: "
                         "times must be >= 0 (hours from the study start)")
    measured = rec[(rec["EVID"] == 0) & (rec["MDV"] == 0)]
    if measured.empty:
        raise InputError("estimate data: no observation record with a measured DV (EVID 0, MDV 0); nothing to fit")
    without = [i for i in data.ids if i not in set(measured["ID"])]
    if without:
        raise InputError(f"estimate data: ID {without[0]} has no measured observation (EVID 0, MDV 0); a subject "
                         "without data adds nothing to the likelihood -- drop it from the dataset")
    missing = [c for c in covariates_needed if c not in data.covariate_names]
    if missing:
        raise InputError(f"estimate data: covariate {missing[0]!r} is needed by the population's covariate models but "
                         f"is not a column of the dataset (its covariates: {list(data.covariate_names)})")
    varying = [c for c in covariates_needed if c in data.time_varying]
    if varying:
        raise InputError(f"estimate data: covariate {varying[0]!r} changes within a subject; estimation uses one value "
                         "per subject (its baseline) -- give a constant column, or derive a baseline column")
    cens = measured["CENS"].to_numpy(float) if "CENS" in measured else np.zeros(len(measured))
    cens = np.nan_to_num(cens) == 1
    dv = measured["DV"].to_numpy(float)
    limit = measured["LIMIT"].to_numpy(float) if "LIMIT" in measured else np.full(len(measured), np.nan)
    limit = np.where(cens & np.isnan(limit), dv, limit)
    names = model.observable_names
    dvid = measured["DVID"].to_numpy(float) if "DVID" in measured else np.ones(len(measured))
    dvid = np.where(np.isnan(dvid), 1, dvid).astype(int)
    declared = {x.name: x.unit for x in model.observed}
    table = pd.DataFrame({
        "id": measured["ID"].to_numpy(), "time": measured["TIME"].to_numpy(float),
        "value": np.where(cens, np.nan, dv), "lloq": np.where(cens, limit, np.nan),
        "observable": [names[i - 1] for i in dvid], "unit": [declared[names[i - 1]] for i in dvid],
    })
    obs = read(model, table)
    # Which record each laid-out measurement is: the layout sorts subjects by ID and, within one, by time (stable).
    order = np.lexsort((np.arange(len(table)), table["time"].to_numpy(), np.searchsorted(obs.ids, table["id"].to_numpy())))
    record_index = np.full(obs.mask.shape, -1)
    record_index[obs.mask] = order
    records = pd.DataFrame({"ID": table["id"].to_numpy(), "TIME": table["time"].to_numpy(), "DV": dv,
                            "CENS": cens, "LIMIT": limit, "DVID": dvid, "ROW": measured["ROW"].to_numpy()})
    baseline = data.covariates.loc[list(obs.ids)] if data.covariate_names else pd.DataFrame(index=pd.Index(obs.ids, name="ID"))
    regimens = dict(zip(data.ids, data.regimens))
    return Subjects(obs, {i: regimens[i] for i in obs.ids}, baseline, records, record_index)
