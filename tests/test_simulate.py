"""simulate(): the reference call against the exact solution, shapes, units, precision, per-patient times."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.equations import equations
from vhtwin.testing.pharmacokinetics import two_compartment_oral_central

from .helpers import TYPICAL, Decay, cohort

pytestmark = pytest.mark.slow

DOSE_TIMES = 12.0 * np.arange(14)
TIMES = np.arange(169.0)


@pytest.fixture(scope="module")
def model():
    return vh.load_model("pharmacokinetics/two_compartment_oral")


@pytest.fixture(scope="module")
def regimen():
    return vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot")


def exact_cc(p, times=TIMES):
    args = [np.asarray(p[k])[..., None] for k in ("ka", "CL", "V1", "Q", "V2")]
    return two_compartment_oral_central(times, DOSE_TIMES, [100.0] * 14, *args) / args[2]


@pytest.mark.parametrize("solver", ["tsit5", "auto"])  # "auto" is the exact matrix-exponential path here
def test_reference_call_matches_closed_form(model, regimen, solver):
    p = cohort(300, seed=7)
    ds = vh.simulate(model, params=p, times=TIMES, protocol=regimen, rtol=1e-8, atol=1e-10, precision="float64",
                     solver=solver)
    assert ds.attrs["solver"] == ("exact" if solver == "auto" else solver)
    assert ds["Cc"].dims == ("patient", "time")
    assert ds["status"].dims == ("patient",)
    assert ds["Cc"].attrs["units"] == "mg L-1"
    assert np.all(ds["status"].values == vh.Status.SUCCESS)
    ref = exact_cc(p)
    positive = ref > 0
    rel = np.abs(ds["Cc"].values - ref)[positive] / ref[positive]
    assert rel.max() <= 1e-6, rel.max()
    # The output at t = 0 is the pre-dose value (the first dose is at t = 0).
    assert np.all(ds["Cc"].values[:, 0] == 0.0)


@pytest.mark.parametrize("solver, bound", [("tsit5", 1e-5), ("exact", 2e-4)])
def test_float32_is_accurate_to_its_resolution(model, regimen, solver, bound):
    """Float32: the ODE path is limited by its tolerance; the exact path by the rounding it accumulates over the
    168 hourly propagations (each a float32 matrix product)."""
    p = cohort(64, seed=3)
    ds = vh.simulate(model, params=p, times=TIMES, protocol=regimen, rtol=1e-6, atol=1e-9, precision="float32",
                     solver=solver)
    assert ds["Cc"].dtype == np.float32
    ref = exact_cc(p)
    rel = np.abs(ds["Cc"].values - ref)[ref > 1e-3] / ref[ref > 1e-3]
    assert rel.max() < bound


def test_single_patient_has_no_patient_dim(model, regimen):
    ds = vh.simulate(model, params={"CL": 4.0}, times=TIMES, protocol=regimen, precision="float64")
    assert ds["Cc"].dims == ("time",)
    assert int(ds["status"]) == vh.Status.SUCCESS
    assert ds.attrs["solver"] == "exact"  # a linear model on a shared grid: solved exactly
    for state in ("depot", "central", "peripheral"):
        assert ds[state].attrs["units"] == "mg"
    assert ds["time"].attrs["units"] == "h"


def test_scalars_are_shared_across_a_batch(model, regimen):
    n = 5
    p = {"ka": np.linspace(0.5, 2.0, n), "CL": 4.0}
    ds = vh.simulate(model, params=p, times=TIMES, protocol=regimen, rtol=1e-9, atol=1e-12, precision="float64")
    full = {**{k: np.full(n, v) for k, v in {"CL": 4.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}.items()}, "ka": p["ka"]}
    np.testing.assert_allclose(ds["Cc"].values, exact_cc(full), rtol=1e-6, atol=1e-12)


def test_per_patient_output_times_are_padded(model, regimen):
    p = cohort(3, seed=1)
    times = np.full((3, 5), np.nan)
    times[0, :3] = [0.5, 7.25, 30.0]
    times[1, :5] = [1.0, 2.0, 3.0, 100.0, 168.0]
    times[2, :2] = [12.0, 13.0]
    ds = vh.simulate(model, params=p, times=times, protocol=regimen, rtol=1e-9, atol=1e-12, precision="float64")
    assert ds["Cc"].dims == ("patient", "obs")
    values = ds["Cc"].values
    for b in range(3):
        valid = ~np.isnan(times[b])
        ref = exact_cc({k: v[b] for k, v in p.items()}, times[b, valid])
        np.testing.assert_allclose(values[b, valid], ref, rtol=1e-6)
        assert np.all(np.isnan(values[b, ~valid]))


def test_infusion_matches_closed_form():
    m = Decay()
    k, rate, start, duration = 0.3, 20.0, 1.0, 2.0
    reg = vh.Regimen.infusion(amount=rate * duration, into="amount", duration=duration, at=start)
    t = np.linspace(0.0, 10.0, 41)
    ds = vh.simulate(m, params={"k": k}, times=t, protocol=reg, rtol=1e-10, atol=1e-12, precision="float64")
    during = rate / k * (1 - np.exp(-k * np.clip(t - start, 0, duration)))
    exact = np.where(t <= start + duration, during, during * np.exp(-k * (t - start - duration)))
    np.testing.assert_allclose(ds["remaining"].values, exact, rtol=1e-8, atol=1e-12)


def test_multi_device_split_equals_single_device(model, regimen):
    """Splitting a batch over devices changes nothing (the test session runs with 2 CPU devices)."""
    import jax

    from vhtwin.simulate import prepare, run

    if len(jax.local_devices()) < 2:
        pytest.skip("needs 2 local devices (set JAX_NUM_CPU_DEVICES=2)")
    pr = prepare(model, cohort(257, seed=2), times=TIMES, protocol=regimen, precision="float64", solver="tsit5")
    with jax.enable_x64(True):
        one = [np.asarray(x) for x in run(pr, n_devices=1)]
        two = [np.asarray(x) for x in run(pr, n_devices=2)]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_rk4_and_tsit5_agree(model, regimen):
    p = cohort(8, seed=4)
    a = vh.simulate(model, params=p, times=TIMES, protocol=regimen, rtol=1e-9, atol=1e-12, precision="float64")
    b = vh.simulate(model, params=p, times=TIMES, protocol=regimen, solver="rk4", dt0=0.01, precision="float64")
    assert b.attrs["solver"] == "rk4"
    np.testing.assert_allclose(a["Cc"].values, b["Cc"].values, rtol=1e-6, atol=1e-9)


def test_outputs_selects_variables_and_saves_only_what_they_need(model, regimen):
    from vhtwin.simulate import prepare

    p = cohort(4, seed=5)
    full = vh.simulate(model, params=p, times=TIMES, protocol=regimen, precision="float64")
    only = vh.simulate(model, params=p, times=TIMES, protocol=regimen, precision="float64", outputs=["Cc"])
    assert set(only.data_vars) == {"Cc", "status", "n_steps", "n_rejected"}
    np.testing.assert_array_equal(only["Cc"].values, full["Cc"].values)
    assert equations(model).observable_dependencies() == {"Cc": ("central",)}
    assert prepare(model, p, times=TIMES, outputs=["Cc"]).saved_states == ("central",)
    assert prepare(model, p, times=TIMES, outputs=["peripheral", "Cc"]).saved_states == ("central", "peripheral")
    with pytest.raises(vh.InputError, match=r"unknown output 'AUC'"):
        vh.simulate(model, params=p, times=TIMES, outputs=["AUC"])


def test_exact_path_handles_infusions():
    """The exact path with a bolus and an infusion (a piecewise-constant input) against the closed form and the ODE."""
    from vhtwin.testing.pharmacokinetics import one_compartment_iv_central

    m = vh.load_model("pharmacokinetics/one_compartment_iv")
    reg = vh.Regimen.bolus(100.0, into="central") + vh.Regimen.infusion(200.0, into="central", duration=2.0, at=5.0)
    t = np.linspace(0.0, 24.0, 49)
    p = {"CL": np.array([2.0, 5.0]), "V": np.array([20.0, 40.0])}
    ds = vh.simulate(m, params=p, times=t, protocol=reg, precision="float64")
    assert ds.attrs["solver"] == "exact"
    exact = one_compartment_iv_central(t, [0.0], [100.0], p["CL"][:, None], p["V"][:, None], infusions=[(5.0, 2.0, 200.0)])
    np.testing.assert_allclose(ds["central"].values, exact, rtol=1e-10, atol=1e-12)
    ode = vh.simulate(m, params=p, times=t, protocol=reg, precision="float64", solver="tsit5", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ds["central"].values, ode["central"].values, rtol=1e-8, atol=1e-10)


def test_exact_path_takes_per_patient_times_and_refuses_what_it_cannot_do(model, regimen):
    """Each patient's own output grid is solved exactly (its own merged grid); a model that is not linear is not."""
    per_patient_times = np.array([[0.0, 1.0, 2.5, 12.0, 30.0], [0.5, 3.0, 24.0, np.nan, np.nan]])
    p = {**{k: np.full(2, v) for k, v in TYPICAL.items()}, "CL": np.array([1.0, 7.0])}
    ds = vh.simulate(model, params=p, times=per_patient_times, protocol=regimen, precision="float64")
    assert ds.attrs["solver"] == "exact"
    for b in range(2):
        t = per_patient_times[b][~np.isnan(per_patient_times[b])]
        ref = exact_cc({k: v[b] for k, v in p.items()}, t)
        np.testing.assert_allclose(ds["Cc"].values[b, : len(t)], ref, rtol=1e-10, atol=1e-13)
    assert np.isnan(ds["Cc"].values[1, 3:]).all()

    class NotDeclaredLinear(vh.Model):
        time_unit = "h"
        states = (vh.State("x", "mg", dosable=True),)
        parameters = (vh.Parameter("k", 0.1, "h-1", positive=True),)

        def rhs(self, t, y, p):
            return {"x": -p.k * y.x}

    with pytest.raises(vh.InputError, match="solver 'exact' does not apply: model NotDeclaredLinear does not declare"):
        vh.simulate(NotDeclaredLinear(), times=np.arange(3.0), solver="exact")


def test_false_linear_claim_is_refused():
    class NotLinear(vh.Model):
        time_unit = "h"
        linear = True
        states = (vh.State("x", "mg", initial=1.0),)
        parameters = (vh.Parameter("k", 0.1, "h-1", positive=True),)

        def rhs(self, t, y, p):
            return {"x": -p.k * y.x**2}

    with pytest.raises(vh.ModelError, match="declares linear = True, but its rhs is not affine"):
        vh.simulate(NotLinear(), times=np.arange(3.0))


def test_chunked_batches_equal_one_batch(model, regimen, monkeypatch):
    """A batch run in fixed-width chunks (large cohorts) gives bit-for-bit the same patients."""
    import sys

    p = cohort(300, seed=9)
    whole = vh.simulate(model, params=p, times=TIMES, protocol=regimen, solver="tsit5", precision="float64")
    monkeypatch.setattr(sys.modules["vhtwin.engine.backend"], "LANES_PER_DEVICE", 64)
    chunked = vh.simulate(model, params=p, times=TIMES, protocol=regimen, solver="tsit5", precision="float64")
    np.testing.assert_array_equal(chunked["Cc"].values, whole["Cc"].values)
    np.testing.assert_array_equal(chunked["n_steps"].values, whole["n_steps"].values)
