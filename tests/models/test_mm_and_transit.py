"""The Michaelis--Menten variants (one- and two-compartment, IV and oral) against scipy's Radau solver and their
linear limits, and the transit model with a free number of compartments (``transit_model(n)``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import vhtwin as vh
from vhtwin.testing import pharmacokinetics as oracles
from vhtwin.models.pharmacokinetics.one_compartment_transit import transit_model

pytestmark = pytest.mark.slow

TIMES = np.arange(0.0, 48.25, 0.25)
SOLVE = dict(rtol=1e-8, atol=1e-10, precision="float64")
DOSE = 500.0  # mg: Cc0 = 10 mg L-1 in V = 50 L, well above Km = 4 mg L-1 (elimination saturates)
ORAL_TIMES, ORAL_AMOUNTS = [0.0, 12.0], [DOSE, DOSE]

# name -> (Radau reference of the central amount, regimen, dose times, dose amounts, kinetic parameter names, linear module, its volume name)
MM = {
    "one_compartment_iv_mm": (
        oracles.one_compartment_iv_mm_central, vh.Regimen.bolus(DOSE, into="central"), [0.0], [DOSE], ("Vmax", "Km", "V"),
    ),
    "two_compartment_iv_mm": (
        oracles.two_compartment_iv_mm_central, vh.Regimen.bolus(DOSE, into="central"), [0.0], [DOSE], ("Vmax", "Km", "V1", "Q", "V2"),
    ),
    "two_compartment_oral_mm": (
        oracles.two_compartment_oral_mm_central, vh.Regimen.repeated(amount=DOSE, interval=12.0, count=2, into="depot"),
        ORAL_TIMES, ORAL_AMOUNTS, ("ka", "Vmax", "Km", "V1", "Q", "V2"),
    ),
}


def max_relative_error(value, ref, floor=1e-9):
    keep = ref > floor * ref.max()
    return (np.abs(value - ref)[keep] / ref[keep]).max()


def test_new_models_are_in_the_library_and_documented():
    names = vh.list_models()
    for name in MM:
        assert f"pharmacokinetics/{name}" in names
        model = vh.load_model(f"pharmacokinetics/{name}")
        assert model.name == f"pharmacokinetics/{name}" and not model.linear
        assert model.time_unit == "h" and model.unit_of("Cc") == "mg L-1" and model.unit_of("central") == "mg"
        assert model.unit_of("Vmax") == "mg h-1" and model.unit_of("Km") == "mg L-1"
        assert all(q.source for q in model.parameters) and model.reference
    oral = vh.load_model("pharmacokinetics/two_compartment_oral_mm")
    assert oral.dosable_states == ("depot", "central") and oral.lags() == {"depot": "ALAG"}


@pytest.mark.parametrize("name", sorted(MM))
def test_michaelis_menten_model_matches_scipy_radau(name):
    reference_central, regimen, dose_times, dose_amounts, kinetic = MM[name]
    model = vh.load_model(f"pharmacokinetics/{name}")
    p = model.default_parameters()
    ds = vh.simulate(model, params=p, times=TIMES, protocol=regimen, **SOLVE)
    assert int(ds["status"]) == vh.Status.SUCCESS
    ref = reference_central(TIMES, dose_times, dose_amounts, *(p[k] for k in kinetic), rtol=1e-10, atol=1e-12)
    assert max_relative_error(ds["central"].values, ref) < 1e-5
    volume = p.get("V", p.get("V1"))
    assert max_relative_error(ds["Cc"].values, ref / volume) < 1e-5
    assert ds["Cc"].values[0] == 0.0  # pre-dose value at the dose time
    # the comparison means something only if elimination saturates: the linear model at CL = Vmax / Km is far off
    linear = simulate_linear_limit(name, p, dose_times, dose_amounts)
    assert max_relative_error(linear, ref) > 0.3


def test_one_compartment_iv_mm_matches_the_integrated_michaelis_menten_equation():
    """After one bolus, Km ln(C0 / C) + (C0 - C) = Vmax t / V (Gibaldi & Perrier, ch. 7) at every output time."""
    model = vh.load_model("pharmacokinetics/one_compartment_iv_mm")
    p = model.default_parameters()
    ds = vh.simulate(model, params=p, times=TIMES, protocol=vh.Regimen.bolus(DOSE, into="central"), **SOLVE)
    c = ds["Cc"].values[1:]
    t = oracles.michaelis_menten_time_to_concentration(c, DOSE / p["V"], p["Vmax"], p["Km"], p["V"])
    np.testing.assert_allclose(t, TIMES[1:], rtol=1e-6)


def simulate_linear_limit(name, p, dose_times, dose_amounts):
    """Central amount of the linear library model at CL = Vmax / Km (its exact closed form)."""
    CL = p["Vmax"] / p["Km"]
    if name == "one_compartment_iv_mm":
        return oracles.one_compartment_iv_central(TIMES, dose_times, dose_amounts, CL, p["V"])
    if name == "two_compartment_iv_mm":
        return oracles.two_compartment_iv_central(TIMES, dose_times, dose_amounts, CL, p["V1"], p["Q"], p["V2"])
    return oracles.two_compartment_oral_central(
        TIMES, dose_times, dose_amounts, p["ka"], CL, p["V1"], p["Q"], p["V2"]
    )


@pytest.mark.parametrize("name", sorted(MM))
def test_michaelis_menten_model_is_linear_when_km_is_large(name):
    _, regimen, dose_times, dose_amounts, _ = MM[name]
    model = vh.load_model(f"pharmacokinetics/{name}")
    n = 3
    rng = np.random.default_rng(sorted(MM).index(name) + 3)
    p = {k: v * np.exp(rng.normal(0.0, 0.3, n)) for k, v in model.default_parameters().items() if k not in ("F", "ALAG")}
    CL = np.array([4.0, 5.0, 6.5])
    p["Km"] = np.full(n, 1e9)  # mg L-1, far above any concentration reached (about 10 mg L-1)
    p["Vmax"] = CL * p["Km"]
    assert np.allclose(oracles.michaelis_menten_linear_clearance(p["Vmax"], p["Km"]), CL)
    ds = vh.simulate(model, params=p, times=TIMES, protocol=regimen, **SOLVE)
    assert np.all(ds["status"].values == vh.Status.SUCCESS)
    col = {k: v[:, None] for k, v in p.items()}
    ref = simulate_linear_limit(name, col, dose_times, dose_amounts)
    assert max_relative_error(ds["central"].values, ref) < 1e-5


# -- transit_model(n) ----------------------------------------------------------------------------------------------
TRANSIT_P = {"MTT": 2.0, "ka": 1.3, "CL": 4.0, "V": 40.0}
TRANSIT_TIMES = np.linspace(0.0, 24.0, 49)


def transit_radau(n: int, p=TRANSIT_P, dose=100.0):
    """All states (depot, transit1..n, central) after one depot bolus, by scipy's Radau on the documented ODEs."""
    ktr = (n + 1) / p["MTT"]

    def f(_, y):
        d = np.empty_like(y)
        d[0] = -ktr * y[0]
        d[1:n] = ktr * (y[0:n - 1] - y[1:n])
        d[n] = ktr * y[n - 1] - p["ka"] * y[n]
        d[n + 1] = p["ka"] * y[n] - p["CL"] / p["V"] * y[n + 1]
        return d

    y0 = np.zeros(n + 2)
    y0[0] = dose
    return solve_ivp(f, (0.0, TRANSIT_TIMES[-1]), y0, method="Radau", t_eval=TRANSIT_TIMES, rtol=1e-10, atol=1e-12).y


@pytest.mark.parametrize("n", [1, 3, 7])
def test_transit_model_matches_scipy_radau_for_any_n(n):
    model = transit_model(n)
    assert model.state_names == ("depot", *(f"transit{i}" for i in range(1, n + 1)), "central")
    assert model.linear and model.name == f"one_compartment_transit_n{n}"
    assert model is transit_model(n)
    bolus = vh.Regimen.bolus(100.0, into="depot")
    ds = vh.simulate(model, params=TRANSIT_P, times=TRANSIT_TIMES, protocol=bolus, precision="float64")
    assert ds.attrs["solver"] == "exact" and ds.attrs["model"] == model.name
    ref = transit_radau(n)[:, 1:]  # after the dose (at 0 h the value is the one just before it: 0)
    for i, state in enumerate(model.state_names):
        assert ds[state].values[0] == 0.0 and max_relative_error(ds[state].values[1:], ref[i]) < 1e-5, state
    np.testing.assert_allclose(ds["Cc"].values[1:], ref[-1] / TRANSIT_P["V"], rtol=1e-6, atol=1e-10)
    # the exact (matrix exponential) path agrees with an adaptive Runge-Kutta solve
    rk = vh.simulate(model, params=TRANSIT_P, times=TRANSIT_TIMES, protocol=bolus, solver="tsit5", **SOLVE)
    assert rk.attrs["solver"] != "exact"
    assert max_relative_error(rk["central"].values, ds["central"].values) < 1e-6


def test_transit_model_with_three_compartments_is_the_library_model():
    library = vh.load_model("pharmacokinetics/one_compartment_transit")
    three = transit_model(3)
    assert library.state_names == three.state_names and library.parameter_names == three.parameter_names
    assert type(library) is not type(three) and library.name == "pharmacokinetics/one_compartment_transit"
    regimen = vh.Regimen.repeated(amount=100.0, interval=8.0, count=3, into="depot")
    for solver in ("auto", "tsit5"):
        a, b = (
            vh.simulate(m, params=TRANSIT_P, times=TRANSIT_TIMES, protocol=regimen, solver=solver, **SOLVE)
            for m in (library, three)
        )
        for state in (*library.state_names, "Cc"):
            np.testing.assert_allclose(b[state].values, a[state].values, rtol=1e-12, atol=1e-12)


def test_transit_models_with_different_n_are_distinct():
    one, five = transit_model(1), transit_model(5)
    assert one != five and one.name != five.name and one.source_hash() != five.source_hash()
    # the library lookup still finds only the three-compartment class in its module
    assert type(vh.load_model("pharmacokinetics/one_compartment_transit")).__name__ == "OneCompartmentTransit"


@pytest.mark.parametrize("bad", [0, -2, 2.0, 2.5, "3", None, True])
def test_transit_model_rejects_a_bad_number_of_compartments(bad):
    with pytest.raises(vh.InputError, match="n_transit"):
        transit_model(bad)
