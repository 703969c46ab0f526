"""Bad input is refused before any compute, with an InputError naming the field, the value and what is allowed."""

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh
from vhtwin.calibration import problem as calibration_problem

REG = vh.Regimen.bolus(320.0, into="depot")
GOOD = {"time": [1.0, 4.0, 12.0], "value": [6.0, 7.5, 4.0], "unit": "mg/L"}


@pytest.fixture(autouse=True)
def no_compute(monkeypatch):
    """Any solve would fail the test: refusals must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a solve was set up before the input was checked")

    monkeypatch.setattr(calibration_problem, "Simulator", refuse)


def refused(oral, prior, *, data=GOOD, protocol=REG, match, **kwargs):
    with pytest.raises(vh.InputError, match=match):
        vh.calibrate(oral, data, prior=prior, protocol=protocol, **kwargs)


def test_measurement_before_the_first_dose(oral, theoph_prior):
    refused(oral, theoph_prior, protocol=vh.Regimen.bolus(320.0, into="depot", at=2.0),
            match=r"measurement at time 1, before the first dose at 2")


def test_measurement_before_the_first_dose_names_the_patient(oral, theoph_prior):
    data = {"id": ["a", "a", "b"], "time": [0.5, 2.0, 3.0], "value": [1.0, 2.0, 3.0], "unit": "mg/L"}
    refused(oral, theoph_prior, data=data, protocol={"a": vh.Regimen.bolus(1.0, into="depot", at=1.0), "b": REG},
            match=r"patient id 'a' has a measurement at time 0.5, before the first dose at 1")


def test_unknown_observable(oral, theoph_prior):
    refused(oral, theoph_prior, data={**GOOD, "observable": ["Cc", "Cp", "Cc"]},
            match=r"column 'observable'.*'Cp'.*its observables are \['Cc'\]")


def test_negative_value_is_data_unless_the_error_is_exponential(oral, theoph_prior):
    from vhtwin.calibration import data as calibration_data

    data = {"time": [1.0, 2.0], "value": [3.0, -0.2], "unit": "mg/L"}
    obs = calibration_data.read(oral, data)  # additive or combined error gives a value below 0 a likelihood
    assert obs.value[obs.mask].tolist() == [3.0, -0.2] and not obs.censored[obs.mask].any()
    refused(oral, theoph_prior, data=data, residual=vh.Residual(exponential=0.2),
            match=r"value of -0.2 but its residual model is exponential")


def test_every_measurement_below_the_limit(oral, theoph_prior):
    refused(oral, theoph_prior, data={**GOOD, "lloq": 10.0},
            match=r"every one of the 3 measurements of the patient is below the limit of quantification")


def test_every_measurement_of_one_patient_below_the_limit(oral, theoph_prior):
    data = {"id": [1, 1, 2, 2], "time": [1.0, 2.0, 1.0, 2.0], "value": [3.0, 4.0, 0.1, 0.2], "lloq": 0.5, "unit": "mg/L"}
    refused(oral, theoph_prior, data=data, match=r"2 measurements of patient id 2 is below the limit")


def test_prior_built_for_another_model(oral):
    other = vh.Population("pharmacokinetics/one_compartment_iv", typical={"CL": 2.8, "V": 31.5},
                          omega={"CL": 0.073}, residual=vh.Residual(additive=0.7))
    refused(oral, other, match=r"built for model 'pharmacokinetics/one_compartment_iv', not "
                               r"'pharmacokinetics/one_compartment_oral'")


def test_prior_that_is_not_a_population(oral):
    refused(oral, {"CL": 2.8}, match=r"prior must be a vhtwin.Population")


@pytest.mark.parametrize("missing", ["time", "value"])
def test_missing_column(oral, theoph_prior, missing):
    data = {k: v for k, v in GOOD.items() if k != missing}
    refused(oral, theoph_prior, data=pd.DataFrame(data), match=rf"missing column\(s\) \['{missing}'\]")


def test_nan_time(oral, theoph_prior):
    refused(oral, theoph_prior, data={"time": [1.0, np.nan, 12.0], "value": [6.0, 7.5, 4.0], "unit": "mg/L"},
            match=r"column 'time': row 1 has time nan; every measurement needs a finite time")


def test_missing_value_without_a_limit(oral, theoph_prior):
    refused(oral, theoph_prior, data={"time": [1.0, 2.0], "value": [6.0, np.nan], "unit": "mg/L"}, match=r"row 1 has no value and no lloq")


def test_covariate_the_prior_needs(oral):
    prior = vh.Population(oral, typical={"CL": 2.8}, omega={"CL": 0.073}, residual=vh.Residual(additive=0.7),
                          covariates=vh.CovariateTable({"WT": np.array([70.0])}),
                          covariate_models=[vh.PowerCovariate("CL", "WT", 70.0, 0.75)])
    refused(oral, prior, match=r"\['WT'\] needed by the prior's covariate models \(PowerCovariate on 'CL'\)")
    refused(oral, prior, data={**GOOD, "id": [1, 1, 1]}, covariates=pd.DataFrame({"id": [2], "WT": [80.0]}),
            match=r"no row for patient id 1")


def test_eta_on_a_dose_lag(oral):
    prior = vh.Population(oral, typical={"ALAG": 0.5}, omega={"ALAG": 0.1}, residual=vh.Residual(additive=0.7))
    refused(oral, prior, match=r"eta on 'ALAG', which is a dose lag")


def test_steady_state_protocol(oral, theoph_prior):
    refused(oral, theoph_prior, protocol=vh.Regimen.repeated(100.0, 12.0, 2, into="depot", steady_state=True),
            match=r"steady-state doses")


def test_one_protocol_per_patient(oral, theoph_prior):
    data = {**GOOD, "id": [1, 2, 2]}
    refused(oral, theoph_prior, data=data, protocol=[REG], match=r"1 protocols for 2 patients")


def test_zero_value_with_exponential_error(oral, theoph_prior):
    refused(oral, theoph_prior, data={"time": [1.0, 2.0], "value": [3.0, 0.0], "unit": "mg/L"}, residual=vh.Residual(exponential=0.2),
            match=r"value of 0 but its residual model is exponential")


def test_data_of_the_wrong_kind(oral, theoph_prior):
    refused(oral, theoph_prior, data=[1.0, 2.0], match=r"data must be a pandas DataFrame or a dict of columns")


def test_data_without_a_unit_is_refused_naming_the_models_unit(oral, theoph_prior):
    refused(oral, theoph_prior, data={"time": [1.0, 4.0], "value": [6.0, 7.5]},
            match=r"no 'unit' column; declare the unit of the values \(the model's Cc is in 'mg L-1'\)")


@pytest.mark.parametrize("unit", ["mmol/L", "mg", "IU/L"])
def test_data_in_a_unit_vhtwin_cannot_convert_is_refused(oral, theoph_prior, unit):
    refused(oral, theoph_prior, data={**GOOD, "unit": unit},
            match=rf"column 'unit': row 0 gives Cc in '{unit}', but the model's Cc is in 'mg L-1'")
