"""The edges of a run: Ctrl-C at any stage stops it, every written batch whole, and says the exact command that
resumes it; a progress line appears before the first batch is done; a scheduler over plain TCP to another machine
is refused unless asked for."""

from __future__ import annotations

import io
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vhtwin as vh
from vhtwin.trial import store as st
from vhtwin.trial.dask_executor import check_scheduler
from vhtwin.trial.paths import lock_path
from vhtwin.trial.progress import Progress

from .helpers import assert_same_store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
N_PER_ARM, BATCH = 3000, 500  # the built-in trial, smaller: 12 batches


def environment(tmp_path: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "VHTWIN_CACHE_DIR": str(tmp_path / "jax-cache")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The built-in trial run uninterrupted, through the same command."""
    root = tmp_path_factory.mktemp("ref")
    path = root / "ref.zarr"
    done = subprocess.run([sys.executable, "-m", "vhtwin", "run", "--n-per-arm", str(N_PER_ARM), "--batch-size",
                           str(BATCH), "--out", str(path), "--quiet"], cwd=root, env=environment(root),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return path


def start_run(path: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vhtwin", "run", "--n-per-arm", str(N_PER_ARM), "--batch-size",
                             str(BATCH), "--out", str(path)], cwd=cwd, env=environment(cwd), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["while compiling", "after the first batch"])
def test_ctrl_c_stops_at_any_stage_and_the_printed_command_finishes_the_run(when, reference, tmp_path):
    path = tmp_path / "t.zarr"
    run = start_run(path, tmp_path)
    if when == "while compiling":
        # The run prints the trial once it is built, then creates the store and compiles: a stage in which the
        # main thread, were it running the work, would be inside XLA and deaf to Ctrl-C for seconds.
        assert run.stdout.readline().startswith("<vhtwin Trial")
    else:
        deadline = time.monotonic() + 300
        while not (path.exists() and st.done_batches(path)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert st.done_batches(path), "the run never finished a batch"
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)  # it stops (it is not swallowed, nor left running)
    assert run.returncode == 130 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("vhtwin: interrupted: ") and "to finish the run: vhtwin run " in last, last
    assert not lock_path(path).exists()  # released
    if path.exists():
        assert vh.verify_trial(path).state in ("complete", "incomplete")  # every written batch whole
        if when == "after the first batch":
            assert 1 <= len(st.done_batches(path)) < 12
    command = shlex.split(last.split("to finish the run: ", 1)[1])
    assert command[0] == "vhtwin" and "--resume" in command
    done = subprocess.run([sys.executable, "-m", "vhtwin", *command[1:], "--quiet"], cwd=tmp_path,
                          env=environment(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert_same_store(path, reference)


def test_a_progress_line_appears_before_the_first_batch_is_done():
    stream = io.StringIO()
    bar = Progress(1000, stream=stream, first_after=0.2)
    try:
        deadline = time.monotonic() + 30
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        bar.close()
    line = stream.getvalue().splitlines()[0]
    assert line.startswith("0/1,000 patients (0%)") and "elapsed -- compiling and computing the first batch" in line


def test_a_run_whose_first_batch_takes_long_prints_progress_meanwhile(tmp_path, monkeypatch, capsys):
    """The default clock: a line 5 s after the start, while the first batch (slowed here to 7 s) is still running."""
    from .trial_fixture import make_trial

    trial = make_trial(n_per_arm=20)
    real = type(trial).compute_batch

    def slow(self, arm, batch, batch_size):
        if (arm, batch) == (0, 0):
            time.sleep(7.0)
        return real(self, arm, batch, batch_size)

    monkeypatch.setattr(type(trial), "compute_batch", slow)
    trial.run(tmp_path / "t.zarr", batch_size=10, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert "0/40 patients (0%)" in lines[0] and "compiling and computing the first batch" in lines[0], lines
    assert lines[-1].startswith("40/40 patients (100%)")


@pytest.mark.parametrize("address", ["tcp://192.0.2.10:8786", "192.0.2.10:8786", "ws://scheduler.example.org:8786",
                                     "tcp://scheduler.example.org"])
def test_a_scheduler_over_plain_tcp_to_another_machine_is_refused(address):
    with pytest.raises(vh.InputError, match=rf"scheduler '{address}' is reached over .* without TLS"):
        check_scheduler(address, insecure=False)
    check_scheduler(address, insecure=True)  # the explicit opt-in


@pytest.mark.parametrize("address", ["tls://scheduler.example.org:8786", "tcp://127.0.0.1:8786", "localhost:8786",
                                     "[::1]:8786", "inproc://10.0.0.1/123/1"])
def test_tls_and_this_machine_are_accepted(address):
    check_scheduler(address, insecure=False)


def test_the_command_line_refuses_a_plain_tcp_scheduler_before_connecting(tmp_path):
    done = subprocess.run([sys.executable, "-m", "vhtwin", "run", "--executor", "dask", "--scheduler",
                           "tcp://192.0.2.10:8786", "--out", str(tmp_path / "t.zarr"), "--quiet"], cwd=tmp_path,
                          env=environment(tmp_path), capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(lines) == 1 and "without TLS" in lines[0] and "--insecure-scheduler" in lines[0], lines
    assert not (tmp_path / "t.zarr").exists()


def test_ctrl_c_while_the_command_loads_is_recorded_not_raised(tmp_path):
    """SIGINT that arrives while the command's libraries load (before any work) ends it with status 130 and one
    line -- not a KeyboardInterrupt that a library could swallow, nor a traceback."""
    import vhtwin.cli as cli

    handlers = []
    real = cli._parser

    def parser_after_a_ctrl_c():
        handlers.append(signal.getsignal(signal.SIGINT))
        os.kill(os.getpid(), signal.SIGINT)  # delivered now, while "loading"
        time.sleep(0.1)
        return real()

    before = signal.getsignal(signal.SIGINT)  # the test runner's own (a worker process may set one)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli, "_parser", parser_after_a_ctrl_c)
        status = cli.main(["run", "--out", str(tmp_path / "t.zarr"), "--quiet"])
    assert status == 130 and not (tmp_path / "t.zarr").exists()
    assert handlers and handlers[0] is not before  # vhtwin's, which records the request
    assert signal.getsignal(signal.SIGINT) is before  # restored
