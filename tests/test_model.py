"""The Model API: declarations checked at definition, names inside rhs, the library loader."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import vhtwin as vh


def define(**overrides):
    body = {
        "time_unit": "h",
        "states": (vh.State("x", "mg"),),
        "parameters": (vh.Parameter("k", 1.0, "h-1", positive=True),),
        "observed": (vh.Observable("level", "mg"),),
        "rhs": lambda self, t, y, p: {"x": -p.k * y.x},
        "observables": lambda self, t, y, p: {"level": y.x},
    }
    body.update(overrides)
    return type("Defined", (vh.Model,), body)


def test_a_valid_model_defines_and_describes():
    cls = define()
    m = cls()
    assert m.state_names == ("x",) and m.parameter_names == ("k",)
    assert "k" in m.describe() and "h-1" in m.describe()
    assert m == cls() and hash(m) == hash(cls())


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"time_unit": "hours"}, r"time unit 'hours' is not one of"),
        ({"states": (vh.State("x", "mg"), vh.State("x", "mg"))}, r"state 'x' is declared twice"),
        ({"states": (vh.State("x", ""),)}, r"state 'x': unit '' is not a unit string"),
        ({"states": (vh.State("2x", "mg"),)}, r"name '2x' must be a Python identifier"),
        ({"parameters": (vh.Parameter("k", -1.0, "h-1", positive=True),)}, r"default -1 is outside its bounds \(> 0\)"),
        ({"parameters": (vh.Parameter("x", 1.0, "h-1"),)}, r"names \['x'\] are used for more than one"),
        ({"states": ()}, r"declares no states"),
        ({"rhs": lambda self, t, y: {}}, r"rhs takes 2 arguments.*rhs\(self, t, y, p\)"),
        ({"states": [vh.State("x", "mg")]}, r"must be a tuple of State"),
    ],
)
def test_bad_declarations_name_the_culprit(overrides, match):
    with pytest.raises(vh.ModelError, match=match):
        define(**overrides)


def test_rhs_with_a_missing_state_is_caught_at_first_call():
    cls = define(states=(vh.State("x", "mg"), vh.State("z", "mg")))
    with pytest.raises(vh.ModelError, match=r"rhs must return exactly the states \['x', 'z'\]; missing \['z'\]"):
        vh.simulate(cls(), times=np.array([0.0, 1.0]))


def test_unknown_name_inside_rhs_lists_the_known_ones():
    cls = define(rhs=lambda self, t, y, p: {"x": -p.kk * y.x})
    with pytest.raises(AttributeError, match=r"no parameter named 'kk'; the parameters are \['k'\]"):
        vh.simulate(cls(), times=np.array([0.0, 1.0]))


def test_inputs_reach_rhs():
    class Driven(vh.Model):
        time_unit = "ms"
        states = (vh.State("v", "mV"),)
        parameters = (vh.Parameter("tau", 2.0, "ms", positive=True),)
        inputs = (vh.Input("drive", "mV ms-1", default=0.5),)
        observed = ()

        def rhs(self, t, y, p, u):
            return {"v": u.drive - y.v / p.tau}

    ds = vh.simulate(Driven(), times=np.array([0.0, 40.0]), rtol=1e-10, atol=1e-12, precision="float64")
    assert float(ds["v"].values[-1]) == pytest.approx(0.5 * 2.0 * (1 - np.exp(-20.0)), rel=1e-8)


def test_library_lists_and_loads():
    names = vh.list_models()
    assert "pharmacokinetics/two_compartment_oral" in names
    m = vh.load_model("pharmacokinetics/two_compartment_oral")
    assert m is vh.load_model("pharmacokinetics/two_compartment_oral")
    assert m.name == "pharmacokinetics/two_compartment_oral"
    assert m.dosable_states == ("depot", "central")
    with pytest.raises(vh.InputError, match=r"unknown model 'pharmacokinetics/nope'"):
        vh.load_model("pharmacokinetics/nope")


def test_user_model_file_loads(tmp_path):
    path = tmp_path / "my_model.py"
    path.write_text(textwrap.dedent('''
        import vhtwin as vh

        class Mine(vh.Model):
            time_unit = "min"
            states = (vh.State("a", "mmol"),)
            parameters = (vh.Parameter("k", 0.5, "min-1", positive=True),)
            def rhs(self, t, y, p):
                return {"a": -p.k * y.a}
    '''))
    m = vh.load_model(str(path))
    assert m.state_names == ("a",) and m.time_unit == "min"
    ds = vh.simulate(m, times=np.array([0.0, 2.0]), initial={"a": 1.0}, rtol=1e-10, atol=1e-12, precision="float64")
    assert float(ds["a"].values[-1]) == pytest.approx(np.exp(-1.0), rel=1e-8)
    with pytest.raises(vh.InputError, match="does not exist"):
        vh.load_model(str(tmp_path / "missing.py"))


class Baseline(vh.Model):
    """Turnover R' = kin - kout R starting at its steady state kin / kout (a parameter-dependent initial value)."""

    time_unit = "h"
    states = (vh.State("R", "1", initial=1.0),)
    parameters = (vh.Parameter("kin", 2.0, "h-1", positive=True), vh.Parameter("kout", 0.5, "h-1", positive=True))

    def initial(self, p):
        return {"R": p.kin / p.kout}

    def rhs(self, t, y, p):
        return {"R": p.kin - p.kout * y.R}


def test_parameter_dependent_initial_values():
    import jax

    t = np.array([0.0, 3.0])
    ds = vh.simulate(Baseline(), params={"kin": np.array([2.0, 6.0])}, times=t, solver="tsit5", precision="float64")
    np.testing.assert_allclose(ds["R"].values, [[4.0, 4.0], [12.0, 12.0]], rtol=1e-12)  # at steady state throughout
    given = vh.simulate(Baseline(), params={"kin": 2.0}, times=t, initial={"R": 0.0}, precision="float64",
                        rtol=1e-10, atol=1e-12)
    assert float(given["R"].values[0]) == 0.0  # the caller's value wins
    sim = vh.Simulator(Baseline(), times=t, precision="float64")
    with jax.enable_x64(True):
        d_kin = jax.jacfwd(lambda k: sim({"kin": k})["R"])(2.0)
    np.testing.assert_allclose(np.asarray(d_kin), [2.0, 2.0], rtol=1e-10)  # d(kin/kout)/d kin = 1/kout


def test_linked_indirect_response_starts_at_each_patients_baseline():
    pk = vh.load_model("pharmacokinetics/one_compartment_oral")
    pkpd = vh.link(pk, vh.load_model("pharmacokinetics/pd_indirect_response_1"))
    ds = vh.simulate(pkpd, params={"kin": np.array([10.0, 20.0]), "kout": np.array([0.1, 0.4])},
                     times=np.array([0.0, 5.0]), precision="float64")
    np.testing.assert_allclose(ds["R"].values[:, 0], [100.0, 50.0], rtol=1e-12)
