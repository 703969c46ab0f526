"""Summaries of in-silico trial results per arm, in bounded memory: percentile bands, NCA summaries, target
attainment and failure counts.

A trial store (opened lazily with :func:`vhtwin.io.open_zarr` / ``xr.open_zarr``) has dims ``arm``, ``patient`` and
``time``; a result of :func:`vhtwin.simulate` has no ``arm`` dim and every function here then returns results without
one. Cohorts can hold a million patients per arm, so no function loads a whole variable: they loop over arms and
over slabs of time (percentiles: each slab at most about :data:`MEMORY_BUDGET` bytes of float64, the
``memory_budget`` keyword overrides it, peak memory is a small multiple of it) or of patients (NCA: each slab every
output time of as many patients as :data:`NCA_MEMORY` allows, or ``batch_size`` patients).

Only successful patients (``status == 0``) are counted; failed ones (whose outputs are NaN) are counted separately
and reported beside each result. Without a ``status`` variable every patient counts as successful.

Functions
---------
percentiles
    Exact percentiles over patients at every output time, per arm (``np.nanpercentile``, linear interpolation).
nca_per_patient
    :func:`vhtwin.analysis.nca` metrics per patient and arm (NaN for failed patients), computed in patient slabs.
nca_summary
    Quantiles, mean and geometric mean of NCA metrics per arm, with the number of patients analysed.
target_attainment
    Fraction of successful patients whose value at a time, or whose min/max/mean over a window, meets a threshold.
failure_counts
    How many patients ended with each solver status, per arm.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError
from ..solvers.status import Status
from .nca import _units as _nca_units
from .nca import nca

__all__ = [
    "MEMORY_BUDGET", "NCA_BATCH", "NCA_MEMORY", "failure_counts", "nca_per_patient", "nca_summary", "percentiles",
    "target_attainment",
]

#: Bytes of float64 one slab may hold (``slab * n_patients * 8 <= MEMORY_BUDGET`` for percentiles). Peak memory
#: is about four times this (dask's concatenation of the chunks, the successful rows, numpy's partition copy).
MEMORY_BUDGET = 64 * 2**20
#: The most patients per call of :func:`vhtwin.analysis.nca` in :func:`nca_summary` / :func:`nca_per_patient`.
#: Each call gets every output time of its patients (the terminal phase is fitted on the whole profile, not on the
#: analysed interval), so by default fewer patients go in one call when there are many output times: see
#: :data:`NCA_MEMORY`. nca costs about 0.5 ms per patient at 169 samples (one core), which dominates the run time.
NCA_BATCH = 5_000
#: Bytes the default slab of patients may take at nca's peak. nca holds about 23 float64 per (patient, output time)
#: at its peak (measured with tracemalloc at 169 and 400 samples), so a slab has at most
#: ``NCA_MEMORY // (NCA_FLOATS_PER_SAMPLE * 8 * n_times)`` patients: 5000 (:data:`NCA_BATCH`) up to 279 output
#: times, 1398 at 1000 and 279 at 5000 output times. An explicit ``batch_size`` is taken as given.
NCA_MEMORY = 256 * 2**20
NCA_FLOATS_PER_SAMPLE = 24
#: Two times closer than this (in time units) are the same output time.
TIME_TOLERANCE = 1e-9

#: NCA metrics computed by :func:`vhtwin.analysis.nca` that can be summarised.
NCA_METRICS = tuple(_nca_units("h", "mg L-1", "mg")) + ("flag_lambda_z_r2", "flag_span_ratio", "flag_aucpext")
#: Metrics summarised by default without / with a dosing interval.
DEFAULT_METRICS = ("cmax", "tmax", "auclast", "aucinf_obs", "half_life", "cl_obs")
DEFAULT_TAU_METRICS = ("cmax", "tmax", "cmin", "ctrough", "auctau", "cavg", "fluctuation")
#: Metrics for which a geometric mean is reported (positive, log-normally distributed quantities).
GEOMETRIC_METRICS = frozenset({
    "cmax", "clast", "cmin", "ctrough", "cavg", "auclast", "aucinf_obs", "aucinf_pred", "auctau", "aumclast",
    "aumcinf_obs", "mrt_obs", "lambda_z", "half_life", "cl_obs", "vz_obs", "vss_obs",
})
_STATISTICS = ("min", "max", "mean")


# ---------------------------------------------------------------------------------------------------------------
# Checks and helpers
# ---------------------------------------------------------------------------------------------------------------


def _dataset(ds: Any) -> xr.Dataset:
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"ds: expected an xarray.Dataset (a vhtwin result or trial store), got {type(ds).__name__}")
    return ds


def _output(ds: xr.Dataset, variable: Any) -> xr.DataArray:
    """The output ``variable`` over (patient, time), optionally arm."""
    _dataset(ds)
    if not isinstance(variable, str) or variable not in ds.data_vars:
        outputs = [k for k, v in ds.data_vars.items() if "time" in v.dims]
        raise InputError(f"variable: {variable!r} is not in the dataset; its outputs over time are {outputs}")
    da = ds[variable]
    allowed = {"arm", "patient", "time"}
    if not {"patient", "time"} <= set(da.dims) or not set(da.dims) <= allowed:
        raise InputError(
            f"variable: {variable!r} has dims {da.dims}; expected ('patient', 'time') or ('arm', 'patient', 'time')"
        )
    if "time" not in ds.coords:
        raise InputError("ds: the dataset has no 'time' coordinate")
    return da


def _check_q(q: Any, name: str = "q") -> np.ndarray:
    values = np.atleast_1d(np.asarray(q, dtype=object))
    try:
        out = np.array([float(v) for v in values.ravel()], dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {q!r} must be a number or a sequence of numbers in [0, 100]") from None
    if out.size == 0:
        raise InputError(f"{name}: {q!r} is empty; give at least one percentile in [0, 100]")
    bad = ~np.isfinite(out) | (out < 0) | (out > 100)
    if bad.any():
        raise InputError(f"{name}: {out[bad].tolist()} outside [0, 100]; percentiles are in percent")
    if np.unique(out).size != out.size:
        raise InputError(f"{name}: {q!r} has repeated values")
    return out


def _budget(memory_budget: Any) -> int:
    if memory_budget is None:
        return int(MEMORY_BUDGET)
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, numbers.Integral) or memory_budget < 8:
        raise InputError(f"memory_budget: {memory_budget!r} must be an integer number of bytes >= 8")
    return int(memory_budget)


def _arms(ds: xr.Dataset) -> tuple[list[Any], bool]:
    """Arm names (``[None]`` without an arm dim) and whether there is an arm dim."""
    if "arm" not in ds.dims:
        return [None], False
    if "arm" in ds.coords:
        return [v.item() if hasattr(v, "item") else v for v in ds["arm"].values], True
    return list(range(ds.sizes["arm"])), True


def _arm(obj, index: int | None):
    return obj if index is None or "arm" not in obj.dims else obj.isel(arm=index)


def successful(ds: xr.Dataset, index: int | None) -> np.ndarray:
    """Boolean mask over the patients of arm ``index`` (None: a store without arms) whose solve succeeded
    (``status == 0``; all True without a status variable)."""
    n = ds.sizes["patient"]
    if "status" not in ds.data_vars:
        return np.ones(n, dtype=bool)
    status = _arm(ds["status"], index)
    if status.dims != ("patient",):
        raise InputError(f"ds.status: dims {ds['status'].dims}; expected ('patient',) or ('arm', 'patient')")
    return np.asarray(status.values) == Status.SUCCESS


def _wrap(values: np.ndarray, arm_names: list, has_arm: bool, ds: xr.Dataset, dims: tuple, coords: dict,
          name: str | None = None, attrs: dict | None = None) -> xr.DataArray:
    """A per-arm stack of arrays as a DataArray, with the arm dim only where the input has one."""
    if has_arm:
        da = xr.DataArray(values, dims=("arm", *dims), coords={"arm": ds["arm"] if "arm" in ds.coords else
                                                                np.arange(len(arm_names)), **coords}, name=name)
    else:
        da = xr.DataArray(values[0], dims=dims, coords=coords, name=name)
    da.attrs.update(attrs or {})
    return da


def _per_arm(values: Sequence, has_arm: bool, ds: xr.Dataset, attrs: dict | None = None) -> xr.DataArray:
    values = np.asarray(values)
    if has_arm:
        da = xr.DataArray(values, dims="arm", coords={"arm": ds["arm"]} if "arm" in ds.coords else None)
    else:
        da = xr.DataArray(values[0])
    da.attrs.update(attrs or {})
    return da


def _time_index(times: np.ndarray, at: Any, name: str) -> int:
    try:
        value = float(at)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {at!r} must be a time (a number)") from None
    j = int(np.argmin(np.abs(times - value)))
    if not abs(times[j] - value) <= TIME_TOLERANCE:
        raise InputError(
            f"{name}: {at!r} is not an output time (nearest is {times[j]:g}, {abs(times[j] - value):g} away); "
            f"outputs are at {_describe_times(times)}"
        )
    return j


def _describe_times(times: np.ndarray) -> str:
    if times.size <= 8:
        return str([float(f"{t:g}") for t in times])
    return f"{times.size} times from {times[0]:g} to {times[-1]:g}"


# ---------------------------------------------------------------------------------------------------------------
# Percentiles
# ---------------------------------------------------------------------------------------------------------------


def percentiles(
    ds: xr.Dataset, variable: str, q: Sequence[float] = (5, 50, 95), *, memory_budget: int | None = None
) -> xr.DataArray:
    """Exact percentiles of ``variable`` over the successful patients at every output time, per arm.

    Parameters
    ----------
    ds : xarray.Dataset
        A trial store (dims ``arm``, ``patient``, ``time``; lazily opened is fine) or a batch result of
        :func:`vhtwin.simulate` (dims ``patient``, ``time``).
    variable : str
        An output over time, e.g. ``"Cc"``.
    q : sequence of float
        Percentiles in [0, 100].
    memory_budget : int, optional
        Bytes per slab of time: ``slab * n_patients * 8 <= memory_budget`` (default :data:`MEMORY_BUDGET`).

    Returns
    -------
    xarray.DataArray
        Dims ``(arm, percentile, time)`` (no ``arm`` without one in ``ds``); coordinate ``percentile`` = ``q``;
        non-dimension coordinates ``n_patients`` (successful patients counted) and ``n_failed`` per arm; the
        variable's ``units``. Computed as ``np.nanpercentile`` (linear interpolation; NaN ignored) over the patients
        with ``status == 0``; NaN where an arm has no successful patient.

    Raises
    ------
    InputError
        Unknown variable, a variable not over (patient, time), ``q`` outside [0, 100] or a bad ``memory_budget``.
    """
    da = _output(ds, variable)
    qs = _check_q(q)
    budget = _budget(memory_budget)
    arm_names, has_arm = _arms(ds)
    n_patients, n_times = ds.sizes["patient"], ds.sizes["time"]
    slab = max(1, budget // (8 * max(n_patients, 1)))
    out = np.full((len(arm_names), qs.size, n_times), np.nan)
    n_ok, n_failed = [], []
    for i in range(len(arm_names)):
        index = i if has_arm else None
        ok = successful(ds, index)
        n_ok.append(int(ok.sum()))
        n_failed.append(int(ok.size - ok.sum()))
        if not ok.any():
            continue
        rows = _arm(da, index).transpose("patient", "time")
        for start in range(0, n_times, slab):
            stop = min(start + slab, n_times)
            block = np.asarray(rows.isel(time=slice(start, stop)).values, dtype=float)
            block = block[ok] if not ok.all() else block
            if np.isnan(block).any():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
                    out[i, :, start:stop] = np.nanpercentile(block, qs, axis=0)
            else:
                out[i, :, start:stop] = np.percentile(block, qs, axis=0)
            del block
    result = _wrap(
        out, arm_names, has_arm, ds, ("percentile", "time"),
        {"percentile": ("percentile", qs, {"units": "percent"}), "time": ds["time"]},
        name=variable,
        attrs={**({"units": da.attrs["units"]} if "units" in da.attrs else {}),
               "long_name": f"percentiles of {variable} over successful patients",
               "method": "numpy.nanpercentile, linear interpolation, status == 0 only"},
    )
    dims = ("arm",) if has_arm else ()
    result.coords["n_patients"] = (dims, np.asarray(n_ok) if has_arm else n_ok[0])
    result.coords["n_failed"] = (dims, np.asarray(n_failed) if has_arm else n_failed[0])
    return result


# ---------------------------------------------------------------------------------------------------------------
# NCA
# ---------------------------------------------------------------------------------------------------------------


def _interval(times: np.ndarray, tau: Any, start: Any) -> tuple[np.ndarray, float | None, float]:
    """Every output time relative to the start of the analysed interval, tau, and that start.

    The times are the whole profile's (the terminal phase is fitted on all of them), shifted so that the dose opening
    the interval is at 0; times within :data:`TIME_TOLERANCE` of 0 and of tau are set to exactly 0 and tau, the
    ends :func:`vhtwin.analysis.nca` looks for.
    """
    if tau is not None:
        try:
            tau = float(tau)
        except (TypeError, ValueError):
            raise InputError(f"tau: {tau!r} must be a positive number (a dosing interval) or None") from None
        if not (np.isfinite(tau) and tau > 0):
            raise InputError(f"tau: {tau!r} must be a positive dosing interval or None")
    if start is None:
        t0 = float(times[0])
    else:
        t0 = float(times[_time_index(times, start, "start")])
    end = t0 + tau if tau is not None else float(times[-1])
    if end > times[-1] + TIME_TOLERANCE:
        raise InputError(f"tau: the interval [{t0:g}, {end:g}] ends after the last output time {times[-1]:g}")
    inside = np.count_nonzero((times >= t0 - TIME_TOLERANCE) & (times <= end + TIME_TOLERANCE))
    if inside < 2:
        raise InputError(f"start/tau: the interval [{t0:g}, {end:g}] holds {inside} output time(s); need >= 2")
    relative = times - t0
    relative[np.abs(relative) <= TIME_TOLERANCE] = 0.0
    if tau is not None:
        relative[np.abs(relative - tau) <= TIME_TOLERANCE] = tau
    return relative, tau, t0


def _dose_for_arm(dose: Any, arm_names: list, has_arm: bool, i: int, n_patients: int) -> np.ndarray | None:
    """The dose of every patient of arm ``i`` (None: no dose)."""
    name = arm_names[i]
    if dose is None:
        return None
    if isinstance(dose, Mapping):
        if not has_arm:
            raise InputError("dose: a mapping arm -> dose needs a dataset with an 'arm' dim; give a number")
        extra = [k for k in dose if k not in arm_names]
        missing = [a for a in arm_names if a not in dose]
        if extra or missing:
            raise InputError(f"dose: the mapping's keys {list(dose)} must be the arms {arm_names}"
                             + (f"; missing {missing}" if missing else "") + (f"; unknown {extra}" if extra else ""))
        return _dose_values(dose[name], f"dose[{name!r}]", n_patients)
    if isinstance(dose, xr.DataArray):
        if not set(dose.dims) <= {"arm", "patient"}:
            raise InputError(f"dose: DataArray dims {dose.dims}; allowed are ('arm', 'patient'), ('arm',), ('patient',)")
        d = dose
        if "arm" in d.dims:
            if not has_arm:
                raise InputError("dose: the DataArray has an 'arm' dim but the dataset has none")
            if "arm" in d.coords:
                names = [v.item() if hasattr(v, "item") else v for v in d["arm"].values]
                if name not in names:
                    raise InputError(f"dose: no dose for arm {name!r}; the DataArray has arms {names}")
                d = d.isel(arm=names.index(name))
            else:
                d = d.isel(arm=i)
        return _dose_values(np.asarray(d.values), "dose", n_patients)
    return _dose_values(dose, "dose", n_patients)


def _dose_values(value: Any, name: str, n_patients: int) -> np.ndarray:
    try:
        out = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name}: {value!r} is not a number or an array of numbers") from None
    if out.ndim == 0:
        out = np.full(n_patients, float(out))
    if out.shape != (n_patients,):
        raise InputError(f"{name}: shape {out.shape}; give a scalar or one dose per patient ({n_patients},)")
    return out


def _check_metrics(metrics: Any, tau: Any) -> tuple[str, ...]:
    if metrics is None:
        return DEFAULT_TAU_METRICS if tau is not None else DEFAULT_METRICS
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = tuple(metrics)
    unknown = [m for m in metrics if m not in NCA_METRICS]
    if unknown or not metrics:
        raise InputError(f"metrics: {unknown or metrics!r} not NCA metric(s); choose from {list(NCA_METRICS)}")
    return metrics


def _batch(batch_size: Any, n_times: int) -> int:
    """Patients per nca call: ``batch_size`` as given, else as many as :data:`NCA_MEMORY` allows (at most
    :data:`NCA_BATCH`)."""
    if batch_size is None:
        return max(1, min(NCA_BATCH, NCA_MEMORY // (NCA_FLOATS_PER_SAMPLE * 8 * max(n_times, 1))))
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise InputError(f"batch_size: {batch_size!r} must be an integer >= 1")
    return int(batch_size)


def _nca_arms(
    ds: xr.Dataset, variable: str, dose: Any, tau: Any, start: Any, metrics: Any, batch_size: Any, nca_kwargs: dict,
) -> tuple[tuple[str, ...], list, bool, Iterator[tuple[np.ndarray, dict[str, np.ndarray], xr.Dataset | None]]]:
    """Check the arguments, then yield per arm: success mask, {metric: values over all patients}, a template."""
    da = _output(ds, variable)
    metrics = _check_metrics(metrics, tau)
    times = np.asarray(ds["time"].values, dtype=float)
    size = _batch(batch_size, times.size)
    relative, tau, _ = _interval(times, tau, start)
    arm_names, has_arm = _arms(ds)
    n_patients = ds.sizes["patient"]
    doses = [_dose_for_arm(dose, arm_names, has_arm, i, n_patients) for i in range(len(arm_names))]
    time_attrs = dict(ds["time"].attrs)

    def run():
        for i in range(len(arm_names)):
            arm_index = i if has_arm else None
            ok = successful(ds, arm_index)
            values = {m: np.full(n_patients, np.nan) for m in metrics}
            template = None
            # Whole profiles, not the interval alone: lambda_z and the half-life are the profile's, so a patient has
            # the same half-life in every arm and interval whose terminal phase is the same (PKNCA's rule). A slab is
            # `size` patients by every output time (see NCA_MEMORY).
            rows = _arm(da, arm_index).transpose("patient", "time")
            for a in range(0, n_patients, size):
                b = min(a + size, n_patients)
                keep = np.flatnonzero(ok[a:b])
                if keep.size == 0:
                    continue
                block = np.asarray(rows.isel(patient=slice(a, b)).values, dtype=float)[keep]
                conc = xr.DataArray(
                    block, dims=("patient", "time"),
                    coords={"patient": a + keep, "time": ("time", relative, time_attrs)}, attrs=dict(da.attrs),
                )
                d = None if doses[i] is None else doses[i][a:b][keep]
                result = nca(conc, d, start=0.0, tau=tau, **nca_kwargs)
                for m in metrics:
                    values[m][a + keep] = np.asarray(result[m].values, dtype=float)
                if template is None:
                    template = result[list(metrics)].isel(patient=slice(0, 0))
            yield ok, values, template

    return metrics, arm_names, has_arm, run()


def nca_per_patient(
    ds: xr.Dataset, variable: str = "Cc", *, dose: Any, tau: float | None = None, start: float | None = None,
    metrics: Sequence[str] | None = None, batch_size: int | None = None, **nca_kwargs: Any,
) -> xr.Dataset:
    """NCA metrics of every patient (NaN for failed ones), per arm; see :func:`nca_summary` for the arguments.

    Holds ``n_arms * n_patients * len(metrics)`` floats in memory (the concentrations are read in slabs of
    patients, each with every output time). Returns a Dataset with one variable per metric over ``(arm, patient)``
    (``patient`` without an arm dim), units as :func:`vhtwin.analysis.nca` gives them, and ``status`` copied from
    ``ds``. Suitable input for :func:`vhtwin.plot.nca_distributions`.
    """
    metrics, arm_names, has_arm, arms = _nca_arms(ds, variable, dose, tau, start, metrics, batch_size, nca_kwargs)
    stacks = {m: [] for m in metrics}
    units = {}
    for _, values, template in arms:
        for m in metrics:
            stacks[m].append(values[m])
            if template is not None and "units" in template[m].attrs:
                units[m] = template[m].attrs["units"]
    coords = {"patient": ds["patient"]} if "patient" in ds.coords else {}
    data = {}
    for m in metrics:
        data[m] = _wrap(np.stack(stacks[m]), arm_names, has_arm, ds, ("patient",), coords,
                        attrs={"units": units[m]} if m in units else {})
    out = xr.Dataset(data)
    if "status" in ds.data_vars:
        out["status"] = ds["status"]
    out.attrs.update({"variable": variable, "tau": float(tau) if tau is not None else "none",
                      "start": float(start) if start is not None else float(ds["time"].values[0]),
                      "route": nca_kwargs.get("route", "extravascular"), "lambda_z_scope": "whole profile"})
    return out


def nca_summary(
    ds: xr.Dataset, variable: str = "Cc", *, dose: Any, tau: float | None = None, start: float | None = None,
    q: Sequence[float] = (5, 50, 95), metrics: Sequence[str] | None = None, batch_size: int | None = None,
    **nca_kwargs: Any,
) -> xr.Dataset:
    """Distribution of NCA metrics over the successful patients of each arm.

    :func:`vhtwin.analysis.nca` runs on slabs of successful patients at a time, each given its whole profile with
    times relative to ``start``. The terminal phase (``lambda_z``, ``half_life`` and their diagnostics and flags)
    is fitted on the whole profile, so a patient whose terminal phase is the same in two arms or intervals gets the
    same half-life in both; every other metric is over the analysed interval: ``[start, start + tau]`` with
    ``tau`` (e.g. ``start=144, tau=24`` for the last day of a once-daily regimen at steady state), else from
    ``start`` to the last output time. Times reported (Tmax, Tlast) are after ``start``.

    Parameters
    ----------
    ds : xarray.Dataset
        A trial store or a batch result (see :func:`percentiles`).
    variable : str
        The concentration output, default ``"Cc"``.
    dose : float, mapping or xarray.DataArray or None
        The dose given at ``start``: one number for all; a mapping arm name -> dose (a number or one per patient);
        or a DataArray over ``(arm, patient)``, ``(arm,)`` or ``(patient,)``. ``None`` leaves CL and Vz NaN.
    tau : float, optional
        Dosing interval (time units): adds Cmin, Ctrough, AUCtau, Cavg and fluctuation over ``[start, start+tau]``.
    start : float, optional
        Start of the analysed interval, an output time (default the first output time). Without ``tau`` the
        profile from ``start`` to the last output time is analysed.
    q : sequence of float
        Percentiles in [0, 100] reported for each metric.
    metrics : sequence of str, optional
        NCA metrics to summarise; default :data:`DEFAULT_METRICS` (or :data:`DEFAULT_TAU_METRICS` with ``tau``).
    batch_size : int, optional
        Patients per NCA call (default: as many as :data:`NCA_MEMORY` allows at this number of output times, at
        most :data:`NCA_BATCH`).
    **nca_kwargs
        Passed to :func:`vhtwin.analysis.nca`: ``route`` (``"extravascular"``, default; ``"iv_bolus"``, C0
        back-extrapolated to ``start``; ``"iv_infusion"`` with ``duration``), ``lambda_z_min_points``, ...

    Returns
    -------
    xarray.Dataset
        Per metric ``m``: ``m`` over ``(arm, quantile)`` (quantile in percent, ``np.nanpercentile`` over the
        patients where ``m`` is finite), ``m_mean``, ``m_geomean`` (metrics of :data:`GEOMETRIC_METRICS` only; NaN if
        a value is <= 0) and ``m_n`` (patients with a finite value) over ``arm``; plus ``n_analysed`` and
        ``n_failed`` over ``arm``. Without an arm dim in ``ds`` there is none in the result.

    Raises
    ------
    InputError
        Unknown variable or metric, ``q`` outside [0, 100], ``start`` not an output time, an interval past the
        last output, doses that do not match the arms or patients.
    """
    qs = _check_q(q)
    metrics, arm_names, has_arm, arms = _nca_arms(ds, variable, dose, tau, start, metrics, batch_size, nca_kwargs)
    n_arms = len(arm_names)
    quant = {m: np.full((n_arms, qs.size), np.nan) for m in metrics}
    mean = {m: np.full(n_arms, np.nan) for m in metrics}
    geomean = {m: np.full(n_arms, np.nan) for m in metrics if m in GEOMETRIC_METRICS}
    count = {m: np.zeros(n_arms, dtype=np.int64) for m in metrics}
    n_analysed, n_failed = np.zeros(n_arms, dtype=np.int64), np.zeros(n_arms, dtype=np.int64)
    units = {}
    for i, (ok, values, template) in enumerate(arms):
        n_analysed[i], n_failed[i] = ok.sum(), ok.size - ok.sum()
        for m in metrics:
            if template is not None and "units" in template[m].attrs:
                units[m] = template[m].attrs["units"]
            v = values[m][ok]
            v = v[np.isfinite(v)]
            count[m][i] = v.size
            if v.size == 0:
                continue
            quant[m][i] = np.percentile(v, qs)
            mean[m][i] = v.mean()
            if m in geomean and np.all(v > 0):
                geomean[m][i] = np.exp(np.log(v).mean())
    coords = {"quantile": ("quantile", qs, {"units": "percent"})}
    data = {}
    for m in metrics:
        attrs = {"units": units[m]} if m in units else {}
        data[m] = _wrap(quant[m], arm_names, has_arm, ds, ("quantile",), coords, attrs=attrs)
        data[f"{m}_mean"] = _per_arm(mean[m], has_arm, ds, attrs)
        if m in geomean:
            data[f"{m}_geomean"] = _per_arm(geomean[m], has_arm, ds, attrs)
        data[f"{m}_n"] = _per_arm(count[m], has_arm, ds)
    data["n_analysed"] = _per_arm(n_analysed, has_arm, ds)
    data["n_failed"] = _per_arm(n_failed, has_arm, ds)
    out = xr.Dataset(data)
    out["n_analysed"].attrs["long_name"] = "successful patients analysed"
    out["n_failed"].attrs["long_name"] = "failed patients (status != 0), left out"
    out.attrs.update({
        "variable": variable, "tau": float(tau) if tau is not None else "none",
        "start": float(start) if start is not None else float(ds["time"].values[0]),
        "metrics": list(metrics), "quantile_method": "numpy.percentile, linear, over finite values",
        "route": nca_kwargs.get("route", "extravascular"), "lambda_z_scope": "whole profile",
    })
    return out


# ---------------------------------------------------------------------------------------------------------------
# Target attainment and failures
# ---------------------------------------------------------------------------------------------------------------


def target_attainment(
    ds: xr.Dataset, variable: str, *, threshold: float, at: float | None = None,
    over: tuple[float, float] | None = None, statistic: str = "min", above: bool = True,
) -> xr.DataArray:
    """Fraction of successful patients whose ``variable`` meets ``threshold``, per arm.

    Either the value at the output time ``at`` (e.g. Ctrough at 168 h), or the ``statistic`` (``"min"``,
    ``"max"`` or ``"mean"`` -- the plain mean of the output samples) over the output times in ``over = (t0, t1)``
    (inclusive) is compared: ``value >= threshold`` with ``above=True``, ``value <= threshold`` otherwise. A NaN
    value of a successful patient never meets the criterion but is counted in the denominator.

    Returns
    -------
    xarray.DataArray
        The fraction over ``arm`` (a 0-d array without an arm dim), with coordinates ``n_attained``,
        ``n_patients`` (successful patients, the denominator) and ``n_failed`` per arm, and attrs describing the
        criterion (``criterion``, ``threshold``, ``units``, ``at`` or ``over`` and ``statistic``, ``above``).
        NaN for an arm without successful patients.

    Raises
    ------
    InputError
        Unknown variable, a non-finite threshold, neither or both of ``at`` and ``over``, ``at`` not within
        1e-9 of an output time, an empty window, an unknown statistic.
    """
    da = _output(ds, variable)
    try:
        thr = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"threshold: {threshold!r} must be a number") from None
    if not np.isfinite(thr):
        raise InputError(f"threshold: {threshold!r} must be finite")
    if (at is None) == (over is None):
        raise InputError(f"give exactly one of at (a time) or over (t0, t1); got at={at!r}, over={over!r}")
    times = np.asarray(ds["time"].values, dtype=float)
    unit = da.attrs.get("units", "")
    tunit = ds["time"].attrs.get("units", "")
    op = ">=" if above else "<="
    attrs: dict[str, Any] = {"threshold": thr, "above": int(bool(above))}
    if unit:
        attrs["units_threshold"] = unit
    if at is not None:
        j = _time_index(times, at, "at")
        selection = da.isel(time=j)
        attrs["at"] = float(times[j])
        attrs["criterion"] = f"{variable}(t={times[j]:g}{(' ' + tunit) if tunit else ''}) {op} {thr:g} {unit}".strip()
        reduce = None
    else:
        if statistic not in _STATISTICS:
            raise InputError(f"statistic: {statistic!r} is not allowed; use one of {list(_STATISTICS)}")
        try:
            t0, t1 = (float(v) for v in over)
        except (TypeError, ValueError):
            raise InputError(f"over: {over!r} must be a pair of times (t0, t1)") from None
        if not (np.isfinite(t0) and np.isfinite(t1) and t0 <= t1):
            raise InputError(f"over: {over!r} must be finite times with t0 <= t1")
        window = np.flatnonzero((times >= t0 - TIME_TOLERANCE) & (times <= t1 + TIME_TOLERANCE))
        if window.size == 0:
            raise InputError(f"over: no output time in [{t0:g}, {t1:g}]; outputs are at {_describe_times(times)}")
        selection = da.isel(time=window)
        reduce = statistic
        attrs.update({"over": [t0, t1], "statistic": statistic})
        attrs["criterion"] = (f"{statistic} of {variable} over [{t0:g}, {t1:g}]{(' ' + tunit) if tunit else ''} "
                              f"{op} {thr:g} {unit}").strip()
    arm_names, has_arm = _arms(ds)
    frac, hit, counted, failed = [], [], [], []
    for i in range(len(arm_names)):
        index = i if has_arm else None
        ok = successful(ds, index)
        sel = _arm(selection, index)
        if reduce is not None:
            sel = getattr(sel, reduce)("time", skipna=False)
        value = np.asarray(sel.transpose("patient").values, dtype=float)[ok]
        with np.errstate(invalid="ignore"):
            met = int(np.count_nonzero(value >= thr if above else value <= thr))
        hit.append(met)
        counted.append(int(ok.sum()))
        failed.append(int(ok.size - ok.sum()))
        frac.append(met / counted[-1] if counted[-1] else np.nan)
    result = _per_arm(np.asarray(frac, dtype=float), has_arm, ds)
    dims = ("arm",) if has_arm else ()
    for name, v in (("n_attained", hit), ("n_patients", counted), ("n_failed", failed)):
        result.coords[name] = (dims, np.asarray(v) if has_arm else v[0])
    result.name = "target_attainment"
    result.attrs.update({"long_name": "fraction of successful patients meeting the criterion", "units": "1", **attrs})
    return result


def failure_counts(ds: xr.Dataset) -> xr.DataArray:
    """How many patients ended with each solver status, per arm.

    Returns
    -------
    xarray.DataArray
        Integer counts over ``(arm, status)`` (``status`` only without an arm dim); coordinate ``status`` holds the
        status names (from the CF ``flag_meanings`` of ``ds.status``, else :class:`vhtwin.Status`), ``code`` the
        codes. Codes that are not described appear as ``"code_<n>"``.

    Raises
    ------
    InputError
        ``ds`` has no ``status`` variable.
    """
    _dataset(ds)
    if "status" not in ds.data_vars:
        raise InputError("ds: no 'status' variable; failure_counts needs the per-patient solver status")
    attrs = ds["status"].attrs
    if "flag_values" in attrs and "flag_meanings" in attrs:
        codes = [int(v) for v in np.atleast_1d(attrs["flag_values"])]
        names = str(attrs["flag_meanings"]).split()
        if len(names) != len(codes):
            codes, names = None, None
    else:
        codes = None
    if codes is None:
        described = Status.flag_attrs()
        codes, names = described["flag_values"], described["flag_meanings"].split()
    arm_names, has_arm = _arms(ds)
    per_arm = []
    for i in range(len(arm_names)):
        status = np.asarray(_arm(ds["status"], i if has_arm else None).values).astype(np.int64).ravel()
        values, counts = np.unique(status, return_counts=True)
        per_arm.append(dict(zip(values.tolist(), counts.tolist())))
    extra = sorted({c for d in per_arm for c in d} - set(codes))
    codes = list(codes) + extra
    names = list(names) + [f"code_{c}" for c in extra]
    table = np.array([[d.get(c, 0) for c in codes] for d in per_arm], dtype=np.int64)
    result = _wrap(table, arm_names, has_arm, ds, ("status",), {"status": names, "code": ("status", codes)},
                   name="failure_counts", attrs={"long_name": "patients per solver status", "units": "1"})
    return result
