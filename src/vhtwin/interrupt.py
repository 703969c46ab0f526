"""Stopping a run on Ctrl-C: within a second at any stage, with every batch in the store whole.

Python handles a signal only between bytecodes of the main thread, so a main thread inside a long compilation
(XLA's, in C++) would not see Ctrl-C for minutes, and a KeyboardInterrupt raised wherever the main thread happens
to be can be swallowed by a library (a garbage-collection callback). :func:`run_stoppable` therefore runs the work
-- imports and compilation included -- in a thread and keeps the main thread waiting, with a SIGINT handler that
only records the request. On Ctrl-C it asks the run to stop between
batches (:class:`Stop`), waits a moment for it, then holds the write guard: a batch being written finishes with
its completion marker, and no further write starts. The caller then says how to resume and leaves the process.
"""

from __future__ import annotations

import signal
import threading
from typing import Any, Callable


class TrialInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C; the batches finished before it are in the store, and a resumed run continues."""


class Stop:
    """A request to stop between batches, and the guard held while a batch's data and marker are written."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.writing = threading.Lock()

    def check(self, where: str) -> None:
        """Raise :class:`TrialInterrupted` if a stop was requested (called between batches)."""
        if self.requested.is_set():
            raise TrialInterrupted(f"stopped {where}")


def run_stoppable(work: Callable[[Stop], Any], *, grace_s: float = 0.5, stop: Stop | None = None) -> Any:
    """Run ``work(stop)`` in a thread, and return its result or raise its error (call from the main thread).

    While it runs, SIGINT (Ctrl-C) only sets ``stop.requested`` -- it raises nothing, so it cannot be swallowed by
    a library that catches exceptions where it lands. On Ctrl-C the run is asked to stop between batches; after
    ``grace_s`` (or sooner, if it stopped) the write guard is taken -- waiting only for a write already under way
    -- and :class:`TrialInterrupted` is raised. The thread may still be computing (it is a daemon, and the caller
    ends the process); it can no longer write.
    """
    stop = Stop() if stop is None else stop  # a request already made (while starting up) stops it at once
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work(stop)
        except BaseException as err:  # handed to the calling thread
            outcome["error"] = err

    thread = threading.Thread(target=target, name="vhtwin-run", daemon=True)
    previous = signal.signal(signal.SIGINT, lambda signum, frame: stop.requested.set())
    try:
        if stop.requested.is_set():
            raise TrialInterrupted("stopped by Ctrl-C before it started")
        thread.start()
        while thread.is_alive() and not stop.requested.wait(0.05):
            pass
        if stop.requested.is_set() and thread.is_alive():
            thread.join(grace_s)
            stop.writing.acquire()  # a write under way ends (marker included); none starts after it
            raise TrialInterrupted("stopped by Ctrl-C")
    finally:
        signal.signal(signal.SIGINT, previous)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
