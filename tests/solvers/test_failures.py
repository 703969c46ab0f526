"""A failing trajectory is flagged and NaN, and never changes any other trajectory's result."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh

from ..helpers import Growth

pytestmark = pytest.mark.slow

T = np.linspace(0.0, 100.0, 11)


def test_one_exploding_trajectory_leaves_the_others_bitwise_equal():
    rng = np.random.default_rng(0)
    r = rng.uniform(-0.5, 0.05, 1000)
    bad = 417
    r_bad = r.copy()
    r_bad[bad] = 50.0  # exp(50 * 100) overflows float64
    with_bad = vh.simulate(Growth(), params={"r": r_bad}, times=T, precision="float64")
    without = vh.simulate(Growth(), params={"r": np.delete(r, bad)}, times=T, precision="float64")

    status = with_bad["status"].values
    assert status[bad] != vh.Status.SUCCESS
    assert status[bad] in (vh.Status.NONFINITE, vh.Status.STEP_SIZE_UNDERFLOW, vh.Status.MAX_STEPS)
    assert np.all(np.isnan(with_bad["level"].values[bad]))
    assert np.all(np.isnan(with_bad["y"].values[bad]))
    others = np.delete(np.arange(1000), bad)
    assert np.all(status[others] == vh.Status.SUCCESS)
    np.testing.assert_array_equal(with_bad["level"].values[others], without["level"].values)
    np.testing.assert_array_equal(with_bad["n_steps"].values[others], without["n_steps"].values)


def test_max_steps_is_reported():
    ds = vh.simulate(Growth(), params={"r": np.array([-0.1, -0.2])}, times=T, max_steps=3, precision="float64")
    assert np.all(ds["status"].values == vh.Status.MAX_STEPS)
    assert np.all(np.isnan(ds["level"].values))


def test_throw_raises_with_the_reason():
    import pytest

    with pytest.raises(vh.SolverError, match="max_steps"):
        vh.simulate(Growth(), params={"r": -0.1}, times=T, max_steps=3, throw=True)


def test_status_has_cf_flag_attributes():
    ds = vh.simulate(Growth(), params={"r": np.array([-0.1, 0.01])}, times=T)
    attrs = ds["status"].attrs
    assert attrs["flag_values"] == [0, 1, 2, 3, 4, 5, 6]
    assert attrs["flag_meanings"].split() == ["success", "max_steps", "step_size_underflow", "nonfinite", "no_steady_state",
                                              "invalid_parameters", "event_overflow"]
