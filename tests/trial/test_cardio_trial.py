"""Cardiac cohorts through the trial runner: paced virtual myocytes and a self-driven circulation, stored, encoded in
the spec, written in TOML, summarised."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.cli import summary_table, write_figures
from vhtwin.trial.spec_codec import decode_protocol, encode_protocol
from vhtwin.trial.toml_spec import parse_trial_toml

pytestmark = pytest.mark.slow

TIMES = np.arange(1500.0, 2000.0, 1.0)  # ms: the last beat of both arms
ARMS = {"2 Hz": vh.Pacing(period=500.0, duration=1.0, count=4),      # stimuli at 0, 500, 1000, 1500 ms
        "1.33 Hz": vh.Pacing(period=750.0, duration=1.0, count=3)}   # stimuli at 0, 750, 1500 ms


def cells():
    m = vh.load_model("cardio/mitchell_schaeffer")
    return m, vh.Population(m, typical={"tau_close": 150.0, "tau_open": 120.0},
                            omega={"tau_close": 0.04, "tau_open": 0.04})


@pytest.fixture(scope="module")
def paced(tmp_path_factory):
    m, pop = cells()
    trial = vh.Trial(model=m, population=pop, arms=ARMS, n_per_arm=12, times=TIMES, outputs=["v"], seed=3,
                     solver="rodas4", rtol=1e-7, atol=1e-9)
    path = tmp_path_factory.mktemp("paced") / "cells.zarr"
    return trial, path, trial.run(path, batch_size=5, progress=False)  # 3 batches, the last one padded


def test_a_paced_cohort_stores_what_simulate_gives(paced):
    trial, _, ds = paced
    draw = trial.population.sample(n=12, seed=3)
    for i, (name, pacing) in enumerate(ARMS.items()):
        direct = vh.simulate(trial.model, draw, times=TIMES, protocol=pacing, solver="rodas4", rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(ds["v"].isel(arm=i).values, direct["v"].values, rtol=1e-10, atol=1e-12)
    assert (ds["status"].values == 0).all()
    assert ds.attrs["max_steps"] == 100_000


def test_faster_pacing_shortens_the_action_potential(paced):
    """Restitution: at 2 Hz the gate has less time to recover than at 1.33 Hz, so every cell's APD90 is shorter."""
    _, _, ds = paced
    per = vh.analysis.action_potential_per_patient(ds, "v", beat_start=1500.0)
    apd = per["apd90"].values  # (arm, patient)
    assert np.isfinite(apd).all()
    assert (apd[0] < apd[1] - 5.0).all(), apd
    # Each cell against its own single-beat analysis
    one = vh.analysis.action_potential_biomarkers(ds["v"].isel(arm=1, patient=4), beat_starts=[1500.0], period=500.0)
    assert float(one["apd90"]) == pytest.approx(apd[1, 4], rel=1e-12)


def test_paced_arms_round_trip_through_the_spec(paced):
    trial, path, _ = paced
    again = vh.Trial.from_dict(json.loads(trial.to_json()))
    assert again.to_dict() == trial.to_dict()
    assert again.arms == ARMS
    reg = vh.Regimen.bolus(1.0, into="v")
    both = reg + vh.Pacing(period=500.0, duration=1.0, count=2)
    assert decode_protocol(encode_protocol(both)) == both
    assert decode_protocol(encode_protocol(None)) is None
    # resume of the finished store with the same spec: nothing to do, same data
    ds = again.run(path, batch_size=5, resume=True, progress=False)
    np.testing.assert_array_equal(ds["v"].values, paced[2]["v"].values)


def test_the_summary_of_a_paced_cohort_reports_action_potentials(paced, tmp_path):
    trial, _, ds = paced
    text = summary_table(ds, trial)
    assert "APD90 [ms] median (5-95%)" in text and "2 Hz" in text and "Cmax" not in text
    with pytest.raises(vh.InputError, match="needs an arm with doses"):
        summary_table(ds, trial, target=1.0)
    from vhtwin.cli import trial_info

    info = trial_info(paced[1])
    assert "arm '2 Hz': 4 stimuli every 500 from 0" in info and "arm '1.33 Hz': 3 stimuli every 750 from 0" in info
    paths = write_figures(ds, trial, tmp_path, "cells")
    assert [p.name for p in paths] == ["cells_v_bands.png", "cells_v_action_potential.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_an_arm_without_events_runs_a_self_driven_model(tmp_path):
    m = vh.load_model("cardio/windkessel3")
    pop = vh.Population(m, typical={"R": 0.95, "C": 1.2}, omega={"R": 0.04, "C": 0.04})
    trial = vh.Trial(model=m, population=pop, arms={"baseline": None}, n_per_arm=6, times=np.arange(8.0, 10.0, 0.01),
                     outputs=["P_ao"], seed=0, solver="tsit5")
    ds = trial.run(tmp_path / "wk.zarr", batch_size=6, progress=False)
    direct = vh.simulate(m, pop.sample(n=6, seed=0), times=np.arange(8.0, 10.0, 0.01), solver="tsit5")
    np.testing.assert_allclose(ds["P_ao"].isel(arm=0).values, direct["P_ao"].values, rtol=1e-10)
    text = summary_table(ds, trial)
    assert "max [mmHg]" in text and "mean [mmHg]" in text
    assert vh.Trial.from_dict(trial.to_dict()).arms == {"baseline": None}


def test_pacing_arms_in_toml():
    doc = {
        "seed": 1, "n_per_arm": 4, "outputs": ["v"], "times": {"start": 1500.0, "stop": 1999.0, "step": 1.0},
        "solver": "rush_larsen", "dt0": 0.05, "max_steps": 50_000,
        "model": {"name": "cardio/mitchell_schaeffer"},
        "population": {"typical": {"tau_close": 150.0}, "omega": {"tau_close": 0.04}},
        "arms": [{"name": "2 Hz", "pacing": {"period": 500.0, "duration": 1.0, "count": 4}},
                 {"name": "two trains", "pacing": [{"period": 750.0, "duration": 1.0, "count": 2},
                                                   {"period": 500.0, "duration": 1.0, "count": 1, "start": 1500.0}]}],
    }
    fields = parse_trial_toml(doc)
    assert fields["arms"]["2 Hz"] == vh.Pacing(period=500.0, duration=1.0, count=4)
    assert fields["dt0"] == 0.05 and fields["max_steps"] == 50_000
    trial = vh.Trial(**fields)
    assert trial.methods == {"2 Hz": "rush_larsen", "two trains": "rush_larsen"}
    bad = dict(doc, arms=[{"name": "x", "pacing": {"period": 500.0, "duration": 600.0, "count": 1}}])
    with pytest.raises(vh.InputError, match=r"arms\[0\]\.pacing: Pacing duration 600.0 must be > 0 and at most"):
        parse_trial_toml(bad)
    bad = dict(doc, arms=[{"name": "x", "pacing": {"period": 500.0, "duration": 1.0, "count": 1, "input": "I_x"}}])
    with pytest.raises(vh.InputError, match=r"arms\[0\]\.pacing\.input = 'I_x': unknown input of cardio/.*; allowed: \["):
        parse_trial_toml(bad)
    pk = dict(doc, model={"name": "pharmacokinetics/one_compartment_oral"}, outputs=["Cc"],
              population={"typical": {"CL": 2.8}}, solver="auto")
    pk.pop("dt0")
    with pytest.raises(vh.InputError, match=r"arms\[0\]\.pacing: Pacing: .* declares 0 inputs with a documented stimulus"):
        parse_trial_toml(pk)


def test_a_trial_refuses_what_is_not_a_protocol():
    m, pop = cells()
    with pytest.raises(vh.InputError, match=r"Trial arms\['a'\]: a trial arm's protocol must be None, a vhtwin.Regimen"):
        vh.Trial(model=m, population=pop, arms={"a": "1 Hz"}, n_per_arm=2, times=TIMES, seed=0)
    with pytest.raises(vh.InputError, match="Trial max_steps 0 must be a positive integer"):
        vh.Trial(model=m, population=pop, arms=ARMS, n_per_arm=2, times=TIMES, seed=0, max_steps=0)
    with pytest.raises(vh.InputError, match="needs dt0|give dt0"):
        vh.Trial(model=m, population=pop, arms=ARMS, n_per_arm=2, times=TIMES, seed=0, solver="rush_larsen")
