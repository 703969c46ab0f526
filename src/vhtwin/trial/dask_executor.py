"""Batches of a trial as tasks on a Dask distributed cluster.

Each task rebuilds the trial from its spec (JSON: the model by library name or file path, checked by source hash),
computes one batch, writes its own region of the one store and then the batch's marker -- so tasks are idempotent:
a task that runs twice (its worker died after writing, say) writes the same bytes again. When a worker dies, the
scheduler runs its tasks elsewhere; nothing is lost and the store is the local executor's, bit for bit.

Workers must see the store's path (a shared file system on a cluster) and have vhtwin installed. Run one worker
process per accelerator (``CUDA_VISIBLE_DEVICES=<i> dask worker ADDRESS --nthreads 1``): each task then shards
its batch over the devices its process sees.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from ..errors import InputError
from .batch import run_batch


@lru_cache(maxsize=4)
def _trial_from_spec(trial_class, spec_json: str):
    """One trial per spec per worker process: decoded once, so its compiled solve is reused by every batch."""
    import json

    return trial_class.from_dict(json.loads(spec_json))


def batch_task(trial_class, spec_json: str, store: str, arm: int, batch: int, batch_size: int) -> dict:
    """The task a worker runs: one batch computed, written and marked; returns the marker's information.

    ``trial_class`` (:class:`vhtwin.Trial`, sent by reference) rebuilds the trial from its spec on the worker.
    """
    return run_batch(_trial_from_spec(trial_class, spec_json), Path(store), arm, batch, batch_size)


#: Hosts of a scheduler on this machine: plain TCP to them does not leave it.
_LOOPBACK = ("localhost", "127.", "::1", "[::1]")


def check_scheduler(scheduler, insecure: bool) -> None:
    """Refuse a scheduler reached over an unencrypted connection to another machine, unless ``insecure``.

    Tasks carry the trial's spec and return patients' results; over plain TCP anyone on the network path can read
    or alter them, and anyone who can reach an open scheduler can run code on its workers. ``tls://`` (with
    ``distributed.security.Security`` certificates) is accepted; so are ``inproc://`` and plain TCP to this
    machine's loopback address.

    Raises
    ------
    InputError
        Naming the address and how to proceed.
    """
    if scheduler is None:
        return  # a local cluster this run starts: its connections stay on this machine
    address = scheduler if isinstance(scheduler, str) else getattr(getattr(scheduler, "scheduler", None), "address", None)
    if not isinstance(address, str):
        return  # not an address nor a client with one: refused, naming its type, where the client is made
    scheme, _, rest = address.partition("://") if "://" in address else ("tcp", "", address)
    host = rest.rsplit(":", 1)[0] if rest.count(":") == 1 or rest.startswith("[") else rest
    if scheme in ("tls", "inproc") or (scheme == "tcp" and host.startswith(_LOOPBACK)) or insecure:
        return
    raise InputError(
        f"scheduler {address!r} is reached over {scheme}:// without TLS: the trial's spec and results would cross "
        "the network unencrypted, and an open scheduler runs anyone's code. Use a tls:// address with certificates "
        "(distributed.security.Security; docs/guides/trials.md, On a cluster), or pass insecure_scheduler=True "
        "(vhtwin run --insecure-scheduler) on a network you trust"
    )


def run_on_dask(trial_class, spec_json: str, path: Path, todo, batch_size: int, finished, scheduler, stop=None) -> None:
    """Submit the missing batches and report each as it completes; on an error cancel the rest and re-raise."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise InputError("executor='dask' needs the 'distributed' package (pip install 'dask[distributed]')") from None
    cluster = None
    if scheduler is None:
        import jax

        cluster = LocalCluster(n_workers=max(1, len(jax.local_devices()) // 2), threads_per_worker=1, processes=True)
        client = Client(cluster)
    elif isinstance(scheduler, Client):
        client = scheduler
    elif isinstance(scheduler, str):
        client = Client(scheduler)
    else:
        raise InputError(f"scheduler must be an address (str) or a distributed.Client, got {type(scheduler).__name__}")
    digest = hashlib.sha256(spec_json.encode()).hexdigest()[:12]
    store = str(Path(path).resolve())
    try:
        futures = [
            client.submit(batch_task, trial_class, spec_json, store, arm, batch, batch_size,
                          key=f"vhtwin-{digest}-{arm}-{batch}", retries=3, pure=False)
            for arm, batch in todo
        ]
        try:
            for future in as_completed(futures):
                finished(future.result())
                if stop is not None:
                    stop.check("while batches ran on the cluster")
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if scheduler is None or isinstance(scheduler, str):
            client.close()
        if cluster is not None:
            cluster.close()
