"""Periodic steady states against closed forms (periodic forcing inside the model and from a pacing protocol) and
against a long direct simulation of the Mitchell--Schaeffer cell."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.analysis import action_potential_biomarkers

pytestmark = pytest.mark.slow

PERIOD = 2.0
OMEGA = 2 * np.pi / PERIOD


class Forced(vh.Model):
    """dx/dt = -a x + cos(omega t): periodic steady state x(t) = (a cos wt + w sin wt) / (a^2 + w^2)."""

    time_unit = "s"
    states = (vh.State("x", "1", 0.0),)
    parameters = (vh.Parameter("a", 1.0, "s-1", positive=True),)

    def rhs(self, t, y, p):
        import jax.numpy as jnp

        return {"x": -p.a * y.x + jnp.cos(OMEGA * t)}


class Paced(vh.Model):
    """dx/dt = -a x + u, u a train of rectangular pulses."""

    time_unit = "s"
    states = (vh.State("x", "1", 0.0),)
    parameters = (vh.Parameter("a", 1.0, "s-1", positive=True),)
    inputs = (vh.Input("u", "s-1", 0.0, stimulus=3.0),)

    def rhs(self, t, y, p, u):
        return {"x": -p.a * y.x + u.u}


def forced_exact(t, a):
    return (a * np.cos(OMEGA * t) + OMEGA * np.sin(OMEGA * t)) / (a * a + OMEGA * OMEGA)


def test_model_driven_periodic_forcing_reaches_the_closed_form_with_continuous_time():
    a = np.array([0.3, 1.0, 4.0])
    t0 = 0.35  # period k starts at t0 + 2k: the phase of the model's driver must carry across chunks
    ss = vh.periodic_steady_state(Forced(), {"a": a}, period=PERIOD, t0=t0, tol=1e-8, chunk=5,
                                  rtol=1e-10, atol=1e-12, keep_last=True, times_per_period=50)
    assert ss["converged"].values.all() and (ss["status"].values == 0).all()
    np.testing.assert_allclose(ss["x"].values, forced_exact(t0, a), atol=1e-7)
    assert np.all(np.diff(ss["n_periods"].values) < 0)  # the slowest decay (smallest a) needs the most periods
    assert ss["n_periods"].values[0] > 5  # several chunks
    np.testing.assert_allclose(ss["time"].values[[0, -1]], [t0, t0 + PERIOD])
    np.testing.assert_allclose(ss["last_x"].values, forced_exact(ss["time"].values[None, :], a[:, None]), atol=1e-7)


def test_paced_linear_model_reaches_the_closed_form_and_max_periods_stops_it():
    a, amp, d = np.array([0.5, 2.0]), 3.0, 0.25
    pacing = vh.Pacing(PERIOD, d)
    ss = vh.periodic_steady_state(Paced(), {"a": a}, period=PERIOD, protocol_per_period=pacing, tol=1e-9,
                                  rtol=1e-10, atol=1e-12)
    exact = amp / a * (1 - np.exp(-a * d)) * np.exp(-a * (PERIOD - d)) / (1 - np.exp(-a * PERIOD))
    assert ss["converged"].values.all()
    np.testing.assert_allclose(ss["x"].values, exact, rtol=1e-7)
    few = vh.periodic_steady_state(Paced(), {"a": 0.5}, period=PERIOD, protocol_per_period=pacing, tol=1e-12,
                                   max_periods=3, rtol=1e-10, atol=1e-12)
    assert not bool(few["converged"]) and int(few["n_periods"]) == 3 and few["x"].dims == ()
    after_3 = sum(amp / 0.5 * (1 - np.exp(-0.5 * d)) * np.exp(-0.5 * (3 * PERIOD - d - k * PERIOD)) for k in range(3))
    assert float(few["x"]) == pytest.approx(after_3, rel=1e-7)
    with pytest.raises(vh.InputError, match="period"):
        vh.periodic_steady_state(Paced(), period=-1.0)


def test_mitchell_schaeffer_at_1_hz_matches_the_last_beat_of_a_long_simulation():
    model = vh.load_model("cardio/mitchell_schaeffer")
    tau_close = 150.0
    options = dict(rtol=1e-8, atol=1e-10)
    ss = vh.periodic_steady_state(model, {"tau_close": tau_close}, period=1000.0,
                                  protocol_per_period=vh.Pacing(1000.0, 1.0), keep_last=True, times_per_period=10000,
                                  **options)
    assert ss["converged"].values.all()
    n = 6
    assert int(ss["n_periods"]) < n - 1
    pacing = vh.Pacing(1000.0, 1.0, count=n)
    direct = vh.simulate(model, {"tau_close": tau_close}, times=np.arange(0.0, n * 1000.0 + 0.05, 0.1),
                         protocol=pacing, **options)
    last = action_potential_biomarkers(direct["v"], beat_starts=pacing)["apd90"].values[-1]
    steady = action_potential_biomarkers(ss["last_v"])["apd90"].values
    assert float(steady) == pytest.approx(float(last), abs=0.01)
    assert float(ss["h"]) == pytest.approx(float(direct["h"].sel(time=(n - 1) * 1000.0)), rel=1e-4)
