"""Whole-body PBPK model: mass balance, clearance and volume from the equations against the simulated profiles,
and agreement with scipy's Radau. (Predictions against observed human pharmacokinetics: test_pbpk_observed.py.)"""

import numpy as np
import pytest
from scipy.integrate import simpson, solve_ivp

import vhtwin as vh
from vhtwin.model import Names
from vhtwin.models.pharmacokinetics import pbpk_whole_body as pbpk

pytestmark = pytest.mark.slow

NAME = "pharmacokinetics/pbpk_whole_body"
DRUGS = ("midazolam", "theophylline")
BODY_WEIGHT = 73.0  # kg, the ICRP reference male every prediction here is made for
IV_DOSE = np.array([5.0, 500.0])  # mg: midazolam, theophylline
# Piecewise-uniform grid: fine over the first minutes after a bolus (lung and arterial blood equilibrate within
# seconds), coarser later; few distinct steps, so the exact (matrix exponential) path applies.
GRID = np.concatenate([np.arange(0.0, 0.05, 1e-4), np.arange(0.05, 2.0, 0.002), np.arange(2.0, 200.0 + 1e-9, 0.02)])


def _reference():
    return vh.physiology.individual(35.0, "male", BODY_WEIGHT, 176.0)


def _batch(patients):
    return {k: np.array([float(p[k]) for p in patients]) for k in patients[0]}


@pytest.fixture(scope="module")
def model():
    return vh.load_model(NAME)


@pytest.fixture(scope="module")
def params():
    """Parameters of the reference male given midazolam (patient 0) and theophylline (patient 1)."""
    ref = _reference()
    return _batch([pbpk.personalise(ref, d) for d in DRUGS])


@pytest.fixture(scope="module")
def iv(model, params):
    return vh.simulate(model, params, times=GRID, protocol=vh.Regimen.bolus(IV_DOSE, into="venous_blood"))


def _moments(t, cp, tail=500):
    """AUC and AUMC of each row of cp (Simpson's rule, then the log-linear tail extrapolated to infinity)."""
    auc, aumc = simpson(cp, x=t, axis=-1), simpson(cp * t, x=t, axis=-1)
    lam = -np.array([np.polyfit(t[-tail:], np.log(c[-tail:]), 1)[0] for c in cp])
    c_last = cp[:, -1]
    return auc + c_last / lam, aumc + c_last * t[-1] / lam + c_last / lam**2


# -- structure ----------------------------------------------------------------------------------------------------------
def test_library_model_is_linear_and_solved_exactly(model, iv):
    assert NAME in vh.list_models()
    assert model.linear and set(model.dosable_states) == {"venous_blood", "gut_lumen"}
    assert iv.attrs["solver"] == "exact"
    assert (iv.status.values == 0).all()
    assert iv.Cp.attrs["units"] == "mg L-1"


def test_personalise_a_population_gives_one_value_per_patient(model):
    pop = vh.physiology.population(4, seed=3)
    p = pbpk.personalise(pop, "midazolam")
    assert set(p) == set(model.parameter_names)
    assert all(v.shape == (4,) for v in p.values())
    assert len(np.unique(p["V_liver"])) == 4 and np.all(p["Kp_fat"] > 1.0)
    drug = dict(pbpk.load_drug("midazolam"), fu=np.array([0.02, 0.03, 0.04, 0.05]))  # one fu per patient
    kp_fat = pbpk.personalise(pop, drug)["Kp_fat"]
    assert np.all(np.diff(kp_fat) > 0)  # less bound in plasma: more in the tissues
    one = pbpk.personalise(_reference(), "theophylline", method="berezhkovskiy")
    assert all(np.ndim(v) == 0 for v in one.values())
    np.testing.assert_allclose(one["fu"], 0.578)
    filtered = pbpk.personalise(pop, "theophylline", gfr=7.5)  # L/h
    np.testing.assert_allclose(filtered["CL_renal"], 0.578 * 7.5)
    with pytest.raises(vh.InputError, match="gfr"):
        pbpk.personalise(pop, "theophylline", gfr=-1.0)


def test_load_drug_reads_values_with_sources_and_refuses_unknown_names(tmp_path):
    drug = pbpk.load_drug("midazolam")
    assert drug["kind"] == "base" and drug["log_p"] == 3.15
    assert drug["entries"]["fu"]["source"] in drug["sources"]
    with pytest.raises(vh.InputError, match="midazolam"):  # the message lists the library
        pbpk.load_drug("aspirin")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nkind = "neutral"\n[parameters]\nlog_p = { value = 1.0 }\n')
    with pytest.raises(vh.InputError, match="molecular_weight.*is missing"):
        pbpk.load_drug(bad)



def test_kp_scale_multiplies_every_partition_coefficient(tmp_path):
    # midazolam's file carries a fitted Kp scalar (status "fitted", with what it was fitted to); other drugs have 1
    midazolam = pbpk.load_drug("midazolam")
    assert midazolam["entries"]["kp_scale"]["status"] == "fitted" and 0.0 < midazolam["kp_scale"] < 1.0
    assert pbpk.load_drug("caffeine")["kp_scale"] == 1.0
    scaled = pbpk.personalise(_reference(), midazolam)
    unscaled = pbpk.personalise(_reference(), dict(midazolam, kp_scale=1.0))
    for organ in pbpk.TISSUES:
        np.testing.assert_allclose(scaled[f"Kp_{organ}"], midazolam["kp_scale"] * unscaled[f"Kp_{organ}"], rtol=1e-12)
    np.testing.assert_allclose(scaled["CLint"], unscaled["CLint"])
    text = (pbpk.DRUG_DIR / "caffeine.toml").read_text() + 'kp_scale = { value = 0.0, unit = "1" }\n'
    bad = tmp_path / "bad_scale.toml"
    bad.write_text(text)
    with pytest.raises(vh.InputError, match="kp_scale.*must be a number > 0, got 0.0"):
        pbpk.load_drug(bad)


# -- mathematics of the model -------------------------------------------------------------------------------------------
def test_mass_balance_to_round_off(model, params, iv):
    total = sum(iv[s].values for s in model.state_names)  # body + eliminated, (patient, time)
    # (an output at a dose time is the state just before the dose, as everywhere in vhtwin)
    np.testing.assert_allclose(total[:, 1:], IV_DOSE[:, None] * np.ones_like(GRID[1:]), rtol=1e-10)
    # oral doses and an infusion: body + gut lumen + eliminated + unabsorbed = what was given
    p = dict(params, Fa=np.array([0.8, 0.9]), Fg=np.array([0.5, 0.7]), CL_renal=np.array([2.0, 0.32]))
    t = np.linspace(0.0, 24.0, 97)
    regimen = vh.Regimen.bolus([10.0, 300.0], into="gut_lumen") + vh.Regimen.infusion([2.0, 50.0], into="venous_blood", duration=2.0, at=1.0)
    ds = vh.simulate(model, p, times=t, protocol=regimen)
    given = np.array([10.0, 300.0])[:, None] + np.array([2.0, 50.0])[:, None] * np.clip(t - 1.0, 0.0, 2.0) / 2.0
    total = sum(ds[s].values for s in model.state_names)
    np.testing.assert_allclose(total[:, 1:], given[:, 1:], rtol=1e-10)
    assert (ds.unabsorbed.values[:, -1] > 0).all() and (ds.metabolised_gut.values[:, -1] > 0).all()


def test_clearance_and_volume_from_the_equations_match_the_profile(params, iv):
    auc, aumc = _moments(GRID, iv.Cp.values)
    cl_profile = IV_DOSE / auc
    np.testing.assert_allclose(cl_profile, pbpk.clearance(params), rtol=1e-3)
    vss_profile = cl_profile * aumc / auc
    np.testing.assert_allclose(vss_profile, pbpk.nca_steady_state_volume(params), rtol=2e-3)
    # The equilibrium Vss (sum V_T Kp_T + B:P V_blood) is what the profile shows when nothing is eliminated outside
    # the sampled pool; with hepatic extraction (midazolam E_H ~ 0.37) the profile's Vss is a few per cent smaller.
    vss = pbpk.steady_state_volume(params)
    assert np.all(vss >= vss_profile) and np.all(vss_profile / vss > 0.95)
    low = dict(params, CLint=params["CLint"] * 1e-6, CL_renal=np.zeros(2))
    np.testing.assert_allclose(pbpk.nca_steady_state_volume(low), pbpk.steady_state_volume(low), rtol=1e-5)


def test_oral_bioavailability_from_the_equations_matches_the_profiles(model, params, iv):
    oral = vh.simulate(model, params, times=GRID, protocol=vh.Regimen.bolus(IV_DOSE, into="gut_lumen"))
    auc_oral, _ = _moments(GRID, oral.Cp.values)
    auc_iv, _ = _moments(GRID, iv.Cp.values)
    np.testing.assert_allclose(auc_oral / auc_iv, pbpk.oral_bioavailability(params), rtol=2e-3)


def test_agrees_with_scipy_radau(model, params):
    p0 = {k: float(v[0]) for k, v in params.items()}  # midazolam
    idx_s = {s: i for i, s in enumerate(model.state_names)}
    idx_p = {q: i for i, q in enumerate(model.parameter_names)}
    pvec = np.array([p0[q] for q in model.parameter_names])

    def f(t, y):
        d = model.rhs(t, Names(idx_s, y, "state"), Names(idx_p, pvec, "parameter"))
        return np.array([d[s] for s in model.state_names], float)

    y0 = np.zeros(len(model.states))
    y0[idx_s["gut_lumen"]], y0[idx_s["venous_blood"]] = 7.5, 2.0
    t = np.linspace(0.0, 12.0, 49)
    ref = solve_ivp(f, (0.0, 12.0), y0, method="Radau", t_eval=t, rtol=1e-11, atol=1e-14)
    assert ref.success
    regimen = vh.Regimen.bolus(7.5, into="gut_lumen") + vh.Regimen.bolus(2.0, into="venous_blood")
    ds = vh.simulate(model, p0, times=t, protocol=regimen)
    # (an output at a dose time is the state just before the dose: compare after t = 0)
    for s in model.state_names:
        np.testing.assert_allclose(ds[s].values[1:], ref.y[idx_s[s], 1:], rtol=1e-6, atol=1e-11, err_msg=s)
    cp = ref.y[idx_s["venous_blood"], 1:] / p0["V_venous_blood"] / p0["BP"]
    np.testing.assert_allclose(ds.Cp.values[1:], cp, rtol=1e-6)


# Predictions against observed clinical pharmacokinetics (every ratio within 2-fold, each value with its source) are
# checked in tests/models/test_pbpk_observed.py, from tests/data/pbpk_observed.toml.
