"""``SolverOptions``: every setting of a solve and its default, declared once.

``vh.simulate``, ``vh.Simulator``, trials, steady states and calibration all take these settings; their signatures
read the defaults from here (``SolverOptions.max_steps`` ...), so a default changes in one place.

Which settings key a compiled program (see :mod:`vhtwin.engine`): the method (``solver``), ``max_steps`` and
``precision``. The tolerances and the step bounds (``rtol``, ``atol``, ``dt0``, ``dt_min``,
``dt_max``) are values the compiled program reads, so changing them never compiles again.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from .errors import InputError


@dataclass(frozen=True)
class SolverOptions:
    """Settings of a solve.

    Parameters
    ----------
    solver : str or solver instance
        ``"auto"`` (Tsit5, or Rodas4 for a model marked ``stiff``, or the exact path for a ``linear`` model where it
        applies), ``"tsit5"``, ``"tsit5_kernel"`` (Tsit5 as one GPU kernel), ``"rodas4"``, ``"rk4"``,
        ``"rush_larsen"``, ``"exact"``.
    rtol, atol : float or dict
        Relative and absolute tolerances, one number or a dict by state name (missing states take 1e-6 and 1e-9).
    precision : {"float64", "float32"}, optional
        Floating-point precision; ``None``: float64 on CPU, float32 on GPU (float64 there when ``rtol`` < 1e-6)
        and on TPU (no float64 there).
    dt0 : float, optional
        First step (adaptive methods estimate it when ``None``) or the step of a fixed-step method.
    dt_min, dt_max : float
        Step-size bounds.
    max_steps : int
        Steps (accepted plus rejected) allowed between two consecutive events or output times of a trajectory (as
        CVODE's ``mxstep``); a trajectory that needs more stops with status ``max_steps``.
    """

    solver: Any = "auto"
    rtol: float | Mapping[str, float] = 1e-6
    atol: float | Mapping[str, float] = 1e-9
    precision: str | None = None
    dt0: float | None = None
    dt_min: float = 0.0
    dt_max: float = math.inf
    max_steps: int = 100_000

    def __post_init__(self):
        dt0 = self.dt0
        if dt0 is not None and (not _number(dt0) or not math.isfinite(dt0) or dt0 <= 0):
            raise InputError(f"dt0 {dt0!r} must be a finite number > 0")
        if not (_number(self.dt_min) and _number(self.dt_max)) or not (
            self.dt_min >= 0 and self.dt_max > 0 and self.dt_max >= self.dt_min
        ):
            raise InputError(f"step bounds dt_min={self.dt_min!r}, dt_max={self.dt_max!r} must satisfy "
                             "0 <= dt_min <= dt_max, dt_max > 0")
        value = self.max_steps
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise InputError(f"max_steps {value!r} must be a positive integer")
        if self.precision not in (None, "float64", "float32"):
            raise InputError(f"precision {self.precision!r} must be 'float64' or 'float32'")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def replace(self, **changes) -> "SolverOptions":
        """A copy with some settings changed (checked again)."""
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.names()}


def _number(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, numbers.Real)


#: The defaults, for signatures: ``max_steps: int = DEFAULTS.max_steps``.
DEFAULTS = SolverOptions()
