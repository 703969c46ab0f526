"""Per-trajectory outcome of a solve: a value, never an exception, so a batch can carry mixed outcomes."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """How a trajectory ended. Stored as ``int8`` in results, with CF ``flag_values``/``flag_meanings``."""

    RUNNING = -1
    SUCCESS = 0
    MAX_STEPS = 1
    STEP_SIZE_UNDERFLOW = 2
    NONFINITE = 3
    #: A steady-state dose whose steady state the repeated dose did not reach (e.g. a dose rate above a
    #: saturable elimination's capacity): the trajectory is not solved.
    NO_STEADY_STATE = 4
    #: A trial patient whose drawn parameters fall outside the model's allowed range (a normal draw of a positive
    #: clearance below zero): flagged, with its draw kept, and not solved.
    INVALID_PARAMETERS = 5
    #: A delayed state event that triggered again before its earlier trigger was executed (one execution may be
    #: pending per event and trajectory): the trajectory is not solved further.
    EVENT_OVERFLOW = 6

    @classmethod
    def flag_attrs(cls) -> dict:
        """CF-convention attributes describing the codes (stored beside ``status``)."""
        codes = [s for s in cls if s is not cls.RUNNING]
        return {
            "flag_values": [int(s) for s in codes],
            "flag_meanings": " ".join(s.name.lower() for s in codes),
            "long_name": "solver status per trajectory",
        }
