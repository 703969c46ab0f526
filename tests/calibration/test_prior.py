"""The prior of a calibration: etas enter parameters as in a population draw; covariates per patient by id."""

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import vhtwin as vh
from vhtwin.calibration import prior as calibration_prior
from vhtwin.population.variability import individual


def test_etas_enter_parameters_as_in_a_population_draw(oral):
    pop = vh.Population(oral, typical={"ka": 1.5, "CL": 2.8, "F": 0.6}, omega={"ka": 0.4, "CL": 0.1, "F": 0.2},
                        distribution={"CL": "normal", "F": ("logit", 0.0, 1.0)}, residual=vh.Residual(additive=0.5))
    ids = np.arange(4)
    pri = calibration_prior.build(oral, pop, ids, True, ("Cc",))
    assert pri.eta_names == ("ka", "CL", "F") and pri.kinds == ("lognormal", "normal", "logit")
    eta = np.random.default_rng(1).normal(0.0, 0.5, (4, 3))
    with jax.enable_x64(True):
        got = np.asarray(pri.individual(jnp.asarray(eta), jnp.asarray(pri.typical_matrix())))
    for j, name in enumerate(pri.eta_names):
        lo, hi = pop._bounds[name]
        expected = individual(pri.typical[name], eta[:, j], pop.distribution[name], lo, hi)
        np.testing.assert_allclose(got[j], expected, rtol=1e-13)


def test_zero_variance_etas_are_not_estimated(oral):
    pop = vh.Population(oral, omega={"ka": 0.4, "CL": 0.0}, residual=vh.Residual(additive=0.5))
    assert calibration_prior.build(oral, pop, np.array([0]), False, ("Cc",)).eta_names == ("ka",)


def test_covariates_by_id_or_in_id_order():
    ids = np.array([3, 7, 9])
    table = pd.DataFrame({"id": [9, 3, 7], "WT": [90.0, 30.0, 70.0]})
    by_table = calibration_prior.patient_covariates(table, ids, True)
    by_dict = calibration_prior.patient_covariates({"WT": [30.0, 70.0, 90.0], "SEX": 1}, ids, True)
    np.testing.assert_array_equal(by_table["WT"], [30.0, 70.0, 90.0])
    np.testing.assert_array_equal(by_dict["WT"], by_table["WT"])
    np.testing.assert_array_equal(by_dict["SEX"], [1, 1, 1])
    with pytest.raises(vh.InputError, match=r"'WT' has shape \(2,\); give a scalar or one value per patient \(3"):
        calibration_prior.patient_covariates({"WT": [1.0, 2.0]}, ids, True)
