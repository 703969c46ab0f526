"""Dose selection: the amount of a candidate regimen that brings a twin's exposure metric to a target."""

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.calibration import DoseTarget

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
])
def test_bad_targets(kwargs, match):
    with pytest.raises(vh.InputError, match=match):
        DoseTarget(**kwargs)


def test_bad_bounds(twins):
    with pytest.raises(vh.InputError, match=r"bounds \(100, 10\) must satisfy 0 < lowest < highest"):
        twins.optimise_dose(maintenance, TROUGH, bounds=(100.0, 10.0))
