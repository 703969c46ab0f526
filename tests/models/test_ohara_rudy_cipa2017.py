"""ORd-CiPA v1 2017 (``cardio/ohara_rudy_cipa2017``) without drug against an independent reference -- the Chaste
CellML encoding of the same model (tests/data/cellml/chaste/ohara_rudy_cipa_v1_2017.cellml, a file nobody here
wrote) run by Myokit's own CellML import and CVODE in the same test -- and drug block by the Hill equation on the
right currents.

Protocol (the FDA CiPA code's): -80 uA/uF for 0.5 ms every 2000 ms, from the FDA's control steady state at that
cycle length (the model's initial state). The bar is APD90 and qNet within 1 % after pacing; they agree to about
1e-6. The imported CellML file has the same right-hand side as this model at states anywhere around a beat
(tests/exchange/test_cellml.py, with dofetilide bound); pacing the import too was checked when the model was
written (V within 1e-5 mV over a beat) and is left out of the suite for the minute its compilation takes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import vhtwin as vh
from vhtwin import analysis

CELLML = Path(__file__).resolve().parents[1] / "data" / "cellml" / "chaste" / "ohara_rudy_cipa_v1_2017.cellml"
MODEL = "cardio/ohara_rudy_cipa2017"
CL = 2000.0
STEP = 0.1  # ms, the output grid of the analysed beat
CURRENTS = ("INa", "INaL", "ICaL", "Ito", "IKs", "IK1")


def _biomarkers(times, v, q, start):
    """APD90 (ms) of the beat from ``start`` and its qNet (uC/uF): the change of the accumulated charge over it."""
    record = xr.DataArray(v, dims=("time",), coords={"time": times})
    apd90 = float(np.ravel(analysis.action_potential_biomarkers(record, beat_starts=[start], period=CL)["apd90"])[0])
    # the last sample is one step before the next beat; extrapolate that step linearly
    return apd90, float(q[-1] + (q[-1] - q[-2]) - q[0])


def _myokit(beats: int, initial: dict[str, float], constants: dict[str, float] | None = None):
    """The last of ``beats`` beats by Myokit on the CellML file (:class:`vhtwin.testing.cipa.MyokitCiPA`, CVODE at
    1e-8)."""
    from vhtwin.testing.cipa import MyokitCiPA

    times = np.arange(0.0, CL, STEP)
    v, q, _ = MyokitCiPA(CELLML, initial).last_beat(beats, times, constants)
    return _biomarkers(times, v, q, 0.0)


def _vhtwin(model, beats: int, params=None, rtol=1e-8):
    last = (beats - 1) * CL
    times = last + np.arange(0.0, CL, STEP)
    ds = vh.simulate(model, params=params or {}, times=times, protocol=vh.Pacing(period=CL, duration=0.5, count=beats),
                     solver="rodas4", rtol=rtol, atol=rtol * 1e-2, max_steps=10_000_000)
    assert int(ds["status"].values.reshape(-1)[0]) == 0
    return ds, _biomarkers(times - last, ds["V"].values.reshape(-1), ds["qNet"].values.reshape(-1), 0.0)


def test_the_model_is_the_cellml_encoding_with_the_drug_parameters_and_the_steady_state():
    model = vh.load_model(MODEL)
    imported = vh.import_cellml(CELLML)
    mine, theirs = model.default_parameters(), imported.default_parameters()
    # the five CiPA conductance scalings (Dutta et al. 2017) as the file has them
    for name, file_name in (("GKr", "GKr_b"), ("GNaL", "GNaL_b"), ("GKs", "GKs_b"), ("GK1", "GK1_b"),
                            ("PCa", "PCa_b")):
        assert mine[name] == pytest.approx(theirs[file_name], rel=1e-12), name
    assert {s.name for s in imported.states} == {s.name for s in model.states} - {"qNet"}
    assert {"D", "Kmax", "Ku", "n", "halfmax", "Vhalf", "Kt"} <= set(mine)
    assert all(mine[f"IC50_{c}"] == 1e30 for c in CURRENTS)
    assert model.stiff and model.time_unit == "ms"


#: dofetilide's hERG binding parameters (the FDA's fit) at 20 nM, 10 x its Cmax, no other block
DOFETILIDE = dict(D=20.0, Kmax=35.1, Ku=1.816e-05, n=1.08, halfmax=216.6, Vhalf=-1.0)


@pytest.fixture(scope="module")
def model():
    return vh.load_model(MODEL)


@pytest.fixture(scope="module")
def control(model):
    """Twenty beats at 2000 ms from the FDA steady state without drug: the last beat and its biomarkers."""
    return _vhtwin(model, 20)


@pytest.fixture(scope="module")
def dofetilide(model):
    """The same twenty beats with dofetilide bound to hERG (the one compiled program serves both)."""
    return _vhtwin(model, 20, params=DOFETILIDE)


@pytest.mark.slow
def test_control_apd90_and_qnet_after_pacing_match_myokit_on_the_cellml_file(model, control):
    """Twenty beats at 2000 ms from the FDA steady state: the last beat's APD90 and qNet within 1 % of Myokit's."""
    initial = {s.name: s.initial for s in model.states}
    _, (apd_mine, q_mine) = control
    apd_ref, q_ref = _myokit(20, initial)
    assert 250.0 < apd_ref < 330.0 and 0.05 < q_ref < 0.09  # a CiPA control beat
    assert abs(apd_mine - apd_ref) <= 0.01 * apd_ref
    assert abs(q_mine - q_ref) <= 0.01 * q_ref
    # far inside the bar: the two solvers agree to about 1e-6
    assert abs(apd_mine - apd_ref) < 0.01 and abs(q_mine - q_ref) < 1e-5


@pytest.mark.slow
def test_dynamic_hERG_block_after_pacing_matches_myokit_on_the_cellml_file(model, dofetilide):
    """The CellML file carries the hERG binding model too: dofetilide's binding parameters at 20 nM (10 x Cmax, no
    other block), twenty beats from the control steady state: APD90 and qNet within 1 % of Myokit's."""
    initial = {s.name: s.initial for s in model.states}
    _, (apd_mine, q_mine) = dofetilide
    apd_ref, q_ref = _myokit(20, initial, dict(DOFETILIDE, Kt=3.5e-5))
    control_apd = 289.2
    assert apd_ref > control_apd + 20.0  # block has built up
    assert abs(apd_mine - apd_ref) <= 0.01 * apd_ref and abs(q_mine - q_ref) <= 0.01 * q_ref
    assert abs(apd_mine - apd_ref) < 0.05


@pytest.mark.parametrize("current", CURRENTS)
def test_block_scales_only_its_own_current_by_the_hill_equation(current):
    """At one state, a drug with IC50 = D/2 and h = 2 on one current: that current is 1/(1 + 2^2) of control, the
    others (and IKr: no hERG binding) unchanged."""
    model = vh.load_model(MODEL)
    y = {s.name: np.array([s.initial]) for s in model.states}
    y["V"] = np.array([-10.0])  # mid-plateau, where every current flows
    control = model.default_parameters()
    drug = dict(control, D=100.0, **{f"IC50_{current}": 50.0, f"h_{current}": 2.0})
    out = {k: _currents(model, y, p) for k, p in (("control", control), ("drug", drug))}
    for name in (*CURRENTS, "IKr"):
        expected = out["control"][name] / 5.0 if name == current else out["control"][name]
        np.testing.assert_allclose(out["drug"][name], expected, rtol=1e-6, err_msg=name)


def _currents(model, y, p):
    """The model's currents at one state (its ``observables``, the functions the solver integrates)."""
    from vhtwin.model import Names

    ys = Names({k: i for i, k in enumerate(model.state_names)}, [y[k] for k in model.state_names], "state")
    ps = Names({k: i for i, k in enumerate(model.parameter_names)}, [float(p[k]) for k in model.parameter_names],
               "parameter")
    obs = model.observables(0.0, ys, ps)
    return {k: np.asarray(v) for k, v in obs.items() if k in (*CURRENTS, "IKr")}


@pytest.mark.slow
def test_hERG_binding_moves_open_channels_into_the_bound_states_and_reduces_IKr(control, dofetilide):
    """Dofetilide's fitted binding parameters at 20 nM, the twentieth beat (the Myokit comparisons' runs): the bound
    states fill, IKr falls below control, and the states still sum to what they summed to."""
    runs = {"control": control[0], "drug": dofetilide[0]}
    ds = runs["drug"]
    bound = float((ds["Obound"] + ds["IObound"] + ds["Cbound"]).isel(time=-1).values.reshape(-1)[0])
    assert bound > 1e-3
    assert float(runs["control"]["Obound"].values.max()) == 0.0
    total = sum(ds[s] for s in ("IC1", "IC2", "C1", "C2", "O", "IO", "IObound", "Obound", "Cbound")).values.reshape(-1)
    # conserved (the FDA's rounded initial state sums to 1 + 2.7e-7)
    np.testing.assert_allclose(total, total[0], atol=1e-9)
    assert float(ds["IKr"].values.max()) < float(runs["control"]["IKr"].values.max())
