"""The torsade metric score (TMS) and the CiPA risk class from it.

TMS = the mean qNet over 1, 2, 3 and 4 x free Cmax (Li et al. 2019, Clin Pharmacol Ther 105:466-475): lower charge
means more risk. Two thresholds split it into high / intermediate / low. The defaults, :data:`THRESHOLDS`, are the
ones Li et al. 2019 derived for manual patch-clamp data by ordinal logistic regression on the 12 training drugs'
uncertainty samples. vhtwin reproduces the method (:func:`fit_thresholds`) on its own simulations; the values both
ways are in the README's "Cardiac safety" section. A drug with an EAD at any of the four concentrations is high
risk whatever its TMS, and its TMS averages the concentrations without one (vhtwin's rule: qNet of a beat with an
EAD measures the EAD, not the repolarisation reserve).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy.optimize import minimize

from ..errors import InputError

#: TMS thresholds (uC/uF): below ``high`` is high risk, below ``low`` intermediate, else low
THRESHOLDS = {"high": 0.0579, "low": 0.0689}
THRESHOLDS_SOURCE = ("Li et al. 2019 (Clin Pharmacol Ther 105:466), manual patch-clamp data; values as used in the "
                     "public analysis code of github.com/CardiacModelling/hERG-binding-mechanisms "
                     "(src/ordinal-logistic-regression.py)")
CLASSES = ("low", "intermediate", "high")
TMS_MULTIPLES = (1.0, 2.0, 3.0, 4.0)


def torsade_metric_score(ds: xr.Dataset) -> xr.DataArray:
    """TMS: the mean qNet (uC/uF) over 1-4 x Cmax, leaving out concentrations with an EAD (NaN if all had one).

    Parameters
    ----------
    ds : xarray.Dataset
        A :func:`vhtwin.cipa.torsade_metric` result that includes the multiples 1, 2, 3 and 4.
    """
    multiples = np.asarray(ds["cmax_multiple"].values, float)
    missing = [m for m in TMS_MULTIPLES if not np.any(np.isclose(multiples, m))]
    if missing:
        raise InputError(f"the torsade metric score needs cmax_multiples 1, 2, 3 and 4; {missing} are missing")
    pick = np.array([np.flatnonzero(np.isclose(multiples, m))[0] for m in TMS_MULTIPLES])
    sub = ds.isel(concentration=pick)
    tms = sub["qNet"].where(~sub["EAD"].astype(bool)).mean("concentration", skipna=True)
    tms.attrs = {"units": "uC uF-1", "long_name": "torsade metric score (mean qNet over 1-4 x Cmax)"}
    return tms.rename("TMS")


def classify(ds: xr.Dataset, thresholds: dict | None = None) -> xr.DataArray:
    """Risk class (``"high"``, ``"intermediate"``, ``"low"``) per sample (or one) of a torsade_metric result."""
    t = dict(THRESHOLDS if thresholds is None else thresholds)
    if not (0 < t.get("high", -1) <= t.get("low", -1)):
        raise InputError(f"thresholds {thresholds!r} need 0 < 'high' <= 'low' (uC/uF)")
    tms = torsade_metric_score(ds)
    multiples = np.asarray(ds["cmax_multiple"].values, float)
    in_range = xr.DataArray(np.isin(np.round(multiples, 9), TMS_MULTIPLES), dims=("concentration",))
    ead = (ds["EAD"].astype(bool) & in_range).any("concentration")
    label = xr.where(ead | ~np.isfinite(tms) | (tms < t["high"]), "high",
                     xr.where(tms < t["low"], "intermediate", "low"))
    return label.rename("risk")


def fit_thresholds(tms, classes, penalty: float = 1e-6) -> dict[str, float]:
    """TMS thresholds by proportional-odds (ordinal) logistic regression of risk class on TMS, the method of Li et
    al. 2019: ``logit P(class >= j) = a_j + b TMS`` for j = intermediate, high; threshold j is ``-a_j / b``.

    Parameters
    ----------
    tms : array_like
        TMS values (uC/uF), e.g. every uncertainty sample of the training drugs.
    classes : array_like of str
        Their drugs' published classes.
    penalty : float
        Ridge penalty on ``b`` (in units of TMS/0.01), which keeps the fit finite when the classes separate.

    Returns
    -------
    dict
        ``{"high": ..., "low": ...}``: below ``high`` the high class is the likelier, below ``low`` high or
        intermediate is.
    """
    x = np.asarray(tms, float).ravel() / 0.01  # scaled so that the slope is of order one
    labels = [str(c) for c in np.asarray(classes).ravel()]
    unknown = sorted(set(labels) - set(CLASSES))
    if unknown:
        raise InputError(f"classes {unknown} are not risk classes; use {list(CLASSES)}")
    if len(labels) != x.size:
        raise InputError(f"tms has {x.size} values and classes {len(labels)}; give one class per value")
    y = np.array([CLASSES.index(c) for c in labels])
    keep = np.isfinite(x)
    x, y = x[keep], y[keep]
    if x.size < 3 or len(set(y)) < 3:
        raise InputError("fit_thresholds needs finite TMS values of all three classes")

    def nll(theta):
        a1, gap, b = theta
        a2 = a1 - np.exp(gap)  # a2 < a1: P(high) <= P(at least intermediate)
        p1 = 1.0 / (1.0 + np.exp(-(a1 + b * x)))  # P(class >= intermediate)
        p2 = 1.0 / (1.0 + np.exp(-(a2 + b * x)))  # P(class >= high)
        prob = np.where(y == 0, 1.0 - p1, np.where(y == 1, p1 - p2, p2))
        return -np.sum(np.log(np.clip(prob, 1e-300, None))) + penalty * b * b

    start = np.array([6.0 * np.median(x), 0.0, -6.0])
    best = minimize(nll, start, method="Nelder-Mead", options=dict(xatol=1e-10, fatol=1e-12, maxiter=20000))
    a1, gap, b = best.x
    a2 = a1 - np.exp(gap)
    return {"high": float(-a2 / b * 0.01), "low": float(-a1 / b * 0.01)}
