"""Published PK/PBPK models from BioModels (tests/data/biomodels, files nobody here wrote) imported with
``vh.import_sbml`` and run against libroadrunner on the same file in the same test."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import vhtwin as vh

DATA = Path(__file__).resolve().parents[1] / "data" / "biomodels"


def roadrunner_values(path: Path, names: list[str], times: np.ndarray, initial: dict) -> np.ndarray:
    import roadrunner

    rr = roadrunner.RoadRunner(str(path))
    rr.integrator.absolute_tolerance = 1e-14
    rr.integrator.relative_tolerance = 1e-12
    for name, value in initial.items():
        rr[name] = value
    rr.timeCourseSelections = names
    return np.asarray(rr.simulate(times=times))


def compare(model, path, times, initial, solver="auto"):
    ds = vh.simulate(model, times=times, initial=initial or None, rtol=1e-10, atol=1e-12, precision="float64",
                     solver=solver)
    assert (ds["status"].values == 0).all()
    # each species as its id means it (SBML): a concentration, or an amount where hasOnlySubstanceUnits
    species = list(model.spec.species_info)
    peer = roadrunner_values(path, [f"[{n}]" if model.spec.species_info[n][1] else n for n in species], times,
                             initial)
    for k, name in enumerate(species):
        got, want = ds[name].values.reshape(-1), peer[:, k]
        scale = max(np.abs(want).max(), 1e-300)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * scale, err_msg=name)
    return ds, species


def test_zake2021_metformin_pbpk_doses_by_events_like_libroadrunner():
    """Zake et al. 2021 (BIOMD0000001029): whole-body metformin PBPK in humans, 21 tissues, oral doses every 12 h as
    four SBML events (``time > 12`` ...). The file declares its time unit as 100 h (a scale of 2 on 3600 s) while its
    rates are per hour: imported with ``time_unit="h"``, which changes no number."""
    path = DATA / "Zake2021_Metformin_Human_multiple_PO_dose.xml"
    model = vh.import_sbml(path, time_unit="h")
    assert len(model.events) == 4 and model.time_unit == "h"
    times = np.linspace(0.0, 60.0, 241)
    ds, species = compare(model, path, times, {})
    assert len(species) == 21
    # four doses into the stomach lumen (amounts in nmol): the venous plasma amount rises after each dose
    plasma = ds["mPlasmaVenous"].sel(time=[11.0, 14.0, 23.0, 26.0]).values.reshape(-1)
    assert plasma[1] > plasma[0] and plasma[3] > plasma[2]


def test_elias2025_glimepiride_pbpk_like_libroadrunner():
    """Elias & Koenig 2025 (BioModels MODEL2510140001): whole-body glimepiride PBPK with its two metabolites, an
    oral dose of 4 mg given as the model's dose parameter."""
    path = DATA / "glimepiride_body_flat.xml"
    model = vh.import_sbml(path)
    assert model.time_unit == "min"
    times = np.linspace(0.0, 24 * 60.0, 97)
    ds, species = compare(model, path, times, {"PODOSE_gli": 4.0}, solver="rodas4")
    assert len(species) > 30
