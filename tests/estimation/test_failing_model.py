"""A model whose solve fails for some etas: the fit steps around the failures, flags the subjects they hold back
and names the subjects it cannot start -- never a crash or a NaN objective."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh

from .conftest import THEOPH

CEILING = 3.3  # L/h: the clearance above which the model below cannot be solved


class CappedClearance(vh.Model):
    """The one-compartment oral model, except that its right-hand side is undefined (NaN) for CL >= CEILING: a
    model that fails for some individual parameters (still linear in the states, so solved exactly)."""

    time_unit = "h"
    linear = True
    states = (vh.State("depot", "mg", 0.0, dosable=True), vh.State("central", "mg", 0.0, dosable=True))
    parameters = (vh.Parameter("ka", 1.0, "h-1", positive=True), vh.Parameter("CL", 3.0, "L h-1", positive=True),
                  vh.Parameter("V", 30.0, "L", positive=True))
    observed = (vh.Observable("Cc", "mg L-1"),)

    def rhs(self, t, y, p):
        absorption = p.ka * y.depot
        elimination = jnp.where(p.CL < CEILING, p.CL / p.V * y.central, jnp.nan)
        return {"depot": -absorption, "central": absorption - elimination}

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V}


@pytest.fixture(scope="module")
def capped():
    return CappedClearance()


def start(model, clearance):
    """Theophylline's starting values with CL = clearance (WT / 70)^0.75 (one layout: one compiled program)."""
    return vh.Population(model, typical={"ka": 1.5, "CL": clearance, "V": 31.5},
                         omega={"ka": 0.4, "CL": 0.07, "V": 0.02}, residual=vh.Residual(additive=0.7),
                         covariate_models=[vh.PowerCovariate("CL", "WT", 70.0, 0.75)])


@pytest.fixture(scope="module")
def capped_fit(capped):
    data = vh.read_dataset(THEOPH, capped)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = vh.estimate(capped, data, start(capped, 2.5), covariance=None)
    return fit, [str(w.message) for w in caught]


def test_subjects_held_back_by_failures_are_flagged_and_the_objective_stays_finite(capped_fit):
    fit, messages = capped_fit
    assert np.isfinite(fit.ofv) and np.isfinite(fit.minus_2_log_likelihood)
    status = fit.subjects_status
    assert np.isfinite(status["ofv"]).all()
    clearance = fit.individual_parameters["CL"]
    flagged = ~status["converged"]
    # Every subject's clearance stays where the model solves; the flagged ones are pressed against the ceiling
    # (the data pull their mode beyond it), the others have converged modes below it.
    assert (clearance < CEILING).all()
    assert flagged.any() and not flagged.all()
    assert (clearance[flagged] > 0.97 * CEILING).all()
    ids = [str(i) for i in status.index[flagged]]
    assert any("conditional modes of" in m and all(i in m for i in ids) for m in messages)


def test_subjects_that_fail_at_the_starting_values_are_named(capped):
    """With CL = 2.9 (WT / 70)^0.75 only subject 9 (86.4 kg; every other subject is 80 kg or lighter) starts at a
    clearance the model cannot solve."""
    data = vh.read_dataset(THEOPH, capped)
    weights = data.records.groupby("ID")["WT"].first()
    heavy = [int(i) for i in weights.index[2.9 * (weights / 70.0) ** 0.75 >= CEILING]]
    assert heavy == [9]
    with pytest.raises(vh.InputError, match=r"not finite at the starting values for ID\(s\) \[9\] \(1 of 12\)"):
        vh.estimate(capped, data, start(capped, 2.9), covariance=None)
