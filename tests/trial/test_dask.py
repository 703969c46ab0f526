"""Scale-out on a real Dask distributed cluster (a LocalCluster of 2 workers started by the test)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

pytestmark = pytest.mark.slow

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


def test_the_documented_tls_setup_runs_a_trial(local_reference, tmp_path):
    """docs/guides/trials.md, On a cluster: a certificate authority and one certificate made with openssl, a
    scheduler and worker that require TLS, the client's certificate given in the Dask configuration and the
    scheduler by its tls:// address. The store equals the local executor's."""
    import shutil
    import subprocess

    import dask
    from distributed.security import Security

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")

    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True, timeout=60)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=vhtwin-test-ca",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=vhtwin-node", "-keyout", "node.key", "-out", "node.csr")
    openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-out", "node.pem")
    ca, cert, key = (str(tmp_path / f) for f in ("ca.pem", "node.pem", "node.key"))
    security = Security(tls_ca_file=ca, tls_scheduler_cert=cert, tls_scheduler_key=key, tls_worker_cert=cert,
                        tls_worker_key=key, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    ref_path, _ = local_reference
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tls://",
                                  security=security, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        with dask.config.set({"distributed.comm.require-encryption": True, "distributed.comm.tls.ca-file": ca,
                              "distributed.comm.tls.client.cert": cert, "distributed.comm.tls.client.key": key}):
            make_trial().run(tmp_path / "t.zarr", batch_size=100, executor="dask", scheduler=address, progress=False)
    assert_same_store(tmp_path / "t.zarr", ref_path)
