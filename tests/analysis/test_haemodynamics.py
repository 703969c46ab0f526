"""Haemodynamic indices per beat on synthetic waveforms with known values, and the PV-loop figure."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import xarray as xr

matplotlib.use("Agg")

import vhtwin as vh
from vhtwin import plot
from vhtwin.analysis import haemodynamics, steady_state_haemodynamics

PERIOD = 0.8  # s: HR 75 min-1
TIMES = np.linspace(0.0, 8 * PERIOD, 8 * 800 + 1)  # 8 beats, 1 ms grid


def synthetic(edv=(120.0, 130.0), esv=(50.0, 65.0), map_=(93.0, 85.0), pulse=(40.0, 30.0)):
    """Two patients: V_lv = mid - amp cos(2 pi t / T) (EDV at beat start and end... min at mid-beat), and
    P_ao = MAP + PP/2 sin(2 pi t / T) (time average exactly MAP over a beat)."""
    phase = 2 * np.pi * TIMES / PERIOD
    edv, esv, map_, pulse = (np.asarray(x)[:, None] for x in (edv, esv, map_, pulse))
    v = (edv + esv) / 2 + (edv - esv) / 2 * np.cos(phase)
    p = map_ + pulse / 2 * np.sin(phase)
    ds = xr.Dataset(
        {"V_lv": (("patient", "time"), v, {"units": "mL"}), "P_ao": (("patient", "time"), p, {"units": "mmHg"}),
         "status": (("patient",), np.zeros(2, np.int8))},
        coords={"time": ("time", TIMES, {"units": "s"}), "patient": [0, 1]}, attrs={"time_unit": "s"},
    )
    return ds


def test_indices_on_a_synthetic_waveform_are_the_known_values():
    out = haemodynamics(synthetic(), period=PERIOD)
    assert out.sizes == {"patient": 2, "beat": 8}
    np.testing.assert_allclose(out.HR.values, 75.0)
    np.testing.assert_allclose(out.EDV.values[:, 3], [120.0, 130.0], rtol=1e-9)
    np.testing.assert_allclose(out.ESV.values[:, 3], [50.0, 65.0], rtol=1e-9)
    np.testing.assert_allclose(out.SV.values[:, 3], [70.0, 65.0], rtol=1e-9)
    np.testing.assert_allclose(out.EF.values[:, 3], [70 / 120, 0.5], rtol=1e-9)
    np.testing.assert_allclose(out.CO.values[:, 3], [70 * 75 / 1000, 65 * 75 / 1000], rtol=1e-9)
    np.testing.assert_allclose(out.MAP.values, np.array([[93.0], [85.0]]) * np.ones(8), rtol=1e-9)
    np.testing.assert_allclose(out.SBP.values[:, 0], [113.0, 100.0], rtol=1e-6)
    np.testing.assert_allclose(out.DBP.values[:, 0], [73.0, 70.0], rtol=1e-6)
    np.testing.assert_allclose(out.PP.values[:, 0], [40.0, 30.0], rtol=1e-5)
    assert out.CO.attrs["units"] == "L min-1" and out.MAP.attrs["units"] == "mmHg" and out.EF.attrs["units"] == "1"
    assert out.HR.attrs["units"] == "min-1" and out.SV.attrs["units"] == "mL"


def test_beat_starts_and_a_grid_that_starts_mid_beat():
    ds = synthetic().sel(time=slice(0.3, None))
    by_period = haemodynamics(ds, period=PERIOD, t_start=0.0)
    assert by_period.sizes["beat"] == 7 and np.isclose(by_period.beat_start.values[0], PERIOD)
    starts = np.array([0.8, 1.6, 2.6, 3.2])  # uneven beats: HR from each beat's duration
    by_starts = haemodynamics(ds, beat_starts=starts)
    np.testing.assert_allclose(by_starts.HR.values[0], 60.0 / np.diff(starts))
    one = haemodynamics(synthetic().isel(patient=0), period=PERIOD)
    assert one.MAP.dims == ("beat",)
    with pytest.raises(vh.InputError):
        haemodynamics(ds, period=PERIOD, beat_starts=starts)
    with pytest.raises(vh.InputError):
        haemodynamics(ds, period=PERIOD, volume="V_rv")


def test_steady_state_reports_the_last_beat_and_its_convergence():
    ds = synthetic()
    # a transient: the arterial pressure settles exponentially towards its periodic waveform
    ds["P_ao"] = ds.P_ao + 20.0 * np.exp(-TIMES / 0.5)
    ss = steady_state_haemodynamics(ds, period=PERIOD, rtol=1e-3)
    np.testing.assert_allclose(ss.MAP.values, [93.0, 85.0], rtol=1e-3)
    assert bool(ss.converged.all()) and ss.beat_to_beat_change.max() < 1e-3
    early = steady_state_haemodynamics(ds.sel(time=slice(0.0, 3 * PERIOD)), period=PERIOD, rtol=1e-3)
    assert not bool(early.converged.any())


def test_pv_loop_writes_a_png(tmp_path):
    ds = synthetic()
    ds["P_lv"] = ds.P_ao * 1.0
    fig = plot.pv_loop(ds, period=PERIOD)
    path = tmp_path / "pv.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000
    assert fig.axes[0].get_xlabel() == "V_lv [mL]" and fig.axes[0].get_ylabel() == "P_lv [mmHg]"
    assert len(fig.axes[0].lines) == 2  # one per patient, last beat
    assert len(plot.pv_loop(ds, beats="all", period=PERIOD).axes[0].lines) == 16
    with pytest.raises(vh.InputError):
        plot.pv_loop(ds, beats=9, period=PERIOD)


def test_per_beat_analysis_and_circulation_calibration_agree_on_the_same_trajectory():
    """One implementation behind both entry points: haemodynamics() on a Dataset (numpy, sample extremes) and the
    calibration objective's indices (JAX, refined extremes) on the same beat give the same values."""
    import jax

    from vhtwin.calibration.circulation import indices

    ds = synthetic()
    per_beat = haemodynamics(ds, period=PERIOD).isel(beat=3)
    beat = (TIMES >= 3 * PERIOD - 1e-12) & (TIMES <= 4 * PERIOD + 1e-12)  # beat 3, both ends included
    samples = {"volume": ds["V_lv"].values[:, beat], "pressure": ds["P_ao"].values[:, beat]}
    names = ("SBP", "DBP", "MAP", "PP", "EDV", "ESV", "SV", "EF", "CO")
    with jax.enable_x64(True):
        fitted = jax.jit(indices, static_argnums=2)(samples, np.full(2, PERIOD), names)
    for name in names:
        # extremes: the refined parabola vs the largest sample of a 1 ms grid differ by O(h^2) of the pulse
        np.testing.assert_allclose(np.asarray(fitted[name]), per_beat[name].values, rtol=1e-6, err_msg=name)


def test_beat_indices_give_the_same_values_with_numpy_and_jax():
    import jax
    import jax.numpy as jnp

    from vhtwin.analysis import beat_indices

    ds = synthetic()
    v, p = ds["V_lv"].values[:, :801], ds["P_ao"].values[:, :801]
    with_numpy = beat_indices(PERIOD, volume=v, pressure=p, refine_peaks=True)
    with jax.enable_x64(True):
        with_jax = beat_indices(jnp.asarray(PERIOD), volume=jnp.asarray(v), pressure=jnp.asarray(p), refine_peaks=True)
    assert isinstance(with_numpy["MAP"], np.ndarray) and not isinstance(with_jax["MAP"], np.ndarray)
    assert set(with_numpy) == {"HR", "SBP", "DBP", "MAP", "PP", "EDV", "ESV", "SV", "EF", "CO"}
    for name, value in with_numpy.items():
        np.testing.assert_allclose(np.asarray(with_jax[name]), value, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(with_numpy["MAP"], [93.0, 85.0], rtol=1e-9)
    np.testing.assert_allclose(with_numpy["SBP"], [113.0, 100.0], rtol=1e-9)  # refined: the true peak, not a sample
