"""ten Tusscher & Panfilov 2006 (``cardio/tentusscher2006``): one 1 Hz beat per cell type against Myokit's numbers,
an independent scipy LSODA solve, the Rush--Larsen path, and a batch that mixes cell types.

Reference numbers (``MYOKIT``): Myokit 1.39.2 (CVODE, rtol 1e-8, atol 1e-10, max step 0.01 ms, logged every
0.01 ms) running the source file ``c/tentusscher-2006.mmt`` of the public myokit/models repository (version
20240904, whose equations are those of the CellML version) with ``cell.type`` 0/1/2 and the stimulus amplitude set
back to the original -52 A F-1 for 1 ms at t = 0 (that file's own protocol uses 2 x -47 A F-1 for 0.5 ms). APD90
there and here: from the time of maximal dV/dt to 90 % repolarisation towards V(0), by linear interpolation.
This implementation reproduced Myokit's V(t) to 0.011 mV at every 0.01 ms over the whole beat, in every cell type.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import vhtwin as vh
from vhtwin.equations import equations

pytestmark = pytest.mark.slow

NAME = "cardio/tentusscher2006"
CELLTYPES = np.array([0.0, 1.0, 2.0])  # endo, epi, M
#: cell type -> (V at t = 999.5 ms in mV, APD90 in ms), first beat from the initial state (module docstring)
MYOKIT = {0: (-85.4773, 291.10), 1: (-85.4767, 290.17), 2: (-85.4576, 378.34)}
#: fine around the upstroke (max dV/dt), 0.5 ms during the plateau and repolarisation
TIMES = np.concatenate([np.arange(0.0, 20.0, 0.02), np.arange(20.0, 1000.0, 0.5)])
PACING = vh.Pacing(period=1000.0, duration=1.0, count=1)
TIGHT = dict(rtol=1e-8, atol=1e-10, precision="float64")


def apd90(t, V):
    """(time of the upstroke = max dV/dt, APD90): 90 % repolarisation from the peak towards V(t0), interpolated."""
    t, V = np.asarray(t), np.asarray(V)
    i = int(np.argmax(np.diff(V) / np.diff(t)))
    t_up = 0.5 * (t[i] + t[i + 1])
    peak = int(np.argmax(V))
    v90 = V[peak] - 0.9 * (V[peak] - V[0])
    k = peak + int(np.argmax(V[peak:] < v90))
    assert k > peak, "no repolarisation"
    t90 = t[k - 1] + (v90 - V[k - 1]) * (t[k] - t[k - 1]) / (V[k] - V[k - 1])
    return t_up, t90 - t_up


@pytest.fixture(scope="module")
def model():
    return vh.load_model(NAME)


@pytest.fixture(scope="module")
def mixed(model):
    """One beat of a batch endo, epi, M by Rodas4 at tight tolerance (shared by several tests)."""
    return vh.simulate(model, params={"celltype": CELLTYPES}, times=TIMES, protocol=PACING, solver="rodas4", **TIGHT)


def test_declarations(model):
    assert NAME in vh.list_models()
    assert len(model.states) == 19 and model.time_unit == "ms" and model.stiff
    assert model.state_names[0] == "V" and model.unit_of("V") == "mV" and model.unit_of("Ca_i") == "mM"
    assert set(model.gate_states) == {"m", "h", "j", "Xr1", "Xr2", "Xs", "r", "s", "d", "f", "f2", "fCass"}
    (stim,) = model.inputs
    assert stim.name == "i_stim" and stim.stimulus == -52.0
    assert {"g_Na", "g_CaL", "g_Kr", "g_Ks", "g_K1", "g_to", "K_NaCa", "celltype"} <= set(model.parameter_names)
    assert all(q.source for q in model.parameters) and model.reference
    init = model.default_initial()
    assert (init["V"], init["Ca_i"], init["Ca_SR"], init["Na_i"], init["K_i"]) == (-85.23, 1.26e-4, 3.64, 8.604, 136.89)


@pytest.fixture(scope="module")
def flat(model):
    """The model's rhs on flat float64 arrays, f(t, y, celltype, i_stim), and its Jacobian in y; jitted once."""
    defaults = model.default_parameters()
    names = model.parameter_names
    at = names.index("celltype")

    def f(t, y, celltype, i_stim):
        p = jnp.asarray([defaults[n] for n in names]).at[at].set(celltype)
        return jnp.stack(equations(model).row_rhs(t, y, p, jnp.stack([i_stim])))

    with jax.enable_x64(True):
        fun, jac = jax.jit(f), jax.jit(jax.jacfwd(f, argnums=1))

    def call(g):
        def run(t, y, celltype, i_stim):
            with jax.enable_x64(True):
                return np.asarray(g(float(t), np.asarray(y, np.float64), float(celltype), float(i_stim)))
        return run

    return call(fun), call(jac)


@pytest.mark.parametrize("celltype", [0.0, 1.0, 2.0])
def test_gates_fit_the_rush_larsen_contract(model, flat, celltype):
    """Each gate's derivative is (inf - g)/tau: linear in itself with slope -1/tau < 0, inf in [0, 1], and free of
    every other gate (the one-JVP assumption of the Rush--Larsen solver)."""
    gates = [model.state_names.index(g) for g in model.gate_states]
    y0 = np.array([s.initial for s in model.states])
    fun, jac = flat
    for V in (-85.23, -40.0, 15.0, 30.0):  # rest, the INa branch point, ICaL's 0/0 point, plateau
        y = y0.copy()
        y[0] = V
        J, fy = jac(0.0, y, celltype, 0.0), fun(0.0, y, celltype, 0.0)
        assert np.isfinite(J).all() and np.isfinite(fy).all()
        block = J[np.ix_(gates, gates)]
        assert np.count_nonzero(block - np.diag(np.diag(block))) == 0
        slope = np.diag(block)
        assert (slope < 0).all()
        inf = y0[gates] - fy[gates] / slope  # g + tau f = inf
        assert ((inf >= 0) & (inf <= 1 + 1e-12)).all()


def test_one_beat_rest_and_apd90_per_cell_type_match_the_source(mixed):
    assert (mixed["status"].values == 0).all()
    for lane, celltype in enumerate(CELLTYPES.astype(int)):
        V = mixed["V"].values[lane]
        rest, apd = MYOKIT[celltype]
        t_up, got = apd90(TIMES, V)
        assert 0.0 < t_up < 2.0 and V.max() > 30.0  # the stimulus fires an AP with an overshoot
        assert abs(V[-1] - rest) < 0.05 and abs(V[-1] - (-85.23)) < 1.0
        assert abs(got - apd) < 0.5, (celltype, got, apd)
    # the expected order of magnitude, epicardial APD90 about 300 ms at 1 Hz, within 10 % (Myokit and here: 290 ms)
    assert abs(apd90(TIMES, mixed["V"].values[1])[1] - 300.0) < 30.0


def test_cell_type_ordering_and_mixed_batch_equals_per_type_runs(model, mixed):
    apds = [apd90(TIMES, mixed["V"].values[k])[1] for k in range(3)]
    assert apds[2] > apds[0] > apds[1]  # M > endo > epi (endo exceeds epi by about 1 ms only; see MYOKIT)
    assert apds[2] - apds[0] > 50.0
    for lane, celltype in enumerate(CELLTYPES):
        alone = vh.simulate(model, params={"celltype": np.full(3, celltype)}, times=TIMES, protocol=PACING,
                            solver="rodas4", **TIGHT)
        for name in ("V", "Ca_i", "Cai", "I_ion"):
            np.testing.assert_allclose(mixed[name].values[lane], alone[name].values[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(mixed["Cai"].values, mixed["Ca_i"].values)


def scipy_beat(flat, celltype, times, stim=-52.0, duration=1.0, rtol=1e-8, atol=1e-10):
    """One beat by scipy's LSODA on the model's own rhs (the ``flat`` wrapper), restarted at the stimulus edges."""
    fun, jac = flat
    y = np.array([s.initial for s in vh.load_model(NAME).states])
    out = np.full(times.size, np.nan)
    for (a, b), amp in (((0.0, duration), stim), ((duration, times[-1]), 0.0)):
        inside = (times >= a) & ((times < b) | (b == times[-1]))
        sol = solve_ivp(fun, (a, b), y, method="LSODA", t_eval=times[inside], jac=jac, args=(celltype, amp),
                        rtol=rtol, atol=atol, dense_output=True)
        assert sol.success
        out[inside] = sol.y[0]
        y = sol.sol(b)
    return out


@pytest.mark.slow
def test_matches_an_independent_scipy_lsoda_solve(flat, mixed):
    ref = scipy_beat(flat, 1.0, TIMES)
    err = np.abs(mixed["V"].values[1] - ref)
    assert err.max() < 0.5, err.max()
    assert abs(apd90(TIMES, ref)[1] - MYOKIT[1][1]) < 0.5


@pytest.mark.slow
def test_rush_larsen_agrees_with_rodas4(model, mixed):
    keep = TIMES <= 600.0  # every cell type has repolarised by then
    times = TIMES[keep]
    rl = vh.simulate(model, params={"celltype": CELLTYPES}, times=times, protocol=PACING, solver="rush_larsen",
                     dt0=0.01, max_steps=100_000, precision="float64")
    assert (rl["status"].values == 0).all()
    away = times > 5.0  # outside the upstroke
    for lane in range(3):
        a, b = rl["V"].values[lane], mixed["V"].values[lane][keep]
        assert abs(apd90(times, a)[1] - apd90(times, b)[1]) < 1.0
        assert np.abs(a - b)[away].max() < 1.0  # measured 0.47 mV (endo), 0.21 mV (epi, M)
