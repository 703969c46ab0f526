"""Shared set-up of the calibration tests: the one-compartment oral model and the Theophylline population prior."""

import numpy as np
import pytest

import vhtwin as vh


@pytest.fixture(scope="session")
def oral():
    return vh.load_model("pharmacokinetics/one_compartment_oral")


@pytest.fixture(scope="session")
def theoph_prior(oral):
    """Typical values and between-subject variances of one-compartment fits to Theoph (h, L, mg)."""
    return vh.Population(oral, typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
                         omega={"ka": 0.42, "CL": 0.073, "V": 0.018}, residual=vh.Residual(additive=0.7))


def bateman(t, dose, ka, CL, V):
    """Exact one-compartment oral concentration (mg/L) after one dose at t = 0 (Gibaldi & Perrier 1982), numpy.

    Written here, independently of the engine, as the reference the calibration is checked against.
    """
    t = np.asarray(t, float)
    k = CL / V
    return np.where(t > 0, dose * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t)), 0.0)


DOSE = 320.0  # mg oral at t = 0
RICH = np.array([0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 24.0])  # h
SPARSE = np.array([1.0])
TRUE = {"ka": 1.2, "CL": 3.4, "V": 28.0}


@pytest.fixture(scope="session")
def twins(oral, theoph_prior):
    """Patient "sparse" (1 sample) and patient "rich" (8 samples) with the same true parameters, one call."""
    rng = np.random.default_rng(3)
    rows = {"id": [], "time": [], "value": []}
    for pid, times in (("sparse", SPARSE), ("rich", RICH)):
        values = bateman(times, DOSE, **TRUE) + rng.normal(0.0, 0.3, times.size)
        rows["id"] += [pid] * times.size
        rows["time"] += list(times)
        rows["value"] += list(np.maximum(values, 0.0))
    rows["unit"] = "mg/L"
    return vh.calibrate(oral, rows, prior=theoph_prior, protocol=vh.Regimen.bolus(DOSE, into="depot"))
