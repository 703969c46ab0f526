"""Cardiovascular twins: Windkessel parameters from measured cuff pressures, heart rate and cardiac output."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.calibration.circulation import calibrate_circulation

pytestmark = pytest.mark.slow

WK = "cardio/windkessel3"


def steady_indices(model, params: dict, heart_rate: float) -> dict:
    """SBP, DBP, MAP and CO of the 60th beat, from a plain simulation sampled every 0.5 ms (independent of the twin's
    warm start and peak refinement)."""
    period = 60.0 / heart_rate
    t = np.arange(59 * period, 60 * period + 1e-9, 0.0005)
    out = vh.simulate(model, {**params, "HR": heart_rate}, times=t, t0=0.0, rtol=1e-10, atol=1e-10)
    p, q = out["P_ao"].values.reshape(-1), out["Q_in"].values.reshape(-1)
    mean = lambda x: np.trapezoid(x, t) / (t[-1] - t[0])
    return {"SBP": p.max(), "DBP": p.min(), "MAP": mean(p), "CO": mean(q) * 60.0 / 1000.0}


@pytest.fixture(scope="module")
def truths():
    """Three patients: resistance, compliance and stroke volume away from the typical values."""
    return [{"R": 1.2, "C": 0.9, "SV": 85.0}, {"R": 0.8, "C": 1.5, "SV": 65.0}, {"R": 1.05, "C": 1.1, "SV": 72.0}]


@pytest.fixture(scope="module")
def batch(truths):
    wk = vh.load_model(WK)
    hr = np.array([64.0, 80.0, 71.0])
    measured = [steady_indices(wk, p, h) for p, h in zip(truths, hr)]
    data = {k: np.array([m[k] for m in measured]) for k in ("SBP", "DBP", "CO")}
    # A weak prior and tight measurement errors: the three indices determine R, C and SV, so the MAP is the truth.
    pop = vh.Population(wk, omega={"R": 1.0, "C": 1.0, "SV": 1.0})
    sd = {"SBP": 0.2, "DBP": 0.2, "CO": 0.01}
    return calibrate_circulation(wk, data, prior=pop, heart_rate=hr, sd=sd), measured, hr


def test_a_batch_of_windkessel_twins_recovers_the_parameters(batch, truths):
    twin, measured, hr = batch
    assert twin.converged.all() and twin.eta.shape == (3, 3)
    for b, truth in enumerate(truths):
        for name, value in truth.items():
            assert twin.params[name][b] == pytest.approx(value, rel=0.01), (b, name)
        for k in ("SBP", "DBP", "CO"):
            assert twin.fitted[k][b] == pytest.approx(measured[b][k], rel=2e-3), (b, k)
    np.testing.assert_array_equal(twin.params["HR"], hr)
    assert np.all(twin.beat_change < 1e-5)  # the fitted beat is periodic
    # The twin's own MAP (unmeasured here) agrees with the independent simulation of its parameters
    again = steady_indices(vh.load_model(WK), {n: twin.params[n][0] for n in ("R", "C", "SV")}, hr[0])
    assert twin.fitted["MAP"][0] == pytest.approx(again["MAP"], rel=1e-4)


def test_the_posterior_narrows_with_the_measurement_error(truths):
    """Same patient, cuff SD 5 vs 1 mmHg: the Laplace SD of the compliance (set by the pulse pressure) shrinks, and
    the predicted SBP interval covers the measurement."""
    wk = vh.load_model(WK)
    m = steady_indices(wk, truths[0], 64.0)
    pop = vh.Population(wk, omega={"R": 0.09, "C": 0.09, "SV": 0.04})
    data = {k: m[k] for k in ("SBP", "DBP", "CO")}
    one = calibrate_circulation(wk, data, prior=pop, heart_rate=64.0)
    assert one.converged and one.eta.shape == (3,) and one.cov.shape == (3, 3)
    pred = one.predict(names=("SBP", "CO"), n_samples=100, seed=1)
    assert pred["SBP_lower"] < m["SBP"] < pred["SBP_upper"]
    assert pred["CO_lower"] < pred["CO"] < pred["CO_upper"]
    assert "CirculationTwin of cardio/windkessel3: 1 patient, 1/1 converged" in repr(one)
    # The same patient twice in one batch, measured with a cuff SD of 5 and of 1 mmHg
    two = calibrate_circulation(wk, {k: [v, v] for k, v in data.items()}, prior=pop, heart_rate=[64.0, 64.0],
                                sd={"SBP": [5.0, 1.0], "DBP": [5.0, 1.0]})
    sd = np.sqrt(np.diagonal(two.cov, axis1=1, axis2=2))
    j = two.eta_names.index("C")
    assert sd[1, j] < 0.8 * sd[0, j]
    np.testing.assert_allclose(two.eta[0], one.eta, atol=1e-4)  # a batch lane equals the single fit


def test_bad_circulation_input_is_refused_before_any_solve():
    wk = vh.load_model(WK)
    pop = vh.Population(wk, omega={"R": 0.09, "C": 0.09})
    good = {"SBP": 120.0, "DBP": 80.0}
    with pytest.raises(vh.InputError, match="unknown index 'HR'; allowed"):
        calibrate_circulation(wk, {**good, "HR": 70.0}, prior=pop, heart_rate=70.0)
    with pytest.raises(vh.InputError, match=r"measurement DBP = -80.0 must be finite and > 0 \(mmHg\)"):
        calibrate_circulation(wk, {**good, "DBP": -80.0}, prior=pop, heart_rate=70.0)
    with pytest.raises(vh.InputError, match="heart_rate 400.0 must be a heart rate in min-1, from 20 to 250"):
        calibrate_circulation(wk, good, prior=pop, heart_rate=400.0)
    with pytest.raises(vh.InputError, match="EF needs the model's volume"):
        calibrate_circulation(wk, {**good, "EF": 0.6}, prior=pop, heart_rate=70.0)
    with pytest.raises(vh.InputError, match="omega has an eta on 'HR', which the measured heart rate sets"):
        calibrate_circulation(wk, good, prior=vh.Population(wk, omega={"R": 0.09, "HR": 0.01}), heart_rate=70.0)
    with pytest.raises(vh.InputError, match="sd given for 'CO', which is not among the measurements"):
        calibrate_circulation(wk, good, prior=pop, heart_rate=70.0, sd={"CO": 0.5})
    with pytest.raises(vh.InputError, match="Population was built for model"):
        calibrate_circulation(wk, good, prior=vh.Population(vh.load_model("cardio/windkessel2"), omega={"R": 0.1}),
                              heart_rate=70.0)
    with pytest.raises(vh.InputError, match="neither a heart-rate parameter 'HR'"):
        ms = vh.load_model("cardio/mitchell_schaeffer")
        calibrate_circulation(ms, good, prior=vh.Population(ms, omega={"tau_in": 0.1}), heart_rate=70.0, pressure="v")
