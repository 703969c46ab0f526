"""State-triggered events: located on each trajectory's dense output, applied exactly at the crossing, with delays,
priorities, persistence and initial values, inside the batched loop (with and without lane refill)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh

LOG2 = np.log(2.0)


class Refill(vh.Model):
    """A store that decays and is refilled to 1 whenever it falls to ``low`` (a sawtooth with a known period)."""

    time_unit = "h"
    states = (vh.State("x", "mg", 1.0, dosable=True),)
    parameters = (vh.Parameter("k", 0.3, "h-1", positive=True), vh.Parameter("low", 0.5, "mg"))
    observed = (vh.Observable("level", "mg"),)
    events = (vh.Event("refill", description="refilled to 1 mg when the store falls to low"),)

    def rhs(self, t, y, p):
        return {"x": -p.k * y.x}

    def observables(self, t, y, p):
        return {"level": y.x}

    def event_triggers(self, t, y, p):
        return {"refill": p.low - y.x}

    def event_assignments(self, name, t, y, p):
        return {"x": 1.0}


def sawtooth(t, k, low=0.5):
    period = np.log(1.0 / low) / k
    return np.exp(-k * np.mod(t, period))


TIMES = np.linspace(0.0, 10.0, 101)


def test_each_patient_is_refilled_at_its_own_crossing():
    k = np.array([0.3, 0.5, 0.7, 1.3])
    ds = vh.simulate(Refill(), params={"k": k}, times=TIMES, rtol=1e-10, atol=1e-12)
    assert (ds["status"].values == 0).all()
    for i, ki in enumerate(k):
        np.testing.assert_allclose(ds["level"].values[i], sawtooth(TIMES, ki), rtol=0, atol=1e-8)
    # an output at the crossing is the value just before the event (as at a dose)
    at = vh.simulate(Refill(), times=[0.0, LOG2 / 0.5], params={"k": 0.5}, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(at["level"].values[-1], 0.5, atol=1e-8)


def test_a_threshold_redose_adds_to_the_scheduled_doses():
    class Redose(Refill):
        def event_assignments(self, name, t, y, p):
            return {"x": y.x + 0.5}

    # a scheduled dose at 1 h (1 mg) and a top-up of 0.5 mg whenever the level falls to 0.5 mg
    ds = vh.simulate(Redose(), params={"k": 0.5}, times=TIMES, protocol=vh.Regimen.bolus(1.0, at=1.0, into="x"),
                     rtol=1e-10, atol=1e-12)
    k = 0.5
    t_dose = 1.0
    after = np.exp(-k * t_dose) + 1.0  # just after the dose
    first = t_dose + np.log(after / 0.5) / k  # then falls to 0.5, topped up to 1.0, period ln 2 / k
    expected = np.where(TIMES <= t_dose, np.exp(-k * TIMES),
                        np.where(TIMES <= first, after * np.exp(-k * (TIMES - t_dose)),
                                 sawtooth(TIMES - first, k)))
    np.testing.assert_allclose(ds["level"].values, expected, atol=1e-8)


class Timer(vh.Model):
    """Events on time and on each other: ``first`` at t = 1 sets a flag that triggers ``second`` at once; ``late``
    is delayed by ``d`` after x falls below 0.5 (``kept`` too, its value computed when it triggered); ``start`` fires at t0 (its trigger is true there and its initial
    value false); ``a`` and ``b`` trigger together at t = 3 and run by priority."""

    time_unit = "h"
    states = (vh.State("x", "1", 1.0), vh.State("flag", "1"), vh.State("seen", "1"), vh.State("late_at", "1"),
              vh.State("order", "1"), vh.State("started", "1"), vh.State("x_at_trigger", "1"))
    parameters = (vh.Parameter("d", 0.7, "h", positive=True),)
    events = (vh.Event("first"), vh.Event("second"), vh.Event("late", delayed=True, values_at_trigger=False), vh.Event("kept", delayed=True),
              vh.Event("start", initial_value=False),
              vh.Event("a", priority=1.0, values_at_trigger=False), vh.Event("b", priority=2.0))

    def rhs(self, t, y, p):
        return {"x": -0.5 * y.x, "flag": 0.0, "seen": 0.0, "late_at": 0.0, "order": 0.0, "started": 0.0, "x_at_trigger": 0.0}

    def event_triggers(self, t, y, p):
        return {"first": t - 1.0, "second": y.flag - 0.5, "late": 0.5 - y.x, "kept": 0.5 - y.x, "start": 1.0,
                "a": t - 3.0, "b": t - 3.0}

    def event_assignments(self, name, t, y, p):
        return {"first": {"flag": 1.0}, "second": {"seen": t}, "late": {"late_at": t}, "kept": {"x_at_trigger": y.x},
                "start": {"started": 1.0},
                # the order they ran in, read back from the digits: a then b gives 12, b then a gives 21
                "a": {"order": 10.0 * y.order + 1.0}, "b": {"order": 10.0 * y.order + 2.0}}[name]

    def event_delay(self, name, t, y, p):
        return p.d


def test_cascades_delays_priorities_and_initial_values():
    ds = vh.simulate(Timer(), params={"d": [0.7, 0.2]}, times=[0.0, 0.5, 5.0], rtol=1e-10, atol=1e-12)
    assert (ds["status"].values == 0).all()
    end = ds.isel(time=-1)
    np.testing.assert_allclose(end["seen"].values, 1.0, atol=1e-12)  # cascaded at the same time
    # executed the delay after x fell to 0.5: values computed then, or when it triggered
    np.testing.assert_allclose(end["late_at"].values, 2 * LOG2 + np.array([0.7, 0.2]), atol=1e-9)
    np.testing.assert_allclose(end["x_at_trigger"].values, 0.5, atol=1e-9)
    # b (priority 2) first; a, waiting for it, computes its value when it runs (values_at_trigger=False)
    np.testing.assert_array_equal(end["order"].values, [21.0, 21.0])
    # an event firing at the start is part of the initial state (as SBML has it): the output at t0 shows it
    np.testing.assert_array_equal(ds["started"].values, [[1.0] * 3] * 2)


def test_a_delayed_event_triggered_while_pending_stops_its_trajectory_only():
    class Overflow(Refill):
        events = (vh.Event("refill", delayed=True),)

        def event_delay(self, name, t, y, p):
            return 100.0

        def event_triggers(self, t, y, p):  # a sine's upward crossings, every 2 pi: sooner than the delay
            return {"refill": jnp.sin(t + p.low)}

    # low = 4: sin(t + 4) turns positive at 2 pi - 4 ~ 2.28 h and every 2 pi after; low = 0.5 (positive at the
    # start, so no trigger then) at 5.78 h and every 2 pi after. Eight executions may wait: the ninth trigger (at
    # 52.5 h and 56.0 h) overflows
    ds = vh.simulate(Overflow(), params={"low": [4.0, 0.5]}, times=np.linspace(0, 50.0, 5))
    assert (ds["status"].values == 0).all()
    long = vh.simulate(Overflow(), params={"low": [4.0, 0.5]}, times=np.linspace(0, 60.0, 5))
    assert (long["status"].values == int(vh.Status.EVENT_OVERFLOW)).all()
    assert np.isnan(long["level"].values[:, -1]).all()


def test_results_do_not_depend_on_lane_refill():
    """The loop with fewer lanes than trajectories (a queue) gives each trajectory the same steps and values."""
    import jax

    with jax.enable_x64(True):
        _compare_lane_refill()


def _compare_lane_refill():
    from vhtwin.engine.ode import state_events
    from vhtwin.equations import equations
    from vhtwin.solvers import Events, LoopConfig, Outputs, Tsit5, VectorField, integrate

    import jax

    model = Timer()
    row_rhs = jax.vmap(equations(model).row_rhs, in_axes=(0, 0, 0, 0))
    field = lambda p, u: VectorField(lambda t, y: row_rhs(t, tuple(y), tuple(p[i] for i in range(p.shape[0])),
                                                          tuple(u[i] for i in range(u.shape[0]))))
    N, n = 40, len(model.states)
    p = jnp.asarray(np.linspace(0.1, 1.5, N)[None])
    y0 = jnp.asarray(np.tile(np.array([1.0, 0, 0, 0, 0, 0, 0])[:, None], (1, N)))
    events = Events(jnp.full((1, 1), jnp.inf), jnp.zeros((1, n, 1)), jnp.zeros((1, 0, 1)), jnp.zeros((0, 1)))
    outputs = Outputs(jnp.asarray([0.0, 1.0, 2.5, 5.0]))
    args = (field, p, Tsit5(), LoopConfig(max_steps=10_000), jnp.zeros(N), y0, jnp.full(N, 5.0), events, outputs,
            jnp.full(N, jnp.nan), jnp.full(N, 0.0), jnp.full(N, jnp.inf), jnp.full(n, 1e-9), jnp.full(n, 1e-12))
    whole = integrate(*args, triggers=state_events(model))
    queued = integrate(*args, triggers=state_events(model), lanes=8)
    assert whole.saved.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(whole.saved), np.asarray(queued.saved))
    np.testing.assert_array_equal(np.asarray(whole.n_steps), np.asarray(queued.n_steps))
    np.testing.assert_allclose(np.asarray(whole.saved)[3, -1], 2 * LOG2 + np.linspace(0.1, 1.5, N), atol=1e-8)


def test_declarations_are_checked():
    with pytest.raises(vh.ModelError, match="event_triggers"):
        class NoTrigger(vh.Model):
            states = (vh.State("x", "1"),)
            events = (vh.Event("e"),)

            def rhs(self, t, y, p):
                return {"x": 0.0}
    with pytest.raises(vh.ModelError, match="event_delay"):
        class NoDelay(Refill):
            events = (vh.Event("refill", delayed=True),)
    with pytest.raises(vh.ModelError, match="priority"):
        class BadPriority(Refill):
            events = (vh.Event("refill", priority=float("nan")),)


def test_fast_solvers_that_cannot_run_events_say_so():
    with pytest.raises(vh.InputError, match="state-triggered events"):
        vh.simulate(Refill(), times=TIMES, solver="tsit5_kernel")
    class LinearRefill(Refill):
        linear = True

    with pytest.raises(vh.InputError, match="state-triggered events"):
        vh.simulate(LinearRefill(), times=TIMES, solver="exact")
    # "auto" on a linear model with events keeps the integration loop
    auto = vh.simulate(LinearRefill(), times=TIMES, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(auto["level"].values, sawtooth(TIMES, 0.3), atol=1e-8)


def test_derivatives_see_the_event_move():
    """The refill time ln(1/low)/k moves with k: the derivative through the solve (vh.Simulator, as calibration
    uses it) includes that shift (implicit function theorem at the crossing), matching central differences."""
    import jax

    with jax.enable_x64(True):
        sim = vh.Simulator(Refill(), times=np.linspace(0.0, 10.0, 41), rtol=1e-10, atol=1e-12, precision="float64")
        total = lambda p: sim(p)["level"].sum()
        grad = float(jax.grad(total)({"k": 0.5, "low": 0.5})["k"])
        step = 1e-6
        central = (float(total({"k": 0.5 + step, "low": 0.5})) - float(total({"k": 0.5 - step, "low": 0.5}))) / (2 * step)
        # with the event time held fixed the derivative would be about -17.6 instead of about -149
        np.testing.assert_allclose(grad, central, rtol=1e-6)
        grad_low = float(jax.grad(total)({"k": 0.5, "low": 0.5})["low"])
        central_low = (float(total({"k": 0.5, "low": 0.5 + step}))
                       - float(total({"k": 0.5, "low": 0.5 - step}))) / (2 * step)
        np.testing.assert_allclose(grad_low, central_low, rtol=1e-6)


def test_a_new_patient_compiles_nothing():
    vh.simulate(Refill(), params={"k": 0.3}, times=TIMES)
    before = vh.compilation_count()
    again = vh.simulate(Refill(), params={"k": 0.9, "low": 0.2}, times=TIMES)
    assert vh.compilation_count() == before
    np.testing.assert_allclose(again["level"].values.reshape(-1), sawtooth(TIMES, 0.9, low=0.2), atol=1e-5)
