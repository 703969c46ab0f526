"""Output times are interpolated from the methods' continuous extensions: asking for more of them never adds a step,
and the step limit counts steps between checkpoints (events, output times), as CVODE's ``mxstep`` does."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh

from ..helpers import Growth

pytestmark = pytest.mark.slow

SPARSE = np.linspace(0.0, 24.0, 9)
DENSE = np.linspace(0.0, 24.0, 2001)  # contains every sparse time (every 250th)


def _oral_analytic(t, dose_times, amount, CL, V, ka):
    """One-compartment oral model, superposed first-order absorption (mg/L)."""
    k = CL / V
    c = np.zeros_like(t)
    for td in dose_times:
        dt = t - td
        on = dt > 0
        c[on] += amount * ka / (V * (ka - k)) * (np.exp(-k * dt[on]) - np.exp(-ka * dt[on]))
    return c


@pytest.mark.parametrize("solver", ["tsit5", "rodas4"])
def test_a_dense_grid_takes_the_same_steps_as_a_sparse_one_and_is_as_accurate(solver):
    model = vh.load_model("pharmacokinetics/one_compartment_oral")
    reg = vh.Regimen.repeated(amount=100.0, interval=12.0, count=2, into="depot")
    params = {"CL": np.array([2.0, 4.0, 6.0]), "V": 40.0, "ka": np.array([0.5, 1.0, 3.0])}
    kw = dict(params=params, protocol=reg, solver=solver, outputs=["Cc"], precision="float64")
    sparse = vh.simulate(model, times=SPARSE, **kw)
    dense = vh.simulate(model, times=DENSE, **kw)
    # 2,001 output times over a step sequence that had 9: not one step more, and the same steps (bit for bit).
    np.testing.assert_array_equal(dense["n_steps"].values, sparse["n_steps"].values)
    np.testing.assert_array_equal(dense["n_rejected"].values, sparse["n_rejected"].values)
    assert dense["n_steps"].values.max() < DENSE.size // 4  # far fewer steps than output times
    np.testing.assert_array_equal(dense["Cc"].values[:, ::250], sparse["Cc"].values)
    # Every interpolated point is within the tolerance's reach of the exact solution, not only the step ends.
    for i, (CL, ka) in enumerate(zip(params["CL"], params["ka"])):
        exact = _oral_analytic(DENSE, [0.0, 12.0], 100.0, CL, 40.0, ka)
        np.testing.assert_allclose(dense["Cc"].values[i], exact, rtol=0, atol=2e-4 * exact.max())


def test_pbpk_dense_output_takes_no_extra_stiff_steps():
    model = vh.load_model("pharmacokinetics/pbpk_whole_body")
    kw = dict(params={}, protocol=vh.Regimen.bolus(7.5, into="gut_lumen"), solver="rodas4", outputs=["Cp"],
              precision="float64")
    sparse = vh.simulate(model, times=SPARSE, **kw)
    dense = vh.simulate(model, times=DENSE, **kw)
    assert dense["n_steps"].item() == sparse["n_steps"].item()
    np.testing.assert_array_equal(dense["Cp"].values[..., ::250], sparse["Cp"].values)


def test_the_step_limit_counts_steps_between_checkpoints_not_over_the_span():
    params = {"r": -0.1}
    tight = dict(params=params, rtol=1e-12, atol=1e-14, precision="float64", solver="tsit5")
    one_interval = vh.simulate(Growth(), times=np.array([0.0, 100.0]), **tight)
    total = int(one_interval["n_steps"].item()) + int(one_interval["n_rejected"].item())
    assert total > 40
    limit = total // 2
    # One interval needs all `total` steps: more than the limit.
    capped = vh.simulate(Growth(), times=np.array([0.0, 100.0]), max_steps=limit, **tight)
    assert capped["status"].item() == vh.Status.MAX_STEPS
    assert np.isnan(capped["level"].values).all()
    # Ten output intervals need about total / 10 each: the same limit lets the whole span through, with the same steps.
    ten = vh.simulate(Growth(), times=np.linspace(0.0, 100.0, 11), max_steps=limit, **tight)
    assert ten["status"].item() == vh.Status.SUCCESS
    assert ten["n_steps"].item() == one_interval["n_steps"].item()
    # Events are checkpoints too: with a dose every 10 h, the same limit lets one output interval of 100 h through.
    model = vh.load_model("pharmacokinetics/one_compartment_iv")
    iv = dict(params={"CL": 1.0, "V": 10.0}, times=np.array([0.0, 100.0]), max_steps=limit, solver="tsit5",
              rtol=1e-12, atol=1e-14, precision="float64")
    once = vh.simulate(model, protocol=vh.Regimen.bolus(100.0, into="central"), **iv)
    assert once["status"].item() == vh.Status.MAX_STEPS
    every_10h = vh.simulate(model, protocol=vh.Regimen.repeated(amount=100.0, interval=10.0, count=10, into="central"),
                            **iv)
    assert every_10h["status"].item() == vh.Status.SUCCESS
    assert every_10h["n_steps"].item() > limit
