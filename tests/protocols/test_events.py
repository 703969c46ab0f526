"""Events are step boundaries hit exactly, whatever the step sizes; outputs at an event are pre-event values."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh

from ..helpers import Decay

K = 0.2


def exact(t, doses):
    return sum(np.where(t > td, d * np.exp(-K * (t - td)), 0.0) for td, d in doses)


@pytest.mark.parametrize("dt_max", [0.37, 5.0, np.inf])
@pytest.mark.parametrize("dose_time", [12.0, 12.345678])
def test_dose_applied_exactly_at_its_time(dt_max, dose_time):
    doses = [(0.0, 50.0), (dose_time, 100.0)]
    reg = vh.Regimen.bolus(50.0, into="amount") + vh.Regimen.bolus(100.0, into="amount", at=dose_time)
    eps = 1e-9
    t = np.array([0.0, 6.0, dose_time, dose_time + eps, dose_time + 0.5, 24.0])
    ds = vh.simulate(Decay(), params={"k": K}, times=t, protocol=reg, rtol=1e-11, atol=1e-13, dt_max=dt_max, precision="float64")
    got = ds["remaining"].values
    np.testing.assert_allclose(got, exact(t, doses), rtol=1e-9)
    # At the dose time: the value just before the dose; an instant later: the dose is in.
    assert got[2] == pytest.approx(50.0 * np.exp(-K * dose_time), rel=1e-9)
    assert got[3] - got[2] == pytest.approx(100.0, rel=1e-6)


def test_per_patient_dose_times_in_one_batch():
    regs = [vh.Regimen.bolus(10.0, into="amount", at=t) for t in (0.5, 3.0, 7.75)]
    t = np.linspace(0.0, 10.0, 21)
    ds = vh.simulate(Decay(), params={"k": np.full(3, K)}, times=t, protocol=regs, rtol=1e-11, atol=1e-13, precision="float64")
    for b, td in enumerate((0.5, 3.0, 7.75)):
        np.testing.assert_allclose(ds["remaining"].values[b], exact(t, [(td, 10.0)]), rtol=1e-9, atol=1e-12)


def test_per_patient_amounts_share_one_schedule():
    amounts = np.array([10.0, 20.0, 40.0])
    reg = vh.Regimen.repeated(amount=amounts, interval=6.0, count=3, into="amount")
    t = np.linspace(0.0, 18.0, 37)
    ds = vh.simulate(Decay(), params={"k": np.full(3, K)}, times=t, protocol=reg, rtol=1e-11, atol=1e-13, precision="float64")
    for b in range(3):
        doses = [(6.0 * i, amounts[b]) for i in range(3)]
        np.testing.assert_allclose(ds["remaining"].values[b], exact(t, doses), rtol=1e-9, atol=1e-12)


def test_events_before_first_output_are_simulated():
    reg = vh.Regimen.repeated(amount=100.0, interval=12.0, count=4, into="amount")
    t = np.array([40.0, 44.0, 48.0])
    ds = vh.simulate(Decay(), params={"k": K}, times=t, protocol=reg, rtol=1e-11, atol=1e-13, precision="float64")
    np.testing.assert_allclose(ds["remaining"].values, exact(t, [(12.0 * i, 100.0) for i in range(4)]), rtol=1e-9)


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)
@given(
    times=st.lists(st.floats(0.0, 20.0, allow_nan=False), min_size=3, max_size=3),
    amounts=st.lists(st.floats(0.0, 500.0, allow_nan=False), min_size=3, max_size=3),
)
def test_any_bolus_schedule_matches_superposition(times, amounts):
    """Random dose times (ties included) and amounts: the solve equals the superposition of single doses."""
    reg = vh.Regimen(tuple(vh.Dose(t, a, "amount") for t, a in zip(times, amounts)))
    t = np.linspace(0.0, 24.0, 13)
    ds = vh.simulate(Decay(), params={"k": K}, times=t, protocol=reg, rtol=1e-10, atol=1e-10, precision="float64")
    np.testing.assert_allclose(ds["remaining"].values, exact(t, list(zip(times, amounts))), rtol=1e-7, atol=1e-8)


def test_per_patient_amounts_split_over_devices():
    """Shared dose times with one amount per patient: the amount table is split over devices like the lanes."""
    m = vh.load_model("pharmacokinetics/one_compartment_iv")
    amount = np.linspace(10.0, 200.0, 200)  # 200 patients: both CPU devices get lanes
    out = vh.simulate(m, {"CL": np.full(200, 5.0), "V": 50.0}, times=np.array([1.0, 2.0]),
                      protocol=vh.Regimen.bolus(amount, into="central"), solver="tsit5", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["Cc"].values[:, 0], amount / 50.0 * np.exp(-0.1), rtol=1e-8)
