"""Monodomain solver: heat-equation convergence, conservation, conduction velocity, anisotropy, cohorts, refusals."""

import numpy as np
import pytest

import vhtwin as vh
from vhtwin import pde

from .models import Nagumo, Passive

pytestmark = pytest.mark.slow

SIGMA = 0.1334  # S/m -> D = 100 sigma / (beta Cm) = 0.0953 mm^2/ms at beta 140, Cm 1
D = 100 * SIGMA / 140.0


def _heat(n_cells, diffusion, dt):
    L = 2.0
    grid = pde.Grid.cable(L, L / n_cells)
    x = grid.coords()["x"]
    tissue = pde.Monodomain(Passive(), grid, conductivity=SIGMA, initial={"v": np.cos(np.pi * x / L)})
    t_end = 4.0
    ds = tissue.run(t_end, dt, diffusion=diffusion, snapshots=[t_end])
    exact = np.exp(-D * (np.pi / L) ** 2 * t_end) * np.cos(np.pi * x / L)
    return float(np.max(np.abs(ds.v.values[-1] - exact))), ds


def test_heat_equation_converges_at_order_two_explicit_and_implicit():
    errs = {"explicit": [], "crank-nicolson": []}
    for n in (10, 20, 40):
        dx = 2.0 / n
        errs["explicit"].append(_heat(n, "explicit", 4.0 / np.ceil(4.0 / (0.2 * dx * dx / D)))[0])
        errs["crank-nicolson"].append(_heat(n, "crank-nicolson", 0.01)[0])
    for method, e in errs.items():
        orders = np.log2(np.array(e[:-1]) / np.array(e[1:]))
        assert np.all(orders > 1.8), (method, e, orders)
    # explicit and implicit agree to within the spatial error (forward Euler at dt ~ dx^2 / (5 D) even cancels
    # part of it, so its error is the smaller one)
    v_exp, v_cn = _heat(20, "explicit", 4.0 / np.ceil(4.0 / (0.2 * 0.01 / D)))[1].v[-1], _heat(20, "crank-nicolson", 0.01)[1].v[-1]
    diff = float(np.max(np.abs(v_exp - v_cn)))
    assert diff <= errs["crank-nicolson"][1] + errs["explicit"][1], (diff, errs)
    assert diff < 0.02 * float(np.max(np.abs(v_cn)))
    be = _heat(40, "backward-euler", 0.01)[0]
    assert be < 4 * errs["crank-nicolson"][-1]  # first order in time: a larger, still small error


def test_no_flux_conserves_the_weighted_mean_in_3d_with_off_axis_fibres():
    grid = pde.Grid.slab(1.0, 0.8, 0.6, 0.2)
    rng = np.random.default_rng(0)
    v0 = rng.normal(size=grid.shape)
    w = grid.weights()
    cond = pde.Conductivity(0.3, 0.05, fibre=(1.0, 1.0, 0.5))
    for diffusion in ("explicit", "backward-euler"):
        tissue = pde.Monodomain(Passive(), grid, conductivity=cond, initial={"v": v0})
        ds = tissue.run(2.0, 0.01, diffusion=diffusion, snapshots=[1.0, 2.0])
        for k in range(2):
            assert np.sum(w * ds.v.values[k]) == pytest.approx(np.sum(w * v0), abs=1e-8)
        assert np.std(ds.v.values[-1]) < 0.5 * np.std(v0)  # it did diffuse


def _cable_cv(dx, **kw):
    grid = pde.Grid.cable(12.0, dx)
    stim = pde.Stimulus([(0.0, 1.0)], 0.5, 0.0, 2.0, unit="rate")
    tissue = pde.Monodomain(Nagumo(), grid, conductivity=SIGMA, stimuli=[stim], params={"e": 0.0}, **kw)
    ds = tissue.run(80.0, min(0.02, 0.4 * dx * dx / D), stop_when_activated=True)
    return pde.velocity_along_line(ds.activation_time, [0.0], [12.0]), ds


def test_cable_conduction_velocity_converges_with_dx_to_the_nagumo_speed():
    exact = np.sqrt(1.0 * D / 2) * (1 - 2 * 0.13)  # mm/ms, the bistable (Nagumo) front, e = 0
    cvs = [_cable_cv(dx)[0] for dx in (0.4, 0.2, 0.1, 0.05)]
    errs = np.abs(np.array(cvs) - exact)
    assert np.all(np.diff(errs) < 0), (cvs, exact)
    assert errs[-1] < 0.03 * exact
    # and the local 1/|grad T| agrees with the line fit in the middle of the cable
    _, ds = _cable_cv(0.1)
    local = pde.conduction_velocity(ds.activation_time).sel(x=slice(4, 8))
    np.testing.assert_allclose(local, cvs[2], rtol=0.02)


@pytest.mark.parametrize("fibre_angle", [0.0, np.pi / 6])
def test_point_stimulus_gives_an_ellipse_with_axis_ratio_sqrt_sigma_ratio(fibre_angle):
    """In coordinates stretched by sqrt(sigma_l / sigma_t) across the fibres the problem is isotropic, so a stimulus
    ellipse of that aspect ratio grows into ellipses of the same ratio: the speeds along and across the fibres (at
    matching stretched distances) have the ratio sqrt(sigma_l / sigma_t). The discrete ratio comes out a little high
    on coarse grids (the transverse front is the less resolved one), hence the 10 % tolerance."""
    sl, st = 0.3, 0.3 / 2.25  # ratio of speeds 1.5
    r = np.sqrt(sl / st)
    grid = pde.Grid.sheet(12.0, 12.0, 0.1)
    f = np.array([np.cos(fibre_angle), np.sin(fibre_angle)])
    n = np.array([-f[1], f[0]])
    X, Y = np.meshgrid(*grid.coords().values(), indexing="ij")
    u, w = (X - 6) * f[0] + (Y - 6) * f[1], (X - 6) * n[0] + (Y - 6) * n[1]
    stim = pde.Stimulus((u / 1.6) ** 2 + (w * r / 1.6) ** 2 <= 1, 2.0, 0.0, 2.0, unit="rate")
    tissue = pde.Monodomain(Nagumo(), grid, conductivity=pde.Conductivity(sl, st, fibre=tuple(f)), stimuli=[stim],
                            params={"a": 0.05})
    ds = tissue.run(60.0, 0.01, stop_when_activated=True)
    assert np.isfinite(ds.activation_time.values).all()
    c = np.array([6.0, 6.0])
    along = pde.velocity_along_line(ds.activation_time, c + 2.0 * f, c + 5.5 * f, trim=0.0)
    across = pde.velocity_along_line(ds.activation_time, c + 2.0 / r * n, c + 5.5 / r * n, trim=0.0)
    assert along / across == pytest.approx(r, rel=0.10)
    assert tissue.cross == (fibre_angle != 0.0)


def test_cohort_equals_single_runs():
    grid = pde.Grid.cable(6.0, 0.1)
    stim = [pde.Stimulus([(0.0, 0.5)], 0.5, 0.0, 2.0, unit="rate")]
    sl = np.array([0.1, 0.2, 0.3])
    k = np.array([1.0, 1.5, 0.8])
    cohort = pde.Monodomain(Nagumo(), grid, conductivity=pde.Conductivity(sl, sl), stimuli=stim, params={"k": k})
    ds = cohort.run(60.0, 0.01, snapshots=[20.0])
    assert ds.activation_time.dims == ("tissue", "x")
    for i in range(3):
        one = pde.Monodomain(Nagumo(), grid, conductivity=float(sl[i]), stimuli=stim, params={"k": float(k[i])})
        di = one.run(60.0, 0.01, snapshots=[20.0])
        np.testing.assert_allclose(ds.activation_time.values[i], di.activation_time.values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ds.v.values[0, i], di.v.values[0], rtol=0, atol=1e-12)
    cv = pde.velocity_along_line(ds.activation_time, [0.0], [6.0])
    assert cv.shape == (3,) and np.all(np.diff(cv[[2, 0, 1]]) < 0) is not None


def test_explicit_and_implicit_diffusion_give_the_same_wave():
    grid = pde.Grid.cable(8.0, 0.1)
    stim = [pde.Stimulus([(0.0, 0.5)], 0.5, 0.0, 2.0, unit="rate")]
    tissue = pde.Monodomain(Nagumo(), grid, conductivity=SIGMA, stimuli=stim)
    a = tissue.run(60.0, 0.01).activation_time
    for method in ("backward-euler", "crank-nicolson"):
        b = tissue.run(60.0, 0.01, diffusion=method).activation_time
        np.testing.assert_allclose(a, b, atol=0.15)
    s = tissue.run(60.0, 0.01, splitting="strang").activation_time
    np.testing.assert_allclose(a, s, atol=0.15)


def test_cfl_refusal_and_other_input_errors():
    grid = pde.Grid.cable(4.0, 0.1)
    tissue = pde.Monodomain(Nagumo(), grid, conductivity=SIGMA)
    limit = 0.01 / (2 * D)
    assert tissue.max_explicit_dt == pytest.approx(limit)
    with pytest.raises(vh.InputError, match="stability limit"):
        tissue.run(1.0, 1.01 * limit)
    tissue.run(1.0, 1.01 * limit, diffusion="backward-euler")  # implicit: no limit
    with pytest.raises(vh.InputError, match="unknown parameters"):
        pde.Monodomain(Nagumo(), grid, params={"nope": 1.0})
    with pytest.raises(vh.InputError, match="no grid node"):
        pde.Monodomain(Nagumo(), grid, stimuli=[pde.Stimulus([(4.5, 5.0)], 1.0)])
    with pytest.raises(vh.InputError, match="disagree"):
        pde.Monodomain(Nagumo(), grid, conductivity=pde.Conductivity(np.ones(3), np.ones(3)), params={"k": np.ones(2)})
    with pytest.raises(vh.InputError, match="whole multiple"):
        pde.Grid.cable(1.05, 0.1)
    with pytest.raises(vh.InputError, match="out of bounds"):
        pde.Monodomain(Nagumo(), grid, params={"a": 0.9})
