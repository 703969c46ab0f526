"""Measurements in another mass concentration than the model's are converted: the same samples in ng/mL and in mg/L
calibrate the same twin (and without the conversion a twin would be a thousand times off)."""

import numpy as np
import pytest

import vhtwin as vh

TIMES = [0.25, 1.0, 2.0, 5.0, 12.0, 24.0]
MG_PER_L = np.array([2.8, 6.6, 9.7, 8.4, 6.0, 3.3])


@pytest.mark.slow  # fits a twin: compiles the model and its objective
@pytest.mark.parametrize("unit, scale", [("ng/mL", 1.0), ("ug/L", 1.0), ("ng mL-1", 1.0), ("g/L", 1e-6)])
def test_the_same_samples_in_another_concentration_unit_give_the_same_twin(oral, theoph_prior, unit, scale):
    reg = vh.Regimen.bolus(320.0, into="depot")
    reference = vh.calibrate(oral, {"time": TIMES, "value": MG_PER_L, "unit": "mg L-1"}, prior=theoph_prior, protocol=reg)
    values = MG_PER_L * 1000.0 * scale  # 1 mg/L = 1000 ng/mL = 1000 ug/L; = 1e-3 g/L
    twin = vh.calibrate(oral, {"time": TIMES, "value": values, "unit": unit}, prior=theoph_prior, protocol=reg)
    np.testing.assert_allclose(twin.eta, reference.eta, rtol=1e-6, atol=1e-9)
