"""Action-potential biomarkers on analytic waveforms whose APDs are known exactly."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import vhtwin as vh
from vhtwin.analysis import action_potential_biomarkers

REST, AMP = -85.0, 110.0
W_UP, W_REP = 0.5, 20.0  # ms: upstroke and repolarisation widths


def waveform(t, t_up, t_rep):
    """rest + AMP * rise(t) * fall(t): the steepest rise is at t_up (slope AMP / (2 W_UP)); the potential is
    REST + AMP (1 - x/100) when fall = 1 - x/100, i.e. at t_rep + W_REP atanh(1 - 2 (1 - x/100))."""
    rise = 0.5 * (1.0 + np.tanh((t - t_up) / W_UP))
    fall = 0.5 * (1.0 - np.tanh((t - t_rep) / W_REP))
    return REST + AMP * rise * fall


def exact_apd(x, t_up, t_rep):
    return t_rep + W_REP * np.arctanh(1.0 - 2.0 * (1.0 - x / 100.0)) - t_up


def record(t, rows, dims=("patient", "time")):
    return xr.DataArray(np.asarray(rows), dims=dims, coords={"time": xr.Variable("time", t, {"units": "ms"})},
                        attrs={"units": "mV"})


def test_single_beat_per_patient_matches_the_analytic_apds():
    t = np.arange(0.0, 800.0, 0.01)
    t_up = 10.005  # the midpoint of a sample interval: the steepest sampled interval is centred on it
    t_rep = np.array([150.0, 220.0, 300.0])
    v = record(t, [waveform(t, t_up, r) for r in t_rep])
    bio = action_potential_biomarkers(v, repolarisation=(90, 50, 30))
    assert bio["apd90"].dims == ("patient",) and "beat" not in bio.dims
    for x in (90, 50, 30):
        np.testing.assert_allclose(bio[f"apd{x}"].values, exact_apd(x, t_up, t_rep), atol=1e-3)
    np.testing.assert_allclose(bio["apd50"].values, t_rep - t_up, atol=1e-3)
    np.testing.assert_allclose(bio["upstroke_time"].values, t_up, atol=1e-9)
    np.testing.assert_allclose(bio["resting_potential"].values, REST, atol=1e-6)
    np.testing.assert_allclose(bio["peak_voltage"].values, REST + AMP, atol=1e-3)  # fall(t_peak) = 1 - O(1e-6)
    np.testing.assert_allclose(bio["max_upstroke_velocity"].values, AMP / (2 * W_UP), rtol=1e-3)
    assert bio["apd90"].attrs["units"] == "ms" and bio["peak_voltage"].attrs["units"] == "mV"
    assert bio["max_upstroke_velocity"].attrs["units"] == "mV ms-1"
    assert bio["repolarised"].values.all()


def test_several_beats_threshold_upstroke_and_a_beat_that_does_not_repolarise():
    t = np.arange(0.0, 1500.0, 0.05)
    pacing = vh.Pacing(period=500.0, duration=1.0, count=3)
    t_up = np.array([5.0, 505.0, 1005.0])
    reps = np.array([[200.0, 210.0, 220.0], [250.0, 260.0, 490.0]])  # patient 1's last beat outlasts its window
    rows = [sum(waveform(t, u, u + r) for u, r in zip(t_up, rp)) - 2 * REST for rp in reps]
    bio = action_potential_biomarkers(record(t, rows), beat_starts=pacing, upstroke=REST + 0.5 * AMP)
    assert bio["apd90"].dims == ("patient", "beat") and bio.sizes["beat"] == 3
    np.testing.assert_allclose(bio["beat_start"].values, [0.0, 500.0, 1000.0])
    # with a threshold at half amplitude the upstroke is at t_up (rise = 1/2 there), APD50 = t_rep - t_up
    expected = exact_apd(90, 0.0, reps)
    ok = np.array([[True, True, True], [True, True, False]])
    np.testing.assert_array_equal(bio["repolarised"].values, ok)
    np.testing.assert_allclose(bio["apd90"].values[ok], expected[ok], atol=2e-3)
    np.testing.assert_allclose(bio["apd50"].values[ok], reps[ok], atol=2e-3)
    assert np.isnan(bio["apd90"].values[1, 2]) and np.isnan(bio["apd50"].values[1, 2])
    np.testing.assert_allclose(bio["upstroke_time"].values, np.broadcast_to(t_up, (2, 3)), atol=1e-6)


def test_calcium_amplitude_dataset_input_and_bad_input():
    t = np.arange(0.0, 400.0, 0.1)
    v = waveform(t, 5.05, 200.0)
    ca = 1e-4 + 4e-4 * np.exp(-((t - 60.0) / 30.0) ** 2)
    ds = xr.Dataset({"Vm": ("time", v, {"units": "mV"}), "Cai": ("time", ca, {"units": "mM"})},
                    coords={"time": xr.Variable("time", t, {"units": "ms"})})
    bio = action_potential_biomarkers(ds, beat_starts=[0.0], calcium=ds["Cai"])
    assert bio["apd90"].dims == ()
    assert float(bio["calcium_transient_amplitude"]) == pytest.approx(4e-4 * (1 - np.exp(-4.0)), rel=1e-6)
    assert bio["calcium_transient_amplitude"].attrs["units"] == "mM"
    with pytest.raises(ValueError, match="repolarisation"):
        action_potential_biomarkers(ds, repolarisation=(120,))
    with pytest.raises(ValueError, match="time"):
        action_potential_biomarkers(ds["Vm"].rename(time="t"))
