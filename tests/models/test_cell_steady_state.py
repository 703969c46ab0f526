"""Paced cell models with every solver setting at its default: 1,000 beats succeed (the step limit counts steps
between events, not over the protocol), and the last beat's APDs equal Myokit's CVODE solution of the same models
(``tests/data/cell_steady_state_cvode.json``, written by ``benchmarks/cell_steady_state.py``).

Here Mitchell-Schaeffer and the ten Tusscher 2006 M cell run the full 1,000 beats (the M cell is the one whose
first beat is furthest from its steady state, and the one that used to stop at the step limit). Every cell type of
TP06 and O'Hara-Rudy over 1,000 beats takes several minutes on two cores: that comparison is
``benchmarks/cell_steady_state.py`` (``benchmarks/results/cell-steady-state-cpu-2core.json``), agreeing to 0.01 ms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.analysis import action_potential_biomarkers

pytestmark = pytest.mark.slow

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "cell_steady_state_cvode.json").read_text())
PERIOD = REFERENCE["period_ms"]


def _last_beat(name: str, variable: str, duration: float, params: dict, beats: int = 1000):
    model = vh.load_model(name)
    times = (beats - 1) * PERIOD + np.arange(0.0, PERIOD + 0.05, REFERENCE["sample_ms"])
    ds = vh.simulate(model, params=params, times=times, protocol=vh.Pacing(PERIOD, duration, count=beats),
                     outputs=[variable])
    bm = action_potential_biomarkers(ds[variable], beat_starts=[float(times[0])], period=PERIOD)
    return ds, bm


def _check(name, ds, bm, labels, tolerance_ms, beats=1000):
    reference = REFERENCE["by_beats"][str(beats)][name]["cells"]
    np.testing.assert_array_equal(ds["status"].values, vh.Status.SUCCESS)
    for i, label in enumerate(labels):
        for apd in ("apd90", "apd50"):
            assert abs(float(np.atleast_1d(bm[apd].values)[i]) - reference[label][apd]) < tolerance_ms, (name, label, apd)
        assert abs(float(np.atleast_1d(bm["resting_potential"].values)[i]) - reference[label]["resting_potential"]) < 0.05


def test_reference_is_a_thousand_beats_at_1_hz_of_every_shipped_cell_model():
    assert PERIOD == 1000.0 and set(REFERENCE["by_beats"]) == {"50", "1000"}
    models = REFERENCE["by_beats"]["1000"]
    assert set(models) == {"cardio/mitchell_schaeffer", "cardio/tentusscher2006", "cardio/ohara_rudy2011"}
    for name in ("cardio/tentusscher2006", "cardio/ohara_rudy2011"):
        cells = models[name]["cells"]
        assert set(cells) == {"endo", "epi", "M"}
        # the M cell's plateau is the longest, the epicardial cell's the shortest (transmural heterogeneity)
        assert cells["M"]["apd90"] > cells["endo"]["apd90"] > cells["epi"]["apd90"] - 1.0


def test_mitchell_schaeffer_1000_beats_with_defaults_equal_cvode():
    ds, bm = _last_beat("cardio/mitchell_schaeffer", "Vm", 1.0, {"tau_close": np.array([150.0])})
    _check("cardio/mitchell_schaeffer", ds, bm, ["-"], tolerance_ms=0.05)


@pytest.mark.slow
def test_ten_tusscher_m_cell_1000_beats_with_defaults_equal_cvode():
    """The M cell stopped at max_steps before the limit counted steps per interval; its first beat's APD90 is 21 ms
    shorter than the steady state's."""
    ds, bm = _last_beat("cardio/tentusscher2006", "V", 1.0, {"celltype": np.array([2.0])})
    _check("cardio/tentusscher2006", ds, bm, ["M"], tolerance_ms=0.5)

