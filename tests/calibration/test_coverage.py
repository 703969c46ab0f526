"""Synthetic recovery: 200 virtual patients drawn from the prior, observed with residual error, calibrated in one
call; the Laplace intervals of the etas cover the true etas at about their nominal rate."""

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh

pytestmark = pytest.mark.slow  # one long compile and solve shared by the module's tests

N_PATIENTS = 200
TIMES = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 24.0])  # h
DOSE = 320.0  # mg oral
LLOQ = 0.5  # mg/L: noisy values below it are reported as BLQ (M3), as an assay would


@pytest.fixture(scope="module")
def recovery(oral, theoph_prior):
    draw = theoph_prior.sample(n=N_PATIENTS, seed=11)
    reg = vh.Regimen.bolus(DOSE, into="depot")
    clean = vh.simulate(oral, draw, times=TIMES, protocol=reg, precision="float64")["Cc"].values
    noisy = theoph_prior.residual.apply(clean, seed=12, patient_ids=draw["patient"].values, name="Cc")
    data = pd.DataFrame({
        "id": np.repeat(np.arange(N_PATIENTS), TIMES.size),
        "time": np.tile(TIMES, N_PATIENTS),
        "value": np.maximum(noisy, 0.0).ravel(),  # below the LLOQ anyway: censored, whatever the sign
        "lloq": LLOQ,
        "unit": "mg/L",
    })
    twin = vh.calibrate(oral, data, prior=theoph_prior, protocol=reg)
    true = np.stack([draw[f"eta_{n}"].values for n in twin.eta_names], axis=1)
    return twin, true, data


def coverage(twin, true, z=1.959964):
    """Share of patients whose true eta lies in the MAP +- z SD Laplace interval, per eta."""
    return np.mean(np.abs(twin.eta - true) <= z * twin.sd, axis=0)


def test_all_two_hundred_twins_converge(recovery):
    twin, _, data = recovery
    assert twin.eta.shape == (N_PATIENTS, 3)
    assert twin.converged.all()
    assert np.max(twin.gradient_norm) < 1e-4  # converged on the gradient or on the Newton decrement
    assert (data["value"] < LLOQ).sum() > 0  # some samples are BLQ, so M3 is exercised


def test_laplace_intervals_cover_the_true_etas(recovery):
    """Per-eta coverage of the 95 % interval within [0.88, 0.99].

    With 200 independent patients the count inside is Binomial(200, 0.95) if the intervals are exact: SD 1.54
    percentage points, so 0.88 is 4.5 SD below nominal (a false alarm has probability < 1e-5) and 0.99 is 2.6 SD
    above (P(>= 199 of 200) = 4e-4). The Laplace approximation is not exact for a nonlinear model, so the margin
    is wider below than above. Measured with these seeds: ka 0.920, CL 0.935, V 0.955 (printed below).
    """
    twin, true, _ = recovery
    measured = coverage(twin, true)
    print("Laplace 95 % coverage of the true etas:", dict(zip(twin.eta_names, np.round(measured, 3))))
    assert np.all((measured >= 0.88) & (measured <= 0.99)), measured


def test_map_etas_track_the_true_etas(recovery):
    # With 7 samples per patient the data dominate the prior: the MAP etas correlate strongly with the true ones
    # (measured: ka 0.92, CL 0.91, V 0.79; V's omega is the smallest, so its eta is shrunk most); shrinkage pulls
    # them towards 0, so their spread is not larger than the true etas'.
    twin, true, _ = recovery
    r = [np.corrcoef(twin.eta[:, j], true[:, j])[0, 1] for j in range(3)]
    print("correlation of MAP and true etas:", dict(zip(twin.eta_names, np.round(r, 3))))
    assert min(r) > 0.6 and r[0] > 0.85 and r[1] > 0.85, r
    assert np.all(np.std(twin.eta, axis=0) <= np.std(true, axis=0) * 1.05)
