"""Trial runs into a Zarr store: layout, determinism, provenance, resume after a kill, refusals, failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.trial import store as st

from .helpers import assert_same_data, assert_same_store
from .trial_fixture import make_trial

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run (batch size 100: 6 batches per arm)."""
    path = tmp_path_factory.mktemp("ref") / "trial.zarr"
    ds = make_trial().run(path, batch_size=100, progress=False)
    return path, ds


def test_the_documented_example_runs_and_has_the_documented_layout(tmp_path):
    m = vh.load_model("pharmacokinetics/one_compartment_oral")
    pop = vh.Population(m, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018},
                        residual=vh.Residual(additive=0.7))
    trial = vh.Trial(model=m, population=pop, n_per_arm=500, times=np.arange(0.0, 169.0), outputs=["Cc"], seed=1,
                     arms={"100 mg q12h": vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot"),
                           "200 mg q24h": vh.Regimen.repeated(amount=200.0, interval=24.0, count=7, into="depot")})
    ds = trial.run(tmp_path / "trial.zarr", batch_size=200, progress=False)
    assert dict(ds.sizes) == {"arm": 2, "patient": 500, "time": 169}
    assert ds["Cc"].dims == ("arm", "patient", "time") and ds["Cc"].attrs["units"] == "mg L-1"
    assert ds["Cc"].encoding["chunks"] == (1, 200, 169)  # one batch of patients by all times
    for v in ("status", "n_steps", "CL", "V", "ka", "eta_CL", "patient_id"):
        assert ds[v].dims == ("arm", "patient"), v
    assert list(ds["arm"].values) == ["100 mg q12h", "200 mg q24h"]
    assert np.all(ds["status"].values == 0)
    # a paired design: the same patients in both arms
    np.testing.assert_array_equal(ds["CL"].values[0], ds["CL"].values[1])
    # the store's numbers are simulate's numbers for those patients
    draw = pop.sample(n=500, seed=1)
    direct = vh.simulate(m, draw, times=np.arange(0.0, 169.0), protocol=trial.arms["200 mg q24h"], outputs=["Cc"])
    np.testing.assert_allclose(ds["Cc"].values[1], direct["Cc"].values, rtol=1e-12)
    # provenance
    a = ds.attrs
    for key in ("vhtwin_version", "vhtwin_git_revision", "jax_version", "jax_backend", "devices", "precision",
                "solver", "rtol", "atol", "seed", "model_source_sha256", "vhtwin_spec"):
        assert key in a, key
    assert a["model_source_sha256"] == m.source_hash() and a["seed"] == "1" and a["vhtwin_complete"] is True
    assert json.loads(a["vhtwin_spec"]) == trial.to_dict()
    assert json.loads(a["vhtwin_status_counts"]) == {"100 mg q12h": {"success": 500}, "200 mg q24h": {"success": 500}}
    assert vh.open_trial(tmp_path / "trial.zarr")["Cc"].chunks is not None  # lazy (dask)


def test_results_do_not_depend_on_batch_size(reference, tmp_path):
    _, ref = reference
    other = make_trial().run(tmp_path / "t.zarr", batch_size=250, progress=False)
    for v in ("Cc", "CL", "status", "patient_id"):
        np.testing.assert_array_equal(other[v].values, ref[v].values)


def test_independent_arms_draw_different_patients(tmp_path):
    ds = make_trial(n_per_arm=50, independent_arms=True).run(tmp_path / "t.zarr", batch_size=50, progress=False)
    assert ds["patient_id"].values[0].tolist() == list(range(50))
    assert ds["patient_id"].values[1].tolist() == list(range(50, 100))
    assert not np.array_equal(ds["CL"].values[0], ds["CL"].values[1])


def test_an_existing_store_is_refused_without_resume_or_overwrite(reference, tmp_path):
    path, _ = reference
    with pytest.raises(vh.InputError, match="already exists; pass resume=True"):
        make_trial().run(path, batch_size=100, progress=False)
    with pytest.raises(vh.InputError, match=r"different spec \(differs in \['seed'\]\)"):
        make_trial(seed=2).run(path, batch_size=100, resume=True, progress=False)
    with pytest.raises(vh.InputError, match="batch_size 100, not 150"):
        make_trial().run(path, batch_size=150, resume=True, progress=False)
    with pytest.raises(vh.InputError, match="exclude each other"):
        make_trial().run(path, batch_size=100, resume=True, overwrite=True, progress=False)


def test_bad_arguments_are_refused_before_any_compute(tmp_path):
    trial = make_trial(n_per_arm=10)
    with pytest.raises(vh.InputError, match="batch_size 0 must be a positive integer"):
        trial.run(tmp_path / "a.zarr", batch_size=0)
    with pytest.raises(vh.InputError, match="executor 'spark' must be 'local' or 'dask'"):
        trial.run(tmp_path / "a.zarr", executor="spark")
    assert not (tmp_path / "a.zarr").exists()
    with pytest.raises(vh.InputError, match="arm 'bad': .*unknown dose target 'gut'"):
        make_trial(arms={"bad": vh.Regimen.bolus(1.0, into="gut")})
    with pytest.raises(vh.InputError, match="n_per_arm 0"):
        make_trial(n_per_arm=0)
    with pytest.raises(vh.InputError, match="unknown output 'Cp'"):
        make_trial(outputs=["Cp"])


def test_resume_finishes_only_missing_batches_and_rewrites_a_half_written_one(reference, tmp_path):
    ref_path, ref = reference
    path = tmp_path / "t.zarr"
    trial = make_trial()
    trial.run(path, batch_size=100, progress=False)
    # Lose three batches: two markers removed, and one batch half-written (data overwritten, marker removed).
    for name in ("arm0-batch2", "arm1-batch5", "arm1-batch0"):
        (path / "batches" / name / "zarr.json").unlink()
    garbage = trial.compute_batch(1, 0, 100).map(lambda v: v * 0 + 7 if v.dtype.kind == "f" else v)
    st.write_region(path, garbage, 1, 0)
    st.update_attrs(path, {"vhtwin_complete": False})
    # A writer killed mid-write leaves its temporary files (a chunk, a marker) behind.
    (path / "Cc" / "c" / "1" / "0" / "0.0123abcd.partial").write_bytes(b"torn")
    (path / "batches" / "arm1-batch0").mkdir(exist_ok=True)
    (path / "batches" / "arm1-batch0" / ".zarr.json.4242.tmp").write_text("{")
    before = {p: p.stat().st_mtime_ns for p in (path / "Cc" / "c").rglob("*") if p.is_file()}
    ds = trial.run(path, batch_size=100, resume=True, progress=False)
    rewritten = {p for p, t in before.items() if p.exists() and p.stat().st_mtime_ns != t}
    assert not list(path.rglob("*.partial")) and not list(path.rglob(".*.tmp")), "leftovers swept"
    assert {str(p.relative_to(path / "Cc" / "c")) for p in rewritten} == {"0/2/0", "1/5/0", "1/0/0"}
    assert_same_data(ds, ref)
    assert_same_store(path, ref_path)


def test_a_killed_run_resumes_to_the_uninterrupted_store(reference, tmp_path):
    """SIGKILL at two different moments of a run, then resume: the store equals the uninterrupted one, bit for bit."""
    ref_path, _ = reference
    path = tmp_path / "t.zarr"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed_at = []
    for wanted in (2, 7):  # kill after this many batch markers have appeared
        proc = subprocess.Popen([sys.executable, "-m", "tests.trial.trial_fixture", str(path), "100"], cwd=ROOT, env=env)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            done = len(st.done_batches(path)) if path.exists() else 0
            if done >= wanted:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at.append(len(st.done_batches(path)))
    assert all(0 < k < 12 for k in killed_at), killed_at  # both kills happened mid-run
    ds = make_trial().run(path, batch_size=100, resume=True, progress=False, take_over=True)
    assert ds.attrs["vhtwin_complete"] is True and len(st.done_batches(path)) == 12
    assert_same_store(path, ref_path)


def test_failures_are_counted_and_stop_the_run_past_the_threshold(tmp_path):
    """max_steps=... is not in a spec; a too-tight solver setting is: rtol so small that some patients fail."""
    m = vh.load_model("pharmacokinetics/one_compartment_oral_mm")
    pop = vh.Population(m, typical={"Vmax": 20.0, "Km": 4.0, "V": 50.0}, omega={"Vmax": 0.5})
    arms = {"ss": vh.Regimen.repeated(150.0, 6.0, 2, "depot", steady_state=True)}  # 25 mg/h: some have no steady state
    trial = vh.Trial(model=m, population=pop, arms=arms, n_per_arm=200, times=np.arange(0.0, 12.0), seed=3,
                     max_failure_fraction=0.9)
    ds = trial.run(tmp_path / "a.zarr", batch_size=50, progress=False)
    failed = int((ds["status"] == int(vh.Status.NO_STEADY_STATE)).sum())
    assert 0 < failed < 200
    assert json.loads(ds.attrs["vhtwin_status_counts"])["ss"] == {"success": 200 - failed, "no_steady_state": failed}
    assert np.all(np.isnan(ds["Cc"].values[ds["status"].values != 0]))
    strict = vh.Trial(model=m, population=pop, arms=arms, n_per_arm=200, times=np.arange(0.0, 12.0), seed=3)
    with pytest.raises(vh.TrialError, match=r"failed .* more than max_failure_fraction 0.01"):
        strict.run(tmp_path / "b.zarr", batch_size=50, progress=False)
    done = st.done_batches(tmp_path / "b.zarr")
    assert 0 < len(done) < 4  # it stopped early; what it finished is in the store
    opened = vh.open_trial(tmp_path / "b.zarr")
    assert "vhtwin_complete" not in opened.attrs and opened.attrs["vhtwin_progress"] == f"{len(done)} of 4 batches done"


def test_open_trial_refuses_other_stores(tmp_path):
    with pytest.raises(vh.InputError, match="does not exist"):
        vh.open_trial(tmp_path / "missing.zarr")
    vh.io.write_zarr(vh.simulate(vh.load_model("pharmacokinetics/one_compartment_iv"), times=[1.0]), tmp_path / "s.zarr")
    with pytest.raises(vh.InputError, match="not a vhtwin trial store"):
        vh.open_trial(tmp_path / "s.zarr")


def test_batches_reuse_one_compiled_solve(tmp_path, caplog):
    """After one batch has compiled the solve, further batches -- the short last one too, padded to the batch
    size -- and further runs of the same shapes compile nothing."""
    import jax

    make_trial(n_per_arm=100).run(tmp_path / "warm.zarr", batch_size=100, progress=False)
    with caplog.at_level("WARNING", logger="jax"), jax.log_compiles():
        make_trial(n_per_arm=250, seed=9).run(tmp_path / "t.zarr", batch_size=100, progress=False)
    compiles = [r.getMessage() for r in caplog.records if "ompil" in r.getMessage()]
    assert compiles == []
