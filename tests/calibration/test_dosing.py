"""Dose selection: the amount of a candidate regimen that brings a twin's exposure metric to a target."""

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.calibration import DoseTarget

from .conftest import bateman

pytestmark = pytest.mark.slow

LOADING = vh.Regimen.bolus(320.0, into="depot")  # the dose the twins were calibrated on


def maintenance(amount):
    """The calibration dose, then ``amount`` every 12 h from 12 h to 120 h."""
    return LOADING + vh.Regimen.repeated(amount, interval=12.0, count=10, into="depot", start=12.0)


TROUGH = DoseTarget("trough", 8.0, start=108.0, end=120.0)


def trough_of(twins, row, amount):
    params = {name: values[row] for name, values in twins.params.items()}
    ds = vh.simulate(twins.model, params, times=np.array([120.0]), protocol=maintenance(amount), precision="float64")
    return float(ds["Cc"].values[0])


def test_map_trough_hits_the_target(twins):
    chosen = twins.optimise_dose(maintenance, TROUGH, bounds=(10.0, 2000.0))
    assert chosen["reached"].all()
    for row in range(2):
        amount = float(chosen["amount"][row])
        assert trough_of(twins, row, amount) == pytest.approx(8.0, rel=1e-8)
    # a twin that clears the drug faster needs a larger dose
    faster = int(np.argmax(twins.params["CL"] / twins.params["V"]))
    assert float(chosen["amount"][faster]) == float(chosen["amount"].max())


def test_posterior_quantile_target(twins):
    """quantile=0.1: 90 % of the posterior draws keep the trough at or above the target, so the dose is larger than
    the MAP dose, by more for the patient with one sample (wider posterior)."""
    at_map = twins.optimise_dose(maintenance, TROUGH, bounds=(10.0, 2000.0))
    safe = twins.optimise_dose(maintenance, TROUGH, bounds=(10.0, 2000.0), quantile=0.1, n_samples=200, seed=4)
    np.testing.assert_allclose(safe["trough_quantile"].values, 8.0, rtol=1e-6)
    ratio = (safe["amount"] / at_map["amount"]).sel(patient=["rich", "sparse"]).values
    assert np.all(ratio > 1.0) and ratio[1] > ratio[0], ratio
    assert np.all(safe["trough_lower"] < safe["trough_median"]) and np.all(safe["trough_median"] < safe["trough_upper"])


@pytest.mark.parametrize("target, check", [
    (DoseTarget("average", 10.0, start=96.0, end=120.0), lambda c: np.mean(c)),
    (DoseTarget("peak", 12.0, start=108.0, end=120.0), lambda c: np.max(c)),
    (DoseTarget("time_above", 0.5, start=96.0, end=120.0, threshold=10.0), lambda c: np.mean(c > 10.0)),
])
def test_other_metrics(twins, target, check):
    chosen = twins.optimise_dose(maintenance, target, bounds=(10.0, 4000.0))
    row = list(twins.ids).index("rich")
    params = {name: values[row] for name, values in twins.params.items()}
    grid = np.linspace(target.start, target.end, 2401)
    cc = vh.simulate(twins.model, params, times=grid, protocol=maintenance(float(chosen["amount"][row])),
                     precision="float64")["Cc"].values
    assert check(cc) == pytest.approx(target.value, rel=0.02)  # the search's window grid is 10 x coarser


def test_target_out_of_reach_is_flagged(twins):
    chosen = twins.optimise_dose(maintenance, {"metric": "peak", "value": 1000.0, "start": 96.0, "end": 120.0},
                                 bounds=(10.0, 2000.0))
    assert not chosen["reached"].any() and np.isnan(chosen["amount"]).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(metric="exposure", value=1.0, start=0.0, end=1.0), r"metric 'exposure'; allowed"),
    (dict(metric="trough", value=1.0, start=2.0, end=1.0), r"start < end"),
    (dict(metric="time_above", value=0.5, start=0.0, end=1.0), r"needs a finite threshold"),
    (dict(metric="time_above", value=5.0, start=0.0, end=1.0, threshold=1.0), r"fraction of the window"),
    (dict(metric="peak", value=5.0, start=0.0, end=1.0, direction="below"), r"direction 'below'; allowed"),
])
def test_bad_targets(kwargs, match):
    with pytest.raises(vh.InputError, match=match):
        DoseTarget(**kwargs)


def test_bad_bounds(twins):
    with pytest.raises(vh.InputError, match=r"bounds \(100, 10\) must satisfy 0 < lowest < highest"):
        twins.optimise_dose(maintenance, TROUGH, bounds=(100.0, 10.0))


# -- the probability of meeting the target ------------------------------------------------------------------------
def maintenance_trough(amount, ka, CL, V):
    """Trough at 120 h of ``maintenance(amount)`` by superposition of the closed form, numpy: (draws,) arrays."""
    doses = [(0.0, 320.0)] + [(12.0 * (i + 1), amount) for i in range(10)]
    # the dose at 120 h is not yet in the left limit at 120 h
    return sum(bateman(np.atleast_1d(120.0 - t)[:, None], d, ka, CL, V)[0] for t, d in doses if t < 120.0)


def independent_probability(twins, row, amount, n, seed, direction=np.greater_equal, value=8.0):
    """Draw etas from the twin's Laplace posterior with numpy, map them to parameters (log-normal), compute the
    trough in closed form and count the draws that meet the target."""
    eta = np.random.default_rng(seed).multivariate_normal(twins.eta[row], twins.cov[row], size=n)
    ka, CL, V = (typical * np.exp(eta[:, j]) for j, typical in enumerate((1.5, 2.8, 31.5)))
    assert twins.eta_names == ("ka", "CL", "V")
    trough = maintenance_trough(amount, ka, CL, V)
    return float(np.mean(direction(trough, value)))


def test_probability_at_the_quantile_dose_is_the_nominal_one(twins):
    """quantile=0.1 on a trough target: the reported probability is 0.9 (the search's own draws), and independent
    draws, simulated in closed form, find the same within Monte Carlo error (4 SE of 4000 draws: 0.019)."""
    safe = twins.optimise_dose(maintenance, TROUGH, bounds=(10.0, 2000.0), quantile=0.1, n_samples=400, seed=5)
    assert safe.attrs["direction"] == "at_least"
    np.testing.assert_allclose(safe["probability"].values, 0.9, atol=1.0 / 400 + 1e-12)
    for row in range(2):
        p = independent_probability(twins, row, float(safe["amount"][row]), 4000, seed=11 + row)
        assert p == pytest.approx(0.9, abs=4 * np.sqrt(0.9 * 0.1 / 4000)), (row, p)


def test_probability_at_the_map_dose_matches_an_independent_count(twins):
    """Without ``quantile`` the probability is still reported: at the MAP dose about half the posterior meets the
    trough target (the trough is skewed, so not exactly half), and an independent count agrees within Monte Carlo
    error of the two estimates."""
    n = 2000
    chosen = twins.optimise_dose(maintenance, TROUGH, bounds=(10.0, 2000.0), n_samples=n, seed=6)
    assert chosen["probability"].dims == ("patient",)
    for row in range(2):
        ours = float(chosen["probability"][row])
        theirs = independent_probability(twins, row, float(chosen["amount"][row]), 8000, seed=21 + row)
        assert 0.3 < ours < 0.7
        se = np.sqrt(ours * (1 - ours) * (1 / n + 1 / 8000))
        assert ours == pytest.approx(theirs, abs=4 * se), (row, ours, theirs)
        draws_mean = chosen["trough_median"][row]
        assert chosen["trough_lower"][row] < draws_mean < chosen["trough_upper"][row]


def test_upper_limit_target(twins):
    """direction="at_most": a peak below a ceiling; quantile=0.9 keeps it below in 90 % of the posterior, and the
    probability counts the draws at or below it."""
    ceiling = DoseTarget("peak", 14.0, start=108.0, end=120.0, direction="at_most")
    at_map = twins.optimise_dose(maintenance, ceiling, bounds=(10.0, 2000.0), n_samples=400)
    safe = twins.optimise_dose(maintenance, ceiling, bounds=(10.0, 2000.0), quantile=0.9, n_samples=400)
    np.testing.assert_allclose(safe["probability"].values, 0.9, atol=1.0 / 400 + 1e-12)
    np.testing.assert_allclose(safe["peak_quantile"].values, 14.0, rtol=1e-6)
    assert np.all(safe["amount"] < at_map["amount"])  # a cautious dose is smaller


# -- the interval ---------------------------------------------------------------------------------------------------
def steady_state(amount, interval):
    """``amount`` every ``interval`` at steady state from t = 0, to past 48 h."""
    return vh.Regimen.repeated(amount, interval=interval, count=int(48.0 / interval) + 1, into="depot",
                               steady_state=True)


SS_TROUGH = DoseTarget("trough", 4.0, start=0.0, end=24.0)  # 24 h is a dose time of every candidate interval
INTERVALS = [6.0, 8.0, 12.0, 24.0]


def closed_form_amount(target, interval, ka, CL, V):
    """The amount whose steady-state trough of the one-compartment oral model is ``target`` (Gibaldi & Perrier):
    C_min = D ka / (V (ka - k)) [e^(-k tau) / (1 - e^(-k tau)) - e^(-ka tau) / (1 - e^(-ka tau))], k = CL / V."""
    k = CL / V
    per_unit = ka / (V * (ka - k)) * (np.exp(-k * interval) / (1 - np.exp(-k * interval))
                                      - np.exp(-ka * interval) / (1 - np.exp(-ka * interval)))
    return target / per_unit


def test_intervals_match_the_closed_form_steady_state_trough(twins):
    chosen = twins.optimise_dose(steady_state, SS_TROUGH, bounds=(10.0, 5000.0), intervals=INTERVALS)
    assert chosen["amount"].dims == ("patient", "interval")
    np.testing.assert_array_equal(chosen["interval"].values, INTERVALS)
    for row in range(2):
        p = {name: values[row] for name, values in twins.params.items()}
        expected = [closed_form_amount(4.0, tau, p["ka"], p["CL"], p["V"]) for tau in INTERVALS]
        np.testing.assert_allclose(chosen["amount"].values[row], expected, rtol=1e-6)
    # every interval is reachable: the longest is recommended, with its amount and probability
    assert chosen["reached"].all()
    np.testing.assert_array_equal(chosen["recommended_interval"].values, 24.0)
    np.testing.assert_array_equal(chosen["recommended_amount"].values, chosen["amount"].sel(interval=24.0).values)
    np.testing.assert_array_equal(chosen["recommended_probability"].values,
                                  chosen["probability"].sel(interval=24.0).values)


@pytest.mark.slow  # three searches over four intervals, each interval's regimen its own compile
def test_recommended_interval_rule(twins):
    """The longest interval whose amount is within the bounds (and, with min_probability, whose probability is
    enough); NaN when none qualifies."""
    rich = list(twins.ids).index("rich")
    p = {name: values[rich] for name, values in twins.params.items()}
    amounts = [closed_form_amount(4.0, tau, p["ka"], p["CL"], p["V"]) for tau in INTERVALS]
    # a largest single dose between the 12-h and the 24-h amounts leaves 24 h out of reach
    capped = twins.optimise_dose(steady_state, SS_TROUGH, bounds=(10.0, 0.5 * (amounts[2] + amounts[3])),
                                 intervals=INTERVALS)
    assert not bool(capped["reached"].sel(patient="rich", interval=24.0))
    assert np.isnan(capped["amount"].sel(patient="rich", interval=24.0))
    assert float(capped["recommended_interval"].sel(patient="rich")) == 12.0
    # with a probability floor: the longest interval among those reached that meet it
    floor = 0.8
    safe = twins.optimise_dose(steady_state, SS_TROUGH, bounds=(10.0, 5000.0), intervals=INTERVALS, quantile=0.1,
                               min_probability=floor, n_samples=200, seed=2)
    ok = safe["reached"].values & (safe["probability"].values >= floor)
    assert ok.any(axis=1).all()
    expected = [max(tau for tau, good in zip(INTERVALS, row) if good) for row in ok]
    np.testing.assert_array_equal(safe["recommended_interval"].values, expected)
    assert safe.attrs["rule"].endswith("with probability >= 0.8")
    # nothing qualifies at probability 1 when the search aims at 0.9
    never = twins.optimise_dose(steady_state, SS_TROUGH, bounds=(10.0, 5000.0), intervals=INTERVALS, quantile=0.5,
                                min_probability=1.0, n_samples=200, seed=2)
    assert np.isnan(never["recommended_interval"]).all() and np.isnan(never["recommended_amount"]).all()


@pytest.mark.slow  # a calibration and two intervals' searches, each its own compile
def test_one_patient_with_intervals(oral, theoph_prior):
    twin = vh.calibrate(oral, {"time": [1.0, 4.0, 12.0], "value": [6.1, 7.9, 4.2], "unit": "mg/L"}, prior=theoph_prior,
                        protocol=vh.Regimen.bolus(320.0, into="depot"))
    chosen = twin.optimise_dose(steady_state, SS_TROUGH, bounds=(10.0, 5000.0), intervals=[12.0, 24.0])
    assert chosen["amount"].dims == ("interval",) and chosen["recommended_interval"].dims == ()
    p = twin.params
    np.testing.assert_allclose(chosen["amount"].values,
                               [closed_form_amount(4.0, tau, p["ka"], p["CL"], p["V"]) for tau in (12.0, 24.0)],
                               rtol=1e-6)
    assert 0.0 < float(chosen["probability"].sel(interval=24.0)) < 1.0


@pytest.mark.parametrize("kwargs, match", [
    (dict(intervals=[12.0, -1.0]), r"finite intervals > 0"),
    (dict(intervals=[12.0, 12.0]), r"repeated values"),
    (dict(min_probability=0.9), r"min_probability selects among candidate intervals"),
    (dict(intervals=[12.0], min_probability=1.5), r"min_probability 1.5 must be in \[0, 1\]"),
])
def test_bad_interval_arguments(twins, kwargs, match):
    with pytest.raises(vh.InputError, match=match):
        twins.optimise_dose(steady_state, SS_TROUGH, bounds=(10.0, 100.0), **kwargs)
