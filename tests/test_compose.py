"""``vhtwin.link``: PK models driving PD models, against the PK model alone, the PD equations and scipy.

PK outputs of a linked model must be those of the PK model alone, bit for bit: with the adaptive solver when the PD
model adds no states (direct effects), with a fixed step otherwise (extra states change an adaptive step sequence).
PD states are checked against scipy's DOP853 solve of the combined system at rtol 1e-10.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import vhtwin as vh
from vhtwin.compose import DirectEffect, link
from vhtwin.models.pharmacokinetics import pd_direct_emax, pd_sigmoid_emax

pytestmark = pytest.mark.slow

PK_NAME = "pharmacokinetics/one_compartment_oral"
PD_NAMES = (
    "pd_direct_emax", "pd_sigmoid_emax", "pd_effect_compartment",
    "pd_indirect_response_1", "pd_indirect_response_2", "pd_indirect_response_3", "pd_indirect_response_4",
)
DIRECT = ("pd_direct_emax", "pd_sigmoid_emax")
TIMES = np.arange(0.0, 36.5, 0.5)
DOSE_TIMES, DOSE = (0.0, 12.0, 24.0), 100.0
REGIMEN = vh.Regimen.repeated(amount=DOSE, interval=12.0, count=3, into="depot")
ADAPTIVE = dict(solver="tsit5")  # not "auto": the PK model alone may take the exact linear path
FIXED = dict(solver="rk4", dt0=0.005)  # on the output grid; ke0 * dt0 <= 0.1 keeps RK4 error far below 1e-6
PK_PATIENTS = {"ka": np.array([1.0, 0.7, 1.6, 1.2]), "CL": np.array([5.0, 3.0, 8.0, 4.0]), "V": np.array([50.0, 30.0, 70.0, 40.0])}
PD_PATIENTS = {
    "pd_direct_emax": {"E0": np.array([0.0, 5.0, -2.0, 1.0]), "Emax": np.array([100.0, 50.0, -30.0, 80.0]), "EC50": np.array([1.0, 0.5, 2.0, 0.8])},
    "pd_sigmoid_emax": {"E0": np.array([0.0, 5.0, -2.0, 1.0]), "Emax": np.array([100.0, 50.0, -30.0, 80.0]),
                        "EC50": np.array([1.0, 0.5, 2.0, 0.8]), "gamma": np.array([2.0, 0.7, 3.5, 1.0])},
    # the last patient equilibrates fast: Ce follows C
    "pd_effect_compartment": {"ke0": np.array([0.5, 0.2, 2.0, 20.0]), "EC50": np.array([1.0, 0.5, 2.0, 0.8]), "gamma": np.array([1.0, 2.0, 0.8, 1.5])},
    **{f"pd_indirect_response_{k}": {"kin": np.array([10.0, 5.0, 20.0, 8.0]), "kout": np.array([0.1, 0.05, 0.4, 0.2])} for k in (1, 2, 3, 4)},
}
PD_PATIENTS.update({
    name: {**PD_PATIENTS[name], "Imax": np.array([1.0, 0.5, 0.9, 0.3]), "IC50": np.array([1.0, 0.3, 2.0, 0.7])}
    for name in ("pd_indirect_response_1", "pd_indirect_response_2")
})
PD_PATIENTS.update({
    name: {**PD_PATIENTS[name], "Emax": np.array([1.0, 3.0, 0.5, 2.0]), "EC50": np.array([1.0, 0.3, 2.0, 0.7])}
    for name in ("pd_indirect_response_3", "pd_indirect_response_4")
})


def pd_model(name: str):
    if name == "pd_direct_emax":
        return pd_direct_emax.DirectEmax()
    if name == "pd_sigmoid_emax":
        return pd_sigmoid_emax.SigmoidEmax()
    return vh.load_model(f"pharmacokinetics/{name}")


def initial(name: str) -> dict:
    """Indirect responses start at their baseline kin / kout, per patient."""
    p = PD_PATIENTS[name]
    return {"R": p["kin"] / p["kout"]} if "kin" in p else {}


@lru_cache(maxsize=None)
def pk_alone(fixed: bool):
    return vh.simulate(vh.load_model(PK_NAME), PK_PATIENTS, times=TIMES, protocol=REGIMEN, **(FIXED if fixed else ADAPTIVE))


@lru_cache(maxsize=None)
def linked(name: str):
    model = link(vh.load_model(PK_NAME), pd_model(name))
    options = ADAPTIVE if name in DIRECT else FIXED
    return vh.simulate(model, {**PK_PATIENTS, **PD_PATIENTS[name]}, times=TIMES, protocol=REGIMEN, initial=initial(name), **options)


# -- scipy reference ------------------------------------------------------------------------------------------------
def pd_derivative(name: str, p: dict, C: float, x: float) -> float:
    if name == "pd_effect_compartment":
        return p["ke0"] * (C - x)
    kin, kout = p["kin"], p["kout"]
    if name in ("pd_indirect_response_1", "pd_indirect_response_2"):
        inhibition = 1.0 - p["Imax"] * C / (p["IC50"] + C)
        return kin * inhibition - kout * x if name.endswith("1") else kin - kout * inhibition * x
    stimulation = 1.0 + p["Emax"] * C / (p["EC50"] + C)
    return kin * stimulation - kout * x if name.endswith("3") else kin - kout * stimulation * x


def scipy_pd_state(name: str, patient: int) -> np.ndarray:
    """The PD state of one patient on TIMES (left limits at doses), by DOP853 on the combined system."""
    p = {k: v[patient] for k, v in {**PK_PATIENTS, **PD_PATIENTS[name]}.items()}
    x0 = p["kin"] / p["kout"] if "kin" in p else 0.0

    def f(t, z):
        depot, central, x = z
        C = central / p["V"]
        return [-p["ka"] * depot, p["ka"] * depot - p["CL"] / p["V"] * central, pd_derivative(name, p, C, x)]

    z, out = np.array([0.0, 0.0, x0]), np.full(TIMES.shape, np.nan)
    out[TIMES <= DOSE_TIMES[0]] = x0
    edges = (*DOSE_TIMES, TIMES[-1])
    for start, end in zip(edges[:-1], edges[1:]):
        z = z + np.array([DOSE, 0.0, 0.0])
        sol = solve_ivp(f, (start, end), z, method="DOP853", rtol=1e-10, atol=1e-12, dense_output=True)
        inside = (TIMES > start) & (TIMES <= end)
        out[inside] = sol.sol(TIMES[inside])[2]
        z = sol.y[:, -1]
    return out


# -- (a) PK unchanged, (b) direct effects --------------------------------------------------------------------------
@pytest.mark.parametrize("name", PD_NAMES)
def test_pk_outputs_are_those_of_the_pk_model_alone_bit_for_bit(name):
    ds, alone = linked(name), pk_alone(name not in DIRECT)
    assert (ds.status == 0).all()
    for var in ("Cc", "depot", "central"):
        np.testing.assert_array_equal(ds[var].values, alone[var].values, err_msg=var)


@pytest.mark.parametrize("name, module", [("pd_direct_emax", pd_direct_emax), ("pd_sigmoid_emax", pd_sigmoid_emax)])
def test_direct_effect_is_its_equation_of_the_concentration(name, module):
    ds, p = linked(name), PD_PATIENTS[name]
    expected = module.effect_of(ds.Cc.values, *(p[q.name][:, None] for q in pd_model(name).parameters))
    np.testing.assert_allclose(ds.E.values, expected, rtol=1e-13, atol=1e-12)
    assert ds.E.attrs["units"] == "1" and set(ds.data_vars) >= {"Cc", "E", "depot", "central"}


def test_linked_model_is_linear_only_when_the_pk_is_and_the_pd_adds_no_states():
    pk = vh.load_model(PK_NAME)
    assert getattr(link(pk, pd_model("pd_direct_emax")), "linear", False) == getattr(pk, "linear", False)
    assert not getattr(link(pk, pd_model("pd_effect_compartment")), "linear", False)


# -- (c) effect compartment, (d) indirect responses ----------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in PD_NAMES if n not in DIRECT])
def test_pd_state_matches_scipy_on_the_combined_system(name):
    ds = linked(name)
    state = "Ce" if name == "pd_effect_compartment" else "R"
    for patient in range(len(PK_PATIENTS["ka"])):
        np.testing.assert_allclose(ds[state].values[patient], scipy_pd_state(name, patient), rtol=1e-6, atol=1e-9)


def test_effect_compartment_follows_the_concentration_when_ke0_is_large():
    ds = linked("pd_effect_compartment")
    lag = np.abs(ds.Ce.values - ds.Cc.values).max(axis=1) / ds.Cc.values.max(axis=1)
    ke0 = PD_PATIENTS["pd_effect_compartment"]["ke0"]
    assert lag[np.argmax(ke0)] < 0.05 and lag[np.argmax(ke0)] < lag.min(initial=1.0, where=ke0 < ke0.max())
    p = {k: v[3] for k, v in PD_PATIENTS["pd_effect_compartment"].items()}
    Ce = ds.Ce.values[3]
    expected = 0.0 + 100.0 * Ce ** p["gamma"] / (p["EC50"] ** p["gamma"] + Ce ** p["gamma"])
    np.testing.assert_allclose(ds.E.values[3], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, direction", [("pd_indirect_response_1", -1), ("pd_indirect_response_2", 1),
                                             ("pd_indirect_response_3", 1), ("pd_indirect_response_4", -1)])
def test_indirect_response_moves_the_response_the_expected_way(name, direction):
    R, baseline = linked(name).R.values, initial(name)["R"][:, None]
    change = direction * (R - baseline)
    assert (change >= -1e-9 * baseline).all() and (change[:, TIMES > 0] > 0).all()


# -- (e) errors name the culprit -----------------------------------------------------------------------------------
def direct(name="Probe", time_unit="h", parameters=(vh.Parameter("EC50", 1.0, "mg L-1", positive=True),), **extra):
    body = {
        "time_unit": time_unit,
        "parameters": parameters,
        "inputs": (vh.Input("C", "mg L-1"),),
        "effects": (vh.Observable("occupancy", "1"),),
        "effect": lambda self, t, y, p, u: {"occupancy": u.C / (p[self.parameters[0].name] + u.C)},
    }
    body.update(extra)
    return type(name, (DirectEffect,), body)


def test_errors_name_the_culprit():
    pk = vh.load_model(PK_NAME)
    with pytest.raises(vh.ModelError, match=r"parameters \['V'\] are declared by both .*one_compartment_oral and Clash"):
        link(pk, direct("Clash", parameters=(vh.Parameter("V", 1.0, "mg L-1", positive=True),))())
    with pytest.raises(vh.ModelError, match=r"concentration 'Cp' is not an observable of .*one_compartment_oral; its observables are \['Cc'\]"):
        link(pk, direct()(), concentration="Cp")
    with pytest.raises(vh.ModelError, match=r"time units differ: .*one_compartment_oral is in 'h', Minutes in 'min'"):
        link(pk, direct("Minutes", time_unit="min")())
    with pytest.raises(vh.ModelError, match=r"gives 'Cc' in 'mg L-1' but Micro expects 'C' in 'ug L-1'"):
        link(pk, direct("Micro", inputs=(vh.Input("C", "ug L-1"),))())
    with pytest.raises(vh.ModelError, match=r"direct effect Bare does not implement effect"):
        direct("Bare", effect=DirectEffect.effect)
    with pytest.raises(vh.ModelError, match=r"direct effect TwoInputs must declare exactly one input, 'C'"):
        direct("TwoInputs", inputs=(vh.Input("C", "mg L-1"), vh.Input("D", "mg L-1")))
    with pytest.raises(vh.InputError, match=r"pd must be a vhtwin.Model or vhtwin.DirectEffect"):
        link(pk, "pharmacokinetics/pd_direct_emax")


class Binding(vh.Model):
    """A PD model whose state name clashes with the PK's and whose effect needs the input."""

    time_unit = "h"
    states = (vh.State("central", "mg L-1"),)
    parameters = (vh.Parameter("kon", 2.0, "h-1", positive=True), vh.Parameter("KD", 0.5, "mg L-1", positive=True))
    inputs = (vh.Input("C", "mg L-1"),)
    effects = (vh.Observable("free_fraction", "1"),)

    def rhs(self, t, y, p, u):
        return {"central": p.kon * (u.C - y.central)}

    def effect(self, t, y, p, u):
        return {"free_fraction": p.KD / (p.KD + u.C)}


def test_clashing_pd_state_is_renamed_and_effects_see_the_concentration():
    pk = vh.load_model(PK_NAME)
    model = link(pk, Binding())
    assert model.state_names == ("depot", "central", "pd_central") and model.dosable_states == ("depot", "central")
    assert model.observable_names == ("Cc", "free_fraction") and model == link(pk, Binding())
    ds = vh.simulate(model, times=TIMES, protocol=REGIMEN)
    np.testing.assert_allclose(ds.free_fraction.values, 0.5 / (0.5 + ds.Cc.values), rtol=1e-13)
    assert ds.pd_central.values[-1] > 0

    class Stubborn(Binding):
        states = (vh.State("central", "mg L-1"),)
        parameters = Binding.parameters + (vh.Parameter("pd_central", 1.0, "1"),)

    with pytest.raises(vh.ModelError, match=r"'central' is already a name in .*the renamed 'pd_central' is taken too"):
        link(pk, Stubborn())


# -- (f) the library --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PD_NAMES)
def test_pd_models_are_in_the_library_and_load(name):
    assert f"pharmacokinetics/{name}" in vh.list_models()
    model = vh.load_model(f"pharmacokinetics/{name}")
    assert model.time_unit == "h" and "C" in [i.name for i in model.inputs] and model.reference
    assert link(vh.load_model(PK_NAME), model).name == f"{PK_NAME}+pharmacokinetics/{name}"
