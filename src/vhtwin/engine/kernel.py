"""The lane-kernel backend: the ODE backend's layout and program, with the lanes integrated by one GPU kernel.

Chosen by the method ``"tsit5_kernel"`` (:class:`vhtwin.solvers.lane_kernel.Tsit5Kernel`). Everything but the
integration is the ODE backend's (:mod:`.ode`): the same layout, keys, padding, observables and device split, so a
design runs on either backend unchanged and their results agree to rounding. What the kernel does not do is refused
when the problem is laid out, before any compute: steady-state starts (state resets), inter-occasion variability,
state-triggered events, and derivatives through the solve (the kernel has no derivative rule; calibration and estimation use ``"tsit5"``).
"""

from __future__ import annotations

import functools

import jax

from ..errors import InputError
from ..solvers import lane_kernel
from .backend import Layout
from .ode import OdeBackend, OdeKey, _solve_fn, over_devices


NO_DERIVATIVES = "solver = 'tsit5_kernel' has no derivatives through the solve; use solver = 'tsit5'"


def kernel_integrator(field, p, *args, lanes: int | None = None):
    """The lane kernel; ``lanes`` is the loop's setting (None here): the kernel sizes its own queues."""
    return lane_kernel.integrate(field, p, *args)


def _without_derivatives(solve):
    """``solve`` whose derivative, when a caller asks for one, is a plain error at trace time (before any compute)
    rather than JAX's refusal to differentiate a kernel's loop."""

    @jax.custom_jvp
    def solve_once(p, y0, *rest):
        return solve(p, y0, *rest)

    @solve_once.defjvp
    def _refuse(primals, tangents):
        raise InputError(NO_DERIVATIVES)

    return solve_once


@functools.lru_cache(maxsize=64)
def program(key: OdeKey):
    """The jitted kernel solve for ``key``."""
    if key.sensitivities is not None:
        raise InputError(NO_DERIVATIVES)
    return over_devices(key, _without_derivatives(_solve_fn(key, kernel_integrator)))


class KernelBackend(OdeBackend):
    """The per-lane GPU kernel (:mod:`vhtwin.solvers.lane_kernel`) on the ODE backend's layout."""

    name = "kernel"

    def layout(self, problem, n_devices: int) -> Layout:
        if problem.events.reset is not None:
            raise InputError("solver = 'tsit5_kernel' does not start from a steady state (a state reset); "
                             "use solver = 'tsit5'")
        if problem.occasion_rows:
            raise InputError("solver = 'tsit5_kernel' does not take inter-occasion variability; use solver = 'tsit5'")
        if problem.model.events:
            raise InputError(f"solver = 'tsit5_kernel' does not run state-triggered events (model {problem.model.name} "
                             "declares some); use solver = 'tsit5'")
        return super().layout(problem, n_devices)

    def program(self, key: OdeKey):
        return program(key)
