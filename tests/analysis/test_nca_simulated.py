"""NCA of profiles simulated with the library's two-compartment IV model, whose CL, Vss and terminal half-life are
known exactly: one terminal half-life per patient whatever dosing interval is analysed, and CL and Vss of an IV
bolus from the back-extrapolated C0."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.analysis import nca

# Four patients spanning terminal half-lives of 15-57 h (h, L, L/h).
CL = np.array([5.0, 3.0, 8.0, 4.0])
V1 = np.array([50.0, 30.0, 70.0, 20.0])
Q = np.array([10.0, 6.0, 15.0, 12.0])
V2 = np.array([100.0, 150.0, 80.0, 60.0])
DOSE = 100.0  # mg
N = CL.size


def terminal_half_life() -> np.ndarray:
    """ln 2 / beta, beta the smaller root of s^2 - (k10 + k12 + k21) s + k10 k21 (Gibaldi and Perrier,
    Pharmacokinetics, 2nd ed., 1982, ch. 2: the two-compartment model after an IV bolus)."""
    k10, k12, k21 = CL / V1, Q / V1, Q / V2
    total = k10 + k12 + k21
    beta = 0.5 * (total - np.sqrt(total**2 - 4.0 * k10 * k21))
    return np.log(2.0) / beta


@pytest.fixture(scope="module")
def concentrations():
    """Central concentrations (mg/L) of the same four patients after one bolus (patients 0-3) and after three
    boluses 24 h apart (patients 4-7), sampled every 0.5 h to 12 h then every 2 h to 240 h; one compiled solve."""
    model = vh.load_model("pharmacokinetics/two_compartment_iv")
    single = vh.Regimen.bolus(DOSE, into="central")
    repeated = vh.Regimen.repeated(amount=DOSE, interval=24.0, count=3, into="central")
    times = np.r_[np.arange(0.0, 12.0, 0.5), np.arange(12.0, 240.0 + 1e-9, 2.0)]
    params = {name: np.r_[value, value] for name, value in {"CL": CL, "V1": V1, "Q": Q, "V2": V2}.items()}
    ds = vh.simulate(model, params=params, times=times, protocol=[single] * N + [repeated] * N, rtol=1e-10,
                     atol=1e-12, precision="float64")
    assert np.all(ds["status"].values == 0)
    return ds["Cc"]


def test_one_half_life_per_patient_whatever_the_interval(concentrations):
    """Two arms analyse the same three-dose profiles over different dosing intervals (the first, 0-24 h, and the
    last, 48-72 h): the terminal phase is the profile's, so each patient gets one half-life, the model's."""
    profiles = concentrations.isel(patient=slice(N, 2 * N))
    first = nca(profiles, DOSE, route="iv_bolus", start=0.0, tau=24.0)
    last = nca(profiles, DOSE, route="iv_bolus", start=48.0, tau=24.0)
    np.testing.assert_array_equal(first.half_life.values, last.half_life.values)
    np.testing.assert_allclose(first.half_life.values, terminal_half_life(), rtol=5e-3)
    assert first.half_life.attrs["computed_over"] == "profile"
    # the interval quantities are the interval's: the drug accumulates from the first to the third dose
    assert np.all(last.auctau.values > 1.2 * first.auctau.values)
    assert np.all(last.ctrough.values > 1.2 * first.ctrough.values)
    assert first.auctau.attrs["computed_over"] == "interval"
    # a fit inside one 24 h interval alone cannot reach the terminal phase of the 57 h half-life patient
    window = profiles.sel(time=slice(0.0, 24.0))
    alone = nca(window, DOSE, route="iv_bolus", tau=24.0)
    assert abs(alone.half_life.values[1] / terminal_half_life()[1] - 1.0) > 0.1


def test_iv_bolus_cl_and_vss_within_one_percent(concentrations):
    """After one bolus: CL = dose / AUCinf and Vss = CL * MRT from the profile with C0 back-extrapolated (the output
    at t = 0 is the pre-dose 0) equal the model's CL and V1 + V2 within 1 %."""
    result = nca(concentrations.isel(patient=slice(0, N)), DOSE, route="iv_bolus")
    np.testing.assert_allclose(result.cl_obs.values, CL, rtol=0.01)
    np.testing.assert_allclose(result.vss_obs.values, V1 + V2, rtol=0.01)
    np.testing.assert_allclose(result.half_life.values, terminal_half_life(), rtol=0.01)
    assert np.all(result.c0.values > concentrations.isel(patient=slice(0, N), time=1).values)
    # integrating from the pre-dose 0 instead (no C0) overestimates CL by 2.5-5 % on this sampling
    untreated = nca(concentrations.isel(patient=slice(0, N)), DOSE)
    assert np.all(untreated.cl_obs.values > 1.02 * CL)
