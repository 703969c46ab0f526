"""Steady-state doses (``Regimen.repeated(..., steady_state=True)``; NONMEM SS=1) for whole batches and any model.

The references: the hand-derived closed form of the one-compartment oral model at steady state, and, for
nonlinear models, the same regimen given for long enough from an empty body.
"""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh

pytestmark = pytest.mark.slow

ORAL = vh.load_model("pharmacokinetics/one_compartment_oral")
MM = vh.load_model("pharmacokinetics/one_compartment_oral_mm")
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def oral_steady_state(t, amount, tau, ka, CL, V, F=1.0, lag=0.0):
    """Concentration at t in [0, tau) after the last dose of a regimen repeated for ever (superposed exponentials)."""
    k = CL / V
    s = np.mod(t - lag, tau)
    A = F * amount * ka / (V * (ka - k))
    return A * (np.exp(-k * s) / (1 - np.exp(-k * tau)) - np.exp(-ka * s) / (1 - np.exp(-ka * tau)))


def test_batch_with_per_patient_parameters_lags_and_amounts():
    rng = np.random.default_rng(3)
    n = 130  # above the device split: the per-patient tables go over both devices
    p = {"ka": rng.uniform(0.5, 2.0, n), "CL": rng.uniform(2, 8, n), "V": rng.uniform(20, 60, n),
         "F": rng.uniform(0.5, 1.0, n), "ALAG": rng.uniform(0.0, 2.0, n)}
    amount = rng.uniform(50, 200, n)
    times = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 11.0])
    reg = vh.Regimen.repeated(amount, interval=12.0, count=1, into="depot", steady_state=True)
    out = vh.simulate(ORAL, p, times=times, protocol=reg, **TIGHT)
    assert np.all(out["status"].values == 0)
    want = oral_steady_state(times[None, :], amount[:, None], 12.0, **{k: v[:, None] for k, v in p.items() if k != "ALAG"},
                             lag=p["ALAG"][:, None])
    np.testing.assert_allclose(out["Cc"].values, want, rtol=1e-7)


def test_shared_steady_state_without_lag_keeps_one_event_table():
    """No lag: the steady states differ per patient, but dose times are shared and the exact path still applies."""
    p = {"ka": np.array([0.8, 1.5]), "CL": np.array([3.0, 6.0]), "V": 40.0}
    times = np.arange(0.0, 24.0, 1.0)
    reg = vh.Regimen.repeated(100.0, interval=8.0, count=3, into="depot", steady_state=True)
    out = vh.simulate(ORAL, p, times=times, protocol=reg)
    assert out.attrs["solver"] == "exact"
    want = oral_steady_state(np.mod(times, 8.0)[None, :], 100.0, 8.0, p["ka"][:, None], p["CL"][:, None], 40.0)
    np.testing.assert_allclose(out["Cc"].values, want, rtol=1e-9)


def test_nonlinear_steady_state_equals_a_long_regimen_from_zero():
    """Michaelis-Menten elimination: no closed form, so compare with 150 doses given from an empty body."""
    p = {"Vmax": np.array([20.0, 30.0]), "Km": 4.0, "V": 50.0, "ka": 1.0}
    times = np.array([0.0, 1.0, 4.0, 11.0])
    ss = vh.simulate(MM, p, times=times, protocol=vh.Regimen.repeated(150.0, 12.0, 1, "depot", steady_state=True), **TIGHT)
    long = vh.Regimen.repeated(150.0, 12.0, 151, "depot", start=-150 * 12.0)
    ref = vh.simulate(MM, p, times=times, protocol=long, **TIGHT)
    np.testing.assert_allclose(ss["Cc"].values, ref["Cc"].values, rtol=1e-6)


def test_a_dose_rate_above_capacity_has_no_steady_state_and_is_flagged():
    """150 mg every 6 h is 25 mg/h > Vmax = 20 mg/h: the body accumulates for ever. That patient is flagged; the
    other one (Vmax = 40 mg/h) is solved."""
    p = {"Vmax": np.array([20.0, 40.0]), "Km": 4.0, "V": 50.0}
    out = vh.simulate(MM, p, times=np.array([0.0, 3.0]),
                      protocol=vh.Regimen.repeated(150.0, 6.0, 1, "depot", steady_state=True))
    assert out["status"].values.tolist() == [int(vh.Status.NO_STEADY_STATE), 0]
    assert np.all(np.isnan(out["Cc"].values[0])) and np.all(np.isfinite(out["Cc"].values[1]))
    with pytest.raises(vh.SolverError, match="no_steady_state"):
        vh.simulate(MM, p, times=np.array([0.0, 3.0]),
                    protocol=vh.Regimen.repeated(150.0, 6.0, 1, "depot", steady_state=True), throw=True)


def test_steady_state_later_in_the_simulation_replaces_the_state():
    """A single dose at 0, then a steady-state dose at 48 h: from 48 h on the profile is the steady state's."""
    reg = vh.Regimen.bolus(500.0, into="depot") + vh.Regimen.repeated(100.0, 12.0, 1, "depot", start=48.0, steady_state=True)
    p = {"ka": 1.2, "CL": 4.0, "V": 40.0}
    times = np.array([47.0, 48.0, 49.0, 55.0])
    out = vh.simulate(ORAL, p, times=times, protocol=reg, solver="tsit5", **TIGHT)
    np.testing.assert_allclose(out["Cc"].values[2:], oral_steady_state(times[2:] - 48.0, 100.0, 12.0, **p), rtol=1e-7)
    assert out["Cc"].values[1] == pytest.approx(out["Cc"].values[0] * np.exp(-0.1), rel=1e-3)  # left limit: before


def test_simulator_refuses_call_parameters_with_a_steady_state():
    sim = vh.Simulator(ORAL, times=np.array([1.0, 2.0]), protocol=vh.Regimen.repeated(100.0, 12.0, 1, "depot", steady_state=True))
    assert np.all(np.isfinite(np.asarray(sim()["Cc"])))
    with pytest.raises(vh.InputError, match="steady-state doses"):
        sim({"CL": 3.0})


def test_steady_state_flag_must_be_boolean():
    with pytest.raises(vh.InputError, match="steady_state"):
        vh.Regimen.repeated(100.0, 12.0, 1, "depot", steady_state="yes")
