"""Generalized Rush--Larsen on a gated membrane model and on a pure exponential gate (float64)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh
from vhtwin.solvers import RushLarsen


class MorrisLecar(vh.Model):
    """Morris--Lecar barnacle-muscle fibre, 2 states, one gate ``w`` (Rinzel & Ermentrout 1989 Hopf parameters).

    Morris C, Lecar H. Voltage oscillations in the barnacle giant muscle fiber. Biophys J 35 (1981) 193--213. With
    I = 90 uA/cm2 the cell fires periodically (period ~ 100 ms). All rates are smooth functions of V, so a
    fixed-step first-order method converges cleanly to the same solution as an adaptive 5th-order one.
    """

    time_unit = "ms"
    states = (
        vh.State("V", "mV", -20.0, description="membrane potential"),
        vh.State("w", "1", 0.1, gate=True, description="K+ activation"),
    )
    parameters = (
        vh.Parameter("I", 90.0, "uA cm-2"),
        vh.Parameter("C", 20.0, "uF cm-2", positive=True),
        vh.Parameter("gL", 2.0, "mS cm-2"),
        vh.Parameter("EL", -60.0, "mV"),
        vh.Parameter("gCa", 4.4, "mS cm-2"),
        vh.Parameter("ECa", 120.0, "mV"),
        vh.Parameter("gK", 8.0, "mS cm-2"),
        vh.Parameter("EK", -84.0, "mV"),
        vh.Parameter("V1", -1.2, "mV"),
        vh.Parameter("V2", 18.0, "mV"),
        vh.Parameter("V3", 2.0, "mV"),
        vh.Parameter("V4", 30.0, "mV"),
        vh.Parameter("phi", 0.04, "ms-1", positive=True),
    )
    observed = (vh.Observable("Vm", "mV"),)

    def rhs(self, t, y, p):
        m_inf = 0.5 * (1.0 + jnp.tanh((y.V - p.V1) / p.V2))
        w_inf = 0.5 * (1.0 + jnp.tanh((y.V - p.V3) / p.V4))
        tau_w = 1.0 / (p.phi * jnp.cosh((y.V - p.V3) / (2.0 * p.V4)))
        I_ion = p.gL * (y.V - p.EL) + p.gCa * m_inf * (y.V - p.ECa) + p.gK * y.w * (y.V - p.EK)
        return {"V": (p.I - I_ion) / p.C, "w": (w_inf - y.w) / tau_w}

    def observables(self, t, y, p):
        return {"Vm": y.V}


class Gate(vh.Model):
    """A lone gate relaxing to a constant: g' = (g_inf - g) / tau, g(t) = g_inf + (g0 - g_inf) exp(-t / tau)."""

    time_unit = "ms"
    states = (vh.State("g", "1", 0.1, gate=True), vh.State("other", "1", 0.0))
    parameters = (vh.Parameter("g_inf", 0.8, "1"), vh.Parameter("tau", 2.0, "ms", positive=True))
    observed = ()

    def rhs(self, t, y, p):
        # `other` integrates a constant: forward Euler is exact for it too
        return {"g": (p.g_inf - y.g) / p.tau, "other": 0.25 + 0.0 * y.g}


def test_for_model_takes_the_declared_gates():
    assert RushLarsen.for_model(MorrisLecar()).gates == (1,)
    assert RushLarsen.for_model(Gate()).gates == (0,)
    assert RushLarsen(gates=(3, 1)).gates == (1, 3)  # normalised: equal methods hash alike
    assert hash(RushLarsen(gates=(3, 1))) == hash(RushLarsen(gates=(1, 3)))
    m = RushLarsen.for_model(MorrisLecar())
    assert (m.name, m.order, m.adaptive) == ("rush_larsen", 1, False)
    with pytest.raises(ValueError):
        RushLarsen(gates=(1, 1))
    with pytest.raises(ValueError):
        RushLarsen(gates=(-1,))


def test_agrees_with_tsit5_at_first_order():
    """RL at dt and dt/2 against Tsit5 at rtol 1e-10 over two action potentials.

    The tolerance is the first-order error itself: halving dt must halve the deviation (ratio 2 +- 10 %), and at
    dt = 0.005 ms the deviation must be below 0.1 mV (0.1 % of the ~100 mV action potential; the error constant is
    ~13 mV per ms of step, so 0.07 mV is expected). Richardson extrapolation of the two runs cancels the O(dt) term
    and must agree another order of magnitude better, which confirms it is the leading term we measured.
    """
    model = MorrisLecar()
    times = np.linspace(0.0, 200.0, 201)
    ref = vh.simulate(model, times=times, solver="tsit5", rtol=1e-10, atol=1e-12, precision="float64")
    assert int(ref.status) == vh.Status.SUCCESS
    assert np.ptp(ref.V.values) > 70.0  # it really fires
    rl = RushLarsen.for_model(model)
    runs = {dt: vh.simulate(model, times=times, solver=rl, dt0=dt, precision="float64") for dt in (0.01, 0.005)}
    assert all(int(ds.status) == vh.Status.SUCCESS for ds in runs.values())
    err = {dt: np.max(np.abs(ds.V.values - ref.V.values)) for dt, ds in runs.items()}
    assert 1.8 <= err[0.01] / err[0.005] <= 2.2, err
    assert err[0.005] < 0.1, err
    extrapolated = 2.0 * runs[0.005].V.values - runs[0.01].V.values
    assert np.max(np.abs(extrapolated - ref.V.values)) < 0.1 * err[0.005]
    assert runs[0.005].attrs["solver"] == "rush_larsen"


@pytest.mark.parametrize("dt", [0.5, 10.0])  # tau / 4 and 5 tau (forward Euler diverges for dt > 2 tau)
def test_exact_for_a_linear_gate(dt):
    model = Gate()
    times = np.arange(0.0, 60.0 + dt / 2, dt)
    ds = vh.simulate(model, times=times, solver=RushLarsen.for_model(model), dt0=dt, precision="float64")
    exact = 0.8 + (0.1 - 0.8) * np.exp(-times / 2.0)
    np.testing.assert_allclose(ds.g.values, exact, rtol=0, atol=1e-14)
    np.testing.assert_allclose(ds.other.values, 0.25 * times, rtol=1e-13, atol=1e-13)


def test_gate_stays_bounded_where_explicit_methods_diverge():
    """At dt = 5 tau an explicit method (RK4: stable only for |lambda dt| < 2.79) grows without bound; RL is exact."""
    model = Gate()
    times = np.arange(0.0, 101.0, 10.0)
    explicit = vh.simulate(model, times=times, solver="rk4", dt0=10.0, precision="float64")
    assert np.max(np.abs(explicit.g.values)) > 10.0
    rl = vh.simulate(model, times=times, solver=RushLarsen.for_model(model), dt0=10.0, precision="float64")
    assert np.all((rl.g.values >= 0.0) & (rl.g.values <= 1.0))


def test_a_bare_instance_is_specialised_to_the_model():
    """``solver=RushLarsen()`` (no gates named) takes the model's gates, rather than silently being forward Euler."""
    model = Gate()
    times = np.arange(0.0, 21.0, 10.0)
    ds = vh.simulate(model, times=times, solver=RushLarsen(), dt0=10.0, precision="float64")
    np.testing.assert_allclose(ds.g.values, 0.8 - 0.7 * np.exp(-times / 2.0), atol=1e-14)


def test_dense_output_is_linear_between_steps():
    model = Gate()
    dt = 4.0
    times = np.array([0.0, 1.0, 2.0, 4.0])  # two outputs inside the first step
    ds = vh.simulate(model, times=times, solver=RushLarsen.for_model(model), dt0=dt, precision="float64")
    g1 = 0.8 + (0.1 - 0.8) * np.exp(-dt / 2.0)
    np.testing.assert_allclose(ds.g.values, 0.1 + (g1 - 0.1) * times / dt, rtol=1e-14, atol=1e-15)


def test_simulate_by_name_uses_the_model_gates():
    """``solver="rush_larsen"`` in simulate specialises the method to the model: ``RushLarsen.for_model(model)``."""
    model = Gate()
    times = np.arange(0.0, 21.0, 10.0)
    by_name = vh.simulate(model, times=times, solver="rush_larsen", dt0=10.0, precision="float64")
    assert by_name.attrs["solver"] == "rush_larsen"
    # exact at dt = 5 tau; plain Euler (a RushLarsen without gates) would give 0.1, 3.6, -10.4
    np.testing.assert_allclose(by_name.g.values, 0.8 - 0.7 * np.exp(-times / 2.0), atol=1e-14)
