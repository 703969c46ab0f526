"""How many programs vhtwin compiles, and the persistent compilation cache that saves compiling them again.

``vh.compilation_count()`` counts every XLA compilation that happens while a vhtwin call runs (``simulate``, a
``Simulator`` call, ``calibrate``, a trial batch, ...), in this process. A program that JAX's persistent cache
already holds is loaded, not compiled: it counts in :func:`cache_loads`, not in :func:`compilation_count`.

What keys a compiled solve (so what a new call may compile): the model; the backend and method; the loop's static
settings (``max_steps``, the state rows the outputs need); the precision; the number of devices
the batch is split over; the layout (event table and output times shared by the batch or per patient; whether
any event is a reset; on the exact path, whether any input such as an infusion is non-zero); and the bucket sizes
of lanes, event rows, output times and, on the exact path, grid points and distinct step lengths
(:mod:`vhtwin.engine.buckets`). Dose amounts and times, sample times, parameters, initial states, tolerances and
step bounds are data: changing them within the same buckets compiles nothing.

Persistent cache: compiled programs are written to ``$VHTWIN_CACHE_DIR`` (default: the user cache directory,
``$XDG_CACHE_HOME/vhtwin/jax`` or ``~/.cache/vhtwin/jax``), so a second process loads what the first compiled.
``VHTWIN_CACHE_DIR=off`` turns it off. It is switched on at vhtwin's first solve, unless the caller has set JAX's
own ``jax_compilation_cache_dir`` (then JAX's setting is kept as it is).
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from pathlib import Path

import jax
from jax import monitoring

__all__ = ["cache_directory", "cache_loads", "compilation_count", "counting"]

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"

_lock = threading.Lock()
_counts = {"compiled": 0, "loaded": 0, "seconds": 0.0}
_local = threading.local()  # depth: vhtwin calls running in this thread; hit: the last program came from the cache


def _depth() -> int:
    return getattr(_local, "depth", 0)


def _on_event(event: str, **kwargs) -> None:
    if event == _CACHE_HIT_EVENT:
        _local.hit = True


def _on_duration(event: str, duration: float, **kwargs) -> None:
    if event != _COMPILE_EVENT:
        return
    hit, _local.hit = getattr(_local, "hit", False), False
    if _depth() == 0:
        return
    with _lock:
        if hit:
            _counts["loaded"] += 1
        else:
            _counts["compiled"] += 1
            _counts["seconds"] += float(duration)


monitoring.register_event_listener(_on_event)
monitoring.register_event_duration_secs_listener(_on_duration)


def compilation_count() -> int:
    """How many XLA programs vhtwin has compiled in this process (loads from the persistent cache excluded).

    Examples
    --------
    >>> before = vh.compilation_count()
    >>> vh.simulate(model, params, times=np.arange(24.0), protocol=reg)
    >>> vh.compilation_count() - before    # 0 once this model, solver and bucket sizes have been compiled
    """
    return _counts["compiled"]


def cache_loads() -> int:
    """How many programs vhtwin loaded from the persistent compilation cache instead of compiling them."""
    return _counts["loaded"]


def compilation_seconds() -> float:
    """Total seconds spent in XLA compilation by vhtwin calls in this process."""
    return _counts["seconds"]


@contextlib.contextmanager
def counting():
    """Count the compilations in this block as vhtwin's (every public entry point runs inside one)."""
    _enable_persistent_cache()
    _local.depth = _depth() + 1
    try:
        yield
    finally:
        _local.depth -= 1


def counted(function):
    """Decorator: the function runs inside :func:`counting`."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with counting():
            return function(*args, **kwargs)

    return wrapper


def cache_directory() -> Path | None:
    """Where the persistent cache lives (``None``: turned off by ``VHTWIN_CACHE_DIR=off``)."""
    setting = os.environ.get("VHTWIN_CACHE_DIR", "").strip()
    if setting.lower() in ("off", "0", "none", "false"):
        return None
    if setting:
        return Path(setting).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vhtwin" / "jax"


_enabled = False

#: Programs that compile faster than this are not written to the persistent cache.
MIN_COMPILE_SECONDS = 0.2


def _enable_persistent_cache() -> None:
    """Point JAX's persistent cache at vhtwin's directory, once, unless the caller configured JAX's own."""
    global _enabled
    if _enabled:
        return
    _enabled = True
    if jax.config.jax_compilation_cache_dir:  # the caller chose: keep it
        return
    directory = cache_directory()
    if directory is None:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only home: run without the cache rather than fail
    jax.config.update("jax_compilation_cache_dir", str(directory))
    # vhtwin's solves and searches compile in about a second to minutes: cache every program over a fifth of a
    # second (JAX's default is 1 s), not the many tiny ones (writing each costs more than compiling it again).
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
