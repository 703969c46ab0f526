"""vhtwin.plot.trial_bands and nca_distributions on a small synthetic two-arm trial: bands equal the percentiles,
observed points overlaid, units in labels, PNG and SVG output, bad input refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from vhtwin import InputError, plot
from vhtwin.analysis import nca, nca_per_patient, percentiles

T = np.linspace(0.0, 24.0, 25)
ARMS = ["placebo-ish", "active"]


@pytest.fixture(scope="module")
def trial():
    rng = np.random.default_rng(3)
    n = 200
    a = rng.lognormal(np.log([[4.0], [12.0]]), 0.3, size=(2, n))
    k = rng.lognormal(np.log(0.15), 0.3, size=(2, n))
    conc = a[..., None] * np.exp(-k[..., None] * T)
    status = np.zeros((2, n), dtype=np.int8)
    status[0, :4] = 3
    conc[status != 0] = np.nan
    return xr.Dataset(
        {"Cc": (("arm", "patient", "time"), conc, {"units": "mg L-1"}), "status": (("arm", "patient"), status)},
        coords={"arm": ARMS, "patient": np.arange(n), "time": ("time", T, {"units": "h"})},
    )


def observed_frame():
    rng = np.random.default_rng(5)
    rows = []
    for arm, scale in zip(ARMS, (4.0, 12.0)):
        for i in range(5):
            for t in (1.0, 4.0, 8.0, 24.0):
                rows.append({"id": f"{arm}-{i}", "arm": arm, "time": t, "Cc": scale * np.exp(-0.15 * t) * rng.lognormal(0, 0.2)})
    return pd.DataFrame(rows)


def test_trial_bands_panels_equal_percentiles_and_save(trial, tmp_path):
    fig = plot.trial_bands(trial, "Cc", observed=observed_frame())
    assert isinstance(fig, Figure)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    pct = percentiles(trial, "Cc", (5, 50, 95))
    for i, ax in enumerate(axes):
        assert ax.get_xlabel() == "time [h]" and ax.get_ylabel() == "Cc [mg L-1]"
        assert ax.get_title().startswith(ARMS[i])
        median = [line for line in ax.get_lines() if line.get_label() == "median"]
        np.testing.assert_array_equal(median[0].get_ydata(), pct.isel(arm=i).sel(percentile=50).values)
        assert any(isinstance(c, PolyCollection) for c in ax.collections)
        points = [line for line in ax.get_lines() if line.get_label() == "observed"]
        assert len(points) == 1 and len(points[0].get_xdata()) == 20  # only this arm's rows
    assert "4 failed" in axes[0].get_title() and "failed" not in axes[1].get_title()
    for suffix in ("png", "svg"):
        path = tmp_path / f"bands.{suffix}"
        fig.savefig(path)
        assert path.stat().st_size > 1000
    assert (tmp_path / "bands.svg").read_text().lstrip().startswith("<?xml")


def test_trial_bands_from_percentiles_overlay_log(trial, tmp_path):
    pct = percentiles(trial, "Cc", (10, 50, 90))
    fig = plot.trial_bands(pct, "Cc", q=(10, 50, 90), log=True, overlay=True)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == [f"{arm}: median" for arm in ARMS]
    fig.savefig(tmp_path / "overlay.png")
    # a batch without arm dim
    single = plot.trial_bands(trial.isel(arm=1, drop=True), "Cc")
    assert len(single.axes) == 1


def test_trial_bands_draw_hours_held_in_ms_in_hours(trial):
    """A heart cell's clock (ms) over a drug's days: the axis in hours, the same bands; a span under two hours, and a
    unit that is not ms or s, stay as they are."""
    in_ms = trial.assign_coords(time=("time", T * 3.6e6, {"units": "ms"}))
    obs = observed_frame().assign(time=lambda d: d["time"] * 3.6e6)
    ax = [a for a in plot.trial_bands(in_ms, "Cc", observed=obs).axes if a.get_visible()][1]
    assert ax.get_xlabel() == "time [h]"
    median = next(line for line in ax.get_lines() if line.get_label() == "median")
    np.testing.assert_allclose(median.get_xdata(), T)
    np.testing.assert_array_equal(median.get_ydata(), percentiles(trial, "Cc", (5, 50, 95)).isel(arm=1).sel(percentile=50))
    points = next(line for line in ax.get_lines() if line.get_label() == "observed")
    np.testing.assert_allclose(sorted(set(points.get_xdata())), [1.0, 4.0, 8.0, 24.0])
    short = trial.assign_coords(time=("time", T * 1e3, {"units": "ms"}))  # 24 s
    assert plot.trial_bands(short, "Cc").axes[0].get_xlabel() == "time [ms]"
    days = trial.assign_coords(time=("time", T, {"units": "d"}))
    assert plot.trial_bands(days, "Cc").axes[0].get_xlabel() == "time [d]"


def test_nca_distributions(trial, tmp_path):
    per = nca_per_patient(trial, dose={"placebo-ish": 50.0, "active": 150.0}, metrics=("cmax", "auclast", "half_life"))
    fig = plot.nca_distributions(per, ("cmax", "auclast", "half_life"))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    assert axes[0].get_xlabel() == "cmax [mg L-1]"
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert legend == ["placebo-ish (n=196)", "active (n=200)"]
    for suffix in ("png", "svg"):
        fig.savefig(tmp_path / f"nca.{suffix}")
        assert (tmp_path / f"nca.{suffix}").stat().st_size > 1000
    # a single nca result and a mapping arm -> result
    one = nca(trial["Cc"].isel(arm=1), 150.0)
    assert len(plot.nca_distributions(one, ["cmax"]).axes) == 1
    both = plot.nca_distributions({"a": one, "b": one}, ["cl_obs", "tmax"], log=False)
    assert len([ax for ax in both.axes if ax.get_visible()]) == 2


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ds: plot.trial_bands(ds, "Cx"), "'Cx'"),
        (lambda ds: plot.trial_bands(ds, "Cc", q=(50, 5, 95)), "percentiles"),
        (lambda ds: plot.trial_bands(ds, "Cc", observed={"time": [1.0]}), "DataFrame"),
        (lambda ds: plot.trial_bands(ds, "Cc", observed=pd.DataFrame({"time": [1.0]})), "missing column"),
        (lambda ds: plot.trial_bands(percentiles(ds, "Cc", (5, 50, 95)), "Cc", q=(10, 50, 90)), "not in the DataArray"),
        (lambda ds: plot.trial_bands(ds["Cc"], "Cc"), "dims"),
        (lambda ds: plot.trial_bands([1, 2], "Cc"), "expected an xarray"),
        (lambda ds: plot.nca_distributions(ds, ["cmax"]), "metrics"),
        (lambda ds: plot.nca_distributions("x"), "expected per-patient NCA"),
        (lambda ds: plot.nca_distributions(nca(ds["Cc"].isel(arm=1), 1.0), []), "at least one"),
        (lambda ds: plot.nca_distributions(nca(ds["Cc"].isel(arm=1), 1.0), ["cmax"], bins=0), "bins"),
    ],
)
def test_bad_input_is_refused(trial, call, message):
    with pytest.raises(InputError, match=message):
        call(trial)
