"""Ceilings on the counts that size work, and the memory a call will need, checked before any compute.

A typing error such as ``count=1e9`` or ``n_per_arm=1e12`` is refused with the field, the value and the ceiling,
instead of hanging for hours or exhausting the machine's memory:

==========================  ===============  =====================================================================
ceiling                     value            applies to
==========================  ===============  =====================================================================
``MAX_DOSES``               100,000          doses one regimen expands into (``Regimen.repeated`` count, ADDL)
``MAX_OUTPUT_TIMES``        1,000,000        output times of one patient
``MAX_PATIENTS``            1,000,000,000    patients drawn at once, patients per trial arm
==========================  ===============  =====================================================================

and the arrays a call holds at once (a ``simulate`` result, a population draw, a trial batch) must fit in the
memory the operating system reports available (``MemAvailable``; not checked where it is not reported).
"""

from __future__ import annotations

from .errors import InputError

__all__ = ["MAX_DOSES", "MAX_OUTPUT_TIMES", "MAX_PATIENTS", "available_memory", "check_count", "check_memory"]

MAX_DOSES = 100_000
MAX_OUTPUT_TIMES = 1_000_000
MAX_PATIENTS = 1_000_000_000


def check_count(what: str, value: int, ceiling: int, hint: str = "") -> None:
    """Refuse ``value`` above ``ceiling``: one sentence naming the field, the value and the ceiling."""
    if value > ceiling:
        raise InputError(f"{what} {value:,} is more than vhtwin runs at once (at most {ceiling:,}){hint}")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None where not reported."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(what: str, nbytes: float, hint: str) -> None:
    """Refuse a call whose arrays need more than the memory available, before allocating any of them."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise InputError(f"{what} needs about {_size(nbytes)} of memory and {_size(free)} is available; {hint}")


def _size(nbytes: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes:.0f} bytes"
