"""Using every CPU core: each core becomes a JAX CPU device, and vhtwin splits a batch over the local devices.

XLA runs one CPU device's program on one core, so a process that wants its batches on every core must say so
before JAX starts its backends. ``import vhtwin`` changes nothing in JAX's configuration; the choice is explicit:
:func:`use_cpu_cores` in a script or notebook, or JAX's own ``JAX_NUM_CPU_DEVICES`` environment variable. The
``vhtwin`` command line calls :func:`use_cpu_cores` itself.
"""

from __future__ import annotations

import numbers
import os
import sys

from .errors import InputError

#: JAX's environment variable for the number of CPU devices (read when its backends start).
ENVIRONMENT_VARIABLE = "JAX_NUM_CPU_DEVICES"


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; the machine's count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def use_cpu_cores(count: int | None = None) -> int:
    """Run vhtwin's batches on ``count`` CPU cores: expose them as JAX CPU devices before JAX starts.

    Parameters
    ----------
    count : int, optional
        Cores (CPU devices) to use. Default: ``JAX_NUM_CPU_DEVICES`` if it is set, else every core this process may
        run on.

    Returns
    -------
    int
        The number of CPU devices JAX has (or will have when it starts).

    Raises
    ------
    InputError
        ``count`` is not a positive integer, or JAX is already running with a different number of CPU devices
        (the count can only be chosen before the first computation).

    Notes
    -----
    Call it first, before any simulation (or any JAX computation) in the process. Once JAX is running, a call
    without ``count`` keeps what JAX has. Results do not depend on the number of devices (tested bit for bit); only
    the speed does.
    """
    if count is not None and (isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1):
        raise InputError(f"use_cpu_cores: count {count!r} must be a positive integer (cores to use)")
    explicit = count is not None
    if count is None:
        preset = os.environ.get(ENVIRONMENT_VARIABLE, "")
        count = int(preset) if preset.isdigit() and int(preset) > 0 else available_cores()
    count = int(count)
    if "jax" not in sys.modules:
        # JAX reads the variable when it starts: importing it here would cost seconds a command may not need.
        os.environ[ENVIRONMENT_VARIABLE] = str(count)
        return count
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", count)
    except Exception:  # the backends are running: the count is fixed for this process (checked below)
        pass
    current = len(jax.local_devices(backend="cpu"))
    if current != count and explicit:
        raise InputError(
            f"use_cpu_cores: count {count} cannot be applied, JAX is already running with {current} CPU device(s); "
            f"call vh.use_cpu_cores({count}) before the first simulation, or set {ENVIRONMENT_VARIABLE}={count} "
            "before Python starts"
        )
    return current
