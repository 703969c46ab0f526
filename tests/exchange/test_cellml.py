"""CellML in: published cell and circulation models (files nobody here wrote, tests/data/cellml) imported with
``vh.import_cellml`` and run by vhtwin's engine -- against the same models written by hand in ``models/cardio`` from
the same initial state, and against Myokit's own CellML import in the same test -- plus the constructs a CellML
file can hold (unit conversions between components, implicit equations, imports) and what is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh
from vhtwin import analysis
from vhtwin.model import Names

DATA = Path(__file__).resolve().parents[1] / "data" / "cellml"
CHASTE = DATA / "chaste"


def _cellml2(name: str, components: str, connections: str = "", units: str = "") -> str:
    """A CellML 2.0 document (for the constructs below; the validation uses published files)."""
    return f"""<?xml version="1.0"?>
<model name="{name}" xmlns="http://www.cellml.org/cellml/2.0#" xmlns:cellml="http://www.cellml.org/cellml/2.0#">
 <units name="ms"><unit prefix="milli" units="second"/></units>
 <units name="mV"><unit prefix="milli" units="volt"/></units>
 <units name="mV_per_ms"><unit units="mV"/><unit units="ms" exponent="-1"/></units>
 {units}{components}{connections}
</model>"""


MATH = 'xmlns="http://www.w3.org/1998/Math/MathML"'

# time in seconds in one component and in milliseconds in another; V in mV read as volts in a third
CONVERSION = _cellml2("conversion", f"""
 <component name="environment"><variable name="t" units="second" interface="public"/></component>
 <component name="membrane">
  <variable name="t" units="ms" interface="public_and_private"/>
  <variable name="V" units="mV" initial_value="-80" interface="public"/>
  <variable name="k" units="mV_per_ms" initial_value="2"/>
  <math {MATH}><apply><eq/><apply><diff/><bvar><ci>t</ci></bvar><ci>V</ci></apply><ci>k</ci></apply></math>
 </component>
 <component name="probe">
  <variable name="V" units="volt" interface="public"/>
  <variable name="W" units="volt"/>
  <math {MATH}><apply><eq/><ci>W</ci><apply><times/><cn cellml:units="dimensionless">2</cn><ci>V</ci></apply></apply>
  </math>
 </component>""", """
 <connection component_1="environment" component_2="membrane"><map_variables variable_1="t" variable_2="t"/></connection>
 <connection component_1="membrane" component_2="probe"><map_variables variable_1="V" variable_2="V"/></connection>""")


def _implicit(equations: str, variables: str) -> str:
    return _cellml2("implicit", f"""
 <component name="c">
  <variable name="t" units="second"/>
  <variable name="x" units="dimensionless" initial_value="0"/>
  {variables}
  <math {MATH}>
   <apply><eq/><apply><diff/><bvar><ci>t</ci></bvar><ci>x</ci></apply><cn cellml:units="per_second">1</cn></apply>
   {equations}
  </math>
 </component>""", units='<units name="per_second"><unit units="second" exponent="-1"/></units>')


# y^3 + c y = x: one unknown, solved by Newton's method wherever it is read
CUBIC = _implicit("""<apply><eq/><apply><plus/><apply><power/><ci>y</ci><cn cellml:units="dimensionless">3</cn></apply>
   <apply><times/><ci>c</ci><ci>y</ci></apply></apply><ci>x</ci></apply>""",
                  '<variable name="y" units="dimensionless"/>'
                  '<variable name="c" units="dimensionless" initial_value="1"/>')
# a + b = x and a - b = 1: two unknowns solved together
TWO_UNKNOWNS = _implicit("""<apply><eq/><apply><plus/><ci>a</ci><ci>b</ci></apply><ci>x</ci></apply>
   <apply><eq/><apply><minus/><ci>a</ci><ci>b</ci></apply><cn cellml:units="dimensionless">1</cn></apply>""",
                         '<variable name="a" units="dimensionless"/><variable name="b" units="dimensionless"/>')
# a = 2 - b, b = a / 2: defined in terms of each other
CYCLE = _implicit("""<apply><eq/><ci>a</ci><apply><minus/><cn cellml:units="dimensionless">2</cn><ci>b</ci></apply></apply>
   <apply><eq/><ci>b</ci><apply><divide/><ci>a</ci><cn cellml:units="dimensionless">2</cn></apply></apply>""",
                  '<variable name="a" units="dimensionless"/><variable name="b" units="dimensionless"/>')


def test_the_ord_file_imports_with_V_its_stimulus_as_the_pacing_input_and_its_initial_state():
    path = CHASTE / "ohara_rudy_2011_endo.cellml"
    model = vh.import_cellml(path)
    assert model.time_unit == "ms" and model.stiff
    states = {s.name: s for s in model.states}
    assert len(states) == 41 and states["V"].unit == "mV"
    assert states["V"].initial == -87.0 and states["nai"].initial == 7.0 and states["cai"].initial == 1e-4
    (stimulus,) = model.inputs
    assert (stimulus.name, stimulus.default, stimulus.stimulus) == ("i_stim", 0.0, -80.0)
    # the file's own protocol: 0.5 ms of -80 uA/uF every 1000 ms from 10 ms
    assert model.file_stimulus == {"start": 10.0, "period": 1000.0, "duration": 0.5, "amplitude": -80.0}
    assert vh.Pacing(period=1000.0, duration=0.5).for_model(model).amplitude == -80.0
    assert model.default_parameters()["GNa"] == 75.0
    assert {"INa", "IKr", "ICaL", "IK1"} <= {o.name for o in model.observed}
    # the stimulus protocol's own constants are gone: the protocol is vh.Pacing's
    assert not {"i_Stim_Period", "i_Stim_Start", "i_Stim_Amplitude"} & set(model.default_parameters())
    assert model.source_hash() == hashlib.sha256(path.read_bytes()).hexdigest()
    other = vh.import_cellml(CHASTE / "ten_tusscher_model_2006_epi.cellml")
    assert other.source_hash() != model.source_hash() and type(other) is not type(model)
    assert type(vh.import_cellml(path)) is not type(model)  # each import a class of its own


def test_units_are_converted_between_connected_components():
    model = vh.import_cellml(CONVERSION)
    assert model.time_unit == "s"  # the variable of integration's units
    assert [(s.name, s.unit) for s in model.states] == [("V", "mV")]
    assert [(p.name, p.unit) for p in model.parameters] == [("k", "mV ms-1")]
    times = np.linspace(0.0, 0.01, 5)  # seconds
    ds = vh.simulate(model, times=times, rtol=1e-10, atol=1e-12)
    # dV/dt = 2 mV/ms = 2000 mV/s; W (volts, in another component) = 2 V / 1000
    np.testing.assert_allclose(ds["V"].values.reshape(-1), -80.0 + 2000.0 * times, rtol=1e-9)
    np.testing.assert_allclose(ds["W"].values.reshape(-1), 2.0 * (-80.0 + 2000.0 * times) / 1000.0, rtol=1e-9)


def test_an_implicit_equation_of_one_unknown_is_solved_where_it_is_read():
    model = vh.import_cellml(CUBIC)
    times = np.linspace(0.0, 3.0, 7)
    ds = vh.simulate(model, times=times, rtol=1e-10, atol=1e-12)
    y = ds["y"].values.reshape(-1)
    np.testing.assert_allclose(y ** 3 + y, times, atol=1e-10)
    # derivatives through the Newton solve (as calibration takes them): dy/dc = -y / (3 y^2 + c)
    import jax

    with jax.enable_x64(True):
        sim = vh.Simulator(model, times=times, rtol=1e-10, atol=1e-12, precision="float64")
        grad = jax.grad(lambda p: sim(p)["y"].sum())({"c": 1.0})["c"]
    np.testing.assert_allclose(float(grad), np.sum(-y / (3 * y ** 2 + 1.0)), rtol=1e-8)


@pytest.mark.parametrize("text, names", [(TWO_UNKNOWNS, ["c.a", "c.b"]), (CYCLE, ["c.a", "c.b"])])
def test_algebraic_loops_of_several_unknowns_are_refused_naming_their_variables(text, names):
    with pytest.raises(vh.ModelError) as err:
        vh.import_cellml(text)
    assert str(names) in str(err.value) and "algebraic loop" in str(err.value)


def test_a_file_with_errors_is_refused_with_libcellml_s_message():
    bad = _cellml2("bad", '<component name="a"><variable name="q" units="wibble"/></component>')
    with pytest.raises(vh.ModelError, match=r"CellML text: .*'q'.*'wibble'"):
        vh.import_cellml(bad)
    with pytest.raises(vh.ModelError, match="neither a file nor CellML text"):
        vh.import_cellml("no/such/file.cellml")


def test_a_file_that_is_not_text_is_refused_in_one_sentence(tmp_path):
    binary = tmp_path / "cell.cellml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(vh.ModelError, match="cell.cellml is not UTF-8 text"):
        vh.import_cellml(binary)


def test_imports_resolve_next_to_the_file_and_text_that_imports_is_refused(tmp_path):
    (tmp_path / "membrane.cellml").write_text(CONVERSION)
    main = _cellml2("main", """
 <import xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="membrane.cellml">
  <component name="env" component_ref="environment"/><component name="mem" component_ref="membrane"/>
 </import>""", """
 <connection component_1="env" component_2="mem"><map_variables variable_1="t" variable_2="t"/></connection>""")
    (tmp_path / "main.cellml").write_text(main)
    model = vh.import_cellml(tmp_path / "main.cellml")
    assert [s.name for s in model.states] == ["V"] and model.time_unit == "s"
    with pytest.raises(vh.ModelError, match="imports other files; give the file's path"):
        vh.import_cellml(main)


CELLS = [("ohara_rudy_2011_endo.cellml", "cardio/ohara_rudy2011", {"celltype": 0.0}),
         ("ten_tusscher_model_2006_epi.cellml", "cardio/tentusscher2006", {"celltype": 1.0})]
#: dofetilide's hERG binding at 20 nM, parameters both encodings of ORd-CiPA name alike (the FDA's fit)
DOFETILIDE = dict(D=20.0, Kmax=35.1, Ku=1.816e-05, n=1.08, halfmax=216.6, Vhalf=-1.0, Kt=3.5e-5)


@pytest.mark.parametrize("file, native, params", [
    *CELLS,
    # the drug's binding parameters given to both (with none, the two encodings' drug-free defaults of the binding
    # rates differ, which matters only where a drug-bound state is not 0)
    ("ohara_rudy_cipa_v1_2017.cellml", "cardio/ohara_rudy_cipa2017", DOFETILIDE),
])
def test_an_imported_cell_model_has_the_native_one_s_derivatives_everywhere(file, native, params):
    """The right-hand sides of the imported and the hand-written model at 256 states drawn around the file's initial
    state (each state scaled by a log-normal factor, one that is 0 there drawn up to 0.05, V anywhere from -90 to 40 mV), with
    the stimulus off and at the file's amplitude: every derivative agrees to 1e-9 (relative, or of the largest of
    that state's derivatives) -- the same equations, term by term, away from the one trajectory a beat visits.
    ORd-CiPA also with dofetilide bound to hERG; the native model's extra state (qNet, the charge) is its own."""
    imported, model = vh.import_cellml(CHASTE / file), vh.load_model(native)
    rng = np.random.default_rng(3)
    y = {s.name: s.initial * rng.lognormal(0.0, 0.1, 256) for s in imported.states}
    for k in [k for k, v in y.items() if not v.any()]:  # 0 in the file (CaMK trapping, drug-bound hERG states)
        y[k] = rng.uniform(0.0, 0.05, 256)
    y["V"] = rng.uniform(-90.0, 40.0, 256)
    stimulus = imported.file_stimulus["amplitude"]
    (name,) = [i.name for i in imported.inputs]
    assert [i.name for i in model.inputs] == [name]

    def names(values, kind):
        return Names({k: k for k in values}, {k: jnp.asarray(v, jnp.float64) for k, v in values.items()}, kind)

    with jax.enable_x64(True):
        for u in (0.0, stimulus):
            u = names({name: np.full(256, u)}, "input")
            shared = {k: v for k, v in params.items() if k in imported.parameter_names}
            got = imported.rhs(0.0, names(y, "state"), names({**imported.default_parameters(), **shared}, "parameter"),
                               u)
            extra = {s.name: s.initial for s in model.states if s.name not in y}  # qNet of ORd-CiPA
            want = model.rhs(0.0, names({**y, **extra}, "state"),
                             names({**model.default_parameters(), **params}, "parameter"), u)
            assert set(got) == set(y) and set(want) == set(y) | set(extra)
            for k in y:
                scale = float(np.max(np.abs(want[k])))
                np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), rtol=1e-9, atol=1e-9 * scale,
                                           err_msg=k)


@pytest.mark.slow
@pytest.mark.parametrize("file, native, params", CELLS[1:])  # ORd compiles for a minute: its derivatives, above
def test_an_imported_cell_model_paces_like_the_native_one_from_the_same_state(file, native, params):
    """One 1 Hz beat of the file's own stimulus through vh.Pacing, both models started from the file's initial
    state: APD90 within 0.5 ms (the issue's bar; they agree far closer) and the same trajectory."""
    imported = vh.import_cellml(CHASTE / file)
    model = vh.load_model(native)
    initial = {s.name: s.initial for s in imported.states}
    assert set(initial) == {s.name for s in model.states}
    stimulus = imported.file_stimulus
    pacing = vh.Pacing(**stimulus)
    times = np.concatenate([np.arange(0.0, stimulus["start"] + 5.0, 0.01),
                            np.arange(stimulus["start"] + 5.0, stimulus["start"] + 1000.0, 0.5)])
    runs = {}
    for name, m, p, y0 in (("imported", imported, {}, None), ("native", model, params, initial)):
        runs[name] = vh.simulate(m, params=p, times=times, protocol=pacing, initial=y0, solver="rodas4",
                                 rtol=1e-8, atol=1e-10, max_steps=200_000)
        assert int(runs[name]["status"].values.reshape(-1)[0]) == 0
    apd = {k: float(np.ravel(analysis.action_potential_biomarkers(ds["V"], beat_starts=pacing)["apd90"].values)[0])
           for k, ds in runs.items()}
    assert 200.0 < apd["native"] < 350.0
    assert abs(apd["imported"] - apd["native"]) < 0.5
    np.testing.assert_allclose(runs["imported"]["V"].values, runs["native"]["V"].values, atol=1e-6)


@pytest.mark.slow
def test_the_smith_2004_circulation_imported_matches_the_native_model():
    """Smith et al. 2004 from the Physiome repository (its septal volume an implicit equation), ten 0.75 s beats:
    every pressure within 0.5 % of the hand-written model's (they agree to about 1e-7). The file's valves stop a
    flow that is exactly zero only once it turns negative, a discontinuity that the tolerance here passes and
    rtol 1e-9 does not."""
    imported = vh.import_cellml(DATA / "smith_chase_nokes_shaw_wake_2004.cellml")
    model = vh.load_model("cardio/smith2004")
    assert imported.time_unit == "s" and {s.name for s in imported.states} == {s.name for s in model.states}
    times = np.arange(0.0, 7.5, 0.001)
    a = vh.simulate(imported, times=times, rtol=1e-7, atol=1e-7, solver="rodas4")
    b = vh.simulate(model, times=times, rtol=1e-7, atol=1e-7, solver="rodas4")
    for pressure in ("P_lv", "P_ao", "P_rv", "P_pa", "P_vc", "P_pu"):
        got, want = a[pressure].values.reshape(-1), b[pressure].values.reshape(-1)
        assert np.max(np.abs(got - want)) <= 0.005 * np.max(np.abs(want)), pressure
    np.testing.assert_allclose(a["V_spt"].values, b["V_spt"].values, rtol=1e-5)


@pytest.mark.slow
def test_a_population_of_imported_cells_paces_and_a_new_one_compiles_nothing():
    model = vh.import_cellml(CHASTE / "beeler_reuter_model_1977.cellml")
    pacing = vh.Pacing(period=1000.0, duration=1.0, count=2)
    times = np.arange(0.0, 2000.0, 0.5)
    rng = np.random.default_rng(3)
    scale = {"g_s": model.default_parameters()["g_s"] * rng.lognormal(0.0, 0.3, 8)}
    ds = vh.simulate(model, params=scale, times=times, protocol=pacing, solver="rodas4", rtol=1e-6, atol=1e-6)
    assert (ds["status"].values == 0).all()
    apd = analysis.action_potential_biomarkers(ds["V"], beat_starts=pacing)["apd90"].values[:, -1]
    # a larger slow inward (calcium) conductance prolongs the plateau
    assert np.corrcoef(scale["g_s"], apd)[0, 1] > 0.9
    before = vh.compilation_count()
    vh.simulate(model, params={"g_s": scale["g_s"][::-1]}, times=times, protocol=pacing, solver="rodas4",
                rtol=1e-6, atol=1e-6)
    assert vh.compilation_count() == before


def test_vhtwin_import_writes_a_cellml_model_as_a_module_that_computes_the_same(tmp_path):
    """``vhtwin import`` on the Smith 2004 file (an implicit equation, 42 parameters): the module written runs to
    the same pressures as the imported model."""
    from vhtwin.cli import main

    source = DATA / "smith_chase_nokes_shaw_wake_2004.cellml"
    out = tmp_path / "smith_module.py"
    assert main(["import", str(source), "--out", str(out)]) == 0
    assert "solve(lambda x:" in out.read_text()  # the septal volume, solved where it is read
    module = vh.load_model(out)
    imported = vh.load_model(source)  # load_model takes a .cellml file as it takes SBML
    times = np.linspace(0.0, 1.5, 31)
    a = vh.simulate(module, times=times, rtol=1e-7, atol=1e-7, solver="tsit5")
    b = vh.simulate(imported, times=times, rtol=1e-7, atol=1e-7, solver="tsit5")
    np.testing.assert_allclose(a["P_lv"].values, b["P_lv"].values, rtol=1e-12, atol=1e-12)


def test_vhtwin_simulate_paces_a_cellml_file(tmp_path, capsys):
    from vhtwin.cli import main

    out = tmp_path / "beat.csv"
    code = main(["simulate", str(CHASTE / "beeler_reuter_model_1977.cellml"), "--times", "0:500:101",
                 "--pace", "1000:1:1@10", "--solver", "rodas4", "--out", str(out)])
    assert code == 0
    import pandas as pd

    V = pd.read_csv(out)["V"].to_numpy()
    assert V[0] < -80.0 and V.max() > 10.0  # rest, then an action potential from the stimulus at 10 ms
    assert main(["simulate", str(CHASTE / "beeler_reuter_model_1977.cellml"), "--times", "0:500:11",
                 "--pace", "1000:2000:1"]) == 2
    assert "--pace '1000:2000:1'" in capsys.readouterr().err


@pytest.mark.slow
def test_a_trial_of_an_imported_cell_model_is_stored_with_its_file_and_found_again(tmp_path):
    from vhtwin.trial.spec_codec import decode_model, encode_model
    from vhtwin.trial.toml_spec import load_trial_toml

    source = CHASTE / "beeler_reuter_model_1977.cellml"
    model = vh.load_model(source)
    stored = encode_model(model)
    assert stored == {"path": str(source.resolve()), "name": model.name, "source_sha256": model.source_hash()}
    assert decode_model(stored) is model
    trial = vh.Trial(model=model, population=vh.Population(model, omega={"g_s": 0.04}), n_per_arm=4, seed=3,
                     times=np.arange(0.0, 500.0, 1.0), outputs=["V"], solver="rodas4",
                     arms={"1 Hz": vh.Pacing(period=1000.0, duration=1.0, start=10.0)})
    store = trial.run(tmp_path / "cells.zarr", progress=False)
    assert (store["status"].values == 0).all() and float(store["V"].max()) > 10.0
    spec = tmp_path / "cells.toml"
    spec.write_text(f"""seed = 1
n_per_arm = 2
outputs = ["V"]
times = {{ start = 0.0, stop = 10.0, step = 1.0 }}
[model]
path = "{source}"
[population]
omega = {{ g_s = 0.04 }}
[[arms]]
name = "1 Hz"
pacing = {{ period = 1000.0, duration = 1.0, count = 1 }}
""")
    assert load_trial_toml(spec)["model"] is model
