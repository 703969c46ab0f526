"""Scale-out on a real Dask distributed cluster (a LocalCluster of 2 workers started by the test)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from vhtwin.trial import store as st  # noqa: E402

from .helpers import assert_same_data, assert_same_store  # noqa: E402
from .trial_fixture import make_trial  # noqa: E402


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("local") / "trial.zarr"
    return path, make_trial().run(path, batch_size=100, progress=False)


def test_dask_store_equals_the_local_executors_bit_for_bit(local_reference, tmp_path):
    ref_path, ref = local_reference
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        ds = make_trial().run(tmp_path / "t.zarr", batch_size=100, executor="dask", scheduler=client, progress=False)
        ran_on = {w for w in client.run(lambda: 1)}  # both workers alive and used by the cluster
    assert len(ran_on) == 2
    assert_same_data(ds, ref)
    assert_same_store(tmp_path / "t.zarr", ref_path)


def test_a_worker_killed_mid_run_loses_nothing(local_reference, tmp_path):
    """Two worker processes; one is SIGKILLed while batches are running. Its tasks run again elsewhere (its nanny
    restarts it) and the store still equals the local executor's, bit for bit."""
    ref_path, _ = local_reference
    path = tmp_path / "t.zarr"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        pids = client.run(os.getpid)  # worker address -> pid
        result, errors = {}, []

        def run():
            try:
                result["ds"] = make_trial().run(path, batch_size=100, executor="dask", scheduler=client, progress=False)
            except BaseException as err:  # reported below
                errors.append(err)

        thread = threading.Thread(target=run)
        thread.start()
        killed = None
        deadline = time.time() + 180
        while time.time() < deadline and thread.is_alive():
            processing = client.processing()
            busy = [w for w, tasks in processing.items() if tasks and w in pids]
            if path.exists() and len(st.done_batches(path)) >= 1 and busy:
                killed = len(st.done_batches(path))
                os.kill(pids[busy[0]], signal.SIGKILL)
                break
            time.sleep(0.01)
        thread.join(300)
    assert not errors, errors
    assert killed is not None and killed < 12, "the kill must happen mid-run"
    assert len(st.done_batches(path)) == 12
    assert_same_store(path, ref_path)
