"""Conduction velocity from activation-time maps (``activation_time`` of :meth:`Monodomain.run`).

Both functions return velocities in m/s (= mm/ms, the grid's units).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .grid import AXES


def _spatial_dims(da):
    return [d for d in da.dims if d in AXES]


def conduction_velocity(activation):
    """Local speed ``1 / |grad T|`` (m/s) from an activation-time DataArray (dims [tissue,] x[, y, z]).

    The gradient uses central differences inside and one-sided ones at the edges (``numpy.gradient`` with the node
    coordinates); NaN where a neighbour never activated or where the gradient vanishes (collision or stimulus sites).
    """
    import xarray as xr

    dims = _spatial_dims(activation)
    if not dims:
        raise InputError(f"activation map has no spatial dims (x, y, z): {activation.dims}")
    T = activation.values
    axes = [activation.dims.index(d) for d in dims]
    grads = np.gradient(T, *[activation[d].values for d in dims], axis=axes)
    if len(dims) == 1:
        grads = [grads]
    norm = np.sqrt(sum(g * g for g in grads))
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(norm > 1e-12, 1.0 / norm, np.nan)
    return xr.DataArray(cv, dims=activation.dims, coords=activation.coords, attrs={"units": "m s-1", "long_name": "conduction velocity"})


def velocity_along_line(activation, start, end, *, trim: float = 0.2):
    """Conduction velocity (m/s) along the segment ``start -> end`` (mm): ``1 / slope`` of a least-squares fit of
    activation time against distance at the nodes nearest the segment, leaving out ``trim`` of its length at each end
    (stimulus and boundary effects). A cohort (a ``tissue`` dim) gives one value per tissue (a numpy array).
    """
    dims = _spatial_dims(activation)
    start, end = np.asarray(start, float).reshape(-1), np.asarray(end, float).reshape(-1)
    if start.size != len(dims) or end.size != len(dims):
        raise InputError(f"start and end need {len(dims)} coordinates (mm)")
    if not 0 <= trim < 0.5:
        raise InputError(f"trim {trim!r} must be in [0, 0.5)")
    length = float(np.linalg.norm(end - start))
    coords = [activation[d].values for d in dims]
    dx = min(float(np.min(np.diff(c))) for c in coords)
    s = np.linspace(trim * length, (1 - trim) * length, max(2, int(round((1 - 2 * trim) * length / dx)) + 1))
    pts = start[None, :] + s[:, None] * (end - start)[None, :] / max(length, 1e-300)
    idx = {d: ("p", np.clip(np.rint((pts[:, k] - c[0]) / dx).astype(int), 0, c.size - 1)) for k, (d, c) in enumerate(zip(dims, coords))}
    import xarray as xr

    sel = activation.isel({d: xr.DataArray(i, dims="p") for d, (_, i) in idx.items()})
    node = np.stack([coords[k][idx[d][1]] for k, d in enumerate(dims)], axis=1)
    dist = (node - start[None, :]) @ ((end - start) / max(length, 1e-300))
    T = np.moveaxis(sel.values, sel.dims.index("p"), -1)
    flat = T.reshape(-1, T.shape[-1])
    out = np.empty(flat.shape[0])
    for i, t in enumerate(flat):
        ok = np.isfinite(t)
        if ok.sum() < 2:
            out[i] = np.nan
            continue
        slope = np.polyfit(dist[ok], t[ok], 1)[0]
        out[i] = 1.0 / slope if slope != 0 else np.nan
    return out.reshape(T.shape[:-1]) if T.ndim > 1 else float(out[0])
