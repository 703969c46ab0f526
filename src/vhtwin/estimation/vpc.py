"""Visual predictive check (VPC) statistics: observed percentiles per time bin against the distribution of the same
percentiles over datasets simulated from a fitted model.

A VPC asks whether the model reproduces the data's central tendency and spread over time. The observations are
grouped into time bins (per stratum); in each bin the observed percentiles of DV (e.g. 5th, 50th, 95th) are computed,
and the same percentiles of every simulated replicate of the dataset, whose spread over replicates gives a
confidence interval for each percentile. An observed percentile outside its simulated interval in many bins points
at a misfit.

Conventions chosen here (and stated in :func:`vpc_statistics`):

- Percentiles use numpy's default definition (``np.percentile``, linear interpolation between order statistics:
  the value at position ``(n - 1) p / 100`` of the sorted values, Hyndman & Fan 1996 type 7).
- Bins are computed once on the observed times of all strata, and the same bins are used for every replicate.
- Prediction correction (pcVPC) follows Bergstrand et al. (2011), AAPS J 13:143-151.
- Observations below the limit of quantification (``CENS``) count as below every percentile (their DV is taken as
  ``-inf``); an observed percentile that falls among them is unknown: NaN, flagged in ``observed_censored``. The
  simulated percentiles are those of the simulated values as simulated (the model's prediction below the limit);
  the censored part is checked by the fraction BLQ per bin, observed against simulated.

Examples
--------
>>> from vhtwin.estimation.vpc import vpc_statistics
>>> stats = vpc_statistics(observed, fit.simulate_records(500), n_bins=8)    # doctest: +SKIP
>>> stats["observed"].sel(percentile=50)                                     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InputError

__all__ = ["vpc_statistics", "observed_points"]

ALL = "all"  # the one stratum's label when there is no stratification


def vpc_statistics(
    observed: pd.DataFrame,
    simulated,
    *,
    bins: str = "quantiles",
    n_bins: int | None = None,
    edges=None,
    percentiles: Sequence[float] = (5, 50, 95),
    ci: float = 0.95,
    prediction_corrected: bool = False,
    simulated_pred=None,
    stratify: str | Sequence[str] | None = None,
    lower_bound: float = 0.0,
) -> xr.Dataset:
    """Observed percentiles per stratum and time bin, and the simulated percentiles' median and interval.

    Parameters
    ----------
    observed : pandas.DataFrame
        One row per observation record: ``ID``, ``TIME``, ``DV`` (for a censored row NaN or the limit), optional
        ``CENS`` (bool or 0/1: below the limit of quantification), optional ``LIMIT`` (the limit of a censored row;
        without it a censored row's DV is its limit), optional ``PRED`` (population prediction, needed for a pcVPC)
        and any stratification columns.
    simulated : array_like, shape (n_replicates, n_records)
        The simulated DV of every replicate at the records of ``observed`` (same row order). NaN marks a missing
        value (e.g. a failed solve) and is left out of that replicate's percentiles.
    bins : {"quantiles", "edges"}
        ``"quantiles"``: ``n_bins`` bins holding about equal numbers of observations; records at the same time
        always share a bin, so heavily tied times can give fewer bins. ``"edges"``: the bins given by ``edges``
        (implied when ``edges`` is given).
    n_bins : int, optional
        Number of quantile bins; default ``min(10, number of distinct observed times)``.
    edges : array_like, optional
        Increasing bin edges: bin ``k`` is ``[edges[k], edges[k + 1])``, the last bin also holds ``edges[-1]``.
        Every observed time must lie within ``[edges[0], edges[-1]]``.
    percentiles : sequence of float
        Percentiles of DV per bin, increasing, each strictly between 0 and 100.
    ci : float
        Coverage of the simulated interval of each percentile (0 < ci < 1): the ``(1 - ci) / 2`` and
        ``(1 + ci) / 2`` quantiles over replicates.
    prediction_corrected : bool
        Prediction-corrected VPC: every DV (observed and simulated) becomes
        ``lb + (DV - lb) (PRED_bin - lb) / (PRED - lb)``, ``PRED_bin`` the median PRED of its stratum and bin and
        ``lb`` = ``lower_bound``. A record whose PRED equals its ``PRED_bin`` is left as it is (the limit of the
        formula); every other PRED must exceed ``lower_bound``.
    simulated_pred : array_like, optional
        PRED of the simulated records, shape ``(n_records,)`` or ``(n_replicates, n_records)``, when it differs
        from ``observed["PRED"]`` (normally it does not: PRED is the same in every replicate).
    stratify : str or sequence of str, optional
        Column(s) of ``observed`` whose values define the strata (one panel each); default one stratum, ``"all"``.
    lower_bound : float
        ``lb`` of the prediction correction (0 for concentrations).

    Returns
    -------
    xarray.Dataset
        Dims ``stratum``, ``bin``, ``percentile``. Variables: ``observed`` (stratum, bin, percentile) with
        ``observed_censored`` (bool: the percentile falls among censored observations, so ``observed`` is NaN);
        ``simulated_median``, ``simulated_low``, ``simulated_high`` (same dims); ``time`` (stratum, bin: the median
        observed TIME of the bin), ``time_low``, ``time_high`` (bin: its edges); ``n_observations`` (stratum, bin).
        With a ``CENS`` column also ``observed_blq_fraction`` and ``simulated_blq_low``, ``simulated_blq_median``,
        ``simulated_blq_high`` (stratum, bin): a simulated value below its record's limit counts as BLQ (a quantified
        record without a ``LIMIT`` takes the lowest limit of its stratum's censored records, else of the dataset's).
        An empty bin of a stratum has NaN statistics and 0 observations. Attributes: ``ci``,
        ``prediction_corrected``, ``n_replicates``, ``binning``, ``lower_bound``, ``stratify`` (the columns, joined
        by commas) and ``percentile_method``.

    Raises
    ------
    InputError
        Mismatched shapes, missing columns, percentiles outside (0, 100), ``ci`` outside (0, 1), ``n_bins`` < 1,
        bad or too narrow ``edges``, a pcVPC without PRED, or an unknown ``stratify`` column -- before any compute.
    """
    obs = _check_observed(observed)
    sim = _check_simulated(simulated, len(obs))
    q = _check_percentiles(percentiles)
    ci = _check_ci(ci)
    names = _check_stratify(stratify, obs)
    lb = _finite_number("lower_bound", lower_bound)
    binning, edges = _check_bins(bins, n_bins, edges, obs["TIME"].to_numpy(float))
    sim_pred = _check_simulated_pred(simulated_pred, prediction_corrected, obs, sim.shape)

    times = obs["TIME"].to_numpy(float)
    which_bin = _assign(times, edges)
    labels, which_stratum = _strata(obs, names)
    censored = obs["CENS"].to_numpy(bool) if "CENS" in obs else np.zeros(len(obs), bool)
    dv = np.where(censored, -np.inf, obs["DV"].to_numpy(float))
    limit = _limits(obs, censored, which_stratum) if "CENS" in obs else None
    pred = obs["PRED"].to_numpy(float) if prediction_corrected else None
    if prediction_corrected:
        _check_prediction_correction(pred, which_stratum, which_bin, lb, "observed['PRED']")

    S, B, P = len(labels), len(edges) - 1, q.size
    out = {k: np.full((S, B, P), np.nan) for k in ("observed", "simulated_median", "simulated_low", "simulated_high")}
    out["observed_censored"] = np.zeros((S, B, P), bool)
    mid_time, count = np.full((S, B), np.nan), np.zeros((S, B), np.int64)
    blq = {k: np.full((S, B), np.nan) for k in ("observed_blq_fraction", "simulated_blq_low", "simulated_blq_median",
                                                  "simulated_blq_high")}
    tails = np.array([50.0 * (1.0 - ci), 50.0, 50.0 * (1.0 + ci)])
    for (s, b), rows in _groups(which_stratum, which_bin, B):
        count[s, b] = rows.size
        mid_time[s, b] = np.median(times[rows])
        y_obs, y_sim = dv[rows], sim[:, rows]
        if prediction_corrected:
            # a censored DV stays below everything whatever the correction's ratio
            y_obs = np.where(censored[rows], -np.inf, _correct(y_obs, pred[rows], np.median(pred[rows]), lb))
            p_sim = sim_pred[..., rows]  # (m,) or, when given per replicate, (R, m)
            y_sim = _correct(y_sim, p_sim, np.median(p_sim, axis=-1, keepdims=True), lb)
        value, flagged = _percentiles(y_obs[None, :], q)
        out["observed"][s, b], out["observed_censored"][s, b] = value[:, 0], flagged[:, 0]
        per_replicate, _ = _percentiles(y_sim, q)  # (P, R)
        summary, _ = _percentiles(per_replicate, tails)  # (3, P): over replicates, NaN (failed) left out
        out["simulated_low"][s, b], out["simulated_median"][s, b], out["simulated_high"][s, b] = summary
        if limit is not None:
            blq["observed_blq_fraction"][s, b] = censored[rows].mean()
            raw = sim[:, rows]
            present = ~np.isnan(raw)
            with np.errstate(invalid="ignore", divide="ignore"):
                fraction = (present & (raw < limit[rows])).sum(axis=1) / present.sum(axis=1)
            low, median, high = _percentiles(fraction[None, :], tails)[0][:, 0]
            blq["simulated_blq_low"][s, b], blq["simulated_blq_median"][s, b] = low, median
            blq["simulated_blq_high"][s, b] = high

    dims3 = ("stratum", "bin", "percentile")
    data = {k: (dims3, v) for k, v in out.items()}
    data["time"] = (("stratum", "bin"), mid_time)
    data["time_low"] = ("bin", edges[:-1].copy())
    data["time_high"] = ("bin", edges[1:].copy())
    data["n_observations"] = (("stratum", "bin"), count)
    if limit is not None:
        data.update({k: (("stratum", "bin"), v) for k, v in blq.items()})
    attrs = {"ci": ci, "prediction_corrected": bool(prediction_corrected), "n_replicates": int(sim.shape[0]),
             "binning": binning, "lower_bound": lb, "stratify": ",".join(names),
             "percentile_method": "linear interpolation (numpy's default, np.percentile)"}
    return xr.Dataset(data, coords={"stratum": labels, "bin": np.arange(B), "percentile": q}, attrs=attrs)


def observed_points(observed: pd.DataFrame, statistics: xr.Dataset) -> pd.DataFrame:
    """The observations as a VPC figure draws them: with their stratum and, for a pcVPC, prediction-corrected.

    Parameters
    ----------
    observed : pandas.DataFrame
        The ``observed`` table given to :func:`vpc_statistics` (the columns it needs: ``TIME``, ``DV``, the
        stratification columns, ``PRED`` for a pcVPC, optional ``CENS``).
    statistics : xarray.Dataset
        The result of :func:`vpc_statistics` on ``observed``: its bins, strata, ``lower_bound`` and whether it is
        prediction-corrected are used.

    Returns
    -------
    pandas.DataFrame
        Columns ``stratum`` (a label of ``statistics["stratum"]``), ``TIME``, ``DV`` (prediction-corrected for a
        pcVPC) and ``CENS`` (bool), in the row order of ``observed``; rows outside the bins are left out.

    Raises
    ------
    InputError
        If ``observed`` lacks a column the statistics need.
    """
    obs = _check_observed(observed)
    names = [n for n in str(statistics.attrs.get("stratify", "")).split(",") if n]
    _check_stratify(names or None, obs)
    edges = np.append(np.asarray(statistics["time_low"], float), np.asarray(statistics["time_high"], float)[-1:])
    times = obs["TIME"].to_numpy(float)
    which_bin = np.where((times >= edges[0]) & (times <= edges[-1]),
                         np.clip(np.searchsorted(edges, times, side="right") - 1, 0, edges.size - 2), -1)
    labels, which_stratum = _strata(obs, names)
    censored = obs["CENS"].to_numpy(bool) if "CENS" in obs else np.zeros(len(obs), bool)
    dv = obs["DV"].to_numpy(float).copy()
    if statistics.attrs.get("prediction_corrected", False):
        if "PRED" not in obs:
            raise InputError("observed has no column 'PRED'; a prediction-corrected VPC draws corrected observations")
        pred, lb = obs["PRED"].to_numpy(float), float(statistics.attrs.get("lower_bound", 0.0))
        for _, rows in _groups(which_stratum, which_bin, edges.size - 1):
            dv[rows] = _correct(dv[rows], pred[rows], np.median(pred[rows]), lb)
    keep = which_bin >= 0
    return pd.DataFrame({"stratum": [labels[i] for i in which_stratum[keep]], "TIME": times[keep], "DV": dv[keep],
                         "CENS": censored[keep]})


# -- computation ------------------------------------------------------------------------------------------------------
def _percentiles(values: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Percentiles ``q`` (0--100) of every row of ``values`` (rows, m), NaN left out, as numpy's default (linear)
    method computes them: returns (len(q), rows) values and a flag where the percentile involves a ``-inf``
    (a censored observation), reported NaN.

    Written out rather than ``np.nanpercentile`` because that loops in Python over rows holding a NaN, and a VPC
    has a row per replicate (up to thousands)."""
    ordered = np.sort(values, axis=1)  # NaN sorts last, -inf first
    n = (~np.isnan(ordered)).sum(axis=1)  # (rows,)
    virtual = (n - 1)[None, :] * (q / 100.0)[:, None]  # (len(q), rows), as numpy: (n - 1) * quantile
    below = np.floor(virtual)
    gamma = virtual - below
    lo = np.clip(below.astype(np.int64), 0, np.maximum(n - 1, 0)[None, :])
    hi = np.clip(lo + 1, 0, np.maximum(n - 1, 0)[None, :])
    a = np.take_along_axis(ordered, lo.T, axis=1).T
    b = np.take_along_axis(ordered, hi.T, axis=1).T
    with np.errstate(invalid="ignore"):
        # numpy's lerp: the formula anchored at the nearer end, so the result is exact at gamma 0 and 1
        value = np.where(gamma >= 0.5, b - (b - a) * (1.0 - gamma), a + (b - a) * gamma)
    flagged = np.isneginf(a) & (n > 0)[None, :]
    value = np.where(flagged | (n == 0)[None, :], np.nan, value)
    return value, flagged


def _correct(dv: np.ndarray, pred: np.ndarray, pred_bin, lb: float) -> np.ndarray:
    """Bergstrand et al. (2011): lb + (DV - lb) (PRED_bin - lb) / (PRED - lb); 1 where PRED equals PRED_bin."""
    same = pred == pred_bin
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(same, 1.0, (pred_bin - lb) / np.where(same, 1.0, pred - lb))
        return lb + (dv - lb) * ratio


def _groups(which_stratum: np.ndarray, which_bin: np.ndarray, n_bins: int):
    """(stratum, bin) and the rows of every non-empty group (rows with bin -1 are in none), sorted once rather than
    masked once per group."""
    inside = np.flatnonzero(which_bin >= 0)
    code = which_stratum[inside] * n_bins + which_bin[inside]
    order = np.argsort(code, kind="stable")
    codes, starts = np.unique(code[order], return_index=True)
    for c, rows in zip(codes, np.split(inside[order], starts[1:])):
        yield divmod(int(c), n_bins), rows


def _assign(times: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of every time: left-closed bins, the last one also right-closed."""
    return np.clip(np.searchsorted(edges, times, side="right") - 1, 0, edges.size - 2)


def _quantile_edges(times: np.ndarray, n_bins: int) -> np.ndarray:
    """Edges of ``n_bins`` bins with about equal numbers of observations that never split a time: each cut is the
    boundary between distinct times whose cumulative count is nearest to k N / n_bins; interior edges lie midway
    between the last time of a bin and the first of the next, the outer ones on the first and last time."""
    distinct, counts = np.unique(times, return_counts=True)
    cumulative = np.cumsum(counts)[:-1]  # observations up to and including distinct[i], i < last
    cuts = []
    for k in range(1, n_bins):
        if cumulative.size == 0:
            break
        i = int(np.argmin(np.abs(cumulative - k * times.size / n_bins)))
        if not cuts or i > cuts[-1]:
            cuts.append(i)
    interior = [(distinct[i] + distinct[i + 1]) / 2.0 for i in cuts]
    return np.array([distinct[0], *interior, distinct[-1]], dtype=float)


def _strata(obs: pd.DataFrame, names: list[str]) -> tuple[list, np.ndarray]:
    """Labels of the strata (sorted) and the stratum index of every row."""
    if not names:
        return [ALL], np.zeros(len(obs), np.int64)
    if len(names) == 1:
        codes, uniques = pd.factorize(obs[names[0]], sort=True)
        return [u.item() if hasattr(u, "item") else u for u in uniques], codes.astype(np.int64)
    keys = obs[names].astype(str).agg(lambda r: ", ".join(f"{n}={v}" for n, v in zip(names, r)), axis=1)
    codes, uniques = pd.factorize(keys, sort=True)
    return list(uniques), codes.astype(np.int64)


def _limits(obs: pd.DataFrame, censored: np.ndarray, which_stratum: np.ndarray) -> np.ndarray:
    """The limit of quantification of every record: LIMIT, else a censored row's DV; a record without one takes
    the lowest limit of its stratum's censored records, else of the dataset's (-inf when there is none)."""
    own = obs["LIMIT"].to_numpy(float) if "LIMIT" in obs else np.full(len(obs), np.nan)
    own = np.where(np.isnan(own) & censored, obs["DV"].to_numpy(float), own)
    known = censored & np.isfinite(own)
    overall = own[known].min() if known.any() else -np.inf
    limit = own.copy()
    for s in np.unique(which_stratum):
        here = which_stratum == s
        fallback = own[here & known].min() if (here & known).any() else overall
        limit[here & np.isnan(own)] = fallback
    return limit


# -- checks (every one before any compute) ----------------------------------------------------------------------------
def _check_observed(observed) -> pd.DataFrame:
    if not isinstance(observed, pd.DataFrame):
        raise InputError(f"observed must be a pandas DataFrame (ID, TIME, DV, ...), got {type(observed).__name__}")
    missing = [c for c in ("ID", "TIME", "DV") if c not in observed.columns]
    if missing:
        raise InputError(f"observed has no column(s) {missing}; it needs ID, TIME and DV "
                         f"(it has {list(observed.columns)})")
    if len(observed) == 0:
        raise InputError("observed has 0 rows; a VPC needs at least one observation")
    obs = observed.reset_index(drop=True)
    for column in ("TIME", "DV") + tuple(c for c in ("LIMIT", "PRED") if c in obs):
        if not pd.api.types.is_numeric_dtype(obs[column]):
            raise InputError(f"observed['{column}'] has dtype {obs[column].dtype}; it must be numeric")
    time = obs["TIME"].to_numpy(float)
    if not np.isfinite(time).all():
        row = int(np.flatnonzero(~np.isfinite(time))[0])
        raise InputError(f"observed['TIME'] is {time[row]} at row {row}; every TIME must be finite")
    if "CENS" in obs:
        cens = obs["CENS"].to_numpy()
        if not np.isin(cens, [0, 1]).all():
            bad = cens[~np.isin(cens, [0, 1])][0]
            bad = bad.item() if hasattr(bad, "item") else bad
            raise InputError(f"observed['CENS'] has the value {bad!r}; it must be 0/1 or a bool (1: below the limit)")
        obs["CENS"] = cens.astype(bool)
    censored = obs["CENS"].to_numpy(bool) if "CENS" in obs else np.zeros(len(obs), bool)
    dv = obs["DV"].to_numpy(float)
    bad = ~np.isfinite(dv) & ~censored
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"observed['DV'] is {dv[row]} at row {row}, which is not censored; a DV must be finite "
                         f"unless CENS marks it below the limit of quantification")
    return obs


def _check_simulated(simulated, n_records: int) -> np.ndarray:
    try:
        sim = np.asarray(simulated, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"simulated must be a numeric array (n_replicates, n_records), got "
                         f"{type(simulated).__name__}") from None
    if sim.ndim != 2 or sim.shape[1] != n_records or sim.shape[0] < 1:
        raise InputError(f"simulated has shape {sim.shape}; it must be (n_replicates >= 1, {n_records}): one column "
                         f"per row of observed")
    if np.isinf(sim).any():
        raise InputError("simulated has infinite values; a simulated DV must be finite (NaN for a missing one)")
    return sim


def _check_percentiles(percentiles) -> np.ndarray:
    try:
        q = np.asarray(percentiles, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"percentiles = {percentiles!r}: must be numbers strictly between 0 and 100") from None
    if q.ndim != 1 or q.size == 0 or not np.all((q > 0) & (q < 100)):
        raise InputError(f"percentiles = {percentiles!r}: must be one or more numbers strictly between 0 and 100")
    if np.any(np.diff(q) <= 0):
        raise InputError(f"percentiles = {percentiles!r}: must be strictly increasing")
    return q


def _check_ci(ci) -> float:
    if isinstance(ci, bool) or not isinstance(ci, (int, float, np.number)) or not 0.0 < float(ci) < 1.0:
        raise InputError(f"ci = {ci!r}: must be a number strictly between 0 and 1 (e.g. 0.95)")
    return float(ci)


def _finite_number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not np.isfinite(value):
        raise InputError(f"{name} = {value!r}: must be a finite number")
    return float(value)


def _check_stratify(stratify, obs: pd.DataFrame) -> list[str]:
    if stratify is None:
        return []
    names = [stratify] if isinstance(stratify, str) else list(stratify)
    for name in names:
        if not isinstance(name, str) or name not in obs.columns:
            raise InputError(f"stratify = {stratify!r}: {name!r} is not a column of observed "
                             f"(it has {list(obs.columns)})")
        if obs[name].isna().any():
            row = int(np.flatnonzero(obs[name].isna().to_numpy())[0])
            raise InputError(f"observed[{name!r}] is missing at row {row}; a stratification column needs a value in "
                             f"every row")
    return names


def _check_bins(bins, n_bins, edges, times: np.ndarray) -> tuple[str, np.ndarray]:
    if bins not in ("quantiles", "edges"):
        raise InputError(f"bins = {bins!r}: must be 'quantiles' or 'edges'")
    if edges is None:
        if bins == "edges":
            raise InputError("bins = 'edges' needs the edges argument (increasing bin edges)")
        distinct = np.unique(times).size
        if n_bins is None:
            n_bins = min(10, distinct)
        if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
            raise InputError(f"n_bins = {n_bins!r}: must be an integer >= 1")
        return "quantiles", _quantile_edges(times, int(n_bins))
    if n_bins is not None:
        raise InputError(f"n_bins = {n_bins!r} with edges given: give n_bins (quantile bins) or edges, not both")
    try:
        e = np.asarray(edges, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"edges = {edges!r}: must be increasing numbers") from None
    if e.ndim != 1 or e.size < 2 or not np.isfinite(e).all() or np.any(np.diff(e) <= 0):
        raise InputError(f"edges = {edges!r}: must be two or more finite, strictly increasing numbers")
    outside = (times < e[0]) | (times > e[-1])
    if outside.any():
        raise InputError(f"edges = {edges!r} leave out the observed TIME {times[outside][0]:g}; every observed "
                         f"time must lie within [{e[0]:g}, {e[-1]:g}]")
    return "edges", e


def _check_simulated_pred(simulated_pred, prediction_corrected: bool, obs: pd.DataFrame, shape) -> np.ndarray | None:
    """PRED of the simulated records: (n_records,), or (n_replicates, n_records) when given per replicate."""
    if not prediction_corrected:
        if simulated_pred is not None:
            raise InputError("simulated_pred is given but prediction_corrected is False; it is used by a pcVPC only")
        return None
    if "PRED" not in obs:
        raise InputError(f"prediction_corrected = True needs a column 'PRED' in observed (it has "
                         f"{list(obs.columns)})")
    pred = obs["PRED"].to_numpy(float)
    if not np.isfinite(pred).all():
        row = int(np.flatnonzero(~np.isfinite(pred))[0])
        raise InputError(f"observed['PRED'] is {pred[row]} at row {row}; a pcVPC needs every PRED finite")
    if simulated_pred is None:
        return pred
    try:
        sp = np.asarray(simulated_pred, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"simulated_pred must be a numeric array, got {type(simulated_pred).__name__}") from None
    if sp.shape not in ((shape[1],), tuple(shape)):
        raise InputError(f"simulated_pred has shape {sp.shape}; it must be ({shape[1]},) or {tuple(shape)}")
    if not np.isfinite(sp).all():
        raise InputError("simulated_pred has values that are not finite; a pcVPC needs every PRED finite")
    return sp


def _check_prediction_correction(pred, which_stratum, which_bin, lb: float, name: str) -> None:
    """Every PRED must exceed the lower bound, except one equal to its bin's median (left uncorrected)."""
    for _, rows in _groups(which_stratum, which_bin, int(which_bin.max()) + 1):
        p = pred[rows]
        bad = (p <= lb) & (p != np.median(p))
        if bad.any():
            raise InputError(f"{name} is {p[bad][0]:g} at row {int(rows[bad][0])}; a prediction-corrected VPC "
                             f"needs PRED > lower_bound {lb:g} (leave out such records or lower lower_bound)")
