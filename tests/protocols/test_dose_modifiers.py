"""Bioavailability (F) and lag time (ALAG): compartment-level parameters applied to every dose into that state."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh
from vhtwin.testing.pharmacokinetics import one_compartment_oral_central as closed_form_central

pytestmark = pytest.mark.slow

T = np.linspace(0.0, 36.0, 73)
DOSES = (0.0, 12.0, 24.0)


@pytest.fixture(scope="module")
def model():
    return vh.load_model("pharmacokinetics/one_compartment_oral")


def exact(ka, CL, V, F):
    """Cc per patient (rows) for the three 100 mg depot doses, bioavailability F per patient."""
    return np.stack([sum(closed_form_central(T, [d], [100.0 * f], ka, CL, V) for d in DOSES) for f in F]) / V


@pytest.mark.parametrize("solver", ["auto", "tsit5"])
def test_bioavailability_scales_every_depot_dose(model, solver):
    reg = vh.Regimen(tuple(vh.Dose(t, 100.0, "depot") for t in DOSES))
    F = np.array([1.0, 0.5, 0.25])
    ds = vh.simulate(model, params={"F": F, "CL": 4.0}, times=T, protocol=reg, solver=solver, rtol=1e-10, atol=1e-12,
                     precision="float64")
    assert ds.attrs["solver"] == ("exact" if solver == "auto" else "tsit5")
    full = ds["Cc"].values[0]
    for b in (1, 2):
        np.testing.assert_allclose(ds["Cc"].values[b], F[b] * full, rtol=1e-8, atol=1e-12)
    ref = exact(1.0, 4.0, 50.0, F=F)
    np.testing.assert_allclose(ds["Cc"].values, ref, rtol=1e-7, atol=1e-12)


def test_bioavailability_does_not_touch_other_compartments(model):
    reg = vh.Regimen.bolus(100.0, into="central")
    a = vh.simulate(model, params={"F": 0.3}, times=T, protocol=reg, precision="float64")
    b = vh.simulate(model, params={"F": 1.0}, times=T, protocol=reg, precision="float64")
    np.testing.assert_array_equal(a["Cc"].values, b["Cc"].values)


def test_bioavailability_scales_infusion_rates(model):
    reg = vh.Regimen.infusion(100.0, into="depot", duration=2.0)
    half = vh.simulate(model, params={"F": 0.5}, times=T, protocol=reg, precision="float64", rtol=1e-10, atol=1e-12)
    full = vh.simulate(model, params={"F": 1.0}, times=T, protocol=reg, precision="float64", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(half["Cc"].values, 0.5 * full["Cc"].values, rtol=1e-8, atol=1e-13)


def test_lag_delays_every_depot_dose_per_patient(model):
    reg = vh.Regimen(tuple(vh.Dose(t, 100.0, "depot") for t in DOSES))
    lag = np.array([0.0, 0.75, 2.5])
    ds = vh.simulate(model, params={"ALAG": lag, "ka": 1.2}, times=T, protocol=reg, rtol=1e-10, atol=1e-12,
                     precision="float64")
    for b in range(3):
        ref = sum(closed_form_central(T, [d + lag[b]], [100.0], 1.2, 5.0, 50.0) for d in DOSES) / 50.0
        np.testing.assert_allclose(ds["Cc"].values[b], ref, rtol=1e-7, atol=1e-12)
    assert ds["Cc"].values[2, T <= 2.5].max() == 0.0  # nothing absorbed before the lag


def test_gradient_with_respect_to_bioavailability(model):
    reg = vh.Regimen.bolus(100.0, into="depot")
    sim = vh.Simulator(model, times=np.array([1.0, 4.0, 12.0]), protocol=reg, precision="float64")
    with jax.enable_x64(True):
        dF = jax.jacfwd(lambda f: sim({"F": f})["Cc"])(0.8)
        np.testing.assert_allclose(np.asarray(dF), np.asarray(sim({"F": 1.0})["Cc"]), rtol=1e-10)
    with pytest.raises(vh.InputError, match=r"parameter 'ALAG' is a dose lag"):
        sim({"ALAG": 1.0})


def test_modifier_declarations_are_checked():
    with pytest.raises(vh.ModelError, match=r"bioavailability parameter 'F1' is not declared"):
        type("Bad", (vh.Model,), {
            "time_unit": "h",
            "states": (vh.State("gut", "mg", dosable=True, bioavailability="F1"),),
            "parameters": (vh.Parameter("k", 1.0, "h-1"),),
            "rhs": lambda self, t, y, p: {"gut": -p.k * y.gut},
        })
    with pytest.raises(vh.ModelError, match=r"a lag parameter needs a dosable state"):
        type("Bad2", (vh.Model,), {
            "time_unit": "h",
            "states": (vh.State("gut", "mg", lag="k"),),
            "parameters": (vh.Parameter("k", 1.0, "h-1"),),
            "rhs": lambda self, t, y, p: {"gut": -p.k * y.gut},
        })


def test_doses_per_kilogram_use_each_patients_weight(model):
    per_kg = vh.Regimen.bolus(4.0, into="depot", per="WT")
    weights = np.array([50.0, 80.0])
    ds = vh.simulate(model, params={"CL": np.array([3.0, 3.0])}, times=T, protocol=per_kg,
                     covariates={"WT": weights}, precision="float64")
    absolute = vh.Regimen.bolus(np.array([200.0, 320.0]), into="depot")
    ref = vh.simulate(model, params={"CL": np.array([3.0, 3.0])}, times=T, protocol=absolute, precision="float64")
    np.testing.assert_allclose(ds["Cc"].values, ref["Cc"].values, rtol=1e-12)
    assert "per WT" in repr(per_kg)


def test_doses_per_kilogram_take_weight_from_a_population_draw(model):
    pop = vh.Population(model, typical={"CL": 3.0}, omega={"CL": 0.05},
                        covariates=vh.Covariates(WT=vh.LogNormal(median=70.0, cv=0.2, unit="kg")))
    draw = pop.sample(n=4, seed=3)
    ds = vh.simulate(model, params=draw, times=T, protocol=vh.Regimen.bolus(4.0, into="depot", per="WT"),
                     precision="float64")
    ref = vh.simulate(model, params=draw, times=T, protocol=vh.Regimen.bolus(4.0 * draw["WT"].values, into="depot"),
                      precision="float64")
    np.testing.assert_allclose(ds["Cc"].values, ref["Cc"].values, rtol=1e-12)


def test_a_missing_weight_is_refused(model):
    with pytest.raises(vh.InputError, match=r"is per 'WT', but no covariate 'WT' was given"):
        vh.simulate(model, times=T, protocol=vh.Regimen.bolus(4.0, into="depot", per="WT"))
