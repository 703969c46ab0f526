"""SIGKILL at ten points of creating and writing a store (:mod:`tests.trial.kill_at`), each resumed: the store
left behind is either absent or a resumable store, and the resumed store equals an uninterrupted one bit for bit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vhtwin as vh
from vhtwin.trial import store as st

from .helpers import assert_same_store
from .kill_at import BATCH, N_PER_ARM, POINTS
from .trial_fixture import make_trial

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    make_trial(n_per_arm=N_PER_ARM).run(path, batch_size=BATCH, progress=False)
    return path


@pytest.fixture(scope="module")
def compile_cache(tmp_path_factory) -> Path:
    """One compilation cache for the killed processes: the first compiles, the others load."""
    return tmp_path_factory.mktemp("jax-cache")


def test_there_are_ten_or_more_kill_points():
    assert len(POINTS) >= 10


@pytest.mark.parametrize("point", sorted(POINTS))
def test_a_run_killed_at_any_point_resumes_to_the_uninterrupted_store(point, reference, compile_cache, tmp_path):
    path = tmp_path / "t.zarr"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "VHTWIN_CACHE_DIR": str(compile_cache)}
    killed = subprocess.run([sys.executable, "-m", "tests.trial.kill_at", point, str(path)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]  # it died at the point, by SIGKILL
    assert not path.exists() or st.is_trial_store(path)  # nothing, or a store a resume can open
    if path.exists():
        assert vh.verify_trial(path).state in ("complete", "incomplete")  # nothing damaged: at worst unfinished
    with pytest.raises(vh.InputError, match=r"has a stale writer lock .* left by process \d+ .*which no longer runs"):
        make_trial(n_per_arm=N_PER_ARM).run(path, batch_size=BATCH, resume=True, progress=False)
    ds = make_trial(n_per_arm=N_PER_ARM).run(path, batch_size=BATCH, resume=True, progress=False, take_over=True)
    assert ds.attrs["vhtwin_complete"] is True
    assert_same_store(path, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.zarr"]  # no hidden creation folder left


def test_a_store_being_written_is_not_written_by_a_second_run(reference, compile_cache, tmp_path):
    """A second run (overwrite, resume) is refused while the first writes, naming it; once the first is killed its
    lock is reported stale and taken over only when asked, and the store then completes as if never stopped."""
    path = tmp_path / "t.zarr"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "VHTWIN_CACHE_DIR": str(compile_cache)}
    first = subprocess.Popen([sys.executable, "-m", "tests.trial.kill_at", "pause_after_the_first_batch", str(path)],
                             cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (path.exists() and st.done_batches(path)):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.stderr else ""
            time.sleep(0.2)
        before = sorted(p.name for p in path.rglob("*"))
        for how in ({"overwrite": True}, {"resume": True}, {"resume": True, "take_over": True}):
            with pytest.raises(vh.InputError, match=rf"is being written by process {first.pid} on host"):
                make_trial(n_per_arm=N_PER_ARM, seed=2).run(path, batch_size=BATCH, progress=False, **how)
        assert sorted(p.name for p in path.rglob("*")) == before  # untouched
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    done = subprocess.run([sys.executable, "-m", "vhtwin", "run", "--out", str(path), "--resume", "--quiet"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"stale writer lock" in done.stderr and f"left by process {first.pid}" in done.stderr
    assert "--take-over" in done.stderr
    make_trial(n_per_arm=N_PER_ARM).run(path, batch_size=BATCH, resume=True, progress=False, take_over=True)
    assert_same_store(path, reference)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.zarr"]  # the lock is released
