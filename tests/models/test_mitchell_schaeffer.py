"""The Mitchell--Schaeffer cell model against an independent Radau solve, the paper's leading-order APD, each
other solver, and per-cell runs of a batch."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
import xarray as xr

import vhtwin as vh
from vhtwin.analysis import action_potential_biomarkers
from vhtwin.models.cardio import mitchell_schaeffer as ms
from vhtwin.testing import cardio as oracles

pytestmark = pytest.mark.slow

NAME = "cardio/mitchell_schaeffer"
TIMES = np.arange(0.0, 600.0, 0.1)  # one beat, long enough to repolarise at every tau_close used here
BEAT = vh.Pacing(period=1000.0, duration=1.0, count=1)
TIGHT = dict(rtol=1e-8, atol=1e-10, precision="float64")
LEVEL = 0.1  # the paper's APD: time between the up- and down-crossings of a fixed v


def apd_at_level(t, v, level=LEVEL):
    """Rows of ``v`` (n, T): time from the first upward to the last downward crossing of ``level``, interpolated."""
    v = np.atleast_2d(v)
    out = []
    for row in v:
        up = np.nonzero((row[:-1] < level) & (row[1:] >= level))[0][0]
        down = np.nonzero((row[:-1] >= level) & (row[1:] < level))[0][-1]
        t_up = t[up] + (level - row[up]) / (row[up + 1] - row[up]) * (t[up + 1] - t[up])
        t_down = t[down] + (level - row[down]) / (row[down + 1] - row[down]) * (t[down + 1] - t[down])
        out.append(t_down - t_up)
    return np.array(out)


@lru_cache(maxsize=None)
def solved(solver: str):
    model = vh.load_model(NAME)
    extra = dict(dt0=0.01, max_steps=100_000) if solver == "rush_larsen" else TIGHT
    ds = vh.simulate(model, params={}, times=TIMES, protocol=BEAT, solver=solver, **extra)
    assert int(ds["status"]) == vh.Status.SUCCESS
    return ds


def test_declares_the_published_model():
    model = vh.load_model(NAME)
    assert NAME in vh.list_models()
    assert model.time_unit == "ms" and model.state_names == ("v", "h")
    assert model.gate_states == ("h",)
    assert model.default_parameters() == {"tau_in": 0.3, "tau_out": 6.0, "tau_open": 120.0, "tau_close": 150.0, "v_gate": 0.13}
    assert model.default_initial() == {"v": 0.0, "h": 1.0}
    (stim,) = model.inputs
    assert stim.name == "J_stim" and stim.unit == "ms-1" and stim.stimulus == ms.STIMULUS_AMPLITUDE
    assert all(q.source for q in model.parameters) and "Mitchell" in model.reference
    assert "J_stim" in model.describe()


def test_two_paced_beats_give_two_action_potentials():
    model = vh.load_model(NAME)
    pacing = vh.Pacing(period=1000.0, duration=1.0, count=2)
    ds = vh.simulate(model, params={}, times=np.arange(0, 2000, 0.1), protocol=pacing)
    assert int(ds["status"]) == vh.Status.SUCCESS
    assert ds["Vm"].attrs["units"] == "mV"
    np.testing.assert_allclose(ds["Vm"].values, -80.0 + 100.0 * ds["v"].values)
    bio = action_potential_biomarkers(ds["v"], beat_starts=pacing)
    assert bio.sizes["beat"] == 2
    assert np.all(bio["peak_voltage"].values > 0.9) and np.all(bio["repolarised"].values)
    assert np.all(np.abs(bio["resting_potential"].values) < 1e-6)
    assert np.all((bio["apd90"].values > 250.0) & (bio["apd90"].values < 320.0))


def test_apd_matches_an_independent_radau_solve_and_exceeds_the_leading_order_estimate():
    ds = solved("tsit5")
    ref = oracles.mitchell_schaeffer_reference(TIMES, stimuli=[(0.0, 1.0)])
    np.testing.assert_allclose(ds["v"].values, ref[0], atol=1e-4)
    np.testing.assert_allclose(ds["h"].values, ref[1], atol=1e-4)
    apd, apd_ref = apd_at_level(TIMES, ds["v"].values)[0], apd_at_level(TIMES, ref[0])[0]
    assert abs(apd - apd_ref) < 0.5
    bound = oracles.mitchell_schaeffer_apd_leading_order()
    assert bound == pytest.approx(150.0 * np.log(5.0)) and 240.0 < bound < 242.0
    assert bound < apd_ref < bound + 60.0  # a lower bound, not an estimate to test against (Mitchell & Schaeffer 2003)


def test_solvers_agree():
    bio = {s: action_potential_biomarkers(solved(s)["v"], beat_starts=[0.0]) for s in ("tsit5", "rodas4", "rush_larsen")}
    for s in ("rodas4", "rush_larsen"):
        for name in ("apd90", "apd50"):
            assert abs(float(bio[s][name]) - float(bio["tsit5"][name])) < 0.05, (s, name)
        assert float(bio[s]["peak_voltage"]) == pytest.approx(float(bio["tsit5"]["peak_voltage"]), abs=1e-3)
    np.testing.assert_allclose(solved("rodas4")["v"].values, solved("tsit5")["v"].values, atol=1e-4)


def test_a_batch_of_200_cells_orders_by_tau_close_and_equals_per_cell_runs():
    model = vh.load_model(NAME)
    tau_close = np.linspace(80.0, 200.0, 200)
    ds = vh.simulate(model, params={"tau_close": tau_close}, times=TIMES, protocol=BEAT, **TIGHT)
    assert np.all(ds["status"].values == vh.Status.SUCCESS)
    apd = action_potential_biomarkers(ds["v"], beat_starts=[0.0])["apd90"].values
    assert apd.shape == (200,) and np.all(np.isfinite(apd))
    assert np.all(np.diff(apd) > 0)
    assert np.all(apd > oracles.mitchell_schaeffer_apd_leading_order(tau_close=tau_close))
    for i in (0, 199):
        one = vh.simulate(model, params={"tau_close": float(tau_close[i])}, times=TIMES, protocol=BEAT, **TIGHT)
        np.testing.assert_allclose(one["v"].values, ds["v"].values[i], atol=1e-7)
        single = action_potential_biomarkers(one["v"], beat_starts=[0.0])["apd90"]
        assert float(single) == pytest.approx(apd[i], abs=1e-4)
