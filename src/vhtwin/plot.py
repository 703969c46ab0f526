"""Figures of simulation results (matplotlib).

Every function draws on a new :class:`matplotlib.figure.Figure` -- or on the ``ax`` you pass -- and returns the
figure. Nothing here uses pyplot's global state or calls ``show``, so the functions work the same in a notebook, a
script, a headless CI job (Agg) or a thread; save with ``fig.savefig(path)``.

Trajectories that failed (``status != 0``) are left out of every line and percentile, and the title says how many
were left out, so a failure is never drawn as a gap that looks like data.

Examples
--------
>>> import vhtwin as vh, vhtwin.plot
>>> fig = vhtwin.plot.time_course(ds, "Cc")               # doctest: +SKIP
>>> fig.savefig("Cc.png", dpi=150)                       # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .errors import InputError

__all__ = ["time_course", "sweep"]


def time_course(
    ds: xr.Dataset,
    variable: str,
    *,
    ax: Axes | None = None,
    percentiles: tuple[float, float, float] = (5, 50, 95),
    max_lines: int = 20,
) -> Figure:
    """A variable over time: a line for one patient; for a batch, a percentile band, its middle line and a few patients.

    Parameters
    ----------
    ds : xarray.Dataset
        A result of :func:`vhtwin.simulate` (or a store opened with :func:`vhtwin.io.open_zarr`): dims
        ``("time",)`` for one patient or ``("patient", "time")`` for a batch; a per-patient time grid
        (``("patient", "obs")``) draws individual lines only.
    variable : str
        Name of an observable or state, e.g. ``"Cc"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    percentiles : (low, middle, high)
        Percentiles over patients (0--100, increasing): the band spans low to high, the line is the middle one.
    max_lines : int
        At most this many individual patients are drawn as thin lines (evenly spread over the successful ones;
        0 for none).

    Returns
    -------
    matplotlib.figure.Figure
        With axis labels ``"<variable> [<units>]"`` and ``"time [<time units>]"``.

    Raises
    ------
    InputError
        If ``variable`` is not in ``ds``, or ``percentiles`` / ``max_lines`` are invalid.
    """
    da = _variable(ds, variable)
    low, mid, high = _check_percentiles(percentiles)
    if isinstance(max_lines, bool) or not isinstance(max_lines, (int, np.integer)) or max_lines < 0:
        raise InputError(f"max_lines {max_lines!r} must be an integer >= 0")
    fig, ax = _figure(ax)
    ok, n_failed = _succeeded(ds)
    t = np.asarray(ds["time"].values, dtype=float)
    y = np.asarray(da.values, dtype=float)

    if "patient" not in da.dims:
        if ok.all():
            ax.plot(t, y, color="C0", lw=1.5, label=variable)
    else:
        t_rows = t if t.ndim == 2 else np.broadcast_to(t, y.shape)
        rows = np.flatnonzero(ok)
        for i in _spread(rows, max_lines):
            ax.plot(t_rows[i], y[i], color="0.55", lw=0.5, alpha=0.6)
        if t.ndim == 1 and rows.size:
            band = np.percentile(y[rows], [low, mid, high], axis=0)
            ax.fill_between(t, band[0], band[2], color="C0", alpha=0.25, lw=0, label=f"{low:g}-{high:g} percentiles")
            ax.plot(t, band[1], color="C0", lw=2.0, label=_percentile_name(mid))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", frameon=False)
    ax.set_xlabel(_label("time", ds["time"]))
    ax.set_ylabel(_label(variable, da))
    ax.set_title(_title(variable, ok, n_failed))
    return fig


def sweep(
    ds: xr.Dataset,
    variable: str,
    parameter_values,
    parameter_name: str,
    ax: Axes | None = None,
    *,
    unit: str | None = None,
    cmap: str = "viridis",
) -> Figure:
    """A parameter sweep: one line per patient, coloured by the value of the swept parameter, with a colorbar.

    Parameters
    ----------
    ds : xarray.Dataset
        A batch result over ``("patient", "time")``; patient ``i`` was simulated with ``parameter_values[i]``.
    variable : str
        Name of an observable or state.
    parameter_values : array_like, shape (n_patients,)
        The swept values, in the order of the patients.
    parameter_name : str
        Name for the colorbar, e.g. ``"CL"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    unit : str, optional
        Unit of the parameter, shown on the colorbar (``"CL [L h-1]"``).
    cmap : str
        A matplotlib colormap name.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        If ``variable`` is not in ``ds``, ``ds`` has no ``patient`` dimension with a shared time grid, the number
        of parameter values differs from the number of patients, or ``cmap`` is unknown.
    """
    da = _variable(ds, variable)
    if da.dims != ("patient", "time"):
        raise InputError(f"sweep needs {variable!r} over ('patient', 'time'), got dims {da.dims}")
    values = np.asarray(parameter_values, dtype=float)
    if values.shape != (da.sizes["patient"],):
        raise InputError(f"parameter_values has shape {values.shape}; expected one value per patient ({da.sizes['patient']},)")
    fig, ax = _figure(ax)
    ok, n_failed = _succeeded(ds)
    t = np.asarray(ds["time"].values, dtype=float)
    y = np.asarray(da.values, dtype=float)
    finite = values[np.isfinite(values)]
    norm = Normalize(*(finite.min(), finite.max()) if finite.size else (0.0, 1.0))
    if cmap not in colormaps:
        raise InputError(f"unknown colormap {cmap!r}; use a matplotlib colormap name such as 'viridis'")
    colours = colormaps[cmap]
    for i in np.flatnonzero(ok):
        ax.plot(t, y[i], color=colours(norm(values[i])), lw=1.2)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=colours), ax=ax)
    bar.set_label(f"{parameter_name} [{unit}]" if unit else parameter_name)
    ax.set_xlabel(_label("time", ds["time"]))
    ax.set_ylabel(_label(variable, da))
    ax.set_title(_title(f"{variable} vs {parameter_name}", ok, n_failed))
    return fig


# -- helpers -----------------------------------------------------------------------------------------------------------
def _figure(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=(7.0, 4.5), layout="constrained")
        return fig, fig.subplots()
    return ax.figure, ax


def _variable(ds: xr.Dataset, variable: str) -> xr.DataArray:
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"expected an xarray.Dataset (a vhtwin result), got {type(ds).__name__}")
    if variable not in ds.data_vars:
        plottable = [k for k, v in ds.data_vars.items() if "time" in v.dims or "obs" in v.dims]
        raise InputError(f"no variable {variable!r} in the dataset; it has {plottable}")
    return ds[variable]


def _succeeded(ds: xr.Dataset) -> tuple[np.ndarray, int]:
    """Mask of successful trajectories (per patient, or one entry for one patient) and the number that failed."""
    if "status" not in ds:
        n = ds.sizes.get("patient", 1)
        return np.ones(n, dtype=bool), 0
    ok = np.atleast_1d(np.asarray(ds["status"].values) == 0)
    return ok, int((~ok).sum())


def _label(name: str, da: xr.DataArray) -> str:
    unit = da.attrs.get("units")
    return f"{name} [{unit}]" if unit else name


def _title(what: str, ok: np.ndarray, n_failed: int) -> str:
    n = ok.size
    title = what if n == 1 else f"{what}, {n - n_failed} of {n} patients"
    if n_failed:
        title += f" ({n_failed} failed, excluded)" if n > 1 else " (failed: not drawn)"
    return title


def _check_percentiles(percentiles) -> tuple[float, float, float]:
    try:
        low, mid, high = (float(p) for p in percentiles)
    except (TypeError, ValueError):
        raise InputError(f"percentiles {percentiles!r} must be three numbers (low, middle, high)") from None
    if not 0 <= low < mid < high <= 100:
        raise InputError(f"percentiles {percentiles!r} must satisfy 0 <= low < middle < high <= 100")
    return low, mid, high


def _percentile_name(p: float) -> str:
    return "median" if p == 50 else f"{p:g} percentile"


def _spread(rows: np.ndarray, k: int) -> np.ndarray:
    """At most ``k`` entries of ``rows``, evenly spaced (deterministic)."""
    if k >= rows.size:
        return rows
    if k == 0:
        return rows[:0]
    return rows[np.unique(np.linspace(0, rows.size - 1, k).round().astype(int))]
