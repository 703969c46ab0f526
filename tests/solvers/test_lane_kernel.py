"""The per-lane GPU kernel (``solver="tsit5_kernel"``), run in Pallas' interpret mode on CPU.

Its results must be the integration loop's (same steps, same values to rounding, the same accuracy against the exact
solution), independent of how many patients share a batch and in which order, over one device or several; what it
does not do is refused in one sentence before any compute; and it must lower to a Triton kernel for a GPU (checked by
lowering for CUDA on this machine, which needs no GPU).
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh
from vhtwin.errors import InputError
from vhtwin.simulate import prepare
from vhtwin.testing.pharmacokinetics import two_compartment_oral_central

TIMES = np.arange(0.0, 97.0, 1.0)
TOL = dict(rtol=1e-6, atol=1e-9, precision="float64")


@pytest.fixture(scope="module")
def model():
    return vh.load_model("pharmacokinetics/two_compartment_oral")


def cohort(n, seed=3):
    rng = np.random.default_rng(seed)
    typical = dict(ka=1.0, CL=5.0, V1=50.0, Q=10.0, V2=100.0)
    return {k: v * np.exp(rng.normal(0.0, 0.3, n)) for k, v in typical.items()}


def regimen():
    return vh.Regimen.repeated(amount=100.0, interval=12.0, count=8, into="depot")


def both(model, params, **kwargs):
    options = dict(times=TIMES, protocol=regimen(), outputs=["Cc"], **TOL) | kwargs
    return (vh.simulate(model, params=params, solver="tsit5", **options),
            vh.simulate(model, params=params, solver="tsit5_kernel", **options))


def assert_same(loop, kernel):
    assert kernel.attrs["solver"] == "tsit5_kernel"
    np.testing.assert_array_equal(kernel["status"].values, loop["status"].values)
    np.testing.assert_array_equal(kernel["n_steps"].values, loop["n_steps"].values)
    np.testing.assert_array_equal(kernel["n_rejected"].values, loop["n_rejected"].values)
    np.testing.assert_allclose(kernel["Cc"].values, loop["Cc"].values, rtol=1e-12, atol=1e-15)


def test_same_steps_and_values_as_the_loop(model):
    params = cohort(37)  # not a whole number of kernel blocks: padded lanes must not leak into the results
    loop, kernel = both(model, params)
    assert_same(loop, kernel)
    # and the same accuracy against the exact solution
    col = {k: v[:, None] for k, v in params.items()}
    exact = two_compartment_oral_central(TIMES, np.arange(8) * 12.0, np.full(8, 100.0), col["ka"], col["CL"],
                                         col["V1"], col["Q"], col["V2"]) / col["V1"]
    err = lambda ds: np.max(np.abs(ds["Cc"].values - exact) / np.maximum(exact, 1e-6))
    assert err(kernel) < 2e-5
    assert err(kernel) == pytest.approx(err(loop), rel=1e-6)


def test_per_patient_design(model):
    """Per-lane event tables (per-patient amounts, bioavailability), per-lane output times and an infusion."""
    n = 9
    params = cohort(n) | {"F": np.linspace(0.5, 1.0, n)}
    amounts = np.linspace(50.0, 150.0, n)
    protocol = (vh.Regimen.repeated(amount=amounts, interval=8.0, count=4, into="depot")
                + vh.Regimen.infusion(200.0, into="central", duration=3.5, at=30.0))
    times = np.stack([np.linspace(0.0, 48.0, 25) + 0.37 * (i % 3) for i in range(n)])
    times[::2, -3:] = np.nan  # fewer samples for some patients
    loop, kernel = both(model, params, protocol=protocol, times=times)
    assert_same(loop, kernel)
    assert np.isnan(kernel["Cc"].values[0, -1]) and np.isfinite(kernel["Cc"].values[1, -1])


def test_independent_of_batch_size_and_order(model):
    params = cohort(70)
    run = lambda p: vh.simulate(model, params=p, times=TIMES, protocol=regimen(), outputs=["Cc"],
                                solver="tsit5_kernel", devices=1, **TOL)["Cc"].values
    full = run(params)
    first = run({k: v[:5] for k, v in params.items()})
    order = np.arange(70)[::-1]
    reversed_ = run({k: v[order] for k, v in params.items()})
    np.testing.assert_array_equal(first, full[:5])
    np.testing.assert_array_equal(reversed_[order], full)


def test_split_over_devices_is_bitwise_equal(model):
    assert len(jax.local_devices()) >= 2  # the test session exposes two CPU devices (tests/conftest.py)
    params = cohort(160)
    run = lambda d: vh.simulate(model, params=params, times=TIMES, protocol=regimen(), outputs=["Cc"],
                                solver="tsit5_kernel", devices=d, **TOL)
    one, two = run(1), run(2)
    np.testing.assert_array_equal(two["Cc"].values, one["Cc"].values)
    np.testing.assert_array_equal(two["n_steps"].values, one["n_steps"].values)


def test_float32(model):
    loop, kernel = both(model, cohort(12), precision="float32")
    assert kernel["Cc"].dtype == np.float32
    np.testing.assert_allclose(kernel["Cc"].values, loop["Cc"].values, rtol=1e-4, atol=1e-6)


def test_refuses_what_it_does_not_do(model):
    with pytest.raises(InputError, match="tsit5_kernel.*steady state"):
        vh.simulate(model, params=cohort(2), times=TIMES, solver="tsit5_kernel",
                    protocol=vh.Regimen.repeated(100.0, 12.0, 3, into="depot", steady_state=True))
    iv = vh.load_model("pharmacokinetics/one_compartment_iv")
    with pytest.raises(InputError, match="tsit5_kernel.*occasion"):
        vh.simulate(iv, params={"CL": [[5.0, 6.0]], "V": 50.0}, times=TIMES, solver="tsit5_kernel",
                    protocol=vh.Regimen.bolus(100.0, into="central"), occasions=[0.0, 24.0])
    sim = vh.Simulator(model, times=TIMES, protocol=regimen(), solver="tsit5_kernel", n_patients=2, **TOL)
    value = sim({"CL": jnp.array([5.0, 6.0])})["Cc"]  # solving through a Simulator works ...
    assert np.all(np.isfinite(np.asarray(value)))
    with pytest.raises(InputError, match="no derivatives.*tsit5"):  # ... differentiating does not
        jax.grad(lambda cl: sim({"CL": cl})["Cc"].sum())(jnp.array([5.0, 6.0]))


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_lowers_to_a_triton_kernel(model, precision, monkeypatch):
    """Lowered for CUDA (no GPU needed to lower), the solve is one Triton kernel call inside the program."""
    from vhtwin.solvers import lane_kernel

    engine = importlib.import_module("vhtwin.engine.run")
    pr = prepare(model, cohort(64), times=TIMES, protocol=regimen(), outputs=["Cc"], solver="tsit5_kernel",
                 precision=precision, rtol=1e-6, atol=1e-9)
    lay = engine.layout(pr, 1)
    lanes, shared = engine.host_design(pr, 1)
    dtype = np.float64 if precision == "float64" else np.float32
    p = np.asarray(np.broadcast_to(pr.params, (pr.params.shape[0], lay.total)), dtype)
    y0 = np.asarray(np.broadcast_to(pr.y0, (pr.y0.shape[0], lay.total)), dtype)
    monkeypatch.setattr(lane_kernel, "on_gpu", lambda: True)  # compile for the GPU, not the interpreter
    kernel_program = importlib.import_module("vhtwin.engine.kernel").program
    kernel_program.cache_clear()
    try:
        with jax.enable_x64(precision == "float64"):
            text = kernel_program(lay.key).trace(p, y0, lanes, shared).lower(lowering_platforms=("cuda",)).as_text()
    finally:
        kernel_program.cache_clear()
    assert text.count("xla.gpu.triton") == 1
    assert "vhtwin_lane_kernel" in text


def test_gpu_default_precision(monkeypatch):
    """float32 is the default on GPUs unless the tolerance asked for is below float32's reach."""
    validation = importlib.import_module("vhtwin.validation")
    monkeypatch.setattr(validation.jax, "default_backend", lambda: "gpu")
    assert validation.default_precision() == "float32"
    assert validation.default_precision(1e-6) == "float32"
    assert validation.default_precision(1e-8) == "float64"
    assert validation.check_precision("float64", 1e-3) == "float64"
    monkeypatch.setattr(validation.jax, "default_backend", lambda: "cpu")
    assert validation.default_precision(1e-3) == "float64"


@pytest.mark.slow
def test_every_library_ode_model_lowers_to_a_triton_kernel(monkeypatch):
    """Every operation of every ODE model of the library has a Triton lowering (float32, 64 patients)."""
    from vhtwin.model import Model
    from vhtwin.solvers import lane_kernel

    engine = importlib.import_module("vhtwin.engine.run")
    kernel_program = importlib.import_module("vhtwin.engine.kernel").program
    monkeypatch.setattr(lane_kernel, "on_gpu", lambda: True)
    models = [m for m in map(vh.load_model, vh.list_models()) if isinstance(m, Model)]
    assert len(models) >= 20
    kernel_program.cache_clear()
    try:
        for m in models:
            pr = prepare(m, None, n_patients=64, times=np.linspace(0.0, 10.0, 11), solver="tsit5_kernel",
                         precision="float32")
            lay = engine.layout(pr, 1)
            lanes, shared = engine.host_design(pr, 1)
            p = np.asarray(np.broadcast_to(pr.params, (pr.params.shape[0], lay.total)), np.float32)
            y0 = np.asarray(np.broadcast_to(pr.y0, (pr.y0.shape[0], lay.total)), np.float32)
            lowered = kernel_program(lay.key).trace(p, y0, lanes, shared).lower(lowering_platforms=("cuda",))
            assert lowered.as_text().count("xla.gpu.triton") == 1, m.name
    finally:
        kernel_program.cache_clear()


def test_lane_refill_changes_nothing(model, monkeypatch):
    """Lanes that take the next waiting patient (a queue of several patients per lane) give bit for bit what one
    patient per lane gives, in order, for every patient -- the queue's last patients included."""
    from vhtwin.solvers import lane_kernel

    kernel_program = importlib.import_module("vhtwin.engine.kernel").program
    params = cohort(100)  # 100 of 128 lanes, 3 queues of 32: padded patients at the end of the last queue
    run = lambda: vh.simulate(model, params=params, times=TIMES, protocol=regimen(), outputs=["Cc"],
                              solver="tsit5_kernel", devices=1, **TOL)
    one = run()
    monkeypatch.setattr(lane_kernel, "PROGRAMS", 1)  # as few programs as possible: long queues
    assert lane_kernel.default_depth(100, lane_kernel.BLOCK) == 3
    kernel_program.cache_clear()
    try:
        queued = run()
    finally:
        kernel_program.cache_clear()
    for name in ("Cc", "n_steps", "n_rejected", "status"):
        np.testing.assert_array_equal(queued[name].values, one[name].values, err_msg=name)
