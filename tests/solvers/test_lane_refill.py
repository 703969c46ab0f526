"""Lane refill in the integration loop: a solve of more patients than the loop has lanes.

Every patient must get exactly the steps and values it gets with a lane of its own (bit for bit), whatever the number
of lanes, the order of the patients and the size of the batch -- with per-patient designs, steady-state starts,
inter-occasion variability, failing patients and derivatives -- and the loop must run fewer iterations than lockstep
batches of the same width would.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh
from vhtwin.engine import backend
from vhtwin.engine.run import layout
from vhtwin.simulate import prepare
from vhtwin.solvers import Events, LoopConfig, Outputs, Status, VectorField, get_solver, integrate

TOL = dict(rtol=1e-6, atol=1e-9)


@pytest.fixture(scope="module")
def model():
    return vh.load_model("pharmacokinetics/two_compartment_oral")


@pytest.fixture
def loop_lanes(monkeypatch):
    """Set the loop's lane count (the engine refills lanes when a device has more patients than this)."""
    return lambda w: monkeypatch.setattr(backend, "LOOP_LANES", w)


def cohort(n, seed=5):
    rng = np.random.default_rng(seed)
    typical = dict(ka=1.0, CL=5.0, V1=50.0, Q=10.0, V2=100.0)
    return {k: v * np.exp(rng.normal(0.0, 0.4, n)) for k, v in typical.items()}


def design(n):
    """Per-patient amounts, bioavailability and sampling times (some patients with fewer samples), an infusion."""
    protocol = (vh.Regimen.repeated(amount=np.linspace(50.0, 150.0, n), interval=8.0, count=5, into="depot")
                + vh.Regimen.infusion(200.0, into="central", duration=3.5, at=30.0))
    times = np.stack([np.linspace(0.0, 60.0, 31) + 0.29 * (i % 4) for i in range(n)])
    times[::3, -4:] = np.nan
    return protocol, times


def assert_bitwise(a, b, outputs=("Cc",)):
    for name in ("status", "n_steps", "n_rejected", *outputs):
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)


@pytest.mark.parametrize("solver, precision", [("tsit5", "float64"), ("tsit5", "float32"), ("rodas4", "float64")])
def test_each_patient_as_with_a_lane_of_its_own(model, loop_lanes, solver, precision):
    n = 90
    params = cohort(n) | {"F": np.linspace(0.5, 1.0, n)}
    protocol, times = design(n)
    run = lambda: vh.simulate(model, params=params, times=times, protocol=protocol, outputs=["Cc"], solver=solver,
                              precision=precision, devices=1, **TOL)
    loop_lanes(10**6)
    alone = run()
    for w in (8, 32):
        loop_lanes(w)
        pr = prepare(model, params, times=times, protocol=protocol, solver=solver, precision=precision, **TOL)
        assert layout(pr, 1).key.lanes == w  # the engine does refill lanes
        assert_bitwise(run(), alone)
    assert np.isnan(alone["Cc"].values[0, -1]) and np.all(np.isfinite(alone["Cc"].values[1]))


def test_independent_of_order_batch_size_and_devices(model, loop_lanes):
    params = cohort(120)
    reg = vh.Regimen.repeated(amount=100.0, interval=12.0, count=6, into="depot")
    loop_lanes(10**6)
    run = lambda p, d=1: vh.simulate(model, params=p, times=np.arange(0.0, 73.0), protocol=reg, outputs=["Cc"],
                                     devices=d, solver="tsit5", **TOL)
    alone = run(params)
    loop_lanes(8)
    order = np.arange(120)[::-1]
    reversed_ = run({k: v[order] for k, v in params.items()})
    for name in ("Cc", "n_steps", "n_rejected"):
        np.testing.assert_array_equal(reversed_[name].values[order], alone[name].values)
    assert_bitwise(run({k: v[:11] for k, v in params.items()}), alone.isel(patient=slice(0, 11)))
    assert_bitwise(run(params, d=2), alone)  # 60 patients per device, 8 lanes each


def test_steady_state_starts_and_occasions(model, loop_lanes):
    """State resets (a steady-state start) and parameters switched at occasions travel with the patient."""
    n = 40
    params = cohort(n)
    ss = vh.Regimen.repeated(amount=100.0, interval=12.0, count=4, into="depot", steady_state=True)
    iv = vh.load_model("pharmacokinetics/one_compartment_iv")
    cl = np.exp(np.random.default_rng(1).normal(np.log(5.0), 0.3, (n, 3)))
    runs = lambda: (
        vh.simulate(model, params=params, times=np.arange(0.0, 49.0), protocol=ss, outputs=["Cc"], devices=1,
                    solver="tsit5", **TOL),
        vh.simulate(iv, params={"CL": cl, "V": np.linspace(30.0, 70.0, n)}, times=np.arange(0.0, 72.0, 2.0),
                    protocol=vh.Regimen.repeated(100.0, 12.0, 6, into="central"), occasions=[0.0, 24.0, 48.0],
                    outputs=["Cc"], devices=1, solver="tsit5", **TOL),
    )
    loop_lanes(10**6)
    alone = runs()
    loop_lanes(8)
    for a, b in zip(runs(), alone):
        assert_bitwise(a, b)


def test_a_failing_patient_keeps_its_own_column(model, loop_lanes):
    """A patient stopped by the step limit is reported as such, with NaN outputs, in its own column; its lane goes
    on to the next patient."""
    n = 30
    params = cohort(n)
    params["ka"][[4, 17]] = 1e5  # stability-limited: far more explicit steps per output interval than allowed
    run = lambda: vh.simulate(model, params=params, times=np.arange(0.0, 25.0), outputs=["Cc"], devices=1,
                              protocol=vh.Regimen.repeated(100.0, 12.0, 2, into="depot"), solver="tsit5",
                              max_steps=400, **TOL)
    loop_lanes(10**6)
    alone = run()
    loop_lanes(8)
    refilled = run()
    assert_bitwise(refilled, alone)
    status = refilled["status"].values
    assert set(np.flatnonzero(status != 0)) == {4, 17}
    assert np.all(status[[4, 17]] == Status.MAX_STEPS)
    assert np.all(np.isnan(refilled["Cc"].values[[4, 17], 1:]))
    assert np.all(np.isfinite(np.delete(refilled["Cc"].values, [4, 17], axis=0)))


def test_derivatives_through_refilled_lanes(model, loop_lanes):
    n = 24
    params = cohort(n)
    reg = vh.Regimen.repeated(amount=100.0, interval=12.0, count=3, into="depot")

    def gradient():
        sim = vh.Simulator(model, times=np.arange(0.0, 37.0, 3.0), protocol=reg, solver="tsit5", n_patients=n,
                           precision="float64", **TOL)
        fixed = {k: jnp.asarray(v) for k, v in params.items() if k != "CL"}
        return np.asarray(jax.grad(lambda cl: sim(fixed | {"CL": cl})["Cc"].sum())(jnp.asarray(params["CL"])))

    with jax.enable_x64(True):
        loop_lanes(10**6)
        alone = gradient()
        loop_lanes(8)
        np.testing.assert_allclose(gradient(), alone, rtol=1e-12, atol=0)
    assert np.all(alone < 0)  # more clearance, less drug


def test_fewer_iterations_than_lockstep():
    """Decays with rates over three decades: lockstep batches run as long as their stiffest member; refilled lanes
    run about the mean, and each trajectory is the one it gets alone."""
    n, w = 256, 32
    rate = np.exp(np.random.default_rng(2).uniform(np.log(0.1), np.log(100.0), n))
    field = lambda p, u: VectorField(lambda t, y: (-p[0] * y[0],))
    events = Events(times=jnp.full((1, 1), jnp.inf), jumps=jnp.zeros((1, 1, 1)), inputs=jnp.zeros((1, 0, 1)),
                    initial_inputs=jnp.zeros((0, 1)))
    outputs = Outputs(jnp.linspace(0.0, 5.0, 11))
    solve = lambda p, lanes: integrate(
        field, p, get_solver("tsit5"), LoopConfig(max_steps=10_000), jnp.zeros(p.shape[1]), jnp.ones((1, p.shape[1])),
        jnp.full(p.shape[1], 5.0), events, outputs, jnp.full(p.shape[1], jnp.nan), jnp.zeros(p.shape[1]),
        jnp.full(p.shape[1], jnp.inf), jnp.array([1e-6]), jnp.array([1e-9]), lanes=lanes)
    with jax.enable_x64(True):
        p = jnp.asarray(rate)[None, :]
        refilled = jax.jit(lambda p: solve(p, w))(p)
        chunks = [jax.jit(lambda p: solve(p, None))(p[:, i:i + w]) for i in range(0, n, w)]
    lockstep = sum(int(c.iterations) for c in chunks)
    steps = np.asarray(refilled.n_steps + refilled.n_rejected)
    assert int(refilled.iterations) < 0.8 * lockstep
    assert int(refilled.iterations) >= steps.sum() / w  # no lane does two step attempts in one iteration
    for name in ("saved", "status", "n_steps", "n_rejected", "t_final", "y_final"):
        together = np.concatenate([np.asarray(getattr(c, name)) for c in chunks], axis=-1)
        np.testing.assert_array_equal(np.asarray(getattr(refilled, name)), together, err_msg=name)
    np.testing.assert_allclose(np.asarray(refilled.saved[0, -1]), np.exp(-5.0 * rate), rtol=1e-4, atol=1e-8)
