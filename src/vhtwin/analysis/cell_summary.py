"""Action-potential biomarkers of a cohort of virtual myocytes, per patient and per arm, in bounded memory.

The trial-scale counterpart of :func:`vhtwin.analysis.action_potential_biomarkers`: a store of a paced cell cohort
holds the membrane potential over ``(arm, patient, time)``, possibly for a million cells, so the potential is read
in slabs of patients; only the per-patient biomarkers (a few floats each) are kept. Each arm may be paced at its own
rate, so the beat analysed is given per arm (by default the last stimulus inside the output window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import InputError
from .electrophysiology import action_potential_biomarkers
from .summary import _arm, _arms, _batch, _check_q, _output, _wrap, successful

#: Biomarkers kept per patient.
METRICS = ("apd90", "apd50", "resting_potential", "peak_voltage", "max_upstroke_velocity")


def last_stimulus(protocol, times: np.ndarray) -> float | None:
    """The last stimulus start of ``protocol``'s pacing trains inside ``[times[0], times[-1])``, or ``None``."""
    from ..protocols.pacing import Combined, Pacing

    parts = protocol.parts if isinstance(protocol, Combined) else (protocol,)
    starts = [p.start + k * p.period for p in parts if isinstance(p, Pacing) for k in range(p.count)]
    inside = [s for s in starts if times[0] <= s < times[-1]]
    return max(inside) if inside else None


def _beat_start(beat_start: Any, name: Any, index: int, times: np.ndarray) -> float:
    value = beat_start[name] if isinstance(beat_start, Mapping) else beat_start
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not np.isfinite(value):
        raise InputError(f"beat_start of arm {name if name is not None else index!r}: {value!r} must be a finite time")
    if not times[0] <= value < times[-1]:
        raise InputError(f"beat_start {value!r} of arm {name!r} is outside the output window [{times[0]:g}, {times[-1]:g}]")
    return float(value)


def action_potential_per_patient(
    ds: xr.Dataset, variable: str = "V", *, beat_start: float | Mapping[Any, float],
    repolarisation: Sequence[float] = (90, 50), batch_size: int | None = None,
) -> xr.Dataset:
    """Biomarkers of the beat starting at ``beat_start`` (stimulus time) for every patient, per arm.

    Parameters
    ----------
    ds : xarray.Dataset
        A trial store (dims ``arm, patient, time``) or a :func:`vhtwin.simulate` result (``patient, time``).
    variable : str
        The membrane potential output (mV, or dimensionless for phenomenological models).
    beat_start : float or mapping
        Start of the analysed beat (model time unit): one time, or arm name -> time. The beat runs to the last
        output time.
    repolarisation : sequence of float
        Repolarisation percentages (``apd90``, ``apd50`` by default).
    batch_size : int, optional
        Patients read at a time.

    Returns
    -------
    xarray.Dataset
        ``apdXX``, ``resting_potential``, ``peak_voltage``, ``max_upstroke_velocity`` over ``(arm, patient)`` (NaN
        for failed patients and for cells that did not repolarise), with units; ``status`` copied from ``ds``.
    """
    da = _output(ds, variable)
    times = np.asarray(ds["time"].values, dtype=float)
    size = _batch(batch_size, times.size)
    arm_names, has_arm = _arms(ds)
    n = ds.sizes["patient"]
    names = tuple(f"apd{int(x) if float(x).is_integer() else x}" for x in repolarisation) + METRICS[2:]
    stacks = {m: [] for m in names}
    units = {}
    for i, name in enumerate(arm_names):
        index = i if has_arm else None
        start = _beat_start(beat_start, name, i, times)
        ok = successful(ds, index)
        rows = _arm(da, index).transpose("patient", "time")
        values = {m: np.full(n, np.nan) for m in names}
        for a in range(0, n, size):
            b = min(a + size, n)
            keep = np.flatnonzero(ok[a:b])
            if keep.size == 0:
                continue
            block = xr.DataArray(np.asarray(rows.isel(patient=slice(a, b)).values, dtype=float)[keep],
                                 dims=("patient", "time"), coords={"time": ("time", times, dict(ds["time"].attrs))},
                                 attrs=dict(da.attrs))
            bio = action_potential_biomarkers(block, beat_starts=[start], period=times[-1] - start,
                                              repolarisation=repolarisation)
            for m in names:
                values[m][a + keep] = bio[m].values
                units[m] = bio[m].attrs.get("units", "")
        for m in names:
            stacks[m].append(values[m])
    coords = {"patient": ds["patient"]} if "patient" in ds.coords else {}
    out = xr.Dataset({m: _wrap(np.stack(stacks[m]), arm_names, has_arm, ds, ("patient",), coords,
                               attrs={"units": units.get(m, "")}) for m in names})
    if "status" in ds.data_vars:
        out["status"] = ds["status"]
    out.attrs["variable"] = variable
    return out


def action_potential_summary(per_patient: xr.Dataset, q: Sequence[float] = (5, 50, 95)) -> xr.Dataset:
    """Percentiles over patients (NaN left out) of each biomarker of :func:`action_potential_per_patient`, per arm,
    with ``n_analysed`` (patients with a finite APD at the first repolarisation level)."""
    qs = _check_q(q)
    metrics = [v for v in per_patient.data_vars if v != "status"]
    out = {}
    for m in metrics:
        x = np.asarray(per_patient[m].values, dtype=float)
        with np.errstate(all="ignore"):
            p = np.full(x.shape[:-1] + (qs.size,), np.nan)
            finite = np.isfinite(x)
            for idx in np.ndindex(x.shape[:-1]):
                if finite[idx].any():
                    p[idx] = np.percentile(x[idx][finite[idx]], qs)
        dims = tuple(d for d in per_patient[m].dims if d != "patient") + ("percentile",)
        out[m] = xr.Variable(dims, p, attrs=dict(per_patient[m].attrs))
    first = metrics[0]
    out["n_analysed"] = xr.Variable(tuple(d for d in per_patient[first].dims if d != "patient"),
                                    np.isfinite(per_patient[first].values).sum(axis=-1))
    coords = {"percentile": qs}
    if "arm" in per_patient.coords:
        coords["arm"] = per_patient["arm"]
    return xr.Dataset(out, coords=coords)
