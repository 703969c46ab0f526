"""vhtwin.estimation.figures: what is drawn (axes, points, reference lines, bands, labels, titles) on synthetic fits,
with the Agg backend, and the bad-input messages."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vhtwin.errors import InputError  # noqa: E402
from vhtwin.estimation import figures  # noqa: E402
from vhtwin.estimation.vpc import vpc_statistics  # noqa: E402

from .test_vpc import dataset  # noqa: E402


def predictions(n=120, n_censored=7, seed=0):
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0.5, 10.0, n)
    dv = pred * np.exp(0.2 * rng.standard_normal(n))
    dv[:3] = -0.1  # below zero after additive error: not drawable on a log axis
    cens = np.zeros(n, bool)
    cens[10:10 + n_censored] = True
    return xr.Dataset({
        "TIME": ("record", rng.uniform(0.0, 24.0, n), {"units": "h"}),
        "DV": ("record", dv, {"units": "mg/L"}),
        "PRED": ("record", pred, {"units": "mg/L"}),
        "IPRED": ("record", pred * 1.1, {"units": "mg/L"}),
        "CWRES": ("record", rng.standard_normal(n)),
        "CENS": ("record", cens),
    })


def points_of(axis):
    """The scatter of a panel: its line drawn with markers only."""
    (line,) = [ln for ln in axis.get_lines() if ln.get_linestyle() == "None"]
    return line


def horizontal_levels(axis, style):
    return sorted(ln.get_ydata()[0] for ln in axis.get_lines()
                  if ln.get_linestyle() == style and len(set(ln.get_ydata())) == 1 and len(ln.get_ydata()) == 2)


# -- goodness of fit --------------------------------------------------------------------------------------------------
def test_goodness_of_fit_panels():
    ds = predictions()
    fig = figures.goodness_of_fit(ds)
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    dv_pred, dv_ipred, cw_time, cw_pred = fig.axes
    assert [a.get_title() for a in fig.axes] == [f"{t} (7 censored not drawn)" for t in
                                                ("DV vs PRED", "DV vs IPRED", "CWRES vs TIME", "CWRES vs PRED")]
    assert (dv_pred.get_xlabel(), dv_pred.get_ylabel()) == ("PRED [mg/L]", "DV [mg/L]")
    assert (cw_time.get_xlabel(), cw_time.get_ylabel()) == ("TIME [h]", "CWRES")
    keep = ~ds["CENS"].values
    np.testing.assert_array_equal(points_of(dv_pred).get_xdata(), ds["PRED"].values[keep])
    np.testing.assert_array_equal(points_of(dv_ipred).get_xdata(), ds["IPRED"].values[keep])
    np.testing.assert_array_equal(points_of(cw_pred).get_ydata(), ds["CWRES"].values[keep])
    for axis in (dv_pred, dv_ipred):
        assert axis.get_xlim() == axis.get_ylim()
        identity = [ln for ln in axis.get_lines() if ln.get_linestyle() == "-"]
        assert len(identity) == 1 and list(identity[0].get_xdata()) == list(identity[0].get_ydata())
    for axis in (cw_time, cw_pred):
        assert horizontal_levels(axis, "--") == [-2.0, 2.0]
        assert 0.0 in horizontal_levels(axis, "-")
        assert "running median" in axis.get_legend_handles_labels()[1]


def test_goodness_of_fit_running_median_follows_a_trend_and_can_be_left_out():
    ds = predictions(n_censored=0)
    ds["CWRES"] = ("record", ds["TIME"].values / 6.0 - 2.0)  # a trend over time
    fig = figures.goodness_of_fit(ds)
    _, _, cw_time, _ = fig.axes
    assert cw_time.get_title() == "CWRES vs TIME"
    (smoother,) = [ln for ln in cw_time.get_lines() if ln.get_label() == "running median"]
    assert np.all(np.diff(smoother.get_ydata()) > 0)
    plain = figures.goodness_of_fit(ds, smooth=False)
    assert all(ln.get_label() != "running median" for ax in plain.axes for ln in ax.get_lines())


def test_goodness_of_fit_log_axes_leave_out_non_positive_values():
    ds = predictions()
    fig = figures.goodness_of_fit(ds, log=True)
    dv_pred = fig.axes[0]
    assert dv_pred.get_xscale() == "log" and dv_pred.get_yscale() == "log"
    assert len(points_of(dv_pred).get_xdata()) == ds.sizes["record"] - 7 - 3
    assert fig.axes[2].get_yscale() == "linear"


def test_goodness_of_fit_on_given_axes():
    mine = Figure()
    axes = mine.subplots(2, 2)
    assert figures.goodness_of_fit(predictions(), axes=axes) is mine
    assert axes[1, 1].get_title().startswith("CWRES vs PRED")


def test_goodness_of_fit_bad_input():
    with pytest.raises(InputError, match=r"predictions has no variable\(s\) \['CWRES'\]"):
        figures.goodness_of_fit(predictions().drop_vars("CWRES"))
    with pytest.raises(InputError, match="axes: 3 given; this figure needs 4 matplotlib Axes"):
        figures.goodness_of_fit(predictions(), axes=Figure().subplots(1, 3))
    with pytest.raises(InputError, match="predictions must be an xarray.Dataset"):
        figures.goodness_of_fit(predictions().to_dataframe())


# -- eta distributions ------------------------------------------------------------------------------------------------
def etas_and_omega():
    rng = np.random.default_rng(1)
    names = ["ka", "CL", "V"]
    sd = np.array([0.4, 0.25, 0.15])
    etas = pd.DataFrame(rng.standard_normal((80, 3)) * sd, columns=names, index=pd.Index(range(1, 81), name="ID"))
    omega = pd.DataFrame(np.diag(sd ** 2), index=names, columns=names)
    return etas, omega, sd


def test_eta_histograms_with_normal_densities_and_shrinkage():
    etas, omega, sd = etas_and_omega()
    fig = figures.eta_distributions(etas, omega, shrinkage=pd.Series({"ka": 0.12, "CL": 0.3, "V": 0.05}))
    assert len(fig.axes) == 3
    assert [a.get_title() for a in fig.axes] == ["ka (shrinkage 12 %)", "CL (shrinkage 30 %)", "V (shrinkage 5 %)"]
    for axis, s in zip(fig.axes, sd):
        bars = axis.patches
        assert len(bars) > 3
        area = sum(b.get_height() * b.get_width() for b in bars)
        assert area == pytest.approx(1.0)  # a density histogram
        (normal,) = [ln for ln in axis.get_lines() if ln.get_label().startswith("N(0, ")]
        assert max(normal.get_ydata()) == pytest.approx(1.0 / (s * np.sqrt(2 * np.pi)), rel=1e-3)
        assert axis.get_ylabel() == "density"
    assert fig.axes[1].get_xlabel() == "eta CL"


def test_eta_histograms_without_omega_or_shrinkage():
    etas, _, _ = etas_and_omega()
    fig = figures.eta_distributions(etas[["CL"]])
    (axis,) = fig.axes
    assert axis.get_title() == "CL"
    assert not [ln for ln in axis.get_lines() if ln.get_label().startswith("N(0, ")]


def test_eta_distributions_bad_input():
    etas, omega, _ = etas_and_omega()
    with pytest.raises(InputError, match=r"omega has no row/column for eta\(s\) \['V'\]"):
        figures.eta_distributions(etas, omega.drop(index="V", columns="V"))
    omega.loc["CL", "CL"] = 0.0
    with pytest.raises(InputError, match=r"omega\['CL', 'CL'\] is 0.0; a variance must be finite and > 0"):
        figures.eta_distributions(etas, omega)
    with pytest.raises(InputError, match="etas must be a non-empty pandas DataFrame"):
        figures.eta_distributions(etas.iloc[:, :0])


# -- VPC --------------------------------------------------------------------------------------------------------------
def censored_dataset():
    obs, sim = dataset(seed=11)
    obs["CENS"] = obs["DV"] < 2.0
    obs["LIMIT"] = 2.0
    obs.loc[obs["CENS"], "DV"] = np.nan
    return obs, sim


def bands(axis):
    return [c for c in axis.collections if isinstance(c, PolyCollection)]


def test_vpc_stratified_with_blq_panels():
    obs, sim = censored_dataset()
    stats = vpc_statistics(obs, sim, stratify="DOSE")
    fig = figures.vpc(stats, obs)
    assert len(fig.axes) == 4  # two strata, each with its BLQ panel
    main = [a for a in fig.axes if a.get_ylabel() == "DV"]
    lower = [a for a in fig.axes if a.get_ylabel() == "fraction BLQ"]
    assert len(main) == 2 and len(lower) == 2
    assert "Visual predictive check: 60 replicates, 95 % intervals" == fig.get_suptitle()
    for axis, dose in zip(main, (100.0, 200.0)):
        one = stats.sel(stratum=dose)
        mine = obs[obs["DOSE"] == dose]
        n_blq = int(mine["CENS"].sum())
        assert axis.get_title() == f"DOSE={dose}, 90 observations" + (f" ({n_blq} BLQ not drawn)" if n_blq else "")
        assert len(bands(axis)) == 3  # one interval per percentile
        colours = [tuple(b.get_facecolor()[0][:3]) for b in bands(axis)]
        assert colours[1] != colours[0] and colours[0] == colours[2]  # the median's band stands out
        observed_lines = [ln for ln in axis.get_lines() if ln.get_linestyle() in ("-", "--")]
        assert len(observed_lines) == 3
        for line, j in zip(observed_lines, range(3)):
            np.testing.assert_array_equal(line.get_ydata(), one["observed"].values[:, j])
        points = points_of(axis)
        assert len(points.get_xdata()) == len(mine) - n_blq
    assert any(stats["observed_censored"].values.ravel())
    blq_line = [ln for ln in lower[0].get_lines() if ln.get_marker() == "o"][0]
    np.testing.assert_array_equal(blq_line.get_ydata(), stats["observed_blq_fraction"].values[0])
    assert lower[0].get_ylim() == (0.0, 1.0)


def test_vpc_one_stratum_on_given_axes_without_blq():
    obs, sim = censored_dataset()
    stats = vpc_statistics(obs, sim, prediction_corrected=True)
    mine = Figure()
    ax = mine.subplots()
    fig = figures.vpc(stats, ax=ax, log=True)
    assert fig is mine and len(mine.axes) == 1
    assert ax.get_ylabel() == "prediction-corrected DV" and ax.get_yscale() == "log"
    assert ax.get_title() == "180 observations"
    assert len(bands(ax)) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "simulated 5th, 95th percentiles: 95 % intervals", "observed 5th, 95th percentiles",
        "simulated median: 95 % interval", "observed median"]


def test_vpc_pc_points_are_corrected():
    obs, sim = dataset(seed=12)
    stats = vpc_statistics(obs, sim, prediction_corrected=True)
    fig = figures.vpc(stats, obs)
    (axis,) = fig.axes
    drawn = np.sort(points_of(axis).get_ydata())
    assert drawn.size == len(obs)
    assert not np.allclose(drawn, np.sort(obs["DV"].to_numpy()))
    assert fig.get_suptitle().startswith("Prediction-corrected visual predictive check")


def test_vpc_colours_follow_the_convention():
    obs, sim = dataset(seed=13)
    fig = figures.vpc(vpc_statistics(obs, sim, percentiles=(10, 50, 90)))
    faces = [b.get_facecolor()[0] for b in bands(fig.axes[0])]
    assert tuple(faces[1][:3]) == to_rgba("C3")[:3] and tuple(faces[0][:3]) == to_rgba("C0")[:3]


def test_vpc_bad_input():
    obs, sim = censored_dataset()
    stats = vpc_statistics(obs, sim, stratify="DOSE")
    with pytest.raises(InputError, match=r"axes: 3 given; this VPC of 2 strata needs 2 axes \(or 4 with the BLQ"):
        figures.vpc(stats, axes=Figure().subplots(1, 3))
    plain = vpc_statistics(obs.drop(columns=["CENS", "LIMIT"]).fillna({"DV": 1.0}), sim)
    with pytest.raises(InputError, match="blq = True but the statistics have no BLQ fractions"):
        figures.vpc(plain, blq=True)
    with pytest.raises(InputError, match="statistics must be the xarray.Dataset of vpc_statistics"):
        figures.vpc(obs)
    ax = Figure().subplots()
    with pytest.raises(InputError, match="give ax"):
        figures.vpc(plain, ax=ax, axes=[ax])


def test_vpc_leaves_out_a_blq_panel_that_would_be_all_zeros():
    obs, sim = dataset(seed=14)
    obs["CENS"] = False  # a CENS column without censored data (and simulations far above any limit)
    stats = vpc_statistics(obs, sim)
    assert float(stats["observed_blq_fraction"].max()) == 0.0 and float(stats["simulated_blq_high"].max()) == 0.0
    assert len(figures.vpc(stats).axes) == 1
    assert len(figures.vpc(stats, blq=True).axes) == 2
