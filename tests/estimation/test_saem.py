"""SAEM on the Theophylline dataset, against the published SAEM fits of the same model, and its refusals."""

import math

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.estimation.saem import SaemSettings

from .conftest import simulated_frame, theoph_start
from .test_theophylline import published

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fit(oral, theoph):
    return vh.estimate(oral, theoph, theoph_start(oral), method="saem", saem=SaemSettings(seed=1))


def test_within_two_percent_of_the_published_saem_fits(fit):
    """nlmixr2 saem (natural scale, printed) and saemix (log scale, printed; converted here)."""
    refs = published()
    nlmixr2 = refs["nlmixr2_saem_readme"]
    saemix = refs["saemix_via_babelmixr2_article"]["theta"]["log_scale_reported"]
    expected = [{"ka": nlmixr2["theta"]["ka"], "CL": nlmixr2["theta"]["cl"], "V": nlmixr2["theta"]["v"]},
                {"ka": math.exp(saemix["tka"]), "CL": math.exp(saemix["tcl"]), "V": math.exp(saemix["tv"])}]
    for ref in expected:
        for name, value in ref.items():
            assert fit.theta[name] == pytest.approx(value, rel=0.02), name
    for ref in (nlmixr2, refs["saemix_via_babelmixr2_article"]):
        assert fit.sigma["additive"] == pytest.approx(ref["sigma"]["additive_sd"], rel=0.02)
    for name, key in (("ka", "ka"), ("CL", "cl"), ("V", "v")):
        assert fit.omega.loc[name, name] == pytest.approx(nlmixr2["omega"]["variance"][key], rel=0.15), name


def test_reports_the_focei_objective_and_a_trace(fit):
    assert fit.method == "saem" and fit.covariance_status == "ok"
    assert np.isfinite(fit.ofv) and fit.ofv == pytest.approx(116.8, abs=1.0)  # near the FOCE-I minimum
    trace = np.asarray(fit.trace.parameters)
    assert trace.shape == (400, 7)
    last = trace[-50:]
    assert np.all(np.ptp(last[:, :3], axis=0) / last[-1, :3] < 0.02)  # the smoothing phase has settled
    acceptance = np.asarray(fit.trace.acceptance)[-1]
    assert np.all((acceptance[1:] > 0.2) & (acceptance[1:] < 0.7))  # adapted random walks


def test_same_seed_same_fit_other_seed_other_path(oral, theoph):
    start = theoph_start(oral)
    short = SaemSettings(exploration=20, smoothing=10, seed=3)
    a = vh.estimate(oral, theoph, start, method="saem", saem=short, covariance=None)
    b = vh.estimate(oral, theoph, start, method="saem", saem=short, covariance=None)
    c = vh.estimate(oral, theoph, start, method="saem", saem=SaemSettings(exploration=20, smoothing=10, seed=4),
                    covariance=None)
    assert np.array_equal(a.estimates, b.estimates)
    assert not np.array_equal(a.estimates, c.estimates)


def test_refuses_what_it_cannot_estimate(oral):
    data = vh.read_dataset(simulated_frame(4, 1, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={}, additive=0.2), oral)
    no_iiv = vh.Population(oral, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={"ka": 0.0, "CL": 0.1, "V": 0.1},
                           residual=vh.Residual(additive=0.2))
    with pytest.raises(vh.InputError, match="typical value of 'ka' has no between-subject variability"):
        vh.estimate(oral, data, no_iiv, method="saem")
    linear = vh.Population(oral, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={"ka": 0.1, "CL": 0.1, "V": 0.1},
                           covariate_models=[vh.LinearCovariate("CL", "WT", 70.0, 0.01)], residual=vh.Residual(additive=0.2))
    with pytest.raises(vh.InputError, match="linear covariate model on 'CL'"):
        vh.estimate(oral, data, linear, method="saem")


def test_resumes_from_a_checkpoint_exactly(oral, theoph):
    """SAEM's state (statistics, chains, random key) saved at iteration 25 and resumed gives the uninterrupted run."""
    from vhtwin.estimation.assemble import assemble, problem
    from vhtwin.estimation.data import subjects
    from vhtwin.estimation.parameters import build
    from vhtwin.estimation.saem import run

    start = theoph_start(oral)
    subj = subjects(theoph, oral)
    par = build(start, subj.covariates, subj.obs.observables)
    prob = problem(oral, start, subj, par, solver="auto", rtol=1e-10, atol=1e-12, max_steps=100_000)
    lanes = assemble(prob, par, "focei", repeat=5)
    settings = SaemSettings(exploration=30, smoothing=10, seed=9)
    saved = []
    u_full, eta_full, _ = run(lanes, par, 12, settings, par.u0, checkpoint=saved.append, every=25)
    assert [s["iteration"] for s in saved] == [25, 40]
    import json
    state = json.loads(json.dumps(saved[0]))  # as read back from the checkpoint file
    u_resumed, eta_resumed, trace = run(lanes, par, 12, settings, par.u0, state=state)
    assert np.array_equal(u_resumed, u_full) and np.array_equal(eta_resumed, eta_full)
    assert len(trace.parameters) == 40
