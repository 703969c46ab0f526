"""FOCE-I and SAEM on the Theophylline dataset: the estimates against the published fits, their uncertainty, residuals,
resuming, and what a fit gives a trial. (One module: SAEM's objective reuses the FOCE-I programs compiled here.)"""

import json
import math

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.estimation.saem import SaemSettings

from .conftest import ROOT, bateman, simulated_frame, theoph_start

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fit(oral, theoph):
    return vh.estimate(oral, theoph, theoph_start(oral))


def test_converges_with_a_covariance_step(fit):
    assert fit.converged and fit.covariance_status == "ok"
    assert list(fit.theta.index) == ["ka", "CL", "V"]
    assert list(fit.sigma.index) == ["additive"]
    assert list(fit.omega.index) == ["ka", "CL", "V"] and np.allclose(fit.omega, fit.omega.T)


def test_objective_reported_as_nonmem_does(fit):
    n = fit.n_observations
    assert n == 132 and fit.n_subjects == 12 and fit.n_estimated == 7
    assert fit.ofv == pytest.approx(fit.minus_2_log_likelihood - n * math.log(2 * math.pi), rel=1e-12)
    assert fit.aic == pytest.approx(fit.minus_2_log_likelihood + 14)
    assert fit.bic == pytest.approx(fit.minus_2_log_likelihood + 7 * math.log(132))


def test_every_subject_is_accounted_for(fit):
    status = fit.subjects_status
    assert list(status.index) == list(range(1, 13)) and status["converged"].all()
    assert status["ofv"].sum() == pytest.approx(fit.minus_2_log_likelihood, rel=1e-10)


def test_table_has_estimates_uncertainty_and_shrinkage(fit):
    table = fit.table()
    assert list(table.index) == ["ka", "CL", "V", "omega(ka)", "omega(CL)", "omega(V)", "sigma(additive)"]
    assert (table["se"] > 0).all() and (table["rse_percent"] > 0).all()
    assert np.allclose(table["rse_percent"], 100 * table["se"] / table["estimate"])
    assert (table["ci_low"] < table["estimate"]).all() and (table["estimate"] < table["ci_high"]).all()
    shrink = table["shrinkage_percent"].dropna()
    assert list(shrink.index) == ["omega(ka)", "omega(CL)", "omega(V)"] and (shrink.abs() < 100).all()
    corr = fit.correlation.to_numpy()
    assert np.allclose(np.diag(corr), 1.0) and np.all(np.abs(corr) <= 1 + 1e-9)


def test_individual_parameters_are_the_typical_values_moved_by_the_etas(fit):
    individual = fit.individual_parameters
    assert list(individual.columns) == ["ka", "CL", "V"] and list(individual.index) == list(fit.etas.index)
    for name in individual.columns:  # log-normal, no covariate model: theta * exp(eta)
        assert np.allclose(individual[name], fit.theta[name] * np.exp(fit.etas[name]), rtol=1e-12)


def published():
    """Published fits of the same model to the same data (tests/data/estimation/theoph_published.json, README there)."""
    entries = json.loads((ROOT / "tests" / "data" / "estimation" / "theoph_published.json").read_text())
    return {e["id"]: e for e in entries if e["same_model"]["value"]}


def test_matches_nonmem_focei(fit):
    """NONMEM 7.4.4 FOCE-I of the same model and data (Wiczling/theopd run 1): the issue asks for 2 %; the fit
    agrees to better than 0.05 % in every fixed effect, Omega, the residual SD and the OFV (to 0.001)."""
    nonmem = published()["nonmem744_focei_theopd_run1"]
    for name, key in (("ka", "ka"), ("CL", "cl"), ("V", "v")):
        assert fit.theta[name] == pytest.approx(nonmem["theta"][key], rel=5e-4), name
        assert fit.omega.loc[name, name] == pytest.approx(nonmem["omega"]["variance"][key], rel=5e-3), name
    assert fit.sigma["additive"] == pytest.approx(nonmem["sigma"]["additive_sd"], rel=5e-4)
    assert fit.ofv == pytest.approx(nonmem["ofv"]["value"], abs=1e-3)


def test_within_the_published_spread_of_every_same_model_fit(fit):
    """Within 2 % of every published FOCE-I and SAEM fixed effect and residual SD (NONMEM, nlmixr2 focei and saem,
    saemix), and Omega within the range the published fits span (nlme's included)."""
    refs = {k: v for k, v in published().items() if "nlme_" not in k}  # nlme's Lindstrom-Bates approximation differs
    for ref in refs.values():
        for name, key in (("ka", "ka"), ("CL", "cl"), ("V", "v")):
            if ref["theta"].get(key) is not None:
                assert fit.theta[name] == pytest.approx(ref["theta"][key], rel=0.02), (ref["id"], name)
        assert fit.sigma["additive"] == pytest.approx(ref["sigma"]["additive_sd"], rel=0.02), ref["id"]
    for name, key in (("ka", "ka"), ("CL", "cl"), ("V", "v")):
        values = [r["omega"]["variance"][key] for r in published().values() if (r["omega"].get("variance") or {}).get(key)]
        assert len(values) >= 4 and min(values) <= fit.omega.loc[name, name] <= max(values), (name, values)


def test_wres_matches_an_independent_linearisation(fit, theoph):
    """WRES of subject 1 recomputed in numpy: finite-difference sensitivities of the closed-form model at eta = 0."""
    res = fit.predictions
    one = res.where(res.ID == 1, drop=True)
    t, y = one.TIME.to_numpy(), one.DV.to_numpy()
    dose = float(theoph.records.query("ID == 1 and EVID == 1")["AMT"].iloc[0])
    theta, omega, sd = fit.theta, fit.omega.to_numpy(), fit.sigma["additive"]
    f = lambda eta: bateman(t, dose, theta["ka"] * np.exp(eta[0]), theta["CL"] * np.exp(eta[1]), theta["V"] * np.exp(eta[2]))
    h = 1e-6
    G = np.stack([(f(h * e) - f(-h * e)) / (2 * h) for e in np.eye(3)], axis=1)
    C = G @ omega @ G.T + sd**2 * np.eye(t.size)
    wres = np.linalg.solve(np.linalg.cholesky(C), y - f(np.zeros(3)))
    assert np.allclose(one.PRED, f(np.zeros(3)), rtol=1e-8, atol=1e-10)
    assert np.allclose(one.WRES, wres, rtol=1e-5, atol=1e-6)


def test_residuals_are_standardised(fit):
    res = fit.predictions
    for name in ("CWRES", "NPDE"):
        v = res[name].to_numpy()
        assert np.isfinite(v).all()
        assert abs(v.mean()) < 0.3 and 0.7 < v.std() < 1.3, (name, v.mean(), v.std())
    assert np.allclose(res.RES, res.DV - res.PRED) and np.allclose(res.IWRES, (res.DV - res.IPRED) / fit.sigma["additive"])


def test_a_new_dataset_of_the_same_shape_does_not_recompile(fit, oral, theoph):
    frame = theoph.to_frame()
    frame.loc[frame.EVID == 0, "DV"] = frame.loc[frame.EVID == 0, "DV"] * 1.1
    before = vh.compilation_count()
    again = vh.estimate(oral, vh.read_dataset(frame, oral), theoph_start(oral), covariance=None)
    assert vh.compilation_count() == before
    assert again.theta["V"] == pytest.approx(fit.theta["V"] / 1.1, rel=0.05)


def test_gradient_matches_finite_differences(fit):
    """The exact gradient (implicit differentiation through the modes) against central differences of the OFV."""
    ev = fit.evaluator
    x = np.asarray(fit.outcome.x) + np.array([0.05, -0.04, 0.03, 0.1, -0.1, 0.1, 0.05])  # away from the optimum
    _, per_subject, _ = ev.value_and_gradient(x)
    gradient = per_subject.sum(axis=0)
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = 1e-5
        plus = ev.value_and_gradient(x + e)[0].sum()
        minus = ev.value_and_gradient(x - e)[0].sum()
        assert gradient[j] == pytest.approx((plus - minus) / 2e-5, rel=1e-4, abs=1e-4), j


def test_to_population_simulates_the_fit(fit):
    pop = fit.to_population()
    assert pop.typical["CL"] == pytest.approx(fit.theta["CL"]) and pop.residual.additive == pytest.approx(fit.sigma["additive"])
    names, omega = pop.omega.matrix()
    assert np.allclose(omega, fit.omega.loc[list(names), list(names)])
    draws = [fit.to_population(uncertainty=True, replicate=r, seed=7).typical["CL"] for r in (0, 1, 0)]
    assert draws[0] == draws[2] != draws[1]
    spread = np.std([fit.to_population(uncertainty=True, replicate=r).typical["CL"] for r in range(200)])
    assert spread == pytest.approx(fit.standard_errors["CL"], rel=0.25)


def test_vpc_and_figures_of_the_fit(fit):
    stats = fit.vpc(n_replicates=100, seed=3, n_bins=6)
    assert stats.sizes["bin"] == 6 and stats.attrs["n_replicates"] == 100
    inside = (stats.simulated_low <= stats.observed) & (stats.observed <= stats.simulated_high)
    assert float(inside.mean()) > 0.7  # a good fit: most observed percentiles within their simulated intervals
    again = fit.vpc(n_replicates=100, seed=3, n_bins=6)
    assert np.array_equal(stats.simulated_median.to_numpy(), again.simulated_median.to_numpy(), equal_nan=True)
    pc = fit.vpc(n_replicates=100, seed=3, n_bins=6, prediction_corrected=True)
    assert pc.attrs["prediction_corrected"]
    # 100 replicates again: the program compiled for the statistics above draws the figure
    for figure in (fit.plot_goodness_of_fit(), fit.plot_etas(), fit.plot_vpc(n_replicates=100)):
        assert len(figure.axes) >= 1


def test_an_interrupted_fit_resumes_where_it_stopped(fit, oral, theoph, tmp_path):
    """Five iterations with a checkpoint, then the same call to the end: the estimate of the uninterrupted fit."""
    checkpoint = tmp_path / "fit.checkpoint.json"
    with pytest.warns(UserWarning, match="did not converge"):
        partial = vh.estimate(oral, theoph, theoph_start(oral), max_iter=5, covariance=None, checkpoint=checkpoint)
    assert partial.iterations == 5 and not partial.converged and checkpoint.is_file()
    resumed = vh.estimate(oral, theoph, theoph_start(oral), covariance=None, checkpoint=checkpoint)
    assert resumed.converged and resumed.iterations == fit.iterations
    assert np.allclose(resumed.estimates, fit.estimates, rtol=1e-10, atol=0)
    other = theoph_start(oral)
    other = vh.Population(oral, typical={**other.typical, "CL": 3.0}, omega={"ka": 0.4, "CL": 0.07, "V": 0.02},
                          residual=vh.Residual(additive=0.7))
    with pytest.raises(vh.InputError, match="is of another estimation"):
        vh.estimate(oral, theoph, other, checkpoint=checkpoint)


def test_r_matrix_standard_errors_match_nonmem(oral, theoph):
    """NONMEM's run used $COV MATRIX=R: the same covariance (inverse observed information) gives its standard errors
    to within 1 % -- typical values, Omega variances and the residual SD."""
    nonmem = published()["nonmem744_focei_theopd_run1"]["se"]
    fit = vh.estimate(oral, theoph, theoph_start(oral), covariance="R")
    se = fit.standard_errors
    for name, key in (("ka", "ka"), ("CL", "cl"), ("V", "v")):
        assert se[name] == pytest.approx(nonmem["theta"][key], rel=0.01), name
        assert se[f"omega({name})"] == pytest.approx(nonmem["omega_variance"][key], rel=0.01), name
    assert se["sigma(additive)"] == pytest.approx(nonmem["sigma_sd"], rel=0.01)


# -- SAEM ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saem_fit(oral, theoph):
    return vh.estimate(oral, theoph, theoph_start(oral), method="saem", saem=SaemSettings(seed=1))


def test_saem_within_two_percent_of_the_published_saem_fits(saem_fit):
    fit = saem_fit
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


def test_saem_reports_the_focei_objective_and_a_trace(saem_fit):
    fit = saem_fit
    assert fit.method == "saem" and fit.covariance_status == "ok"
    assert np.isfinite(fit.ofv) and fit.ofv == pytest.approx(116.8, abs=1.0)  # near the FOCE-I minimum
    trace = np.asarray(fit.trace.parameters)
    assert trace.shape == (400, 7)
    last = trace[-50:]
    assert np.all(np.ptp(last[:, :3], axis=0) / last[-1, :3] < 0.02)  # the smoothing phase has settled
    acceptance = np.asarray(fit.trace.acceptance)[-1]
    assert np.all((acceptance[1:] > 0.2) & (acceptance[1:] < 0.7))  # adapted random walks


def test_saem_same_seed_same_fit_other_seed_other_path(oral, theoph):
    start = theoph_start(oral)
    short = SaemSettings(exploration=20, smoothing=10, seed=3)
    a = vh.estimate(oral, theoph, start, method="saem", saem=short, covariance=None)
    b = vh.estimate(oral, theoph, start, method="saem", saem=short, covariance=None)
    c = vh.estimate(oral, theoph, start, method="saem", saem=SaemSettings(exploration=20, smoothing=10, seed=4),
                    covariance=None)
    assert np.array_equal(a.estimates, b.estimates)
    assert not np.array_equal(a.estimates, c.estimates)


def test_saem_refuses_what_it_cannot_estimate(oral):
    data = vh.read_dataset(simulated_frame(4, 1, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={}, additive=0.2), oral)
    no_iiv = vh.Population(oral, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={"ka": 0.0, "CL": 0.1, "V": 0.1},
                           residual=vh.Residual(additive=0.2))
    with pytest.raises(vh.InputError, match="typical value of 'ka' has no between-subject variability"):
        vh.estimate(oral, data, no_iiv, method="saem")
    linear = vh.Population(oral, typical={"ka": 1.2, "CL": 3.0, "V": 30.0}, omega={"ka": 0.1, "CL": 0.1, "V": 0.1},
                           covariate_models=[vh.LinearCovariate("CL", "WT", 70.0, 0.01)], residual=vh.Residual(additive=0.2))
    with pytest.raises(vh.InputError, match="linear covariate model on 'CL'"):
        vh.estimate(oral, data, linear, method="saem")


def test_saem_resumes_from_a_checkpoint_exactly(oral, theoph):
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
