"""Unit strings: the small set of checks vhtwin makes on UDUNITS-style unit declarations.

vhtwin does not convert units. It insists that every state, parameter and observable *declares* one (UDUNITS
spelling, e.g. ``mg L-1``, ``L h-1``, ``mmHg``, ``mV``, ``1`` for dimensionless) and that time units are among those
the engine knows, so that a dose schedule in hours is never silently read as seconds.
"""

from __future__ import annotations

import re

from .errors import ModelError

#: Time units a model may declare, with their length in seconds (used only to report and compare, never to convert
#: silently).
TIME_UNITS: dict[str, float] = {"ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}

_UNIT_RE = re.compile(r"^[A-Za-z0-9_%.\-^ /*()µ]+$")


def check_unit(unit: object, where: str) -> str:
    """Return ``unit`` if it is a plausible UDUNITS string, else raise :class:`ModelError` naming ``where``."""
    if not isinstance(unit, str) or not unit.strip() or not _UNIT_RE.match(unit):
        raise ModelError(
            f"{where}: unit {unit!r} is not a unit string; use UDUNITS spelling such as 'mg', 'mg L-1', 'L h-1', "
            "'mmHg', 'mV', or '1' for a dimensionless quantity"
        )
    return unit


def check_time_unit(unit: object, where: str) -> str:
    """Return ``unit`` if it is one of :data:`TIME_UNITS`, else raise :class:`ModelError`."""
    if unit not in TIME_UNITS:
        raise ModelError(f"{where}: time unit {unit!r} is not one of {sorted(TIME_UNITS)}")
    return str(unit)
