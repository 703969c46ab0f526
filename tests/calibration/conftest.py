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
