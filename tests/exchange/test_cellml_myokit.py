"""CellML in, against a peer: ten models of the Chaste CellML collection (tests/data/cellml/chaste, files nobody here
wrote), one beat of each paced through ``vh.Pacing`` at the file's own protocol, against Myokit's own import of the
same file run in the same test (its CVODE, the file's own stimulus equations). The whole collection's table is
benchmarks/cellml_collection.py's."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin import analysis

CHASTE = Path(__file__).resolve().parents[1] / "data" / "cellml" / "chaste"
#: the models the native comparisons of test_cellml.py cover already
NATIVE = {"ohara_rudy_2011_endo.cellml", "ten_tusscher_model_2006_epi.cellml", "ohara_rudy_cipa_v1_2017.cellml"}

pytestmark = pytest.mark.slow


def _myokit_beat(path: Path, times: np.ndarray, voltage: str) -> np.ndarray:
    """The membrane potential (``voltage``: component.variable) of one beat run by Myokit: its own CellML import,
    the file's own stimulus, CVODE."""
    import myokit
    import myokit.formats

    model = myokit.formats.importer("cellml").model(str(path))
    sim = myokit.Simulation(model)
    sim.set_tolerance(1e-8, 1e-8)
    sim.set_max_step_size(float(times[1] - times[0]))
    voltage = model.get(voltage)
    log = sim.run(float(times[-1] + times[1] - times[0]), log=[voltage.qname()], log_times=times)
    return np.asarray(log[voltage.qname()], float)[: times.size]


@pytest.mark.parametrize("file", sorted(p.name for p in CHASTE.glob("*.cellml") if p.name not in NATIVE))
def test_one_paced_beat_matches_myokit_s_import_of_the_same_file(file):
    """The file's own protocol through vh.Pacing (vhtwin) and the file's own stimulus equations (Myokit): the same
    beat -- V within 0.1 % of the action potential's amplitude throughout, APD90 within 0.5 ms."""
    path = CHASTE / file
    model = vh.import_cellml(path)
    ms = {"ms": 1.0, "s": 1e-3}[model.time_unit]
    stimulus = model.file_stimulus
    horizon = stimulus["start"] + stimulus["period"] if stimulus else 1000.0 * ms
    times = np.arange(0.0, horizon, 0.1 * ms)
    ds = vh.simulate(model, times=times, protocol=vh.Pacing(**stimulus) if stimulus else None, solver="rodas4",
                     rtol=1e-8, atol=1e-8, max_steps=1_000_000)
    assert int(ds["status"].values.reshape(-1)[0]) == 0
    mine = ds["V"].values.reshape(-1)
    original = next(s.description for s in model.states if s.name == "V").split()[1]  # "CellML membrane.V ..."
    theirs = _myokit_beat(path, times, original)
    amplitude = mine.max() - mine.min()
    assert amplitude > 30.0  # an action potential (paced, or the pacemaker's own)
    assert np.max(np.abs(mine - theirs)) < 1e-3 * amplitude
    if stimulus:
        start = stimulus["start"]
        apd = [float(np.ravel(analysis.action_potential_biomarkers(
            _as_record(v, times), beat_starts=[start], period=stimulus["period"])["apd90"].values)[0])
            for v in (mine, theirs)]
        assert math.isfinite(apd[0]) and abs(apd[0] - apd[1]) < 0.5 * ms


def _as_record(v, times):
    import xarray as xr

    return xr.DataArray(v, dims=("time",), coords={"time": times}, attrs={"units": "mV"})
