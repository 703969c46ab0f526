"""JAX-compiled, batch-first ODE solvers: methods, step-size control and the integration loop."""

from __future__ import annotations

from .base import AbstractSolver, VectorField
from .controllers import PIController
from .exact import Exact
from .lane_kernel import Tsit5Kernel
from .loop import Events, LoopConfig, LoopResult, Outputs, integrate
from .rk4 import RK4
from .rodas import Rodas4
from .rush_larsen import RushLarsen
from .state_events import StateEvents
from .status import Status
from .tsit5 import Tsit5

_REGISTRY: dict[str, type] = {"tsit5": Tsit5, "rk4": RK4, "exact": Exact, "rodas4": Rodas4, "rush_larsen": RushLarsen,
                             "tsit5_kernel": Tsit5Kernel}


def register(cls: type) -> type:
    """Make a method available by name to ``simulate(..., solver=name)``."""
    _REGISTRY[cls.name] = cls
    return cls


def get_solver(name: str) -> AbstractSolver:
    """The method called ``name`` (``"tsit5"``, ``"rodas4"``, ``"rk4"``, ``"rush_larsen"``)."""
    from ..errors import InputError

    if name not in _REGISTRY:
        raise InputError(f"unknown solver {name!r}; choose one of {['auto'] + sorted(_REGISTRY)}")
    return _REGISTRY[name]()


def solver_names() -> list[str]:
    return sorted(_REGISTRY)


__all__ = [
    "AbstractSolver", "Exact", "VectorField", "Events", "LoopConfig", "LoopResult", "Outputs", "PIController", "RK4", "Rodas4", "RushLarsen", "StateEvents", "Status", "Tsit5", "Tsit5Kernel",
    "get_solver", "integrate", "register", "solver_names",
]
