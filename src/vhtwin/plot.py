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

For in-silico trials (dims ``arm``, ``patient``, ``time``), :func:`trial_bands` draws per-arm percentile bands
(computed in bounded memory by :func:`vhtwin.analysis.percentiles`, optionally with observed data on top: a VPC-style
figure) and :func:`nca_distributions` the distribution of NCA metrics per arm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .errors import InputError

__all__ = ["time_course", "sweep", "trial_bands", "nca_distributions"]


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


def trial_bands(
    ds_or_percentiles: xr.Dataset | xr.DataArray,
    variable: str,
    q: tuple[float, float, float] = (5, 50, 95),
    observed: pd.DataFrame | None = None,
    ax: Axes | None = None,
    log: bool = False,
    *,
    overlay: bool = False,
) -> Figure:
    """Percentile bands per arm of a trial: the middle percentile as a line and the outer ones as a band.

    Parameters
    ----------
    ds_or_percentiles : xarray.Dataset or xarray.DataArray
        A trial store or batch result (the percentiles are computed with :func:`vhtwin.analysis.percentiles`, in
        bounded memory), or the output of that function (dims ``(arm, percentile, time)`` or
        ``(percentile, time)``) holding the percentiles ``q``.
    variable : str
        The output drawn (and the column of ``observed`` overlaid).
    q : (low, middle, high)
        Percentiles (0--100, increasing): the band spans low to high, the line is the middle one.
    observed : pandas.DataFrame, optional
        Observations drawn as points over the bands (a visual predictive check): columns ``time`` and
        ``variable``; an optional ``id`` column joins each subject's points with a faint line, an optional ``arm``
        column puts each row on its arm's panel (without it, every panel shows all rows).
    ax : matplotlib.axes.Axes, optional
        Draw every arm on this axes, one colour per arm (implies ``overlay``).
    log : bool
        Logarithmic concentration axis.
    overlay : bool
        One axes with one colour per arm instead of one panel per arm (shared axes).

    Returns
    -------
    matplotlib.figure.Figure
        Axis labels ``"<variable> [<units>]"`` and ``"time [<time units>]"`` (``"time [h]"`` for times in ms or s
        spanning two hours or more, e.g. a heart cell's clock over a drug's days); each panel titled with its arm and
        the number of successful patients (and failed ones, left out).

    Raises
    ------
    InputError
        Unknown variable, bad percentiles, percentiles missing from a given DataArray, or a bad ``observed``.
    """
    low, mid, high = _check_percentiles(q)
    if isinstance(ds_or_percentiles, xr.Dataset):
        from .analysis.summary import percentiles as _percentiles

        pct = _percentiles(ds_or_percentiles, variable, (low, mid, high))
    elif isinstance(ds_or_percentiles, xr.DataArray):
        pct = ds_or_percentiles
        if "percentile" not in pct.dims or "time" not in pct.dims or not set(pct.dims) <= {"arm", "percentile", "time"}:
            raise InputError(
                f"ds_or_percentiles: a DataArray needs dims ('arm', 'percentile', 'time') or ('percentile', 'time') "
                f"(the output of vhtwin.analysis.percentiles), got {pct.dims}"
            )
        have = np.asarray(pct["percentile"].values, dtype=float)
        missing = [p for p in (low, mid, high) if not np.any(np.isclose(have, p, rtol=0, atol=1e-12))]
        if missing:
            raise InputError(f"q: percentiles {missing} are not in the DataArray (it has {have.tolist()})")
    else:
        raise InputError(
            f"ds_or_percentiles: expected an xarray.Dataset or the DataArray of vhtwin.analysis.percentiles, "
            f"got {type(ds_or_percentiles).__name__}"
        )
    obs = _observed(observed, variable)
    if "arm" not in pct.dims:
        pct = pct.expand_dims(arm=[None])
    arms = list(pct["arm"].values) if "arm" in pct.coords else list(range(pct.sizes["arm"]))
    arms = [a.item() if hasattr(a, "item") else a for a in arms]
    overlay = overlay or ax is not None or len(arms) == 1
    if ax is not None:
        fig, axes = ax.figure, [ax] * len(arms)
    elif overlay:
        fig, one = _figure(None)
        axes = [one] * len(arms)
    else:
        ncols = min(len(arms), 3)
        nrows = -(-len(arms) // ncols)
        fig = Figure(figsize=(4.2 * ncols, 3.6 * nrows), layout="constrained")
        axes = list(np.ravel(fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)))
        for extra in axes[len(arms):]:
            extra.set_visible(False)
    t = np.asarray(pct["time"].values, dtype=float)
    pcts = np.asarray(pct["percentile"].values, dtype=float)
    index = {p: int(np.argmin(np.abs(pcts - p))) for p in (low, mid, high)}
    units = pct.attrs.get("units")
    ylabel = f"{variable} [{units}]" if units else variable
    xlabel = _label("time", pct["time"]) if "time" in pct.coords else "time"
    factor, hours = _in_hours(t, pct["time"].attrs.get("units") if "time" in pct.coords else None)
    if hours:  # a span of hours held in ms or s (a heart cell's clock driven by a drug's PK) reads in hours
        t, xlabel = t * factor, "time [h]"
        obs = None if obs is None else obs.assign(time=obs["time"] * factor)
    for i, (arm, axis) in enumerate(zip(arms, axes)):
        row = pct.isel(arm=i).transpose("percentile", "time")
        values = np.asarray(row.values, dtype=float)
        colour = f"C{i}" if overlay else "C0"
        name = "" if arm is None else str(arm)
        prefix = f"{name}: " if overlay and name else ""
        axis.fill_between(t, values[index[low]], values[index[high]], color=colour, alpha=0.25, lw=0,
                          label=f"{prefix}{low:g}-{high:g} percentiles")
        axis.plot(t, values[index[mid]], color=colour, lw=2.0, label=f"{prefix}{_percentile_name(mid)}")
        if obs is not None:
            rows = obs if "arm" not in obs.columns or arm is None else obs[obs["arm"].astype(str) == name]
            _draw_observed(axis, rows, variable, "k" if not overlay else colour,
                           f"{prefix}observed" if len(rows) else None)
        counts = _counts(row)
        if not overlay:
            axis.set_title(f"{name}{counts}" if name else f"{variable}{counts}")
        if log:
            axis.set_yscale("log")
    for axis in dict.fromkeys(axes):
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", frameon=False, fontsize="small")
    if overlay:
        axes[0].set_title(f"{variable}: {_percentile_name(mid)} and {low:g}-{high:g} percentiles per arm")
    else:
        fig.suptitle(f"{variable}: {_percentile_name(mid)} and {low:g}-{high:g} percentiles")
    return fig


def nca_distributions(
    nca: xr.Dataset | Mapping,
    metrics: Sequence[str] = ("cmax", "auclast", "half_life"),
    *,
    bins: int = 40,
    log: bool | str = "auto",
    title: str = "NCA metrics per arm",
) -> Figure:
    """The distribution of NCA metrics (or any per-patient metrics, e.g. action-potential biomarkers) per arm: per metric one panel with a step histogram (density) per arm and
    a dashed line at each arm's median. Histograms rather than box or violin plots: they stay cheap and readable
    at a million patients and show skew and multiple modes; on a log axis the density is per log10 unit.

    Parameters
    ----------
    nca : xarray.Dataset or mapping
        Per-patient NCA results: :func:`vhtwin.analysis.nca_per_patient` of a trial (dims ``(arm, patient)``;
        failed patients are NaN and left out), a :func:`vhtwin.analysis.nca` result (dims ``(patient,)``), or a
        mapping arm name -> such a Dataset.
    metrics : sequence of str
        The metrics drawn, one panel each.
    bins : int
        Number of histogram bins (shared by the arms of a panel).
    log : bool or "auto"
        Log-spaced bins and a log axis; ``"auto"`` where all values are positive and span more than a factor 20.
    title : str
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
        Panel x-labels ``"<metric> [<units>]"``; legends name each arm with its number of finite values.

    Raises
    ------
    InputError
        An unknown metric, no metrics, a bad ``bins`` or ``log``, or input of the wrong kind.
    """
    groups = _nca_groups(nca)
    if isinstance(metrics, str):
        metrics = (metrics,)
    metrics = list(metrics)
    if not metrics:
        raise InputError("metrics: give at least one NCA metric")
    for arm, group in groups:
        unknown = [m for m in metrics if m not in group.data_vars]
        if unknown:
            raise InputError(f"metrics: {unknown} not in the NCA results; they have {list(group.data_vars)}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InputError(f"bins: {bins!r} must be an integer >= 1")
    if log not in (True, False, "auto"):
        raise InputError(f"log: {log!r} must be True, False or 'auto'")
    ncols = min(len(metrics), 3)
    nrows = -(-len(metrics) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows), layout="constrained")
    axes = list(np.ravel(fig.subplots(nrows, ncols, squeeze=False)))
    for extra in axes[len(metrics):]:
        extra.set_visible(False)
    for m, axis in zip(metrics, axes):
        data = [(arm, _finite(group[m])) for arm, group in groups]
        pooled = np.concatenate([v for _, v in data]) if data else np.zeros(0)
        units = groups[0][1][m].attrs.get("units")
        axis.set_xlabel(f"{m} [{units}]" if units else m)
        axis.set_ylabel("density")
        if pooled.size == 0:
            axis.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=axis.transAxes)
            continue
        lo, hi = float(pooled.min()), float(pooled.max())
        use_log = log is True or (log == "auto" and lo > 0 and hi / lo > 20)
        if use_log and lo <= 0:
            raise InputError(f"log: {m} has values <= 0; a log axis needs positive values (use log=False)")
        if hi == lo:
            lo, hi = (lo * 0.9, lo * 1.1) if lo > 0 else (lo - 0.5, hi + 0.5)
        edges = np.geomspace(lo, hi, bins + 1) if use_log else np.linspace(lo, hi, bins + 1)
        for i, (arm, values) in enumerate(data):
            if values.size == 0:
                continue
            counts, _ = np.histogram(values, edges)
            widths = np.diff(np.log10(edges)) if use_log else np.diff(edges)
            density = counts / (values.size * widths)  # per log10 unit on a log axis, so areas read right
            label = f"{arm} (n={values.size})" if arm is not None else f"n={values.size}"
            axis.stairs(density, edges, color=f"C{i}", lw=1.5, label=label)
            axis.axvline(float(np.median(values)), color=f"C{i}", ls="--", lw=1.0)
        if use_log:
            axis.set_xscale("log")
            axis.set_ylabel("density per log10 unit")
        axis.set_title(m)
        axis.legend(loc="best", frameon=False, fontsize="small")
    fig.suptitle(f"{title} (dashed: medians)")
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


#: seconds per time unit that :func:`trial_bands` may draw in hours instead
_SECONDS = {"ms": 1e-3, "s": 1.0}


def _in_hours(t: np.ndarray, unit: str | None) -> tuple[float, bool]:
    """The factor from ``unit`` to hours and whether to use it: times in ms or s spanning two hours or more."""
    if unit not in _SECONDS or t.size == 0:
        return 1.0, False
    factor = _SECONDS[unit] / 3600.0
    return factor, bool((np.nanmax(t) - np.nanmin(t)) * factor >= 2.0)


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


def _counts(row: xr.DataArray) -> str:
    if "n_patients" not in row.coords:
        return ""
    n, failed = int(row["n_patients"]), int(row["n_failed"]) if "n_failed" in row.coords else 0
    text = f", {n} patients"
    return text + (f" ({failed} failed, excluded)" if failed else "")


def _observed(observed, variable: str) -> pd.DataFrame | None:
    if observed is None:
        return None
    if not isinstance(observed, pd.DataFrame):
        raise InputError(f"observed: expected a pandas DataFrame with columns 'time' and {variable!r}, "
                         f"got {type(observed).__name__}")
    missing = [c for c in ("time", variable) if c not in observed.columns]
    if missing:
        raise InputError(f"observed: missing column(s) {missing}; it has {list(observed.columns)}")
    for c in ("time", variable):
        if not pd.api.types.is_numeric_dtype(observed[c]):
            raise InputError(f"observed: column {c!r} must be numeric, got dtype {observed[c].dtype}")
    return observed


def _draw_observed(axis: Axes, rows: pd.DataFrame, variable: str, colour: str, label: str | None) -> None:
    if len(rows) == 0:
        return
    if "id" in rows.columns:
        for _, one in rows.groupby("id", sort=False):
            one = one.sort_values("time")
            axis.plot(one["time"], one[variable], color=colour, lw=0.5, alpha=0.3)
    axis.plot(rows["time"], rows[variable], ls="none", marker="o", ms=3, color=colour, alpha=0.8, label=label)


def _nca_groups(nca) -> list[tuple[object, xr.Dataset]]:
    if isinstance(nca, xr.Dataset):
        if "arm" in nca.dims:
            names = nca["arm"].values if "arm" in nca.coords else range(nca.sizes["arm"])
            groups = [(a.item() if hasattr(a, "item") else a, nca.isel(arm=i)) for i, a in enumerate(names)]
        else:
            groups = [(None, nca)]
    elif isinstance(nca, Mapping):
        if not nca:
            raise InputError("nca: the mapping arm -> NCA results is empty")
        groups = list(nca.items())
    else:
        raise InputError(f"nca: expected per-patient NCA results (an xarray.Dataset from vhtwin.analysis.nca or "
                         f"nca_per_patient, or a mapping arm -> Dataset), got {type(nca).__name__}")
    for arm, group in groups:
        if not isinstance(group, xr.Dataset):
            raise InputError(f"nca[{arm!r}]: expected an xarray.Dataset, got {type(group).__name__}")
    return groups


def _finite(da: xr.DataArray) -> np.ndarray:
    values = np.asarray(da.values, dtype=float).ravel()
    return values[np.isfinite(values)]


def pv_loop(
    ds: xr.Dataset,
    volume: str = "V_lv",
    pressure: str = "P_lv",
    beats: int | Sequence[int] | str = -1,
    ax: Axes | None = None,
    *,
    period: float | None = None,
    t_start: float | None = None,
    max_lines: int = 20,
) -> Figure:
    """Pressure-volume loops: ``pressure`` against ``volume``, one line per patient (and beat).

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`vhtwin.simulate` result with a shared time grid, e.g. of ``cardio/smith2004``.
    volume, pressure : str
        The chamber's volume and pressure (defaults: the left ventricle of ``cardio/smith2004``).
    beats : int, sequence of int or "all"
        Which complete beats to draw, indexed like a Python list (default ``-1``: the last beat). Beats are windows
        of ``period`` from ``t_start`` (default the first output time); without ``period`` the whole record is
        one "beat".
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    period : float, optional
        Beat period in the Dataset's time unit.
    t_start : float, optional
        Start of the first beat.
    max_lines : int
        At most this many patients are drawn (evenly spread over the successful ones).

    Returns
    -------
    matplotlib.figure.Figure
        Volume on x, pressure on y, with units in the labels.
    """
    v_da, p_da = _variable(ds, volume), _variable(ds, pressure)
    if isinstance(max_lines, bool) or not isinstance(max_lines, (int, np.integer)) or max_lines < 1:
        raise InputError(f"max_lines {max_lines!r} must be an integer >= 1")
    t = np.asarray(ds["time"].values, dtype=float)
    if t.ndim != 1:
        raise InputError("pv_loop needs a time grid shared by the patients")
    if period is None:
        edges = np.array([t[0], t[-1]])
    else:
        if not (isinstance(period, (int, float, np.floating)) and np.isfinite(period) and period > 0):
            raise InputError(f"period {period!r} must be a finite number > 0")
        start = t[0] if t_start is None else float(t_start)
        n = int(np.floor((t[-1] - start) / period + 1e-9))
        first = max(0, int(np.ceil((t[0] - start) / period - 1e-9)))
        edges = start + period * np.arange(first, n + 1)
        if edges.size < 2:
            raise InputError(f"the output times ({t[0]:g} to {t[-1]:g}) do not cover one beat of period {period:g}")
    n_beats = edges.size - 1
    if isinstance(beats, str):
        if beats != "all":
            raise InputError(f"beats {beats!r} must be an integer, a sequence of integers or 'all'")
        chosen = list(range(n_beats))
    else:
        wanted = [beats] if isinstance(beats, (int, np.integer)) else list(beats)
        if not wanted or any(isinstance(b, bool) or not isinstance(b, (int, np.integer)) for b in wanted):
            raise InputError(f"beats {beats!r} must be an integer, a sequence of integers or 'all'")
        bad = [b for b in wanted if not -n_beats <= b < n_beats]
        if bad:
            raise InputError(f"beats {bad} out of range: the record has {n_beats} complete beat(s)")
        chosen = [int(b) % n_beats for b in wanted]
    fig, ax = _figure(ax)
    ok, n_failed = _succeeded(ds)
    v = np.atleast_2d(np.asarray(v_da.transpose(..., "time").values, dtype=float))
    p = np.atleast_2d(np.asarray(p_da.transpose(..., "time").values, dtype=float))
    rows = _spread(np.flatnonzero(ok), max_lines)
    for j, k in enumerate(chosen):
        inside = (t >= edges[k] - 1e-12) & (t <= edges[k + 1] + 1e-12)
        for n, i in enumerate(rows):
            label = None
            if n == 0:
                label = f"beat {k}" + ("" if v.shape[0] == 1 else f" ({len(rows)} patients)")
            ax.plot(v[i, inside], p[i, inside], color=f"C{j % 10}", lw=1.2 if len(rows) == 1 else 0.8,
                    alpha=1.0 if len(rows) == 1 else 0.7, label=label)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", frameon=False)
    ax.set_xlabel(_label(volume, v_da))
    ax.set_ylabel(_label(pressure, p_da))
    ax.set_title(_title(f"pressure-volume loop {pressure} vs {volume}", ok, n_failed))
    return fig
