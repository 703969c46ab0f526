"""``vh.export_sbml``: vhtwin models written as SBML, valid for libsbml, run by libroadrunner, and imported back to
the same trajectories."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh

TIMES = np.linspace(0.0, 48.0, 97)


@pytest.mark.parametrize("name, tolerance", [("pharmacokinetics/two_compartment_oral", 1e-13),
                                             ("pharmacokinetics/one_compartment_oral_mm", 1e-13),
                                             ("pharmacokinetics/pbpk_whole_body", 1e-9)])
def test_a_model_round_trips_through_sbml(name, tolerance, tmp_path):
    model = vh.load_model(name)
    path = tmp_path / "model.xml"
    vh.export_sbml(model, path)
    back = vh.import_sbml(path)
    assert back.state_names == model.state_names and back.observable_names == model.observable_names
    assert set(model.parameter_names) <= set(back.parameter_names) and back.time_unit == model.time_unit
    dose = vh.Regimen.bolus(100.0, into=model.dosable_states[0])
    first = model.parameters[0].name
    params = {first: model.parameters[0].default * np.array([0.5, 1.0, 2.0])}  # a small population
    # the same method for both (a linear library model would otherwise take the exact path)
    a = vh.simulate(model, params, times=TIMES, protocol=dose, rtol=1e-10, atol=1e-12, precision="float64",
                    solver="tsit5")
    b = vh.simulate(back, params, times=TIMES, protocol=dose, rtol=1e-10, atol=1e-12, precision="float64",
                    solver="tsit5")
    for out in model.observable_names + model.state_names:
        scale = max(float(np.abs(a[out].values).max()), 1e-300)
        np.testing.assert_allclose(b[out].values, a[out].values, rtol=0, atol=tolerance * scale, err_msg=out)


def test_the_file_is_valid_sbml_and_libroadrunner_runs_it_alike(tmp_path):
    import libsbml
    import roadrunner

    model = vh.load_model("pharmacokinetics/two_compartment_oral")
    path = tmp_path / "two_compartment_oral.xml"
    vh.export_sbml(model, path)
    doc = libsbml.readSBMLFromFile(str(path))
    doc.checkConsistency()
    errors = [doc.getError(i).getMessage() for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    assert errors == []
    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.absolute_tolerance, rr.integrator.relative_tolerance = 1e-14, 1e-12
    rr["depot"] = 100.0
    rr.timeCourseSelections = ["Cc"]
    peer = np.asarray(rr.simulate(times=TIMES)).reshape(-1)
    ds = vh.simulate(model, times=TIMES, initial={"depot": 100.0}, rtol=1e-10, atol=1e-12, precision="float64")
    np.testing.assert_allclose(ds["Cc"].values.reshape(-1), peer, rtol=1e-6, atol=1e-12 * peer.max())


def test_what_sbml_cannot_hold_is_refused_and_files_are_kept(tmp_path):
    with pytest.raises(vh.ModelError, match="inputs"):
        vh.export_sbml(vh.load_model("pharmacokinetics/pd_indirect_response_1"))
    kept = tmp_path / "kept.xml"
    kept.write_text("someone's model")
    with pytest.raises(vh.InputError, match="exists"):
        vh.export_sbml(vh.load_model("pharmacokinetics/two_compartment_oral"), kept)
    assert kept.read_text() == "someone's model"
