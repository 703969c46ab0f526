"""The pharmacokinetic library against exact solutions: superposition closed forms for the linear models, scipy's
Radau solver and the linear limit for Michaelis--Menten elimination, and mass balance."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy.integrate import quad

import vhtwin as vh
from vhtwin.testing import pharmacokinetics as oracles

pytestmark = pytest.mark.slow

TIMES = np.arange(0.0, 72.5, 0.5)
N_PATIENTS = 6
TIGHT = dict(rtol=1e-10, atol=1e-12, precision="float64")

BOLUS_TIMES, BOLUS_AMOUNT = 12.0 * np.arange(4), 100.0  # boluses at 0, 12, 24, 36 h
INFUSION = (48.0, 2.0, 200.0)  # (start, duration, amount): 200 mg over 2 h from 48 h
ORAL_TIMES = 12.0 * np.arange(6)

IV = vh.Regimen.repeated(amount=BOLUS_AMOUNT, interval=12.0, count=4, into="central") + vh.Regimen.infusion(
    amount=INFUSION[2], into="central", duration=INFUSION[1], at=INFUSION[0]
)
ORAL = vh.Regimen.repeated(amount=BOLUS_AMOUNT, interval=12.0, count=6, into="depot")

# name -> (regimen, exact central amount (t, params with shape (n, 1)), clearance name, central volume name)
LINEAR = {
    "one_compartment_iv": (
        IV,
        lambda t, p: oracles.one_compartment_iv_central(
            t, BOLUS_TIMES, [BOLUS_AMOUNT] * 4, p["CL"], p["V"], infusions=[INFUSION]
        ),
        "V",
    ),
    "one_compartment_oral": (
        ORAL,
        lambda t, p: oracles.one_compartment_oral_central(t, ORAL_TIMES, [BOLUS_AMOUNT] * 6, p["ka"], p["CL"], p["V"]),
        "V",
    ),
    "two_compartment_iv": (
        IV,
        lambda t, p: oracles.two_compartment_iv_central(
            t, BOLUS_TIMES, [BOLUS_AMOUNT] * 4, p["CL"], p["V1"], p["Q"], p["V2"], infusions=[INFUSION]
        ),
        "V1",
    ),
    "three_compartment_iv": (
        IV,
        lambda t, p: oracles.three_compartment_iv_central(
            t, BOLUS_TIMES, [BOLUS_AMOUNT] * 4, *(p[k] for k in ("CL", "V1", "Q2", "V2", "Q3", "V3")), infusions=[INFUSION]
        ),
        "V1",
    ),
    "three_compartment_oral": (
        ORAL,
        lambda t, p: oracles.three_compartment_oral_central(
            t, ORAL_TIMES, [BOLUS_AMOUNT] * 6, *(p[k] for k in ("ka", "CL", "V1", "Q2", "V2", "Q3", "V3"))
        ),
        "V1",
    ),
}
NEW = sorted(LINEAR) + ["one_compartment_oral_mm"]


def patients(model: vh.Model, n: int, seed: int, sd: float = 0.3) -> dict[str, np.ndarray]:
    """Log-normal patients around the model's defaults (independent per parameter and patient).

    Dose modifiers (bioavailability F, lag ALAG) stay at their defaults: the closed forms here are for complete,
    immediate absorption (tests/protocols/test_dose_modifiers.py covers F and ALAG).
    """
    rng = np.random.default_rng(seed)
    return {
        k: v * np.exp(rng.normal(0.0, sd, n))
        for k, v in model.default_parameters().items() if k not in ("F", "ALAG")
    }


@lru_cache(maxsize=None)
def simulated(name: str):
    """One batch simulation per model, shared by the tests that read it."""
    model = vh.load_model(f"pharmacokinetics/{name}")
    p = patients(model, N_PATIENTS, seed=sorted(LINEAR).index(name) + 11)
    ds = vh.simulate(model, params=p, times=TIMES, protocol=LINEAR[name][0], **TIGHT)
    assert np.all(ds["status"].values == vh.Status.SUCCESS)
    return model, p, ds


def max_relative_error(value, ref, floor=1e-9):
    keep = ref > floor * ref.max()
    return (np.abs(value - ref)[keep] / ref[keep]).max()


def test_library_lists_the_models_and_describes_them():
    names = vh.list_models()
    for name in NEW:
        assert f"pharmacokinetics/{name}" in names
        model = vh.load_model(f"pharmacokinetics/{name}")
        text = model.describe()
        assert name in text and "Cc" in text and model.time_unit == "h"
        assert all(q.source for q in model.parameters)
        assert model.unit_of("Cc") == "mg L-1" and model.unit_of("central") == "mg"


def test_one_compartment_oral_declares_the_documented_interface():
    model = vh.load_model("pharmacokinetics/one_compartment_oral")
    assert model.state_names == ("depot", "central")
    assert model.dosable_states == ("depot", "central")
    assert {q: model.unit_of(q) for q in ("ka", "CL", "V")} == {"ka": "h-1", "CL": "L h-1", "V": "L"}


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_linear_model_matches_closed_form(name):
    model, p, ds = simulated(name)
    _, exact, volume = LINEAR[name]
    col = {k: v[:, None] for k, v in p.items()}
    ref = exact(TIMES, col)
    assert max_relative_error(ds["central"].values, ref) <= 1e-6
    assert max_relative_error(ds["Cc"].values, ref / col[volume]) <= 1e-6
    assert np.all(ds["Cc"].values[:, 0] == 0.0)  # pre-dose value at the first dose time


@pytest.mark.parametrize("name", sorted(LINEAR))
def test_linear_model_conserves_mass(name):
    """Amount in the body + amount eliminated (CL times the exact AUC of Cc) = amount given, at every output time."""
    model, p, ds = simulated(name)
    regimen, exact, volume = LINEAR[name]
    total = sum(ds[s].values for s in model.state_names)
    doses = regimen.doses
    given = sum(
        d.amount * (TIMES > d.time) if d.duration == 0 else d.amount * np.clip((TIMES - d.time) / d.duration, 0, 1)
        for d in doses
    )
    # Without input over (t_j, t_j+1] (no bolus at t_j <= time < t_j+1, no infusion running) the amount in the
    # body never rises.
    def receives(a, b, d):
        return a <= d.time < b if d.duration == 0 else d.time < b and d.time + d.duration > a

    quiet = ~np.array([any(receives(a, b, d) for d in doses) for a, b in zip(TIMES[:-1], TIMES[1:])])
    assert quiet.sum() > 100
    assert np.all(np.diff(total, axis=1)[:, quiet] <= 1e-9 * total.max())
    for b in range(2):
        one = {k: v[b] for k, v in p.items()}
        cc = lambda s: float(exact(np.asarray(s), one)) / one[volume]  # noqa: E731
        auc = np.cumsum([0.0] + [quad(cc, a, c, epsabs=1e-13, epsrel=1e-12)[0] for a, c in zip(TIMES[:-1], TIMES[1:])])
        np.testing.assert_allclose(total[b] + one["CL"] * auc, given, rtol=0, atol=1e-7 * given.max())


def test_michaelis_menten_matches_scipy_radau():
    model = vh.load_model("pharmacokinetics/one_compartment_oral_mm")
    p = model.default_parameters()
    regimen = vh.Regimen.repeated(amount=300.0, interval=12.0, count=6, into="depot")
    ds = vh.simulate(model, params=p, times=TIMES, protocol=regimen, **TIGHT)
    assert int(ds["status"]) == vh.Status.SUCCESS
    kinetic = {k: v for k, v in p.items() if k not in ("F", "ALAG")}  # complete, immediate absorption (defaults)
    ref = oracles.one_compartment_oral_mm_central(TIMES, ORAL_TIMES, [300.0] * 6, **kinetic)
    assert max_relative_error(ds["central"].values, ref) <= 1e-6
    # The test means something only if elimination saturates: the linear model at CL = Vmax / Km is far off.
    linear = oracles.one_compartment_oral_central(
        TIMES, ORAL_TIMES, [300.0] * 6, p["ka"], oracles.michaelis_menten_linear_clearance(p["Vmax"], p["Km"]), p["V"]
    )
    assert np.abs(linear - ref).max() > 0.2 * ref.max()


def test_michaelis_menten_is_linear_when_km_is_large():
    model = vh.load_model("pharmacokinetics/one_compartment_oral_mm")
    linear = patients(vh.load_model("pharmacokinetics/one_compartment_oral"), N_PATIENTS, seed=5)
    Km = np.full(N_PATIENTS, 1e9)  # mg L-1, far above any concentration reached (about 10 mg L-1)
    p = {"ka": linear["ka"], "Vmax": linear["CL"] * Km, "Km": Km, "V": linear["V"]}
    ds = vh.simulate(model, params=p, times=TIMES, protocol=ORAL, **TIGHT)
    assert np.all(ds["status"].values == vh.Status.SUCCESS)
    col = {k: v[:, None] for k, v in linear.items()}
    ref = oracles.one_compartment_oral_central(TIMES, ORAL_TIMES, [BOLUS_AMOUNT] * 6, col["ka"], col["CL"], col["V"])
    assert max_relative_error(ds["central"].values, ref) <= 1e-6


def test_transit_compartments_against_an_independent_solve():
    """The transit model (solved exactly) against scipy's Radau on the same equations, and its mass balance."""
    from scipy.integrate import solve_ivp

    model = vh.load_model("pharmacokinetics/one_compartment_transit")
    p = {"MTT": 2.0, "ka": 1.3, "CL": 4.0, "V": 40.0}
    times = np.linspace(0.0, 24.0, 49)
    ds = vh.simulate(model, params=p, times=times, protocol=vh.Regimen.bolus(100.0, into="depot"), precision="float64")
    assert ds.attrs["solver"] == "exact"
    ktr = 4.0 / p["MTT"]

    def f(t, y):
        d, a, b, c, x = y
        return [-ktr * d, ktr * (d - a), ktr * (a - b), ktr * b - p["ka"] * c, p["ka"] * c - p["CL"] / p["V"] * x]

    ref = solve_ivp(f, (0.0, 24.0), [100.0, 0, 0, 0, 0], method="Radau", t_eval=times, rtol=1e-12, atol=1e-12).y
    np.testing.assert_allclose(ds["central"].values, ref[4], rtol=1e-7, atol=1e-9)
    # a smooth onset: nothing reaches the central compartment at first, unlike plain first-order absorption
    assert ds["Cc"].values[1] < 0.05 * ds["Cc"].values.max()
    body = sum(ds[s].values for s in model.state_names)
    assert body[0] == 0.0 and np.all(np.diff(body[1:]) <= 1e-12)  # pre-dose 0; after the dose it only falls
