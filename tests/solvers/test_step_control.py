"""Step-size control: the integral controller and the predictive rules Rodas4 uses (Hairer's RODAS).

The rules are checked one by one on the controller itself, then on a stiff relaxation oscillator (Van der Pol,
mu = 1000: long slow phases broken by fast jumps, as an action potential breaks a cell's rest) solved by Rodas4 with
and without them: the predictive controller must reject fewer steps, attempt fewer in all, and stay as close to a
scipy Radau solution at tight tolerance.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from vhtwin.solvers import Events, LoopConfig, Outputs, PIController, Rodas4, VectorField, get_solver, integrate


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def test_predictive_rules():
    ctrl = PIController(predictive=True)
    norm = jnp.asarray([0.5, 0.5, 0.5, 0.5, 2.0])
    factor = jnp.asarray([1.5, 1.5, 1.5, 1.5, 0.7])
    accept = norm <= 1.0
    h = jnp.ones(5)
    prev_norm = jnp.asarray([0.5, 0.05, 0.5, 0.5, 0.05])
    h_prev = jnp.asarray([0.0, 1.0, 1.0, 1.0, 1.0])
    after_reject = jnp.asarray([False, False, False, True, False])
    out = np.asarray(ctrl.predict(factor, accept, norm, h, prev_norm, h_prev, after_reject, 3))
    assert out[0] == 1.5  # no accepted step to extrapolate from: the integral factor
    # the error grew tenfold over a step of the same size: Gustafsson's factor 0.9 (0.05 / 0.25) ** 0.25 < 1.5
    assert out[1] == pytest.approx(0.9 * (0.05 / 0.25) ** 0.25, rel=1e-12)
    # a steady error: Gustafsson's factor 0.9 (0.5 / 0.25) ** 0.25 = 1.07 is the smaller, as RODAS takes it
    assert out[2] == pytest.approx(0.9 * 2.0 ** 0.25, rel=1e-12)
    assert out[3] == 1.0  # the step after a rejection does not grow
    assert out[4] == 0.7  # a rejected step keeps its factor


MU = 1000.0
T_END = 3000.0


def _van_der_pol(controller):
    """Rodas4 on Van der Pol (mu = 1000) over two relaxation periods, 8 lanes of slightly different starts."""
    N = 8
    field = lambda p, u: VectorField(lambda t, y: (y[1], p[0] * (1.0 - y[0] ** 2) * y[1] - y[0]))
    p = jnp.full((1, N), MU)
    y0 = jnp.asarray(np.stack([np.linspace(2.0, 2.1, N), np.zeros(N)]))
    events = Events(jnp.full((1, 1), jnp.inf), jnp.zeros((1, 2, 1)), jnp.zeros((1, 0, 1)), jnp.zeros((0, 1)))
    outputs = Outputs(jnp.linspace(0.0, T_END, 31))
    config = LoopConfig(max_steps=100_000, controller=controller)
    result = integrate(field, p, Rodas4(), config, jnp.zeros(N), y0, jnp.full(N, T_END), events, outputs,
                       jnp.full(N, jnp.nan), jnp.zeros(N), jnp.full(N, jnp.inf), jnp.full(2, 1e-4), jnp.full(2, 1e-6))
    return result, np.asarray(y0)


def test_predictive_control_saves_rejections_on_a_relaxation_oscillator():
    integral, y0 = _van_der_pol(PIController())
    predictive, _ = _van_der_pol(PIController(predictive=True))
    rejected = lambda r: int(np.asarray(r.n_rejected).sum())
    attempts = lambda r: int(np.asarray(r.n_steps).sum()) + rejected(r)
    assert rejected(predictive) < 0.6 * rejected(integral), (rejected(predictive), rejected(integral))
    assert attempts(predictive) < attempts(integral), (attempts(predictive), attempts(integral))
    times = np.linspace(0.0, T_END, 31)
    f = lambda t, y: [y[1], MU * (1.0 - y[0] ** 2) * y[1] - y[0]]
    for lane in (0, 7):
        ref = solve_ivp(f, (0.0, T_END), y0[:, lane], method="Radau", t_eval=times, rtol=1e-10, atol=1e-12).y[0]
        for result in (integral, predictive):
            np.testing.assert_allclose(np.asarray(result.saved)[0, :, lane], ref, atol=2e-2)


def test_rodas4_uses_the_predictive_controller():
    assert get_solver("rodas4").controller.predictive
    assert not get_solver("tsit5").controller.predictive
