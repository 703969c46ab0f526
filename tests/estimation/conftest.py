"""Shared set-up of the estimation tests: the one-compartment oral model, the Theophylline dataset and simulated
datasets with a known truth (simulated here in numpy, independently of the engine)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh

ROOT = Path(__file__).resolve().parents[2]
THEOPH = ROOT / "examples" / "datasets" / "theophylline.csv"


@pytest.fixture(scope="session")
def oral():
    return vh.load_model("pharmacokinetics/one_compartment_oral")


@pytest.fixture(scope="session")
def theoph(oral):
    return vh.read_dataset(THEOPH, oral)


def theoph_start(model):
    """The usual starting point of the Theophylline fit (h, L, mg): exponential IIV on ka, CL, V; additive error."""
    return vh.Population(model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.4, "CL": 0.07, "V": 0.02},
                         residual=vh.Residual(additive=0.7))


def bateman(t, dose, ka, CL, V):
    """One-compartment oral concentration (mg/L) after one dose at t = 0 (Gibaldi & Perrier 1982), numpy."""
    t = np.asarray(t, float)
    k = CL / V
    return np.where(t > 0, dose * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t)), 0.0)


TIMES = np.array([0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 24.0])


def simulated_frame(n: int, seed: int, *, typical, omega, additive, cl_weight_exponent=0.75, dose=320.0,
                    times=TIMES, lloq=None) -> pd.DataFrame:
    """A NONMEM-style table of ``n`` subjects: one oral dose, samples at ``times``, weight WT ~ U(50, 100) kg with
    CL = TVCL (WT / 70) ** exponent, log-normal etas (diagonal ``omega``), additive error; BLQ (CENS = 1) below
    ``lloq``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(1, n + 1):
        wt = rng.uniform(50.0, 100.0)
        eta = {k: rng.normal(0.0, np.sqrt(v)) for k, v in omega.items()}
        ka = typical["ka"] * np.exp(eta.get("ka", 0.0))
        cl = typical["CL"] * (wt / 70.0) ** cl_weight_exponent * np.exp(eta.get("CL", 0.0))
        v = typical["V"] * np.exp(eta.get("V", 0.0))
        y = bateman(times, dose, ka, cl, v) + rng.normal(0.0, additive, times.size)
        rows.append({"ID": i, "TIME": 0.0, "AMT": dose, "EVID": 1, "CMT": 1, "DV": np.nan, "MDV": 1, "WT": wt,
                     "CENS": 0, "LIMIT": np.nan})
        for t, c in zip(times, y):
            below = lloq is not None and c < lloq
            rows.append({"ID": i, "TIME": t, "AMT": np.nan, "EVID": 0, "CMT": 2, "DV": lloq if below else c, "MDV": 0,
                         "WT": wt, "CENS": int(below), "LIMIT": lloq if below else np.nan})
    return pd.DataFrame(rows)
