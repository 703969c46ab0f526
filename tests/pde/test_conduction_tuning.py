"""Conductivity correction ("cable"): coarse-grid conduction velocity brought to the converged one; the Niederer
reference values file."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin import pde
from vhtwin.pde import conduction_tuning as calibration

from .models import Nagumo

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SIGMA_T = 0.0176  # S/m, Niederer et al. 2011's transverse monodomain conductivity
BETA = 140.0
D_T = 100 * SIGMA_T / BETA  # mm^2/ms at Cm 1
A = 0.13
K = 8.0  # 1/ms: a steep upstroke, so that the front (sqrt(2 D / k) = 0.06 mm) is thin against a 0.2 mm grid


def _nagumo_speed(D, k=K, a=A):
    """The bistable (Nagumo, e = 0) front speed sqrt(k D / 2) (1 - 2a), mm/ms."""
    return np.sqrt(k * D / 2) * (1 - 2 * a)


def _cable(dx, correction, length=6.0):
    grid = pde.Grid.cable(length, dx)
    stim = pde.Stimulus([(0.0, 1.0)], 0.5, 0.0, 2.0, unit="rate")
    return pde.Monodomain(Nagumo(), grid, conductivity=SIGMA_T, stimuli=[stim], params={"e": 0.0, "k": K},
                          conductivity_correction=correction)


def _cv(tissue, dt):
    ds = tissue.run(200.0, dt, stop_when_activated=True)
    assert np.isfinite(ds.activation_time.values).all()
    L = tissue.grid.lengths[0]
    return pde.velocity_along_line(ds.activation_time, [1.5], [L - 0.5], trim=0.0), ds


def test_reference_speed_is_the_exact_nagumo_front_speed():
    # the calibration's own converged speed (two fine cables, Richardson) against the closed form
    tissue = _cable(0.2, "cable")
    c1 = calibration.converged_speed_scale(tissue.cable_setup())
    assert c1 * np.sqrt(D_T) == pytest.approx(_nagumo_speed(D_T), rel=0.01)


def test_cable_correction_gives_the_fine_grid_speed_across_the_fibres_on_a_coarse_grid():
    """sigma_t 0.0176 S/m with a thin front on a 0.2 mm grid (as TP06 across the fibres): the plain stencil is 18 %
    too slow, the corrected conductivity conducts at the fine-grid speed (dx 0.02 mm), itself the exact one."""
    dt = 0.01
    exact = _nagumo_speed(D_T)
    fine, _ = _cv(_cable(0.02, "none", length=4.0), 0.005)
    assert fine == pytest.approx(exact, rel=0.01)
    plain, _ = _cv(_cable(0.2, "none"), dt)
    corrected, ds = _cv(_cable(0.2, "cable"), dt)
    assert abs(plain / fine - 1) > 0.10, (plain, fine)  # the old discretisation misses by more than 10 %
    assert corrected == pytest.approx(fine, rel=0.02), (corrected, fine, plain)
    assert ds.attrs["conductivity_correction"] == "cable"
    assert ds.attrs["conductivity_factor_transverse"] > 1.0  # a too-slow wave needs more coupling


def test_correction_input_errors():
    grid = pde.Grid.cable(4.0, 0.1)
    with pytest.raises(vh.InputError, match="conductivity_correction 'tuned' must be one of"):
        pde.Monodomain(Nagumo(), grid, conductivity_correction="tuned")
    with pytest.raises(vh.InputError, match="at least one stimulus"):
        pde.Monodomain(Nagumo(), grid, conductivity_correction="cable")
    stim = [pde.Stimulus([(0.0, 0.5)], 0.5, 0.0, 2.0, unit="rate")]
    with pytest.raises(vh.InputError, match="scalar cell parameters"):
        pde.Monodomain(Nagumo(), grid, stimuli=stim, params={"k": np.ones(2)}, conductivity=(np.ones(2), np.ones(2)),
                       conductivity_correction="cable")


# -- the reference values of the Niederer et al. 2011 benchmark ------------------------------------------------------

REFERENCE = ROOT / "benchmarks" / "data" / "niederer2011_reference.json"
# P9 and P8 (ms) read off panel (F) of Niederer et al. 2011's figure of activation along P1-P8, dt 0.005 ms (see the
# file's "paper" entry for where the digits come from and their precision)
PAPER = {"0.1": {"P9": 21.0, "P8": 48.1}, "0.2": {"P9": 28.4, "P8": 62.2}, "0.5": {"P9": 69.0, "P8": 141.6}}


def test_reference_file_holds_the_recorded_values_with_their_provenance():
    ref = json.loads(REFERENCE.read_text())
    assert "10.1098/rsta.2011.0139" in ref["_about"]
    assert sorted(ref["points_mm"]) == [f"P{i}" for i in range(1, 10)]
    paper = ref["paper"]
    assert paper["dt_ms"] == 0.005 and paper["panel"] == "F" and "read off the figure" in paper["digits_from"]
    for dx, pts in PAPER.items():
        assert paper["by_dx"][dx]["activation_ms"] == pts
        diag = paper["by_dx"][dx]["diagonal"]
        assert np.all(np.diff(diag["activation_ms"]) > -1.0)  # activation grows along the line (to reading noise)
        assert np.interp(10.70, diag["distance_mm"], diag["activation_ms"]) == pytest.approx(pts["P9"], abs=0.05)
    # finer grids activate earlier, as every code in the paper
    assert PAPER["0.1"]["P8"] < PAPER["0.2"]["P8"] < PAPER["0.5"]["P8"]
    demo = ref["fenicsx_beat_demo"]
    assert demo["source"].startswith("NOT from Niederer et al. 2011")
    for table in demo["by_dx_dt0.005"].values():
        assert sorted(table) == [f"P{i}" for i in range(1, 10)]
    assert demo["by_dx_dt0.005"]["0.1"]["P8"] == 37.93


def test_benchmark_reports_against_the_reference_file():
    spec = importlib.util.spec_from_file_location("niederer_benchmark", ROOT / "benchmarks" / "niederer.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for dx, pts in PAPER.items():
        r = bench.reference(float(dx))
        assert r["niederer2011_fig_panel_F_dt0.005"] == pts
        assert r["fenicsx_beat_demo_dt0.005"]["P8"] > 0
    assert bench.reference(0.3)["niederer2011_fig_panel_F_dt0.005"] is None
