"""The exceptions vhtwin raises.

Each one is raised *before* any compute where the problem can be seen in the input, with a message that names the
field, the value and what is allowed.
"""

from __future__ import annotations


class VhtwinError(Exception):
    """Base class of every error vhtwin raises on purpose."""


class ModelError(VhtwinError):
    """A model definition is inconsistent (duplicate names, bad units, an ``rhs`` that misses a state, ...)."""


class InputError(VhtwinError, ValueError):
    """An argument to a vhtwin function is invalid (unknown name, wrong shape, out of bounds, bad times, ...)."""


class SolverError(VhtwinError, RuntimeError):
    """A solve failed and the caller asked for failures to raise (``throw=True``)."""


class TrialError(VhtwinError, RuntimeError):
    """A trial stopped: more trajectories failed than its ``max_failure_fraction`` allows."""


class StoreDamagedError(VhtwinError, OSError):
    """A store's file is missing, truncated or altered: the error names the variable, the patients and the file."""
