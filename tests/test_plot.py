"""vhtwin.plot: labels with units, percentile bands, and failed trajectories left out (datasets built by hand)."""

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from vhtwin import InputError, plot

T = np.arange(0.0, 10.0)


def batch(status):
    """A 'simulation result' of len(status) patients; failed ones are NaN, as simulate writes them."""
    status = np.asarray(status, dtype=np.int8)
    scale = 1.0 + np.arange(status.size)[:, None]
    cc = scale * np.exp(-0.3 * T)[None, :]
    cc[status != 0] = np.nan
    return xr.Dataset(
        {
            "Cc": (("patient", "time"), cc, {"units": "mg L-1"}),
            "status": ("patient", status),
        },
        coords={"time": ("time", T, {"units": "h"}), "patient": np.arange(status.size)},
    )


def single(status=0):
    ds = batch([status]).isel(patient=0, drop=True)
    return ds


def test_batch_labels_band_and_median():
    ds = batch([0] * 7)
    fig = plot.time_course(ds, "Cc", max_lines=3)
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert ax.get_xlabel() == "time [h]"
    assert ax.get_ylabel() == "Cc [mg L-1]"
    median = [line for line in ax.get_lines() if line.get_label() == "median"]
    assert len(median) == 1
    np.testing.assert_allclose(median[0].get_ydata(), np.median(ds["Cc"].values, axis=0))
    thin = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert len(thin) == 3  # max_lines
    assert any(isinstance(c, PolyCollection) for c in ax.collections)  # the 5-95 band


def test_single_patient_is_one_line_with_units():
    fig = plot.time_course(single(), "Cc")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("time [h]", "Cc [mg L-1]")
    assert len(ax.get_lines()) == 1
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), np.exp(-0.3 * T))


def test_failed_trajectories_are_excluded_and_counted():
    ds = batch([0, 0, 3, 0, 0])
    fig = plot.time_course(ds, "Cc", max_lines=20)
    ax = fig.axes[0]
    assert "1 failed" in ax.get_title() and "4 of 5" in ax.get_title()
    thin = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert len(thin) == 4
    for line in ax.get_lines():
        assert np.all(np.isfinite(line.get_ydata()))
    ok = ds["Cc"].values[[0, 1, 3, 4]]
    median = next(line for line in ax.get_lines() if line.get_label() == "median")
    np.testing.assert_allclose(median.get_ydata(), np.median(ok, axis=0))
    band = next(c for c in ax.collections if isinstance(c, PolyCollection))
    assert np.all(np.isfinite(band.get_paths()[0].vertices))


def test_failed_single_patient_draws_nothing():
    fig = plot.time_course(single(status=2), "Cc")
    assert fig.axes[0].get_lines() == [] and "failed" in fig.axes[0].get_title()


def test_sweep_one_line_per_successful_patient_and_colorbar():
    ds = batch([0, 0, 1, 0])
    values = np.array([1.0, 2.0, 3.0, 4.0])
    fig = plot.sweep(ds, "Cc", values, "CL", unit="L h-1")
    ax, cbar = fig.axes
    assert len(ax.get_lines()) == 3
    assert cbar.get_ylabel() == "CL [L h-1]"
    assert "1 failed" in ax.get_title()
    colours = {line.get_color() if isinstance(line.get_color(), str) else tuple(line.get_color()) for line in ax.get_lines()}
    assert len(colours) == 3  # coloured by value


def test_draws_on_a_given_axes():
    fig = Figure()
    ax = fig.subplots()
    assert plot.time_course(batch([0, 0]), "Cc", ax=ax) is fig


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ds: plot.time_course(ds, "Cp"), "'Cp'"),
        (lambda ds: plot.time_course(ds, "Cc", percentiles=(95, 50, 5)), "percentiles"),
        (lambda ds: plot.time_course(ds, "Cc", max_lines=-1), "max_lines"),
        (lambda ds: plot.sweep(ds, "Cc", [1.0, 2.0], "CL"), "one value per patient"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(InputError, match=message):
        call(batch([0, 0, 0]))
