"""Protocols: what happens to a patient during a simulation, and how it becomes the solver's event table.

- :mod:`.dosing` -- ``Regimen``, ``Dose``, ``Reset``: boluses, infusions, repeated and steady-state doses, resets;
- :mod:`.pacing` -- ``Pacing``: stimulus trains for cardiac models; protocols combine with ``+``;
- :mod:`.schedule` -- the per-patient preparation of a protocol (mg/kg amounts, modelled infusions, lags),
  using :mod:`.steady_state` for steady-state doses;
- :mod:`.occasions` -- inter-occasion variability: parameters that switch at occasion boundaries;
- :mod:`.events` -- the event table the integration loop reads (jumps, input levels, resets).
"""

from .dosing import Dose, Regimen, Reset
from .pacing import Combined, Pacing

__all__ = ["Combined", "Dose", "Pacing", "Regimen", "Reset"]
