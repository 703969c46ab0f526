"""Pacing protocols: trains of rectangular stimuli on a model's stimulus input, and protocols combined with ``+``.

``vh.Pacing(period=1000.0, duration=1.0, count=2)`` is a protocol for :func:`vhtwin.simulate`: stimulus ``k`` is on
over ``[start + k * period, start + k * period + duration)``, and each edge is an event that the integration loop
lands on exactly (no step straddles a stimulus edge, so a 1 ms stimulus is never missed however large the steps
between beats). The input it drives is the model's :class:`vhtwin.Input` that declares a ``stimulus`` amplitude
(or the one named by ``input=``), at that documented amplitude unless ``amplitude=`` is given.

Examples
--------
>>> ms = vh.load_model("cardio/mitchell_schaeffer")
>>> out = vh.simulate(ms, params={}, times=np.arange(0, 2000, 0.1), protocol=vh.Pacing(period=1000.0, duration=1.0, count=2))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Pacing:
    """A train of ``count`` rectangular stimuli every ``period`` from ``start``.

    Parameters
    ----------
    period : float
        Cycle length, in the model's time unit (ms for the cell models).
    duration : float
        Length of each stimulus (0 < duration <= period).
    amplitude : float, optional
        Stimulus value on the input (its unit); default the input's documented ``stimulus``.
    count : int
        Number of stimuli.
    start : float
        Time of the first stimulus.
    input : str, optional
        The input to drive; default the model's one input with a documented stimulus.
    """

    period: float
    duration: float
    amplitude: float | None = None
    count: int = 1
    start: float = 0.0
    input: str | None = None

    def __post_init__(self):
        for name in ("period", "duration", "start"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"Pacing {name} {value!r} must be a finite number")
        if self.period <= 0:
            raise InputError(f"Pacing period {self.period!r} must be > 0")
        if not 0 < self.duration <= self.period:
            raise InputError(f"Pacing duration {self.duration!r} must be > 0 and at most the period {self.period!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise InputError(f"Pacing count {self.count!r} must be a positive integer")
        if self.amplitude is not None and (
            isinstance(self.amplitude, bool) or not isinstance(self.amplitude, (int, float)) or not math.isfinite(self.amplitude)
        ):
            raise InputError(f"Pacing amplitude {self.amplitude!r} must be a finite number")

    def for_model(self, model) -> "_BoundPacing":
        """This pacing with its input and amplitude resolved against ``model``'s inputs."""
        inputs = {i.name: i for i in model.inputs}
        if self.input is not None:
            if self.input not in inputs:
                raise InputError(f"Pacing input {self.input!r} is not an input of {model.name}; its inputs are {list(inputs)}")
            target = inputs[self.input]
        else:
            candidates = [i for i in model.inputs if i.stimulus is not None]
            if len(candidates) != 1:
                raise InputError(
                    f"Pacing: {model.name} declares {len(candidates)} inputs with a documented stimulus "
                    f"({[i.name for i in candidates]}); name the one to drive with Pacing(input=...)"
                )
            target = candidates[0]
        amplitude = self.amplitude if self.amplitude is not None else target.stimulus
        if amplitude is None:
            raise InputError(f"Pacing: input {target.name!r} of {model.name} documents no stimulus; give amplitude=")
        return _BoundPacing(self, target.name, float(amplitude))

    def __add__(self, other):
        return Combined((self, other)) if other is not None else self

    def __radd__(self, other):
        return Combined((other, self)) if other is not None else self

    def describe(self) -> str:
        amp = "the documented amplitude" if self.amplitude is None else f"amplitude {self.amplitude:g}"
        return f"{self.count} stimuli of {self.duration:g} every {self.period:g} from {self.start:g}, {amp}"


@dataclass(frozen=True)
class _BoundPacing:
    pacing: Pacing
    input: str
    amplitude: float

    def impulses(self, dosable):
        p = self.pacing
        pulses = [(p.start + k * p.period, p.start + k * p.period + p.duration, self.input, self.amplitude)
                  for k in range(p.count)]
        return [], pulses


@dataclass(frozen=True)
class Combined:
    """Several protocols at once (``regimen + pacing``): their jumps and pulses together."""

    parts: tuple

    def for_model(self, model) -> "Combined":
        return Combined(tuple(p.for_model(model) if hasattr(p, "for_model") else p for p in self.parts))

    def impulses(self, dosable):
        jumps, pulses = [], []
        for part in self.parts:
            j, q = part.impulses(dosable)
            jumps += j
            pulses += q
        return jumps, pulses

    def reset_events(self, state_names):
        return [r for part in self.parts if hasattr(part, "reset_events") for r in part.reset_events(state_names)]

    def __add__(self, other):
        return Combined(self.parts + (other,))

    def __radd__(self, other):
        return Combined((other,) + self.parts)
