"""Virtual populations: patient i depends on (seed, i) only; distributions match the cited means and spreads."""

import math

import numpy as np
import pytest
import xarray as xr

import vhtwin as vh
from vhtwin.physiology import SYSTEMIC_ORGANS

N = 2000


@pytest.fixture(scope="module")
def young():
    """Ages 20-35: no height loss with age yet, so heights follow the reference mean and SD."""
    return vh.physiology.population(N, seed=11, age=(20, 35))


def test_same_patients_whatever_n_and_offset():
    big = vh.physiology.population(100, seed=4, weight=(55, 95))
    for n, first in ((1, 0), (7, 0), (7, 40), (1, 99)):
        part = vh.physiology.population(n, seed=4, weight=(55, 95), first_patient=first)
        np.testing.assert_array_equal(part.patient, np.arange(first, first + n))
        xr.testing.assert_identical(part, big.isel(patient=slice(first, first + n)))
    other = vh.physiology.population(7, seed=5, weight=(55, 95))
    assert not np.array_equal(other.body_weight, big.body_weight[:7])


def test_population_is_consistent(young):
    np.testing.assert_allclose(young.mass.sum("organ"), young.body_weight, rtol=1e-12)
    np.testing.assert_allclose(young.blood_flow.sel(organ=list(SYSTEMIC_ORGANS)).sum("organ"), young.cardiac_output, rtol=1e-12)
    np.testing.assert_allclose(young.blood_flow.sel(organ="lung"), young.cardiac_output, rtol=1e-12)
    assert (young.mass.sel(organ="fat") > 0).all()
    assert young.age.min() >= 20 and young.age.max() <= 35
    assert young.body_weight.attrs["units"] == "kg" and young.cardiac_output.attrs["units"] == "L h-1"


def _within(value, expected, se, k=4.0):
    """|value - expected| <= k standard errors (k = 4: a false alarm about once in 16,000 runs of a fixed seed)."""
    assert abs(value - expected) <= k * se, f"{value} vs {expected} +/- {k} x {se}"


def test_distributions_match_the_cited_values(young):
    female = young.sex.values == 1
    _within(female.mean(), 0.5, math.sqrt(0.25 / N))
    _within(float(young.age.mean()), 27.5, 15 / math.sqrt(12) / math.sqrt(N))
    # height: ICRP 89 reference mean, SD 2.85 in (men) and 2.58 in (women) from NCHS Vital Health Stat 11(8)
    for is_female, mean, sd, bmi in ((False, 176.0, 2.85 * 2.54, 73 / 1.76**2), (True, 163.0, 2.58 * 2.54, 60 / 1.63**2)):
        h = young.height.values[female == is_female]
        m = h.size
        _within(h.mean(), mean, sd / math.sqrt(m))
        _within(h.std(ddof=1), sd, sd / math.sqrt(2 * m))  # SE of an SD of normal data
        log_bmi = np.log(young.body_mass_index.values[female == is_female])
        _within(log_bmi.mean(), math.log(bmi), 0.16 / math.sqrt(m))
        _within(log_bmi.std(ddof=1), 0.16, 0.16 / math.sqrt(2 * m))


def test_organ_variability_is_lognormal_with_the_default_cv(young):
    typical = vh.physiology.individual(young.age.values, young.sex.values, young.body_weight.values, young.height.values)
    sigma = math.sqrt(math.log1p(0.10**2))
    for organ in ("liver", "kidney", "brain", "muscle"):
        log_ratio = np.log(young.mass.sel(organ=organ).values / typical.mass.sel(organ=organ).values)
        _within(log_ratio.mean(), 0.0, sigma / math.sqrt(N))
        _within(log_ratio.std(ddof=1), sigma, sigma / math.sqrt(2 * N))
    # flows: log-normal 5 % factors renormalised to the cardiac output; renormalising removes part of the spread
    # (variance sigma^2 (1 - 2 f + sum f^2) for fraction f), so brain (f = 0.12) ends near 0.047
    log_ratio = np.log(young.blood_flow.sel(organ="brain").values / typical.blood_flow.sel(organ="brain").values)
    assert 0.040 < log_ratio.std(ddof=1) < 0.054
    fixed = vh.physiology.population(50, seed=11, age=(20, 35), volume_cv=0, flow_cv=0)
    same = vh.physiology.individual(fixed.age.values, fixed.sex.values, fixed.body_weight.values, fixed.height.values)
    np.testing.assert_array_equal(fixed.mass.values, same.mass.values)
    np.testing.assert_array_equal(fixed.blood_flow.values, same.blood_flow.values)


def test_requested_ranges_are_respected():
    pop = vh.physiology.population(500, seed=2, sex="female", weight=(80, 90), bmi=(28, 32))
    assert pop.body_weight.min() >= 80 and pop.body_weight.max() <= 90
    assert pop.body_mass_index.min() >= 28 and pop.body_mass_index.max() <= 32
    assert (pop.sex == 1).all()
    men = vh.physiology.population(50, seed=2, sex="male")
    assert (men.sex == 0).all()
    mostly_women = vh.physiology.population(400, seed=2, sex=0.8)
    _within(float(mostly_women.sex.mean()), 0.8, math.sqrt(0.16 / 400))
