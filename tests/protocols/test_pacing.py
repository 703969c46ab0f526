"""Pacing protocols: stimulus trains on a model's stimulus input, hit exactly, combined with doses."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh


class Charge(vh.Model):
    """x integrates the stimulus: after k stimuli of duration d and amplitude a, x = k * a * d exactly."""

    time_unit = "ms"
    states = (vh.State("x", "1", 0.0, dosable=True),)
    parameters = (vh.Parameter("k", 0.0, "ms-1", lower=0.0),)
    inputs = (vh.Input("i_stim", "ms-1", 0.0, stimulus=2.0),)

    def rhs(self, t, y, p, u):
        return {"x": u.i_stim - p.k * y.x}


def test_each_stimulus_is_delivered_exactly_whatever_the_steps():
    m = Charge()
    times = np.array([0.5, 999.0, 1000.5, 1999.0, 2999.0])
    out = vh.simulate(m, times=times, protocol=vh.Pacing(period=1000.0, duration=1.0, count=3), solver="tsit5",
                      rtol=1e-10, atol=1e-12, dt_max=1e6)
    np.testing.assert_allclose(out["x"].values, [1.0, 2.0, 3.0, 4.0, 6.0], rtol=1e-10)


def test_amplitude_start_and_a_named_input():
    out = vh.simulate(Charge(), times=np.array([100.0]), protocol=vh.Pacing(period=10.0, duration=2.0, amplitude=0.5,
                                                                             count=4, start=20.0, input="i_stim"))
    assert float(out["x"][0]) == pytest.approx(4 * 0.5 * 2.0, rel=1e-9)


def test_pacing_and_doses_combine():
    protocol = vh.Regimen.bolus(10.0, into="x", at=5.0) + vh.Pacing(period=10.0, duration=1.0, count=2)
    out = vh.simulate(Charge(), times=np.array([30.0]), protocol=protocol)
    assert float(out["x"][0]) == pytest.approx(10.0 + 2 * 2.0, rel=1e-9)


def test_bad_pacing_is_refused():
    with pytest.raises(vh.InputError, match="period -1"):
        vh.Pacing(period=-1.0, duration=1.0)
    with pytest.raises(vh.InputError, match="duration 20"):
        vh.Pacing(period=10.0, duration=20.0)
    with pytest.raises(vh.InputError, match="count 0"):
        vh.Pacing(period=10.0, duration=1.0, count=0)
    with pytest.raises(vh.InputError, match="'i_na' is not an input"):
        vh.simulate(Charge(), times=[1.0], protocol=vh.Pacing(period=10.0, duration=1.0, input="i_na"))
    pk = vh.load_model("pharmacokinetics/one_compartment_iv")
    with pytest.raises(vh.InputError, match="declares 0 inputs with a documented stimulus"):
        vh.simulate(pk, times=[1.0], protocol=vh.Pacing(period=10.0, duration=1.0))
