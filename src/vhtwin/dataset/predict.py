"""Predictions at every record of a dataset: ``vh.simulate(model, params, data=ds)``.

Every subject is simulated with its own doses (its regimen) and its own output times (the distinct times of its
records), all subjects in batched calls of one compiled solve. Subjects are grouped by the bucket of their number of
record times (:func:`vhtwin.engine.buckets.output_times`), so that a subject with five records does not carry the
output buffer of one with five hundred; each group is one call (one program per bucket, compiled once). A
subject's result does not depend on the others in its batch: it equals the subject simulated alone, bit for bit.

Parameters are arrays over subjects (or one value for all), or a :class:`vhtwin.Population`: then subject ``i``
gets draw ``i`` of ``seed`` (its etas depend on ``(seed, i)`` only), with the covariates its covariate models read
taken from the dataset's columns of the same name. A covariate that changes within a subject changes the
parameters at the record where it changes (last observation carried forward): those times become occasions of the
solve (:mod:`vhtwin.protocols.occasions`). With a population the result also holds ``PRED``, the prediction at the
typical values (covariates applied, etas zero), next to ``IPRED``, the individual prediction of the observable each
record measures (its DVID).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import xarray as xr

from ..engine import buckets
from ..errors import InputError
from ..model import Model
from ..population import Population
from ..solvers import Status

# ``data`` is a vhtwin.Dataset throughout; the class is not imported, since the Dataset calls this module
# (Dataset.predict) and the package keeps its imports one way.
DatasetLike = Any


def predict(model: Model, params, data: DatasetLike, *, simulate, seed: int = 0, outputs=None, **options) -> xr.Dataset:
    """Predictions of ``model`` at every record of ``data`` over ``(patient, record)`` (see the module docstring).

    ``simulate`` is :func:`vhtwin.simulate` (each group of subjects is one call of it); ``options`` are its solver
    options. Returns observables (or ``outputs``), ``IPRED`` (and ``PRED`` with a population), ``DV``, ``EVID``,
    ``AMT``, ``MDV``, ``DVID``, ``CENS``, ``observed`` (a measured observation record), the covariates and ``ROW``
    (the record's 1-based row in the source) per record; ``ID``, ``status``, ``n_steps``, ``n_rejected`` per patient;
    ``time`` (patient, record) as a coordinate. Padding records (past a subject's last) hold NaN, ROW -1 and
    ``observed`` False.
    """
    if not callable(getattr(data, "record_times", None)):
        raise InputError(f"data must be a vhtwin.Dataset (from vh.read_dataset), got {type(data).__name__}")
    if data.model_name and data.model_name != model.name:
        raise InputError(f"data was read for model {data.model_name} (its CMT and DVID numbers are that model's), "
                         f"not {model.name}; read it again with vh.read_dataset(path, model)")
    for name in ("times", "protocol", "occasions", "covariates"):
        if options.get(name) is not None:
            raise InputError(f"simulate: {name}= cannot be given with data= (the dataset gives each subject's doses, "
                             "record times and covariates)")
        options.pop(name, None)
    if not model.observed and outputs is None:
        raise InputError(f"model {model.name} declares no observables; give outputs=[state names] to predict states")
    n = len(data)
    individual, typical, by_occasion = _parameters(model, params, data, seed)
    times = data.record_times()
    counts = np.sum(~np.isnan(times), axis=1)
    names = list(outputs) if outputs is not None else list(model.observable_names)
    wanted = sorted(set(names) | set(model.observable_names), key=_order(model))  # IPRED reads each record's DVID

    runs = {"IPRED": individual} if typical is None else {"IPRED": individual, "PRED": typical}
    values = {key: {} for key in runs}
    per_patient = {k: np.zeros(n, dtype) for k, dtype in (("status", np.int8), ("n_steps", np.int32), ("n_rejected", np.int32))}
    groups = np.array([buckets.output_times(int(c)) for c in counts])
    attrs = {}
    for bucket in np.unique(groups):
        members = np.flatnonzero(groups == bucket)
        T = int(counts[members].max())
        group_times = times[members, :T]
        for key, p in runs.items():
            kwargs = dict(options, outputs=wanted)
            occ = by_occasion.get(key) if by_occasion else None
            group = {k: _take(v, members) for k, v in p.items()}
            if occ is not None:
                starts, per_occ = occ
                group.update({k: v[members] for k, v in per_occ.items()})
                kwargs["occasions"] = starts[members]
            out = simulate(model, group, times=group_times, protocol=[data.regimens[i] for i in members], **kwargs)
            if "patient" not in out.dims:
                out = out.expand_dims("patient")
            for name in wanted:
                values[key].setdefault(name, np.full((n, times.shape[1]), np.nan))[members, :T] = \
                    out[name].transpose("patient", ...).values.reshape(len(members), -1)[:, :T]
            if key == "IPRED":
                for k in per_patient:
                    per_patient[k][members] = np.atleast_1d(out[k].values)
                attrs = dict(out.attrs)
    return _result(model, data, names, values, per_patient, attrs, typical is not None)


def _order(model: Model):
    order = {name: i for i, name in enumerate(model.observable_names + model.state_names)}
    return lambda name: order.get(name, len(order))


def _take(v, members):
    a = np.asarray(v)
    return a[members] if a.ndim == 1 else a


def _parameters(model: Model, params, data: DatasetLike, seed: int):
    """Individual and (with a population) typical parameters by name, each (n,) or scalar; and, where a covariate
    changes within a subject, the occasions and per-occasion values for each."""
    n = len(data)
    if isinstance(params, Population):
        return _from_population(model, params, data, seed)
    if isinstance(params, xr.Dataset):
        if "patient" in params.dims and params.sizes["patient"] != n:
            raise InputError(f"params describe {params.sizes['patient']} patients but the dataset has {n} subjects")
        params = {k: params[k].values for k in params.data_vars if k in model.parameter_names}
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise InputError(f"params must be a dict of parameter values by name, a population draw or a vh.Population, "
                         f"got {type(params).__name__}")
    out = {}
    for name, v in params.items():
        if name not in model.parameter_names:
            raise InputError(f"unknown parameter {name!r} for model {model.name}; its parameters are {list(model.parameter_names)}")
        a = np.asarray(v, dtype=float) if not isinstance(v, str) else None
        if a is None or a.ndim > 1 or (a.ndim == 1 and a.shape[0] != n):
            raise InputError(f"parameter {name!r}: expected a number or one value per subject ({n}), got "
                             f"{'a string' if a is None else f'shape {a.shape}'}")
        out[name] = a
    _check_ranges(model, out, data)
    return out, None, {}


def _check_ranges(model: Model, values: Mapping[str, np.ndarray], data: DatasetLike) -> None:
    for q in model.parameters:
        if q.name not in values:
            continue
        v = np.atleast_1d(values[q.name])
        bad = q.violations(v.reshape(v.shape[0], -1)).any(axis=1) if v.ndim > 1 else q.violations(v)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            who = f" (ID {_plain(data.ids[k])})" if v.shape[0] == len(data) else ""
            raise InputError(f"parameter {q.name!r}{who}: value {float(v.reshape(v.shape[0], -1)[k][0]):g} is outside "
                             f"the allowed range ({q.allowed()})")


def _plain(x):
    return x.item() if hasattr(x, "item") else x


def _from_population(model: Model, pop: Population, data: DatasetLike, seed: int):
    if type(pop.model) is not type(model):
        raise InputError(f"params: the population is for model {pop.model.name}, not {model.name}")
    n = len(data)
    needed = pop.covariates_needed
    for name in needed:
        if name in data.text_columns:
            raise InputError(f"covariate {name!r} is needed by the population's covariate models, but the dataset's "
                             f"column {name!r} holds text; give numbers (blank or '.' for missing)")
        if name not in data.covariate_names:
            raise InputError(f"covariate {name!r} is needed by the population's covariate models, but the dataset has "
                             f"no column {name!r} (its covariates: {list(data.covariate_names)})")
    records = data.records
    subject = data.subject_index
    for name in needed:
        missing = np.isnan(records[name].to_numpy(float))
        if missing.any():
            r = int(np.flatnonzero(missing)[0])
            raise InputError(f"record {int(records['ROW'].iloc[r])} (ID {_plain(records['ID'].iloc[r])}): covariate "
                             f"{name} is missing in every record of this ID")
    baseline = {name: data.covariates[name].to_numpy(float) for name in needed}
    draw = pop.sample(n, seed=seed, covariates=baseline)
    etas = {k[4:]: draw[k].values for k in draw.data_vars if k.startswith("eta_")}
    typical = pop.typical_values(baseline, n)
    individual = {name: draw[name].values for name in model.parameter_names}
    varying = [name for name in needed if name in data.time_varying]
    if not varying:
        return individual, typical, {}
    # Covariates that change within a subject: each change opens an occasion with the parameters of the new values.
    t = records["TIME"].to_numpy(float)
    change = np.zeros(len(records), bool)
    for name in varying:
        v = records[name].to_numpy(float)
        change[1:] |= (v[1:] != v[:-1]) & (subject[1:] == subject[:-1])
    first = np.concatenate([[True], subject[1:] != subject[:-1]])
    opens = first | change
    K = int(np.bincount(subject[opens], minlength=n).max())
    starts = np.zeros((n, K))
    rows = np.full((n, K), -1)
    for i in range(n):  # a few occasions per subject
        r = np.flatnonzero(opens & (subject == i))
        r = r[np.concatenate([[True], np.diff(t[r]) > 0])]  # changes at one time: the last record's values hold
        last_of_time = np.array([np.flatnonzero((subject == i) & (t == t[x]))[-1] for x in r])
        starts[i, : len(r)] = t[r]
        rows[i, : len(r)] = last_of_time
        extra = K - len(r)
        if extra:  # padding occasions after the subject's last record, with its last values
            end = t[subject == i].max()
            starts[i, len(r):] = end + 1.0 + np.arange(extra)
            rows[i, len(r):] = last_of_time[-1]
    per_occasion_cov = {name: records[name].to_numpy(float)[rows] for name in needed}  # (n, K)
    tv_occ = pop.typical_values({k: v.ravel() for k, v in per_occasion_cov.items()}, n * K)
    tv_occ = {k: np.asarray(v).reshape(n, K) for k, v in tv_occ.items()}
    affected = [q for q in model.parameter_names if any(cm.param == q for cm in pop.covariate_models if cm.covariate in varying)]
    ind_occ = pop.individual_values(tv_occ, {k: v[:, None] for k, v in etas.items()})
    by_occasion = {"IPRED": (starts, {k: ind_occ[k] for k in affected}),
                   "PRED": (starts, {k: tv_occ[k] for k in affected})}
    return individual, typical, by_occasion


def _result(model: Model, data: DatasetLike, names, values, per_patient, attrs, with_pred: bool) -> xr.Dataset:
    n = len(data)
    rows, position = data.record_layout()
    R = rows.shape[1]
    real = rows >= 0
    rec = data.records
    take = lambda column, fill=np.nan: np.where(real, rec[column].to_numpy(float)[np.maximum(rows, 0)], fill)
    pos = np.maximum(position, 0)
    lanes = np.arange(n)[:, None]
    units = {x.name: x.unit for x in (*model.observed, *model.states)}
    out = {}
    for name in names:
        v = values["IPRED"][name][lanes, pos]
        out[name] = (("patient", "record"), np.where(real, v, np.nan), {"units": units[name]})
    dvid = take("DVID", 1.0).astype(int)
    if model.observed:
        obs = list(model.observable_names)
        for key in ("IPRED", "PRED") if with_pred else ("IPRED",):
            stack = np.stack([values[key][o][lanes, pos] for o in obs])  # (O, n, R)
            pick = np.take_along_axis(stack, np.clip(dvid - 1, 0, len(obs) - 1)[None], axis=0)[0]
            label = "individual prediction" if key == "IPRED" else "population prediction (typical values, etas zero)"
            out[key] = (("patient", "record"), np.where(real, pick, np.nan),
                        {"long_name": f"{label} of the observable the record measures (DVID)"})
    evid = take("EVID", -1.0)
    mdv = take("MDV", 1.0)
    dv = take("DV")
    observed = real & (evid == 0) & (mdv == 0) & np.isfinite(dv)
    out["DV"] = (("patient", "record"), dv, {"long_name": "measured value (NaN where none)"})
    out["EVID"] = (("patient", "record"), evid.astype(np.int8))
    out["AMT"] = (("patient", "record"), take("AMT"))
    out["MDV"] = (("patient", "record"), mdv.astype(np.int8))
    out["DVID"] = (("patient", "record"), dvid.astype(np.int16))
    out["CENS"] = (("patient", "record"), take("CENS", 0.0).astype(np.int8))
    out["observed"] = (("patient", "record"), observed, {"long_name": "a measured observation record (EVID 0, MDV 0)"})
    for name in data.covariate_names:
        if name not in out:
            out[name] = (("patient", "record"), take(name), {"long_name": "covariate (carried forward)"})
    out["ROW"] = (("patient", "record"), np.where(real, rec["ROW"].to_numpy()[np.maximum(rows, 0)], -1).astype(np.int64),
                  {"long_name": "1-based row of the record in the source table"})
    out["ID"] = (("patient",), np.asarray(data.ids))
    out["status"] = (("patient",), per_patient["status"], Status.flag_attrs())
    out["n_steps"] = (("patient",), per_patient["n_steps"], {"long_name": "accepted steps"})
    out["n_rejected"] = (("patient",), per_patient["n_rejected"], {"long_name": "rejected steps"})
    coords = {"patient": np.arange(n), "record": np.arange(R),
              "time": (("patient", "record"), take("TIME"), {"units": model.time_unit, "long_name": "time"})}
    attrs = {**attrs, "prediction": "at every record of the dataset; a record at a dose time is the value just before the dose"}
    return xr.Dataset(out, coords=coords, attrs=attrs)
