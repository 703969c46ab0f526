"""One writer per store: a lock file beside the store naming its owner (host, process id, start time).

The lock is the hidden sibling ``.NAME.lock`` of the store ``NAME`` (beside it, not inside, because the store may
not exist yet or may be replaced by a swap while the run holds it). It is made with ``O_CREAT | O_EXCL``, so of two
runs that start together exactly one gets it; the other is refused, naming the owner. A process killed while it
held the lock leaves it behind: the next run reports it as stale -- with its owner, and whether that process still
runs -- and continues only when told to take it over (``take_over=True``, ``vhtwin run --take-over``), since only
the user knows whether a process on another host, or a Dask cluster the run left, is still writing.
"""

from __future__ import annotations

import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError
from .paths import lock_path


@contextmanager
def writer_lock(store: Path, *, take_over: bool = False):
    """Hold the store's writer lock for the duration of the block; release it (only if still ours) at the end.

    Raises
    ------
    InputError
        If another run holds the lock, or a stale lock is found and ``take_over`` is False.
    """
    path = lock_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _acquire(path, Path(store), me, take_over)
    try:
        yield
    finally:
        if _owner(path) == me:
            path.unlink(missing_ok=True)


def _acquire(path: Path, store: Path, me: dict, take_over: bool) -> None:
    # The lock appears complete or not at all: written to a private file, then hard-linked to its name, which
    # fails if the name exists (atomic, like O_EXCL, on local and network file systems).
    mine = path.with_name(f"{path.name}.{me['pid']}.tmp")
    mine.write_text(json.dumps(me))
    try:
        for _ in range(3):
            try:
                os.link(mine, path)
                return
            except FileExistsError:
                owner = _owner(path)
                if owner is not None:
                    _refuse_or_take(path, store, owner, me, take_over)
    finally:
        mine.unlink(missing_ok=True)
    raise InputError(f"could not take the writer lock {str(path)!r} of store {str(store)!r}: other runs keep "
                     "taking it; make sure one run at a time writes this store")


def _refuse_or_take(path: Path, store: Path, owner: dict, me: dict, take_over: bool) -> None:
    who = f"process {owner.get('pid')} on host {owner.get('host')!r} (since {owner.get('started')})"
    here = owner.get("host") == me["host"]
    if here and process_alive(owner.get("pid")):
        raise InputError(f"store {str(store)!r} is being written by {who}; two runs must not write one store -- wait "
                         "for it to finish, or stop it and resume")
    if not take_over:
        state = ("which no longer runs: it was killed or crashed" if here else
                 "on another host, where vhtwin cannot tell whether it still runs")
        raise InputError(f"store {str(store)!r} has a stale writer lock {str(path)!r} left by {who}, {state}. If no "
                         "run writes the store any more, take it over: take_over=True (vhtwin run --take-over)")
    # Rename the stale lock aside first: of two runs taking over at once, only one rename succeeds.
    aside = path.with_name(f"{path.name}.taken-{me['pid']}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    aside.unlink(missing_ok=True)


def _owner(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"host": "?", "pid": -1, "started": "?"}
    return doc if isinstance(doc, dict) else {"host": "?", "pid": -1, "started": "?"}


def release_if_ours(store: Path) -> None:
    """Remove the store's lock if this process holds it (a run left by Ctrl-C, whose thread cannot release it)."""
    path = lock_path(store)
    owner = _owner(path)
    if owner is not None and owner.get("host") == socket.gethostname() and owner.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


def process_alive(pid) -> bool:
    """Whether a process with this id runs on this host (a non-positive or non-integer id: no)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
