"""Whole-body PBPK model: mass balance, clearance and volume from the equations against the simulated profiles,
agreement with scipy's Radau, and predictions for the shipped drugs against observed human pharmacokinetics."""

import numpy as np
import pytest
from scipy.integrate import simpson, solve_ivp

import vhtwin as vh
from vhtwin.model import Names
from vhtwin.models.pharmacokinetics import pbpk_whole_body as pbpk

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


def _half_life(t, cp, start, stop):
    """Half-life from a log-linear fit over [start, stop] h, as a study sampling that window estimates it."""
    w = (t >= start) & (t <= stop)
    return np.log(2.0) / -np.array([np.polyfit(t[w], np.log(c[w]), 1)[0] for c in cp])


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
    np.testing.assert_allclose(one["fu"], 0.51)
    filtered = pbpk.personalise(pop, "theophylline", gfr=7.5)  # L/h
    np.testing.assert_allclose(filtered["CL_renal"], 0.51 * 7.5)
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
    # the sampled pool; with hepatic extraction (midazolam E_H ~ 0.5) the profile's Vss is a few per cent smaller.
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


# -- predictions against observed human pharmacokinetics (each within 2-fold) ------------------------------------------
# Observed values, each with its source:
# midazolam
#   Vss 1.39 L/kg: Rodgers & Rowland, Pharm Res 2007;24:918, Table III (human Vuss 37.70 L/kg x fu 0.037);
#   CL 19.4 L/h: Heizmann P, Eckert M, Ziegler WH. Br J Clin Pharmacol 1983;16:43S, abstract (323 mL/min);
#   CL 17.0 L/h: Allonen H et al. Clin Pharmacol Ther 1981;30:653, abstract (283 mL/min, plasma);
#   t1/2 2.3 h after intravenous doses: Heizmann 1983, abstract;
#   oral bioavailability 0.36: Smith MT et al. Eur J Clin Pharmacol 1981;19:271, abstract;
#   Cmax 31 ng/mL after 7.5 mg orally: PMC2015005 (Br J Clin Pharmacol), Table 1, placebo phase (nine subjects).
# theophylline
#   Vss 0.55 L/kg: Rodgers & Rowland 2007, Table II (human Vuss 1.08 L/kg x fu 0.51);
#   CL 0.040 L/h/kg: Hendeles L, Weinberger M, Bighley L. Am Rev Respir Dis 1978;118:97, abstract (0.4 mg/kg/h
#     keeps 10 mg/L in non-smoking adults);
#   t1/2 7.1 h: Steinijans VW et al. Eur J Clin Pharmacol 1982;22:417, abstract (geometric mean);
#   peak 18 mg/L at the end of a 30-min infusion of 7.4 mg/kg: Hendeles 1978, abstract.
OBSERVED = {
    "midazolam": {"Vss": 1.39 * BODY_WEIGHT, "CL": (19.4, 17.0), "t_half": 2.3, "F": 0.36, "Cmax": 0.031},
    "theophylline": {"Vss": 0.55 * BODY_WEIGHT, "CL": (0.040 * BODY_WEIGHT,), "t_half": 7.1, "Cmax": 18.0},
}


def _within_two_fold(predicted, observed, what):
    ratio = predicted / observed
    assert 0.5 <= ratio <= 2.0, f"{what}: predicted {predicted:.4g}, observed {observed:.4g} (ratio {ratio:.2f})"


@pytest.mark.parametrize("i, drug", list(enumerate(DRUGS)))
def test_volume_clearance_and_half_life_within_two_fold_of_observed(params, iv, i, drug):
    obs = OBSERVED[drug]
    _within_two_fold(float(pbpk.steady_state_volume(params)[i]), obs["Vss"], f"{drug} Vss (L)")
    for cl in obs["CL"]:
        _within_two_fold(float(pbpk.clearance(params)[i]), cl, f"{drug} CL (L/h)")
    # half-life as the studies estimate it: log-linear over 2-12 h after the dose
    _within_two_fold(float(_half_life(GRID, iv.Cp.values, 2.0, 12.0)[i]), obs["t_half"], f"{drug} t1/2 (h)")


def test_peak_concentrations_and_bioavailability_within_two_fold_of_observed(model, params):
    t = np.arange(0.0, 12.0 + 1e-9, 0.02)
    # patient 0: midazolam 7.5 mg orally; patient 1: theophylline 7.4 mg/kg over 30 min intravenously
    regimen = (vh.Regimen.bolus([7.5, 0.0], into="gut_lumen")
               + vh.Regimen.infusion([0.0, 7.4 * BODY_WEIGHT], into="venous_blood", duration=0.5))
    ds = vh.simulate(model, params, times=t, protocol=regimen)
    cmax = ds.Cp.max("time").values
    _within_two_fold(float(cmax[0]), OBSERVED["midazolam"]["Cmax"], "midazolam oral Cmax (mg/L)")
    _within_two_fold(float(cmax[1]), OBSERVED["theophylline"]["Cmax"], "theophylline infusion peak (mg/L)")
    _within_two_fold(float(pbpk.oral_bioavailability(params)[0]), OBSERVED["midazolam"]["F"], "midazolam F")
