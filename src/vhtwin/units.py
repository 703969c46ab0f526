"""Unit strings: the small set of checks vhtwin makes on UDUNITS-style unit declarations.

vhtwin insists that every state, parameter and observable *declares* a unit (UDUNITS spelling, e.g. ``mg L-1``,
``L h-1``, ``mmHg``, ``mV``, ``1`` for dimensionless) and that time units are among those the engine knows, so that a
dose schedule in hours is never silently read as seconds. The one conversion it makes is between mass
concentrations (``ng/mL`` to ``mg L-1``, ...), where measured data and models most often differ: a factor of 1000
that would otherwise fit a twin 1000 times off.
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


#: Mass units by their factor to grams, and volume units by their factor to litres.
_MASS = {"g": 1.0, "mg": 1e-3, "ug": 1e-6, "µg": 1e-6, "mcg": 1e-6, "ng": 1e-9, "pg": 1e-12}
_VOLUME = {"L": 1.0, "l": 1.0, "dL": 0.1, "dl": 0.1, "mL": 1e-3, "ml": 1e-3, "uL": 1e-6, "µL": 1e-6, "ul": 1e-6}


def _concentration(unit: str) -> float | None:
    """Grams per litre of one ``unit`` of mass concentration (``ng/mL``, ``mg L-1``, ``mg.L-1``), or None."""
    text = " ".join(str(unit).replace("*", " ").split())
    for sep in ("/", " ", "."):
        if sep in text:
            mass, _, volume = text.partition(sep)
            volume = volume.strip()
            if sep != "/":
                if not volume.endswith("-1"):
                    continue
                volume = volume[:-2]
            if mass.strip() in _MASS and volume in _VOLUME:
                return _MASS[mass.strip()] / _VOLUME[volume]
    return None


def conversion_factor(given: str, wanted: str) -> float | None:
    """The factor that turns a value in ``given`` into ``wanted``: 1 for the same unit (spelling aside), the ratio
    for two mass concentrations, None if vhtwin cannot tell (the caller refuses)."""
    if " ".join(str(given).split()) == " ".join(str(wanted).split()):
        return 1.0
    a, b = _concentration(given), _concentration(wanted)
    if a is None or b is None:
        return None
    return a / b
