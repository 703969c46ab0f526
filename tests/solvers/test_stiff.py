"""Rodas4 on classic stiff problems through ``vhtwin.simulate``, against scipy's Radau (float64).

Agreement is measured per state as ``max_t |a - b| / max(|b|, floor)``. The floor is 1e6 times the state's atol: a
relative requirement of 1e-5 then never asks for an absolute accuracy finer than 10 atol, which is what an atol
promises. Above the floor the comparison is purely relative.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import vhtwin as vh
from vhtwin.solvers import Rodas4, RushLarsen, get_solver, solver_names
from vhtwin.solvers.rodas import linearise

pytestmark = pytest.mark.slow


class Robertson(vh.Model):
    """Robertson's autocatalytic reaction (Hairer & Wanner II, IV.1): stiffness ratio ~1e11 over [0, 1e5]."""

    time_unit = "s"
    stiff = True
    states = (vh.State("y1", "1", 1.0), vh.State("y2", "1", 0.0), vh.State("y3", "1", 0.0))
    parameters = (
        vh.Parameter("k1", 0.04, "s-1", positive=True),
        vh.Parameter("k2", 3e7, "s-1", positive=True),
        vh.Parameter("k3", 1e4, "s-1", positive=True),
    )
    observed = (vh.Observable("total", "1", "y1 + y2 + y3, conserved"),)

    def rhs(self, t, y, p):
        r1, r2, r3 = p.k1 * y.y1, p.k2 * y.y2 * y.y2, p.k3 * y.y2 * y.y3
        return {"y1": -r1 + r3, "y2": r1 - r2 - r3, "y3": r2}

    def observables(self, t, y, p):
        return {"total": y.y1 + y.y2 + y.y3}


class VanDerPol(vh.Model):
    """Van der Pol x'' - mu (1 - x^2) x' + x = 0 with mu = 1000: relaxation oscillations, period ~ (3 - 2 ln 2) mu."""

    time_unit = "s"
    stiff = True
    states = (vh.State("x", "1", 2.0), vh.State("v", "1", 0.0))
    parameters = (vh.Parameter("mu", 1000.0, "1", positive=True),)
    observed = (vh.Observable("position", "1"),)

    def rhs(self, t, y, p):
        return {"x": y.v, "v": p.mu * (1.0 - y.x * y.x) * y.v - y.x}

    def observables(self, t, y, p):
        return {"position": y.x}


def robertson_rhs(k1, k2, k3):
    def f(t, y):
        return [-k1 * y[0] + k3 * y[1] * y[2], k1 * y[0] - k2 * y[1] ** 2 - k3 * y[1] * y[2], k2 * y[1] ** 2]

    def jac(t, y):
        return [
            [-k1, k3 * y[2], k3 * y[1]],
            [k1, -2 * k2 * y[1] - k3 * y[2], -k3 * y[1]],
            [0.0, 2 * k2 * y[1], 0.0],
        ]

    return f, jac


def relative_disagreement(a, b, floor):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))


ROBERTSON_ATOL = {"y1": 1e-12, "y2": 1e-16, "y3": 1e-12}  # y2 peaks at 3.7e-5 and falls to 7e-8 by t = 1e5


def test_robertson_matches_radau():
    times = np.r_[0.0, np.logspace(-4, 5, 10)]
    ds = vh.simulate(
        Robertson(), times=times, solver="rodas4", rtol=1e-10, atol=ROBERTSON_ATOL, precision="float64",
        max_steps=100_000,
    )
    assert int(ds.status) == vh.Status.SUCCESS
    assert ds.attrs["solver"] == "rodas4"
    f, jac = robertson_rhs(0.04, 3e7, 1e4)
    ref = solve_ivp(f, (0.0, times[-1]), [1.0, 0.0, 0.0], method="Radau", rtol=1e-11, atol=[1e-14, 1e-18, 1e-14],
                    jac=jac, t_eval=times)
    assert ref.success
    for i, name in enumerate(("y1", "y2", "y3")):
        assert relative_disagreement(ds[name].values, ref.y[i], 1e6 * ROBERTSON_ATOL[name]) <= 1e-5, name
    np.testing.assert_allclose(ds["total"].values, 1.0, atol=1e-9)  # mass is conserved (linear invariant)


def test_robertson_batch_lanes_are_independent():
    """Three rate sets in one batch: each lane's Jacobian is its own (the JVP basis tangents are per lane)."""
    k1 = np.array([0.04, 0.02, 0.08])
    k3 = np.array([1e4, 3e3, 2e4])
    times = np.r_[0.0, np.logspace(-3, np.log10(40.0), 6)]
    ds = vh.simulate(
        Robertson(), {"k1": k1, "k3": k3}, times=times, solver="rodas4", rtol=1e-9, atol=ROBERTSON_ATOL,
        precision="float64",
    )
    assert np.all(ds.status.values == vh.Status.SUCCESS)
    for b in range(3):
        f, jac = robertson_rhs(k1[b], 3e7, k3[b])
        ref = solve_ivp(f, (0.0, times[-1]), [1.0, 0.0, 0.0], method="Radau", rtol=1e-11,
                        atol=[1e-14, 1e-18, 1e-14], jac=jac, t_eval=times)
        for i, name in enumerate(("y1", "y2", "y3")):
            got = ds[name].values[b]
            assert relative_disagreement(got, ref.y[i], 1e6 * ROBERTSON_ATOL[name]) <= 1e-5, (b, name)


def test_van_der_pol_mu_1000_matches_radau():
    times = np.linspace(0.0, 3000.0, 21)  # two relaxation cycles, the jumps at t ~ 807 and ~ 2420
    atol = 1e-12
    ds = vh.simulate(
        VanDerPol(), times=times, solver="rodas4", rtol=1e-10, atol=atol, precision="float64", max_steps=200_000
    )
    assert int(ds.status) == vh.Status.SUCCESS
    mu = 1000.0
    ref = solve_ivp(
        lambda t, y: [y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]], (0.0, times[-1]), [2.0, 0.0], method="Radau",
        rtol=1e-11, atol=1e-14, jac=lambda t, y: [[0.0, 1.0], [-2 * mu * y[0] * y[1] - 1, mu * (1 - y[0] ** 2)]],
        t_eval=times,
    )
    assert ref.success
    # both states are well above the floor 1e6 * atol = 1e-6 at the outputs (|v| ~ 7e-4 on the slow branches)
    for i, name in enumerate(("x", "v")):
        assert relative_disagreement(ds[name].values, ref.y[i], 1e6 * atol) <= 1e-5, name


def test_auto_picks_rodas4_for_stiff_models():
    ds = vh.simulate(Robertson(), times=[0.0, 1.0], precision="float64")
    assert ds.attrs["solver"] == "rodas4"
    assert int(ds.status) == vh.Status.SUCCESS

    class Mild(vh.Model):
        time_unit = "h"
        states = (vh.State("a", "mg", 1.0),)
        parameters = (vh.Parameter("k", 0.5, "h-1", positive=True),)
        observed = ()

        def rhs(self, t, y, p):
            return {"a": -p.k * y.a}

    assert vh.simulate(Mild(), times=[0.0, 1.0], precision="float64").attrs["solver"] == "tsit5"


def test_registry():
    assert {"rodas4", "rush_larsen"} <= set(solver_names())
    assert isinstance(get_solver("rodas4"), Rodas4)
    assert isinstance(get_solver("rush_larsen"), RushLarsen)
    m = Rodas4()
    assert (m.name, m.order, m.error_order, m.needs_jacobian, m.adaptive) == ("rodas4", 4, 3, True, True)


def test_linearise_matches_per_lane_jacobian():
    """J and f_t from one linearisation of the batched field equal jax.jacfwd of each lane's own function."""
    with jax.enable_x64(True):
        c = jnp.asarray([[1.0, 2.0, -0.5], [0.3, -1.0, 4.0]])  # per-lane parameters, (2, B = 3)

        def lane(t, y, cb):  # one trajectory: (), (2,), (2,) -> (2,)
            return jnp.stack([cb[0] * y[0] * y[1] + jnp.sin(t) * y[1], cb[1] * y[0] ** 2 - t * t * y[1]])

        vf = lambda t, y: jax.vmap(lane, in_axes=(0, 1, 1), out_axes=1)(t, y, c)
        t = jnp.asarray([0.1, 0.7, 2.0])
        y = jnp.asarray([[1.0, -2.0, 0.5], [0.3, 0.8, -1.5]])
        f0, J, f_t = jax.jit(lambda t, y: linearise(vf, t, y))(t, y)
        per_lane = jax.jit(lambda t, y, c: (lane(t, y, c), jax.jacfwd(lane, 1)(t, y, c), jax.jacfwd(lane, 0)(t, y, c)))
        for b in range(3):
            f_b, J_b, ft_b = per_lane(t[b], y[:, b], c[:, b])
            np.testing.assert_allclose(f0[:, b], f_b, rtol=1e-14)
            np.testing.assert_allclose(J[:, :, b], J_b, rtol=1e-14)
            np.testing.assert_allclose(f_t[:, b], ft_b, rtol=1e-14)


def test_rodas4_is_l_stable():
    """y' = lambda (y - cos t) with h lambda = -1e8: one step from far off the slow manifold lands on it.

    The stiff component is multiplied by the stability function R(h lambda), and R(inf) = 0 for RODAS (stiffly
    accurate, L-stable): starting 4 away from the manifold or on it gives the same y1 up to 4 |R(-1e8)|. An A-stable
    but not L-stable method (|R(inf)| = 1, e.g. the trapezoidal rule) would carry the 4 over.
    """
    with jax.enable_x64(True):
        lam = -1e8
        vf = lambda t, y: lam * (y - jnp.cos(t)[None, :])
        t, h = jnp.zeros(2), jnp.full(2, 1.0)
        y0 = jnp.asarray([[5.0, 1.0]])  # lane 0 off the manifold, lane 1 on it (cos 0 = 1)
        y1, err, _, _ = jax.jit(lambda t, y, h: Rodas4().step(vf, t, y, h, ()))(t, y0, h)
        y1 = np.asarray(y1)[0]
        assert abs(y1[0] - y1[1]) < 1e-5  # measured 3.5e-7: R(z) ~ 9 / |z| for large |z|
        # and on the manifold y = cos(t) - sin(t) / lambda + ..., to the method's accuracy at h = 1
        assert abs(y1[1] - (np.cos(1.0) - np.sin(1.0) / lam)) < 1e-5
        assert np.all(np.isfinite(np.asarray(err)))


def test_rodas4_sensitivities_match_central_differences():
    """jax.jacfwd through a Rodas4 solve: the tangents run through linearise (second derivatives of the model)
    and through the LU (its JVP). Robertson to t = 40, d y / d k1 and d y / d k3 against central differences."""
    times = np.array([0.0, 0.4, 4.0, 40.0])
    sim = vh.Simulator(Robertson(), times=times, solver="rodas4", rtol=1e-11, atol=ROBERTSON_ATOL,
                       precision="float64", max_steps=100_000)
    p0 = {"k1": 0.04, "k3": 1e4}
    with jax.enable_x64(True):
        def out(p):
            r = sim(p)
            return jnp.stack([r[s] for s in ("y1", "y2", "y3")])

        jac = jax.jacfwd(out)({k: jnp.float64(v) for k, v in p0.items()})
        for name in p0:
            h = 1e-5 * p0[name]
            up, down = dict(p0), dict(p0)
            up[name] += h
            down[name] -= h
            fd = (np.asarray(out(up)) - np.asarray(out(down))) / (2 * h)
            got = np.asarray(jac[name])
            for i in range(3):  # per state, relative to that state's sensitivity scale
                np.testing.assert_allclose(got[i], fd[i], rtol=1e-5, atol=1e-6 * np.abs(fd[i]).max(), err_msg=name)
