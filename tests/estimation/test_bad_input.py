"""Bad input to vh.estimate is refused with one sentence naming the field, before any compute."""

import pytest

import vhtwin as vh

from .conftest import simulated_frame, theoph_start


@pytest.fixture(scope="module")
def frame():
    return simulated_frame(4, 3, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={}, additive=0.2)


def refused(oral, data, start=None, match=None, **kw):
    before = vh.compilation_count()
    with pytest.raises(vh.InputError, match=match):
        vh.estimate(oral, data, start if start is not None else theoph_start(oral), **kw)
    assert vh.compilation_count() == before


def test_options(oral, frame):
    data = vh.read_dataset(frame, oral)
    refused(oral, data, match="method = 'saem2'.*allowed", method="saem2")
    refused(oral, data, match="covariance = 'RS'.*allowed", covariance="RS")
    refused(oral, data, match="max_iter = 0", max_iter=0)
    refused(oral, data, match="fix = 'CLX': unknown parameter; allowed: \\['ka', 'CL', 'V'", fix=("CLX",))
    refused(oral, frame, match="data = DataFrame: must be a vhtwin.Dataset")


def test_population_for_another_model(oral, frame):
    other = vh.load_model("pharmacokinetics/two_compartment_iv")
    pop = vh.Population(other, omega={"CL": 0.1}, residual=vh.Residual(additive=0.1))
    refused(oral, vh.read_dataset(frame, oral), pop, match="built for model")


def test_no_residual_model_and_nothing_to_estimate(oral, frame):
    data = vh.read_dataset(frame, oral)
    refused(oral, data, vh.Population(oral, omega={"CL": 0.1}), match="no residual model")
    refused(oral, data, vh.Population(oral, residual=vh.Residual(additive=0.1)), match="nothing to estimate")


def test_singular_starting_omega(oral, frame):
    pop = vh.Population(oral, typical={"ka": 1.2, "CL": 3.0, "V": 30.0},
                        omega=vh.Omega(blocks=[(("CL", "V"), [[0.1, 0.1], [0.1, 0.1]])]), residual=vh.Residual(additive=0.2))
    refused(oral, vh.read_dataset(frame, oral), pop, match="omega over \\['CL', 'V'\\].*singular")


def test_negative_time_and_subject_without_data(oral, frame):
    bad = frame.copy()
    bad.loc[bad.ID == 2, "TIME"] = bad.loc[bad.ID == 2, "TIME"] - 1.0
    refused(oral, vh.read_dataset(bad, oral), match="record 10 \\(ID 2\\) has TIME = -1: times must be >= 0")
    no_dv = frame.copy()
    no_dv.loc[(no_dv.ID == 3) & (no_dv.EVID == 0), "MDV"] = 1
    refused(oral, vh.read_dataset(no_dv, oral), match="ID 3 has no measured observation")


def test_all_blq_subject(oral, frame):
    blq = frame.copy()
    rows = (blq.ID == 2) & (blq.EVID == 0)
    blq.loc[rows, "CENS"], blq.loc[rows, "LIMIT"] = 1, 50.0
    refused(oral, vh.read_dataset(blq, oral), match="below the limit of quantification", method="laplace")


def test_blq_with_a_first_order_method(oral, frame):
    blq = frame.copy()
    row = blq.index[(blq.ID == 2) & (blq.EVID == 0)][-1]
    blq.loc[row, "CENS"], blq.loc[row, "LIMIT"] = 1, 5.0
    refused(oral, vh.read_dataset(blq, oral), match="method = 'focei'.*BLQ.*laplace")


def test_missing_and_time_varying_covariates(oral, frame):
    pop = vh.Population(oral, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={"CL": 0.1},
                        covariate_models=[vh.PowerCovariate("CL", "AGE", 40.0, 0.5)], residual=vh.Residual(additive=0.2))
    refused(oral, vh.read_dataset(frame, oral), pop, match="covariate 'AGE' is needed")
    varying = frame.copy()
    varying.loc[(varying.ID == 1) & (varying.TIME > 4), "WT"] = 99.0
    pop = vh.Population(oral, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={"CL": 0.1},
                        covariate_models=[vh.PowerCovariate("CL", "WT", 70.0, 0.75)], residual=vh.Residual(additive=0.2))
    refused(oral, vh.read_dataset(varying, oral), pop, match="covariate 'WT' changes within a subject")


def test_estimating_a_lag_is_refused(oral, frame):
    pop = vh.Population(oral, typical={"ka": 1.2, "CL": 3.0, "V": 30.0, "ALAG": 0.5}, omega={"ALAG": 0.1},
                        residual=vh.Residual(additive=0.2))
    refused(oral, vh.read_dataset(frame, oral), pop, match="'ALAG' is a dose lag")


def test_fixing_a_parameter_that_is_not_estimated_says_why(oral, frame):
    refused(oral, vh.read_dataset(frame, oral), match="fix = 'F': 'F' is not estimated -- only the parameters named in "
            "omega", fix=("F",))
