"""Personalisation: patient parameters -> model parameters (Smith 2004 closed loop, 3-element Windkessel) and
virtual cell cohorts with conductance variability through vh.Population.

One cohort of 16 virtual hearts is personalised (refine=2: two batch simulations) and simulated once more from the
returned state; every Smith check reads that one compiled batch."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.analysis import action_potential_biomarkers, haemodynamics
from vhtwin.models.cardio import smith2004, windkessel3

pytestmark = pytest.mark.slow

N = 16
HR = np.linspace(55.0, 100.0, N)
_rng = np.random.default_rng(7)
MAP = _rng.permutation(np.linspace(80.0, 110.0, N))
CO = _rng.permutation(np.linspace(4.0, 7.0, N))
HEIGHT = _rng.permutation(np.linspace(155.0, 195.0, N))
WEIGHT = _rng.permutation(np.linspace(50.0, 110.0, N))
# the last four hearts have no targets: two pairs at equal heart rate with different body sizes
HR[-4:] = [70.0, 70.0, 85.0, 85.0]
HEIGHT[-4:], WEIGHT[-4:] = [160.0, 190.0, 165.0, 185.0], [55.0, 95.0, 60.0, 90.0]
MAP[-4:] = CO[-4:] = np.nan
BEATS = 20
TOL = dict(rtol=1e-6, atol=1e-6, precision="float64")


@lru_cache(maxsize=None)
def cohort():
    model = vh.load_model("cardio/smith2004")
    params, initial = smith2004.personalise(HR, HEIGHT, WEIGHT, mean_arterial_pressure=MAP, cardiac_output=CO,
                                            refine=2, beats=BEATS, model=model, **TOL)
    ds = vh.simulate(model, params=params, initial=initial, times=smith2004.beat_grid(params["period"], BEATS), **TOL)
    return params, initial, ds


def test_heart_rate_is_reproduced_by_the_driver():
    params, _, ds = cohort()
    assert (ds.status == 0).all()
    np.testing.assert_allclose(params["period"], 60.0 / HR, rtol=1e-14)
    t, e = np.asarray(ds.time.values), np.asarray(ds.e.values)
    for i in range(N):  # upward crossings of e = 0.5, interpolated: one per beat, 60 / HR apart
        up = np.nonzero((e[i, :-1] < 0.5) & (e[i, 1:] >= 0.5))[0]
        cross = t[i, up] + (0.5 - e[i, up]) / (e[i, up + 1] - e[i, up]) * (t[i, up + 1] - t[i, up])
        assert len(cross) == BEATS
        np.testing.assert_allclose(60.0 / np.diff(cross), HR[i], rtol=1e-6)


def test_refined_cohort_reaches_map_and_co_targets():
    params, _, ds = cohort()
    has = np.isfinite(MAP)
    for i in np.nonzero(has)[0]:  # independent measurement: analysis.haemodynamics on each heart's last beat
        one = ds.isel(patient=i).swap_dims(obs="time")
        hd = haemodynamics(one.isel(time=slice(-smith2004._SAMPLES_PER_BEAT - 1, None)), period=params["period"][i])
        assert abs(float(hd.MAP[-1]) / MAP[i] - 1.0) < 0.05, (i, float(hd.MAP[-1]), MAP[i])
        assert abs(float(hd.CO[-1]) / CO[i] - 1.0) < 0.05, (i, float(hd.CO[-1]), CO[i])
        assert abs(float(hd.HR[-1]) / HR[i] - 1.0) < 1e-9


def test_bigger_body_gives_bigger_stroke_volume_at_equal_heart_rate():
    params, _, ds = cohort()
    bsa = smith2004.mosteller_bsa(HEIGHT, WEIGHT)
    v = np.asarray(ds.V_lv.values)[:, -smith2004._SAMPLES_PER_BEAT - 1:]
    sv = v.max(axis=1) - v.min(axis=1)
    for small, big in ((-4, -3), (-2, -1)):
        assert HR[small] == HR[big] and bsa[big] > bsa[small]
        assert sv[big] > sv[small]
        # the size scaling is a similarity: stroke volume in proportion to BSA (size_exponent 1)
        assert abs(sv[big] / sv[small] / (bsa[big] / bsa[small]) - 1.0) < 0.01


def test_smith_personalise_first_order_is_cheap_and_scalar_in_scalar_out():
    params, initial = smith2004.personalise(72.0, body_surface_area=smith2004.BSA_REF, refine=0)
    assert np.ndim(params["R_sys"]) == 0 and np.ndim(initial["V_lv"]) == 0
    assert params["period"] == pytest.approx(60.0 / 72.0)
    assert sum(float(initial[k]) for k in ("V_lv", "V_rv", "V_pa", "V_pu", "V_ao", "V_vc")) == pytest.approx(1500.0)
    # reference heart rate (the published 80 min-1, a 0.75 s beat) and size, no targets: the reference model
    p80, _ = smith2004.personalise(80.0, 180.0, 77.0, refine=0)
    defaults = vh.load_model("cardio/smith2004").default_parameters()
    for k, v in p80.items():
        assert float(v) == pytest.approx(defaults[k], rel=1e-4), k


@pytest.mark.parametrize("kwargs, name", [
    (dict(heart_rate=0.0, body_surface_area=1.9), "heart_rate"),
    (dict(heart_rate=np.array([70.0, -5.0]), body_surface_area=1.9), "heart_rate"),
    (dict(heart_rate=130.0, body_surface_area=1.9), "heart_rate"),  # above HR_MAX: the driver would not relax
    (dict(heart_rate=70.0), "height"),
    (dict(heart_rate=70.0, height=170.0), "weight"),
    (dict(heart_rate=70.0, body_surface_area=-1.0), "body_surface_area"),
    (dict(heart_rate=70.0, body_surface_area=1.9, mean_arterial_pressure=-80.0), "mean_arterial_pressure"),
    (dict(heart_rate=70.0, body_surface_area=1.9, cardiac_output=0.0), "cardiac_output"),
    (dict(heart_rate=np.ones(3) * 70, body_surface_area=np.ones(2)), "different lengths"),
    (dict(heart_rate=70.0, body_surface_area=1.9, refine=-1), "refine"),
])
def test_smith_personalise_refuses_bad_input_naming_it(kwargs, name):
    with pytest.raises(vh.InputError, match=name):
        smith2004.personalise(**kwargs)


def test_windkessel3_personalise_reproduces_map_and_pulse_pressure():
    hr = np.array([55.0, 72.0, 90.0, 110.0])
    sv = np.array([85.0, 70.0, 60.0, 50.0])
    sbp, dbp = np.array([115.0, 125.0, 140.0, 105.0]), np.array([70.0, 80.0, 90.0, 65.0])
    params = windkessel3.personalise(hr, sv, sbp, dbp)
    assert np.allclose(params["Zc"] / (params["Zc"] + params["R"]), 0.05)
    assert np.all((params["C"] > 0.3) & (params["C"] < 5.0))
    model = vh.load_model("cardio/windkessel3")
    beats = 30
    times = (60.0 / hr)[:, None] * np.linspace(0.0, beats, beats * 400 + 1)[None, :]
    ds = vh.simulate(model, params=params, initial={"P_C": dbp}, times=times, rtol=1e-9, atol=1e-9,
                     precision="float64")
    assert (ds.status == 0).all()
    p, t = np.asarray(ds.P_ao.values)[:, -401:], np.asarray(ds.time.values)[:, -401:]
    mean_p = np.trapezoid(p, t, axis=1) / (60.0 / hr)
    np.testing.assert_allclose(mean_p, dbp + (sbp - dbp) / 3.0, rtol=2e-3)
    np.testing.assert_allclose(p.max(axis=1) - p.min(axis=1), sbp - dbp, rtol=1e-2)
    with pytest.raises(vh.InputError, match="heart_rate"):
        windkessel3.personalise(0.0, 70.0, 120.0, 80.0)
    with pytest.raises(vh.InputError, match="systolic_pressure"):
        windkessel3.personalise(70.0, 70.0, 80.0, 120.0)


def test_population_of_ord_conductance_scalings_is_deterministic_per_seed_and_id():
    # the drawing side with O'Hara-Rudy 2011 conductances (its simulation compiles for minutes: not in this suite)
    pop = vh.Population("cardio/ohara_rudy2011", omega={"GKr": 0.04, "PCa": 0.04, "GKs": 0.04})
    draw, again = pop.sample(n=6, seed=11), pop.sample(n=3, seed=11, first_patient=3)
    for c in ("GKr", "PCa", "GKs"):
        np.testing.assert_array_equal(draw[c].values[3:], again[c].values)
        assert np.std(np.log(draw[c].values)) > 0.05


def test_population_of_cells_has_apd_spread_deterministic_per_seed_and_id():
    # simulated with Mitchell-Schaeffer (cheap to compile): tau_out = 1 / (outward conductance), tau_close the gate
    model = vh.load_model("cardio/mitchell_schaeffer")
    pop = vh.Population(model, omega={"tau_close": 0.04, "tau_out": 0.04})
    draw, again = pop.sample(n=6, seed=11), pop.sample(n=3, seed=11, first_patient=3)
    assert not np.array_equal(pop.sample(n=6, seed=12)["tau_close"].values, draw["tau_close"].values)
    pacing = vh.Pacing(period=1000.0, duration=1.0, count=1)
    times = np.arange(0.0, 700.0, 0.2)
    opts = dict(times=times, protocol=pacing, rtol=1e-8, atol=1e-10, precision="float64")
    apd = action_potential_biomarkers(vh.simulate(model, params=draw, **opts), beat_starts=pacing)["apd90"].values
    apd = np.asarray(apd).reshape(6, -1)[:, 0]
    assert np.all(np.isfinite(apd)) and np.std(apd) > 5.0, apd
    apd3 = action_potential_biomarkers(vh.simulate(model, params=again, **opts), beat_starts=pacing)["apd90"].values
    np.testing.assert_allclose(np.asarray(apd3).reshape(3, -1)[:, 0], apd[3:], rtol=1e-6)
