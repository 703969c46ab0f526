"""Circulation models: the Windkessel family (exact 2-element solution, 3-element against scipy, sampled inflows)
and the Smith et al. 2004 closed loop (volume conservation, cardiac output, thoracic pressure, solver behaviour,
septal Newton solve)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import vhtwin as vh
from vhtwin.analysis import steady_state_haemodynamics
from vhtwin.models.cardio import smith2004, windkessel2, windkessel3, windkessel4
from vhtwin.testing import cardio as oracles

pytestmark = pytest.mark.slow

WK_TIMES = np.linspace(0.0, 16.0, 1601)  # 20 beats at 75 min-1
WK_TOL = dict(rtol=1e-10, atol=1e-10, precision="float64")


def test_windkessel_models_are_in_the_library_and_documented():
    for name in ("windkessel2", "windkessel3", "windkessel4", "smith2004"):
        model = vh.load_model(f"cardio/{name}")
        assert model.time_unit == "s" and model.reference and all(q.source for q in model.parameters)
    assert vh.load_model("cardio/smith2004").state_names == (
        "V_lv", "V_rv", "V_pa", "V_pu", "V_ao", "V_vc", "Q_mt", "Q_av", "Q_tc", "Q_pv")


def test_windkessel2_matches_its_closed_form_and_mean_pressure_is_mean_flow_times_resistance():
    model = vh.load_model("cardio/windkessel2")
    params = {"R": np.array([1.0, 1.3]), "C": np.array([1.2, 0.8])}
    ds = vh.simulate(model, params, times=WK_TIMES, **WK_TOL)
    assert (ds.status == 0).all()
    for i in range(2):
        R, C = params["R"][i], params["C"][i]
        exact = oracles.windkessel2_pressure(WK_TIMES, 80.0, R, C, 75.0, 70.0, 0.3)
        assert np.abs(ds.P_ao.values[i] - exact).max() < 1e-5 * exact.max()
        # periodic steady state: the beat average is R * mean inflow (70 mL * 75 / 60 s)
        p0 = oracles.windkessel2_periodic_initial_pressure(R, C, 75.0, 70.0, 0.3)
        t = np.linspace(0.0, 0.8, 8001)
        beat = oracles.windkessel2_pressure(t, p0, R, C, 75.0, 70.0, 0.3)
        assert abs(np.trapezoid(beat, t) / 0.8 - R * 70.0 * 75.0 / 60.0) < 1e-6 * R * 87.5
        assert abs(beat[-1] - p0) < 1e-9 * p0
    last = ds.P_ao.isel(patient=0).sel(time=slice(15.2, 16.0)).values
    assert abs(np.trapezoid(last, dx=0.01) / 0.8 - 87.5) < 0.05  # 20 beats in: within 0.05 mmHg of R * mean flow


def test_windkessel3_matches_an_independent_scipy_solve():
    model = vh.load_model("cardio/windkessel3")
    ds = vh.simulate(model, {"Zc": 0.06, "R": 0.9, "C": 1.5}, times=WK_TIMES, **WK_TOL)
    Zc, R, C, HR, SV, T_ej = 0.06, 0.9, 1.5, 75.0, 70.0, 0.3
    T = 60.0 / HR

    def inflow(t):
        tau = t % T
        return np.pi * SV / (2 * T_ej) * np.sin(np.pi * tau / T_ej) if tau < T_ej else 0.0

    # integrate beat phase by beat phase so that Radau never steps over the kinks of the inflow
    edges = sorted({*np.arange(0.0, 16.0 + 1e-9, T), *(np.arange(0.0, 16.0, T) + T_ej)})
    y, ref = [80.0], np.empty_like(WK_TIMES)
    for a, b in zip(edges[:-1], edges[1:]):
        sol = solve_ivp(lambda t, p: [(inflow(t) - p[0] / R) / C], (a, b), y, method="Radau", rtol=1e-11,
                        atol=1e-11, dense_output=True)
        inside = (WK_TIMES >= a) & (WK_TIMES <= b)
        ref[inside] = sol.sol(WK_TIMES[inside])[0]
        y = sol.y[:, -1]
    p_ao = ref + Zc * np.array([inflow(t) for t in WK_TIMES])
    assert np.abs(ds.P_C.values - ref).max() < 1e-6 * ref.max()
    assert np.abs(ds.P_ao.values - p_ao).max() < 1e-6 * p_ao.max()


def test_sampled_inflow_models_are_distinct_classes_with_their_own_hash():
    t = np.linspace(0.0, 0.8, 160, endpoint=False)
    q = np.where(t < 0.3, np.pi * 70.0 / 0.6 * np.sin(np.pi * np.minimum(t, 0.3) / 0.3), 0.0)
    a, b = windkessel3.with_inflow(t, q, 0.8), windkessel3.with_inflow(t, 2 * q, 0.8)
    assert a is windkessel3.with_inflow(t, q, 0.8) and type(a) is not type(b) and a.name != b.name
    assert a.source_hash() != b.source_hash() != vh.load_model("cardio/windkessel3").source_hash()
    assert a.parameter_names == ("Zc", "R", "C", "P_out")
    four = windkessel4.with_inflow(t, q, 0.8)
    assert four.parameter_names == ("Zc", "L", "R", "C", "P_out") and type(four).__mro__[1] is windkessel4.Windkessel4
    import jax.numpy as jnp

    # periodic linear interpolation of the samples, and the wrap-around from the last sample to the first
    assert np.allclose(float(a.inflow(jnp.asarray(0.8 + t[7]), None)), q[7])
    assert np.allclose(float(a.inflow(jnp.asarray(3 * 0.8 - 0.0025), None)), 0.0)
    with pytest.raises(vh.InputError):
        windkessel2.with_inflow(t, q, 0.5)  # samples longer than the period


# -- Smith et al. 2004 ---------------------------------------------------------------------------------------------
N_BEATS = 40
SMITH_PERIOD = 0.75  # s: the published beat (80 min-1), the model's default
SMITH_SAMPLES = 150  # per beat: a 5 ms output grid
SMITH_TIMES = np.linspace(0.0, N_BEATS * SMITH_PERIOD, N_BEATS * SMITH_SAMPLES + 1)
SMITH_PARAMS = {"P_th": np.array([-4.0, 0.0])}  # the published thorax, and a thorax at atmospheric pressure
SMITH_TOL = dict(rtol=1e-6, atol=1e-6, precision="float64")
VOLUMES = ("V_lv", "V_rv", "V_pa", "V_pu", "V_ao", "V_vc")


@pytest.fixture(scope="module")
def smith_runs():
    model = vh.load_model("cardio/smith2004")
    # 40 beats with Tsit5 (solver "auto") for the steady state; the first 10 beats with Rodas4
    return {"auto": vh.simulate(model, SMITH_PARAMS, times=SMITH_TIMES, solver="auto", **SMITH_TOL),
            "rodas4": vh.simulate(model, SMITH_PARAMS, times=SMITH_TIMES[: 10 * SMITH_SAMPLES + 1], solver="rodas4",
                                  **SMITH_TOL)}


def test_smith_solves_without_step_collapse(smith_runs):
    for solver, ds in smith_runs.items():
        assert (ds.status == 0).all(), solver
        # the valves open and close eight times a beat; the adaptive step must not chatter to zero there
        beats = ds.time.values[-1]
        assert (ds.n_steps < 1000 * beats).all() and (ds.n_rejected < 1000 * beats).all(), (
            solver, ds.n_steps.values, ds.n_rejected.values)


def test_smith_conserves_total_volume(smith_runs):
    for ds in smith_runs.values():
        total = sum(ds[v] for v in VOLUMES).values
        assert np.abs(total / 1500.0 - 1.0).max() < 1e-6


def test_smith_solvers_agree(smith_runs):
    b = smith_runs["rodas4"]
    a = smith_runs["auto"].sel(time=b.time)
    for name in ("V_lv", "P_ao", "P_lv", "V_pu"):
        scale = np.abs(a[name].values).max()
        assert np.abs(a[name].values - b[name].values).max() < 2e-3 * scale, name


def test_smith_steady_state_thoracic_pressure_drop_exceeds_the_papers_transient_figure(smith_runs):
    ss = steady_state_haemodynamics(smith_runs["auto"], period=SMITH_PERIOD, rtol=2e-3)
    assert bool(ss.converged.all())
    co = ss.CO.values  # L/min at P_th = -4 and 0 mmHg
    # Smith et al. 2004 (Med Eng Phys 26:131, abstract) report 9 % less cardiac output for P_th -4 -> 0 mmHg. With
    # their parameters the model crosses 9 % a few beats after the change (tests/models/test_smith2004_paper.py) and
    # keeps falling: at the new periodic steady state the fall is about twice the published figure
    # (docs/validation/smith2004.md). This pins that documented disagreement: more than 1.5 times 9 %.
    drop = 1.0 - co[1] / co[0]
    assert drop > 1.5 * 0.09, drop
    # the published baseline, 120/80 mmHg (abstract), within the 5 mmHg the abstract's figures are rounded to
    assert abs(float(ss.SBP.values[0]) - 120.0) <= 5.0 and abs(float(ss.DBP.values[0]) - 80.0) <= 5.0


def test_smith_septum_newton_solve_converges(smith_runs):
    ds = smith_runs["auto"].isel(patient=0, time=slice(-SMITH_SAMPLES - 1, None))  # the last beat, every 5 ms
    model = vh.load_model("cardio/smith2004")
    import jax

    with jax.enable_x64(True):
        p = smith2004_params(model)
        e = smith2004.driver(ds.time.values, p)
        v_spt, residual = smith2004.septum_volume(e, ds.V_lv.values, ds.V_rv.values, p)
        v_spt, residual = np.asarray(v_spt), np.asarray(residual)  # to numpy while float64 is on
    assert np.abs(residual).max() < 1e-10
    assert np.allclose(v_spt, ds.V_spt.values, atol=1e-9)
    assert 0.0 < float(np.min(v_spt)) and float(np.max(v_spt)) < 10.0


def smith2004_params(model):
    from vhtwin.model import Names

    import jax.numpy as jnp

    defaults = model.default_parameters()
    return Names({k: i for i, k in enumerate(defaults)}, [jnp.asarray(v, dtype=jnp.float64) for v in defaults.values()],
                 "parameter")
