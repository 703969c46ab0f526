"""O'Hara--Rudy 2011 (ORd) ventricular myocyte: action potentials per cell type, an independent scipy solve, the
Rush--Larsen path, and mixed-type batches.

Targets: O'Hara et al. 2011 (PLoS Comput Biol 7:e1002061) report a resting potential near -88 mV and, at 1 Hz, an
endocardial APD90 of about 270 ms, with epicardial cells shorter and M cells longer (their Fig. 1 and the transmural
figures). One beat from the authors' initial state (their endocardial quasi steady state at 1 Hz) is enough for
these checks. Compiling the 41-state model dominates the runtime, so every rodas4 solve here shares one batch shape
(three lanes) and one output-grid length, and compiles once.
"""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.equations import equations

pytestmark = pytest.mark.slow

MODEL = "cardio/ohara_rudy2011"
TYPES = np.array([0.0, 1.0, 2.0])  # endo, epi, M
# One 1 Hz beat: 0.01 ms through the upstroke (max dV/dt), 0.5 ms after it. A coarser grid is also cheaper: the
# solver shortens any step that would cover more than a couple of output points.
TIMES = np.concatenate([np.arange(0.0, 5.0, 0.01), np.arange(5.0, 1000.0, 0.5)])
TOL = dict(rtol=1e-8, atol=1e-10)
PACING = vh.Pacing(period=1000.0, duration=0.5, count=1)


def apd90(t, v):
    """APD90 (ms): from the time of max dV/dt to the last downward crossing of 90 % repolarisation.

    The amplitude is taken from the potential before the stimulus (``v[0]``) to the peak; both crossing times are
    linearly interpolated on the output grid.
    """
    t, v = np.asarray(t, float), np.asarray(v, float)
    dvdt = np.diff(v) / np.diff(t)
    k = int(np.argmax(dvdt))
    t_up = 0.5 * (t[k] + t[k + 1])
    rest, peak = v[0], v.max()
    level = peak - 0.9 * (peak - rest)
    i_peak = int(np.argmax(v))
    below = np.nonzero(v[i_peak:] < level)[0]
    assert below.size, "no repolarisation to 90 % within the window"
    i = i_peak + below[0]
    t_cross = t[i - 1] + (level - v[i - 1]) * (t[i] - t[i - 1]) / (v[i] - v[i - 1])
    return t_cross - t_up


@pytest.fixture(scope="module")
def model():
    return vh.load_model(MODEL)


@pytest.fixture(scope="module")
def beat(model):
    """One beat of each cell type, rodas4 at rtol 1e-8 (the reference solve of this module)."""
    ds = vh.simulate(model, params={"celltype": TYPES}, times=TIMES, protocol=PACING, solver="rodas4",
                     max_steps=200_000, **TOL)
    assert (ds["status"].values == 0).all()
    return ds


def test_declarations(model):
    assert len(model.states) == 41
    assert model.time_unit == "ms" and model.stiff
    assert model.inputs[0].name == "i_stim" and model.inputs[0].stimulus == -80.0
    gates = set(model.gate_states)
    assert len(gates) == 28 and not gates & {"V", "nca", "Jrelnp", "Jrelp", "CaMKt", "cai", "nai", "ki"}


def test_action_potentials_by_cell_type(beat):
    t = beat["time"].values
    v = beat["V"].values
    apd = [apd90(t, v[i]) for i in range(3)]
    endo, epi, mid = apd
    # rest -88 mV (initial state -87.84 mV) before and after the beat; full upstroke
    assert np.all(np.abs(v[:, 0] + 88.0) < 1.0) and np.all(np.abs(v[:, -1] + 88.0) < 1.0)
    assert np.all(v.max(axis=1) > 30.0)
    assert abs(endo - 270.0) < 27.0, apd  # published ~270 ms at 1 Hz, +-10 %
    assert epi < endo < mid, apd
    # Ca2+ transient: rises from the diastolic ~1e-4 mM several-fold
    cai = beat["Cai"].values
    assert np.all(cai.max(axis=1) > 3.0 * cai[:, 0])


def _scipy_beat(model, celltype, t_eval):
    """One beat by scipy's LSODA at rtol 1e-8, atol 1e-10, on a numpy wrapper of the model's rhs (independent of
    the vhtwin solvers and event loop); the solve restarts at the stimulus edges 0 and 0.5 ms."""
    import jax
    import jax.numpy as jnp
    from scipy.integrate import solve_ivp

    jax.config.update("jax_enable_x64", True)
    p = jnp.asarray([celltype if q.name == "celltype" else q.default for q in model.parameters], jnp.float64)

    def f(t, y, stim):
        return jnp.stack(equations(model).row_rhs(t, y, p, jnp.asarray([stim])))

    fj = jax.jit(f)
    jac = jax.jit(jax.jacfwd(f, argnums=1))
    y = np.array([s.initial for s in model.states])
    options = dict(method="LSODA", rtol=1e-8, atol=1e-10)
    on = solve_ivp(lambda t, y: np.asarray(fj(t, y, -80.0)), (0.0, 0.5), y, jac=lambda t, y: np.asarray(jac(t, y, -80.0)),
                   t_eval=np.append(t_eval[t_eval < 0.5], 0.5), **options)
    off = solve_ivp(lambda t, y: np.asarray(fj(t, y, 0.0)), (0.5, t_eval[-1]), on.y[:, -1],
                    jac=lambda t, y: np.asarray(jac(t, y, 0.0)), t_eval=t_eval[t_eval >= 0.5], **options)
    assert on.success and off.success, (on.message, off.message)
    out = [on.y[:, :-1], off.y]
    return np.concatenate(out, axis=1)


@pytest.mark.slow
def test_matches_scipy_lsoda(model, beat):
    """Endo beat: vhtwin rodas4 vs scipy LSODA, both at rtol 1e-8: V within 0.5 mV away from the upstroke
    (where a sub-step shift in timing dominates), APD90 within 1 ms, Cai within 1 %."""
    t = beat["time"].values
    ref = _scipy_beat(model, 0.0, t)
    v_ref, v = ref[0], beat["V"].values[0]
    away = (t > 5.0)
    assert np.max(np.abs(v[away] - v_ref[away])) < 0.5
    assert abs(apd90(t, v) - apd90(t, v_ref)) < 1.0
    cai_ref = ref[[s.name for s in model.states].index("cai")]
    assert np.max(np.abs(beat["Cai"].values[0] - cai_ref)) < 0.01 * cai_ref.max()


@pytest.mark.slow
def test_rush_larsen_agrees_with_rodas4(model, beat):
    """Rush--Larsen (gates exponential, the rest forward Euler) at dt 0.01 ms: APD90 within 2 ms of rodas4."""
    t = beat["time"].values
    ds = vh.simulate(model, params={"celltype": TYPES}, times=TIMES, protocol=PACING, solver="rush_larsen",
                     dt0=0.01, max_steps=200_000)
    assert (ds["status"].values == 0).all()
    for i in range(3):
        ref, got = apd90(t, beat["V"].values[i]), apd90(t, ds["V"].values[i])
        assert abs(got - ref) < 2.0, (i, got, ref)
    assert np.max(np.abs(ds["V"].values[:, -1] - beat["V"].values[:, -1])) < 0.5


def test_mixed_batch_equals_single_type_runs(model, beat):
    """A batch mixing endo, epi and M equals runs of one cell type each (same batch shape: one compile)."""
    for i, ct in enumerate(TYPES):
        alone = vh.simulate(model, params={"celltype": np.full(3, ct)}, times=TIMES, protocol=PACING,
                            solver="rodas4", max_steps=200_000, **TOL)
        np.testing.assert_allclose(alone["V"].values[0], beat["V"].values[i], rtol=0, atol=1e-6)
        np.testing.assert_allclose(alone["Cai"].values[0], beat["Cai"].values[i], rtol=1e-6, atol=1e-12)
