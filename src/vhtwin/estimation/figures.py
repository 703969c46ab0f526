"""Diagnostic figures of a population fit (matplotlib): goodness of fit, distributions of the individual random
effects, and the visual predictive check.

Like :mod:`vhtwin.plot`, every function draws on a new :class:`matplotlib.figure.Figure` -- or on the axes you pass
-- and returns the figure; nothing uses pyplot's global state, so the functions work the same in a notebook, a
script or a headless job (Agg). Save with ``fig.savefig(path)``.

Censored records (below the limit of quantification) have no measured DV: they are left out of the scatter plots and
the panel titles say how many.

Examples
--------
>>> from vhtwin.estimation import figures
>>> figures.goodness_of_fit(fit.predictions).savefig("gof.png")                    # doctest: +SKIP
>>> stats = vpc_statistics(fit.observed(), fit.simulate_records(500))              # doctest: +SKIP
>>> figures.vpc(stats, fit.observed()).savefig("vpc.png")                         # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import InputError
from .vpc import observed_points

__all__ = ["goodness_of_fit", "eta_distributions", "vpc"]

GOF_VARIABLES = ("TIME", "DV", "PRED", "IPRED", "CWRES")
VPC_VARIABLES = ("observed", "simulated_low", "simulated_median", "simulated_high", "time", "n_observations")
OUTER, MIDDLE = "C0", "C3"  # the conventional VPC colours: blue outer percentiles, red median


def goodness_of_fit(
    predictions: xr.Dataset,
    *,
    axes: Sequence[Axes] | None = None,
    log: bool = False,
    smooth: bool = True,
) -> Figure:
    """The four standard goodness-of-fit panels: DV against PRED and IPRED, CWRES against TIME and PRED.

    Parameters
    ----------
    predictions : xarray.Dataset
        One entry per measurement record (dim ``record``) with ``TIME``, ``DV``, ``PRED``, ``IPRED`` and ``CWRES``
        (e.g. :attr:`PopulationFit.predictions`) and optionally ``CENS`` (bool: below the limit of quantification;
        such records are left out and counted in the titles). ``units`` attributes label the axes.
    axes : sequence of 4 matplotlib.axes.Axes, optional
        Where to draw, in the order DV-PRED, DV-IPRED, CWRES-TIME, CWRES-PRED (a 2 x 2 array is read row by row);
        default a new 2 x 2 figure.
    log : bool
        Logarithmic DV and prediction axes in the DV panels (records with a value <= 0 are not drawn there).
    smooth : bool
        A running median (medians of 10 bins of equal counts) over the CWRES panels, to show a trend.

    Returns
    -------
    matplotlib.figure.Figure
        DV panels with the identity line and equal axis ranges; CWRES panels with a line at 0 and dashed lines at
        +-2.

    Raises
    ------
    InputError
        If ``predictions`` is not such a Dataset or ``axes`` are not four axes.
    """
    ds = _check_predictions(predictions)
    fig, panels = _panels(axes, 4, (2, 2), (9.0, 7.5), "axes")
    censored = np.asarray(ds["CENS"].values, bool) if "CENS" in ds else np.zeros(ds.sizes["record"], bool)
    value = {v: np.asarray(ds[v].values, dtype=float)[~censored] for v in GOF_VARIABLES}
    note = f" ({int(censored.sum())} censored not drawn)" if censored.any() else ""
    label = {v: _label(v, ds[v]) for v in GOF_VARIABLES}
    for axis, x in zip(panels[:2], ("PRED", "IPRED")):
        _identity_panel(axis, value[x], value["DV"], log)
        axis.set_xlabel(label[x])
        axis.set_ylabel(label["DV"])
        axis.set_title(f"DV vs {x}{note}")
    for axis, x in zip(panels[2:], ("TIME", "PRED")):
        _residual_panel(axis, value[x], value["CWRES"], smooth)
        axis.set_xlabel(label[x])
        axis.set_ylabel(label["CWRES"])
        axis.set_title(f"CWRES vs {x}{note}")
    return fig


def eta_distributions(
    etas: pd.DataFrame,
    omega: pd.DataFrame | None = None,
    *,
    axes: Sequence[Axes] | None = None,
    shrinkage: Mapping[str, float] | pd.Series | None = None,
    bins: int | str = "auto",
) -> Figure:
    """The distribution of every individual random effect (empirical Bayes estimate): a density histogram per eta,
    with the model's N(0, omega_kk) density over it.

    Parameters
    ----------
    etas : pandas.DataFrame
        One row per subject (index ID), one column per eta, e.g. :attr:`PopulationFit.etas`.
    omega : pandas.DataFrame, optional
        The variance-covariance matrix of the etas, labelled by the same names (e.g. :attr:`PopulationFit.omega`);
        its diagonal gives the overlaid normal densities.
    axes : sequence of matplotlib.axes.Axes, optional
        One per eta, in column order; default a new figure (three panels a row).
    shrinkage : mapping or pandas.Series, optional
        Eta shrinkage (a fraction, e.g. 0.12) per eta name; a panel's title gives it in percent.
    bins : int or str
        Histogram bins, as :func:`numpy.histogram_bin_edges` takes them.

    Returns
    -------
    matplotlib.figure.Figure
        A panel per eta titled with its name (and shrinkage), x-label ``"eta <name>"``, y-label ``"density"``.

    Raises
    ------
    InputError
        If ``etas`` is empty or not a DataFrame, ``omega`` lacks an eta or has a variance <= 0, or ``axes`` are too
        few.
    """
    if not isinstance(etas, pd.DataFrame) or etas.shape[1] == 0 or etas.shape[0] == 0:
        raise InputError(f"etas must be a non-empty pandas DataFrame (one column per eta), got "
                         f"{type(etas).__name__}{getattr(etas, 'shape', '')}")
    names = [str(c) for c in etas.columns]
    variance = _omega_diagonal(omega, list(etas.columns)) if omega is not None else None
    shrink = dict(shrinkage) if shrinkage is not None else {}
    ncols = min(len(names), 3)
    fig, panels = _panels(axes, len(names), (-(-len(names) // ncols), ncols), None, "axes")
    for k, (column, name, axis) in enumerate(zip(etas.columns, names, panels)):
        values = np.asarray(etas[column], dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            axis.hist(values, bins=bins, density=True, color="0.7", edgecolor="0.4", lw=0.5,
                      label=f"estimates (n={values.size})")
        if variance is not None:
            sd = float(np.sqrt(variance[k]))
            reach = max(4.0 * sd, float(np.abs(values).max()) if values.size else 0.0)
            x = np.linspace(-reach, reach, 201)
            axis.plot(x, np.exp(-0.5 * (x / sd) ** 2) / (sd * np.sqrt(2.0 * np.pi)), color="C3", lw=1.5,
                      label=f"N(0, {variance[k]:.3g})")
        axis.axvline(0.0, color="k", lw=0.8, ls=":")
        title = name
        if column in shrink or name in shrink:
            title += f" (shrinkage {100.0 * float(shrink.get(column, shrink.get(name))):.0f} %)"
        axis.set_title(title)
        axis.set_xlabel(f"eta {name}")
        axis.set_ylabel("density")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", frameon=False, fontsize="small")
    return fig


def vpc(
    statistics: xr.Dataset,
    observed: pd.DataFrame | None = None,
    *,
    ax: Axes | None = None,
    axes: Sequence[Axes] | None = None,
    blq: bool | None = None,
    log: bool = False,
    xlabel: str = "TIME",
    ylabel: str | None = None,
) -> Figure:
    """A visual predictive check: per stratum, the simulated interval of each percentile as a shaded band (the
    median's in red, the others in blue) with the observed percentiles as lines over it.

    Parameters
    ----------
    statistics : xarray.Dataset
        The result of :func:`vhtwin.estimation.vpc.vpc_statistics`.
    observed : pandas.DataFrame, optional
        The observations it was computed from; drawn as points (prediction-corrected for a pcVPC; censored ones
        left out and counted in the title).
    ax : matplotlib.axes.Axes, optional
        Where to draw a VPC of one stratum without the BLQ panel.
    axes : sequence of matplotlib.axes.Axes, optional
        One per stratum, followed, with BLQ panels, by one BLQ panel per stratum. Give ``ax`` or ``axes``, not both;
        default a new figure.
    blq : bool, optional
        Draw the fraction below the limit of quantification per bin (observed against the simulated interval) under
        each panel; default: when the statistics have it (a ``CENS`` column was given), it is not zero everywhere
        and, with ``axes``, there are axes for it.
    log : bool
        Logarithmic DV axis.
    xlabel, ylabel : str
        Axis labels; the default y-label is ``"DV"`` or ``"prediction-corrected DV"``.

    Returns
    -------
    matplotlib.figure.Figure
        A panel per stratum titled with the stratum (``"DOSE=100, "`` when stratified) and its number of
        observations; the legend below the panels (on the first of the given axes when axes are given).

    Raises
    ------
    InputError
        If ``statistics`` is not such a Dataset, BLQ panels are asked for without BLQ statistics, the number of
        axes does not fit, or ``observed`` lacks a needed column.
    """
    stats = _check_statistics(statistics)
    labels = list(stats["stratum"].values)
    n = len(labels)
    has_blq = "observed_blq_fraction" in stats
    if blq and not has_blq:
        raise InputError("blq = True but the statistics have no BLQ fractions (vpc_statistics needs a CENS column)")
    if ax is not None and axes is not None:
        raise InputError("give ax (one stratum) or axes (one per stratum), not both")
    given = [ax] if ax is not None else (None if axes is None else list(np.ravel(np.asarray(axes, dtype=object))))
    if blq is None:  # a BLQ panel of zeros (a CENS column without censored data) would only take room
        blq = has_blq and (given is None or len(given) == 2 * n) and bool(
            (stats["observed_blq_fraction"] > 0).any() or (stats["simulated_blq_high"] > 0).any())
    points = observed_points(observed, stats) if observed is not None else None
    if given is None:
        fig, main, lower = _vpc_figure(n, blq)
    else:
        if len(given) != n * (2 if blq else 1) or not all(isinstance(a, Axes) for a in given):
            raise InputError(f"axes: {len(given)} given; this VPC of {n} strata needs {n} axes"
                             + (f" (or {2 * n} with the BLQ panels)" if has_blq else ""))
        fig, main, lower = given[0].figure, given[:n], given[n:] if blq else []
    corrected = bool(stats.attrs.get("prediction_corrected", False))
    columns = [c for c in str(stats.attrs.get("stratify", "")).split(",") if c]
    for s, (label, axis) in enumerate(zip(labels, main)):
        one = stats.isel(stratum=s)
        _vpc_panel(axis, one, first=s == 0)
        title = "" if not columns else f"{columns[0]}={label}, " if len(columns) == 1 else f"{label}, "
        title += f"{int(one['n_observations'].sum())} observations"
        if points is not None:
            mine = points[points["stratum"] == label]
            shown = mine[~mine["CENS"]]
            axis.plot(shown["TIME"], shown["DV"], ls="none", marker="o", ms=2.5, color="0.45", alpha=0.5,
                      label="observations" if s == 0 else None, zorder=1)
            if mine["CENS"].any():
                title += f" ({int(mine['CENS'].sum())} BLQ not drawn)"
        if log:
            axis.set_yscale("log")
        axis.set_title(title)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel or ("prediction-corrected DV" if corrected else "DV"))
        if s == 0 and given is not None:
            axis.legend(loc="best", frameon=False, fontsize="x-small")
    for s, axis in enumerate(lower):
        _blq_panel(axis, stats.isel(stratum=s), first=s == 0)
        axis.set_xlabel(xlabel)
    if given is None:  # the figure is ours: the legend goes below the panels, off the data
        handles, names = main[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(names), 2), frameon=False,
                   fontsize="small")
        kind = "Prediction-corrected visual predictive check" if corrected else "Visual predictive check"
        fig.suptitle(f"{kind}: {stats.attrs.get('n_replicates', '?')} replicates, "
                     f"{100.0 * float(stats.attrs.get('ci', 0.95)):g} % intervals")
    return fig


# -- panels -----------------------------------------------------------------------------------------------------------
def _identity_panel(axis: Axes, x: np.ndarray, y: np.ndarray, log: bool) -> None:
    ok = np.isfinite(x) & np.isfinite(y)
    if log:
        ok &= (x > 0) & (y > 0)  # a log axis cannot show them
    x, y = x[ok], y[ok]
    axis.plot(x, y, ls="none", marker="o", ms=3, color="C0", alpha=0.6)
    if x.size:
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        if log:
            lo, hi = lo / 1.1, hi * 1.1
        else:
            pad = 0.05 * (hi - lo) if hi > lo else 1.0
            lo, hi = lo - pad, hi + pad
        axis.plot([lo, hi], [lo, hi], color="k", lw=1.0)
        axis.set_xlim(lo, hi)
        axis.set_ylim(lo, hi)  # equal ranges, so a bias reads as a distance from the diagonal
    if log:
        axis.set_xscale("log")
        axis.set_yscale("log")


def _residual_panel(axis: Axes, x: np.ndarray, cwres: np.ndarray, smooth: bool) -> None:
    ok = np.isfinite(x) & np.isfinite(cwres)
    x, cwres = x[ok], cwres[ok]
    axis.plot(x, cwres, ls="none", marker="o", ms=3, color="C0", alpha=0.6)
    axis.axhline(0.0, color="k", lw=1.0)
    for level in (-2.0, 2.0):
        axis.axhline(level, color="k", lw=0.8, ls="--")
    if smooth and x.size >= 2:
        centre, median = _running_median(x, cwres)
        axis.plot(centre, median, color="C3", lw=1.5, label="running median")


def _running_median(x: np.ndarray, y: np.ndarray, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Medians of x and y over bins of equal counts of x (sorted): a trend line without a smoothing parameter."""
    order = np.argsort(x, kind="stable")
    chunks = [c for c in np.array_split(order, min(n_bins, x.size)) if c.size]
    return np.array([np.median(x[c]) for c in chunks]), np.array([np.median(y[c]) for c in chunks])


def _vpc_figure(n: int, blq: bool) -> tuple[Figure, list[Axes], list[Axes]]:
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(max(4.6 * ncols, 7.0), (4.6 if blq else 3.8) * nrows + 1.0), layout="constrained")
    if not blq:
        axes = list(np.ravel(fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)))
        for extra in axes[n:]:
            extra.set_visible(False)
        return fig, axes[:n], []
    grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[3, 1] * nrows)
    main, lower = [], []
    for s in range(n):
        r, c = divmod(s, ncols)
        top = fig.add_subplot(grid[2 * r, c])
        main.append(top)
        lower.append(fig.add_subplot(grid[2 * r + 1, c], sharex=top))
    return fig, main, lower


def _vpc_panel(axis: Axes, one: xr.Dataset, first: bool) -> None:
    t = np.asarray(one["time"].values, dtype=float)
    q = np.asarray(one["percentile"].values, dtype=float)
    middle = int(np.argmin(np.abs(q - 50.0)))
    outer = [j for j in range(q.size) if j != middle]
    ci = 100.0 * float(one.attrs.get("ci", 0.95))
    # one legend entry for the middle percentile and one for all the outer ones, so the legend stays short
    outer_name = ", ".join(_ordinal(q[j]).removesuffix(" percentile") for j in outer) + " percentile"
    outer_name += "s" if len(outer) > 1 else ""
    for j in range(q.size):
        is_middle = j == middle
        labelled = first and (is_middle or j == outer[0])
        name = _ordinal(q[j]) if is_middle else outer_name
        axis.fill_between(t, one["simulated_low"].values[:, j], one["simulated_high"].values[:, j],
                          color=MIDDLE if is_middle else OUTER, alpha=0.3 if is_middle else 0.2, lw=0,
                          label=f"simulated {name}: {ci:g} % interval{'' if is_middle else 's'}" if labelled else None)
        axis.plot(t, one["observed"].values[:, j], color="k" if is_middle else "0.2", ls="-" if is_middle else "--",
                  lw=1.8 if is_middle else 1.2, label=f"observed {name}" if labelled else None, zorder=3)


def _blq_panel(axis: Axes, one: xr.Dataset, first: bool) -> None:
    t = np.asarray(one["time"].values, dtype=float)
    axis.fill_between(t, one["simulated_blq_low"].values, one["simulated_blq_high"].values, color=OUTER, alpha=0.25,
                      lw=0, label="simulated" if first else None)
    axis.plot(t, one["simulated_blq_median"].values, color=OUTER, lw=1.0, ls="--")
    axis.plot(t, one["observed_blq_fraction"].values, color="k", marker="o", ms=3, lw=1.2,
              label="observed" if first else None)
    axis.set_ylim(0.0, 1.0)
    axis.set_ylabel("fraction BLQ")
    if first:
        axis.legend(loc="best", frameon=False, fontsize="x-small")


# -- checks and helpers -----------------------------------------------------------------------------------------------
def _panels(axes, count: int, shape: tuple[int, int], size, name: str) -> tuple[Figure, list[Axes]]:
    if axes is None:
        rows, cols = shape
        fig = Figure(figsize=size or (4.0 * cols, 3.3 * rows), layout="constrained")
        panels = list(np.ravel(fig.subplots(rows, cols, squeeze=False)))
        for extra in panels[count:]:
            extra.set_visible(False)
        return fig, panels[:count]
    panels = [axes] if isinstance(axes, Axes) else list(np.ravel(np.asarray(axes, dtype=object)))
    if len(panels) != count or not all(isinstance(a, Axes) for a in panels):
        raise InputError(f"{name}: {len(panels)} given; this figure needs {count} matplotlib Axes")
    return panels[0].figure, panels


def _check_predictions(predictions) -> xr.Dataset:
    if not isinstance(predictions, xr.Dataset):
        raise InputError(f"predictions must be an xarray.Dataset with dim 'record' (PopulationFit.predictions), "
                         f"got {type(predictions).__name__}")
    missing = [v for v in GOF_VARIABLES if v not in predictions.variables]
    if missing:
        raise InputError(f"predictions has no variable(s) {missing}; goodness_of_fit needs {list(GOF_VARIABLES)}")
    for v in GOF_VARIABLES + (("CENS",) if "CENS" in predictions.variables else ()):
        if predictions[v].dims != ("record",):
            raise InputError(f"predictions['{v}'] has dims {predictions[v].dims}; it must have dims ('record',)")
    return predictions


def _omega_diagonal(omega, names: list) -> np.ndarray:
    if not isinstance(omega, pd.DataFrame):
        raise InputError(f"omega must be a pandas DataFrame labelled by the eta names, got {type(omega).__name__}")
    missing = [n for n in names if n not in omega.index or n not in omega.columns]
    if missing:
        raise InputError(f"omega has no row/column for eta(s) {missing}; it is labelled {list(omega.columns)}")
    variance = np.array([float(omega.loc[n, n]) for n in names])
    bad = ~(variance > 0) | ~np.isfinite(variance)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputError(f"omega[{names[k]!r}, {names[k]!r}] is {variance[k]}; a variance must be finite and > 0")
    return variance


def _check_statistics(statistics) -> xr.Dataset:
    if not isinstance(statistics, xr.Dataset):
        raise InputError(f"statistics must be the xarray.Dataset of vpc_statistics, got {type(statistics).__name__}")
    missing = [v for v in VPC_VARIABLES if v not in statistics.variables]
    if missing or not {"stratum", "bin", "percentile"} <= set(statistics.dims):
        raise InputError(f"statistics lacks {missing or 'the dims stratum, bin, percentile'}; it must be the result "
                         f"of vpc_statistics")
    return statistics.transpose("stratum", "bin", "percentile", ...)


def _label(name: str, da: xr.DataArray) -> str:
    unit = da.attrs.get("units")
    return f"{name} [{unit}]" if unit else name


def _ordinal(p: float) -> str:
    """'median', '5th percentile', '2.5th percentile', '1st percentile', '92nd percentile', ..."""
    if p == 50:
        return "median"
    if p != int(p) or 10 <= int(p) % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(int(p) % 10, "th")
    return f"{p:g}{suffix} percentile"
