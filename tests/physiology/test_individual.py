"""Scaled individuals: consistency of masses and flows, and how they follow body size and age."""

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.physiology import ORGANS, PORTAL_ORGANS, SYSTEMIC_ORGANS

LEAN = [o for o in ORGANS if o not in ("fat", "brain")]


def _cohort():
    rng = np.random.default_rng(0)
    n = 200
    sex = rng.integers(0, 2, n)
    height = np.where(sex == 1, 163.0, 176.0) + rng.normal(0, 8, n)
    weight = rng.uniform(18.5, 40.0, n) * (height / 100) ** 2
    return vh.physiology.individual(rng.uniform(18, 80, n), sex, weight, height)


def test_masses_add_up_to_body_weight_and_flows_to_cardiac_output():
    ds = _cohort()
    np.testing.assert_allclose(ds.mass.sum("organ"), ds.body_weight, rtol=1e-12)
    density = {"fat": 0.92, "bone": 1.3, "arterial_blood": 1.06, "venous_blood": 1.06}  # kg/L; soft tissues 1.0
    expected = ds.mass / np.array([density.get(o, 1.0) for o in ORGANS])
    np.testing.assert_allclose(ds.volume, expected, rtol=1e-12)
    q = ds.blood_flow
    np.testing.assert_allclose(q.sel(organ=list(SYSTEMIC_ORGANS)).sum("organ"), ds.cardiac_output, rtol=1e-12)
    for o in ("lung", "arterial_blood", "venous_blood"):
        np.testing.assert_allclose(q.sel(organ=o), ds.cardiac_output, rtol=1e-12)
    portal = q.sel(organ=list(PORTAL_ORGANS)).sum("organ")
    np.testing.assert_allclose(ds.portal_vein_flow, portal, rtol=1e-12)
    np.testing.assert_allclose(q.sel(organ="liver"), ds.hepatic_artery_flow + portal, rtol=1e-12)
    assert (ds.mass > 0).all() and (q > 0).all()
    drains = dict(zip(ds.organ.values, ds.drains_into.values))
    assert all(drains[o] == "liver" for o in PORTAL_ORGANS) and all(drains[o] == "venous_blood" for o in SYSTEMIC_ORGANS)


def test_heavier_person_of_same_height_has_more_fat_and_similar_organs():
    ds = vh.physiology.individual(35.0, "male", [73.0, 100.0], 176.0)
    ratio = ds.mass.isel(patient=1) / ds.mass.isel(patient=0)
    weight_ratio = 100.0 / 73.0
    assert float(ratio.sel(organ="fat")) > 1.8  # the extra weight is mostly fat
    assert float(ratio.sel(organ="brain")) == 1.0
    lean = ratio.sel(organ=[o for o in LEAN if o != "skin"])
    assert (lean > 1.0).all() and (lean < 1.25).all()  # lean body weight grows, much less than the body weight
    assert float(ratio.sel(organ="skin")) < weight_ratio
    assert float(ds.cardiac_output[1]) > float(ds.cardiac_output[0])  # larger body surface area


def test_taller_person_of_same_bmi_has_larger_organs():
    height = np.array([165.0, 176.0, 190.0])
    ds = vh.physiology.individual(35.0, "male", 23.57 * (height / 100) ** 2, height)
    for organ in ("liver", "kidney", "muscle", "heart", "skin", "arterial_blood"):
        assert np.all(np.diff(ds.mass.sel(organ=organ).values) > 0), organ
    assert np.all(np.diff(ds.cardiac_output.values) > 0)
    np.testing.assert_array_equal(ds.mass.sel(organ="brain"), 1.45)


def test_cardiac_output_falls_with_age_and_flows_follow():
    ds = vh.physiology.individual([25.0, 35.0, 70.0], "female", 60.0, 163.0)
    co = ds.cardiac_output.values
    assert co[0] > co[1] > co[2]
    # cardiac index 5.9 L/min / 1.662 m2 = 3.55 at 35 y, minus 0.022 L/min/m2 per year
    assert co[2] / co[1] == pytest.approx(1 - 0.022 * 35 / (5.9 / 1.6619), rel=2e-3)
    fractions = ds.blood_flow / ds.cardiac_output
    np.testing.assert_allclose(fractions.isel(patient=0), fractions.isel(patient=2), rtol=1e-12)
    np.testing.assert_array_equal(ds.mass.isel(patient=0), ds.mass.isel(patient=2))  # volumes do not age here


def test_vectorised_equals_one_at_a_time():
    args = ([30.0, 55.0, 70.0], ["male", "female", "female"], [80.0, 55.0, 70.0], [180.0, 158.0, 166.0])
    batch = vh.physiology.individual(*args)
    assert batch.sizes["patient"] == 3
    for i in range(3):
        one = vh.physiology.individual(*(a[i] for a in args))
        for name in ("mass", "volume", "blood_flow", "cardiac_output", "body_surface_area", "lean_body_weight"):
            np.testing.assert_array_equal(batch[name].isel(patient=i).values, one[name].values)
    codes = vh.physiology.individual(args[0], [0, 1, 1], args[2], args[3])
    np.testing.assert_array_equal(codes.volume, batch.volume)


def test_composition_is_consistent():
    ds = vh.physiology.composition()
    assert set(vh.physiology.COMPOSITION_KEYS) <= set(ds.data_vars)
    np.testing.assert_allclose(ds.extracellular_water + ds.intracellular_water, ds.water, rtol=1e-12)
    total = ds.water + ds.neutral_lipid + ds.neutral_phospholipid + ds.protein
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)
    fractions = ds[["water", "extracellular_water", "intracellular_water", "neutral_lipid", "neutral_phospholipid", "protein"]]
    assert all(((v >= 0) & (v <= 1)).all() for v in fractions.data_vars.values())
    assert float(ds.neutral_lipid.sel(tissue="fat")) == 0.79  # Poulin & Theil 2002, human adipose
    assert float(ds.water.sel(tissue="liver")) == 0.751
    assert str(ds.composition_source.sel(tissue="pancreas").item()) == "gut"
    assert set(ds.tissue.values) >= set(ORGANS) - {"arterial_blood", "venous_blood"} | {"plasma", "erythrocytes"}
    # the same table rides along in every individual's dataset
    one = vh.physiology.individual(40.0, "male", 80.0, 180.0)
    np.testing.assert_array_equal(one.water, ds.water)
