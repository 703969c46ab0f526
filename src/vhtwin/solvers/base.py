"""The contract between the integration loop and a method.

All arrays are *batch-last*: time ``(B,)``, state ``(n, B)``, parameters ``(P, B)``. A vector field ``vf(t, y)``
maps ``(B,)``, ``(n, B)`` to ``(n, B)``. Keeping the batch on the last axis makes every per-state row contiguous,
which is what both CPU vector units and GPU lanes want.

A method provides

- ``init(vf, t, y)`` -> carry: whatever the method keeps between steps (e.g. the FSAL derivative);
- ``restart(vf, t, y, carry, mask)`` -> carry: refresh that carry where ``mask`` after a state jump (a bolus);
- ``step(vf, t, y, dt, carry)`` -> ``(y1, error, dense, carry1)``: one step of size ``dt`` (per trajectory);
  ``error`` is the embedded error estimate (``None`` for fixed-step methods), ``dense`` whatever ``interpolate``
  needs;
- ``interpolate(dense, theta)`` -> ``y(t + theta*dt)`` for ``theta`` in [0, 1] per trajectory.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import jax.numpy as jnp

from .controllers import PIController


class VectorField:
    """A batched vector field, callable on a stacked state ``(n, B)`` or row by row.

    ``rows(t, y_rows)`` takes and returns a tuple of n arrays of shape (B,). Explicit methods use the row form: each
    state is then its own array and XLA fuses a whole stage (combination, model equations) into one pass, with no
    concatenation of the derivative into an (n, B) block per evaluation. Methods that need matrices (Rosenbrock)
    call the stacked form.
    """

    def __init__(self, rows: Callable[[Any, tuple], tuple]):
        self.rows = rows

    def __call__(self, t, y):
        return jnp.stack(self.rows(t, tuple(y[i] for i in range(y.shape[0]))))


class AbstractSolver:
    """Base of every method. Subclasses are frozen dataclasses (hashable: they key the compile cache)."""

    name: ClassVar[str]
    #: Order of the propagated solution.
    order: ClassVar[int]
    #: Order of the embedded estimate that drives step-size control (``None`` for fixed-step methods).
    error_order: ClassVar[int | None] = None
    #: Whether the method needs the Jacobian of the vector field (implicit / Rosenbrock methods).
    needs_jacobian: ClassVar[bool] = False
    #: The engine backend that runs the method (:mod:`vhtwin.engine.backends`): ``"ode"``, the integration loop.
    backend: ClassVar[str] = "ode"
    #: The step-size controller the integration loop uses with the method (adaptive methods only).
    controller: ClassVar[PIController] = PIController()

    @property
    def adaptive(self) -> bool:
        return self.error_order is not None

    def init(self, vf: "VectorField", t, y):
        raise NotImplementedError

    def restart(self, vf: VectorField, t, y, carry, mask):
        return carry

    def step(self, vf: VectorField, t, y, dt, carry):
        raise NotImplementedError

    def interpolate(self, dense, theta):
        raise NotImplementedError
