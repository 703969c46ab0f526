"""Bad input is refused before any compute, with a message naming the culprit."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh

T = np.arange(25.0)


@pytest.fixture(scope="module")
def model():
    return vh.load_model("pharmacokinetics/two_compartment_oral")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"params": {"Cl": 5.0}}, r"unknown parameter 'Cl'.*\['ka', 'CL', 'V1', 'Q', 'V2', 'F', 'ALAG'\]"),
        ({"params": {"CL": np.ones((2, 3))}}, r"parameter 'CL'.*1-D array.*shape \(2, 3\)"),
        ({"params": {"CL": np.ones(3), "V1": np.ones(4)}}, r"different lengths"),
        ({"params": {"CL": -1.0}}, r"parameter 'CL'.*-1.*> 0"),
        ({"params": {"CL": np.array([1.0, np.nan])}}, r"parameter 'CL' \(patient 1\)"),
        ({"times": np.array([0.0, 2.0, 1.0])}, r"strictly increasing.*times\[2\] = 1"),
        ({"times": np.array([0.0, np.inf])}, r"times must be finite"),
        ({"times": np.zeros((2, 2, 2))}, r"1-D .* or 2-D"),
        ({"rtol": -1e-6}, r"rtol -1e-06 must be a finite number > 0"),
        ({"atol": {"centrall": 1e-9}}, r"atol: unknown state 'centrall'"),
        ({"initial": {"gut": 1.0}}, r"unknown state 'gut'"),
        ({"solver": "euler"}, r"unknown solver 'euler'"),
        ({"precision": "float16"}, r"precision 'float16'"),
        ({"solver": "rk4"}, r"fixed-step: give dt0"),
        ({"max_steps": 0}, r"max_steps 0"),
        ({"protocol": vh.Regimen.bolus(100.0, into="peripheral")}, r"unknown dose target 'peripheral'.*\['depot', 'central'\]"),
    ],
)
def test_bad_input_names_the_culprit(model, kwargs, match):
    call = {"times": T, **kwargs}
    with pytest.raises(vh.InputError, match=match):
        vh.simulate(model, **call)


def test_model_must_be_a_model():
    with pytest.raises(vh.InputError, match="vhtwin.Model instance"):
        vh.simulate("pharmacokinetics/two_compartment_oral", times=T)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: vh.Regimen.bolus(-5.0, into="depot"), r"amount -5 must be finite and >= 0"),
        (lambda: vh.Regimen.repeated(amount=1.0, interval=0.0, count=3, into="depot"), r"interval 0.0 must be"),
        (lambda: vh.Regimen.repeated(amount=1.0, interval=12.0, count=0, into="depot"), r"count 0 must be a positive integer"),
        (lambda: vh.Regimen.infusion(10.0, into="central", duration=0.0), r"duration 0.0 must be"),
        (lambda: vh.Regimen.infusion(10.0, into="central", duration=1.0, rate=5.0), r"exactly one of duration= or rate="),
        (lambda: vh.Regimen.repeated(amount=1.0, interval=1.0, count=3, into="depot", duration=2.0), r"longer than the interval"),
        (lambda: vh.Regimen.bolus(np.ones((2, 2)), into="depot"), r"1-D array per patient"),
    ],
)
def test_bad_regimen_is_refused(make, match):
    with pytest.raises(vh.InputError, match=match):
        make()


def test_per_patient_protocols_must_match_the_batch(model):
    regs = [vh.Regimen.bolus(1.0, into="depot")] * 2
    with pytest.raises(vh.InputError, match="2 per-patient protocols for 3 patients"):
        vh.simulate(model, params={"CL": np.ones(3)}, times=T, protocol=regs)
