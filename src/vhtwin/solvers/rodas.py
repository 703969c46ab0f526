"""Rodas4: Hairer & Wanner's RODAS, an L-stable, stiffly accurate Rosenbrock method of order 4(3), with dense output.

Reference: E. Hairer, G. Wanner, *Solving Ordinary Differential Equations II: Stiff and Differential-Algebraic
Problems*, 2nd ed., Springer 1996, sections IV.7 (Rosenbrock methods) and VI.4 (the construction of RODAS); the
coefficients are those of the authors' Fortran code ``rodas.f`` (``METH = 1``). Six stages, one Jacobian and one LU
factorisation per step, six linear solves. ``tests/solvers/test_convergence.py`` checks them against the order
conditions (order 4, embedded order 3, dense output of order 3, stiff accuracy, R(inf) = 0).

The formulation is the one of ``rodas.f``, which needs no matrix-vector products: with
``E = I / (h gamma) - J``, ``J = df/dy (t, y)``, ``f_t = df/dt (t, y)``,

    E u_1 = f(t, y) + h d_1 f_t
    E u_i = f(t + c_i h, y + sum_{j<i} a_ij u_j) + sum_{j<i} (C_ij / h) u_j + h d_i f_t        i = 2..5
    Y_6 = y + sum_{j<5} a_5j u_j + u_5                    (= the embedded 3rd-order solution)
    E u_6 = f(t + h, Y_6) + sum_{j<6} (C_6j / h) u_j
    y_1 = Y_6 + u_6                                       (4th order); error estimate u_6.

The method is stiffly accurate (``y_1`` is the last internal stage), so ``|R(inf)| = 0``. Its continuous extension
of order 3 is ``y(t + theta h) = (1 - theta) y + theta (y_1 + (1 - theta)(k_1 + theta k_2))`` with ``k_1``, ``k_2``
fixed combinations of ``u_1 .. u_5``.

``J`` and ``f_t`` come from JAX autodiff of the batched vector field: one ``jax.linearize`` per step, whose linear
map is applied (``vmap``) to the ``n`` unit tangents in ``y`` and the unit tangent in ``t``. Lanes of the batch are
independent, so a unit tangent broadcast over the batch yields every lane's Jacobian column at once. The linear
solves use :mod:`vhtwin.solvers.linalg` (batch-vectorised LU, no per-trajectory LAPACK call).

Models with more than ``linalg.UNROLL_MAX`` states whose Jacobian is sparse (cardiac cell models: every gate
depends on the membrane potential and itself only) take the sparse path of :mod:`vhtwin.solvers.sparse` instead:
the structural pattern is read from the model's program when the solve is traced, the nonzeros come from a few
compressed directional derivatives (14 instead of 42 for O'Hara--Rudy 2011), and ``E`` is factorised by a
static-pattern elimination that emits only the nonzero updates (about 180 multiply-adds per lane instead of a
dense 41 x 41 elimination), with a threshold-pivoting check that falls back to the dense pivoted LU. Both paths
compute the same ``J`` and solve the same systems; they differ only by rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .base import AbstractSolver
from .controllers import PIController
from .linalg import UNROLL_MAX, lu_factor, lu_solve
from .sparse import JacobianPlan, SparseLU, jacobian_pattern

GAMMA = 0.25

#: Stage abscissae c_1 .. c_6.
C = (0.0, 0.386, 0.21, 0.63, 1.0, 1.0)
#: Coefficients of h * f_t per stage (d_5 = d_6 = 0: the last stages see no explicit time derivative).
D = (0.25, -0.1043, 0.1035, -0.0362, 0.0, 0.0)

#: a_ij: the stage arguments Y_i = y + sum_j a_ij u_j (rows are stages 2..5).
A = (
    (),
    (1.544,),
    (0.9466785280815826, 0.2557011698983284),
    (3.314825187068521, 2.896124015972201, 0.9986419139977817),
    (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950),
)

#: C_ij: the coupling terms (C_ij / h) u_j of the stage right-hand sides (rows are stages 2..6).
CC = (
    (),
    (-5.6688,),
    (-2.430093356833875, -0.2063599157091915),
    (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
    (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
    (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054),
)

#: Dense output: k_1 = sum_j H2_j u_j, k_2 = sum_j H3_j u_j (j = 1..5).
H2 = (10.12623508344586, -7.487995877610167, -34.80091861555747, -7.992771707568823, 1.025137723295662)
H3 = (-0.6762803392801253, 6.087714651680015, 16.43084320892478, 24.76722511418386, -6.594389125716872)


def _stage_tables():
    """Stages 2..6 as padded 6 x 6 tables: Y_i = y + sum_j a[i, j] u_j, rhs_i = f(t + c_i h, Y_i) + sum_j cc[i, j]
    u_j / h + d_i h f_t. Row 5 (stage 6) takes Y_6 = Y_5 + u_5, the stiffly accurate embedded solution."""
    a = [[0.0] * 6 for _ in range(6)]
    cc = [[0.0] * 6 for _ in range(6)]
    for i in range(1, 5):
        for j, v in enumerate(A[i]):
            a[i][j] = v
    a[5] = list(a[4])
    a[5][4] = 1.0
    for i in range(1, 6):
        for j, v in enumerate(CC[i]):
            cc[i][j] = v
    return a, cc, list(C), list(D)


def _combine(coefficients, vectors, dtype):
    """sum_j coefficients[j] * vectors[j] (coefficients are Python floats)."""
    return sum(jnp.asarray(c, dtype) * v for c, v in zip(coefficients, vectors))


def linearise(vf, t, y):
    """``f(t, y)`` (n, B), the Jacobian ``df/dy`` (n, n, B) and ``df/dt`` (n, B) of a batched vector field.

    One ``jax.linearize``; its linear map is applied to ``n + 1`` tangents (``vmap``): the unit vectors ``e_j`` in
    ``y`` broadcast over the batch (column ``j`` of every lane's Jacobian, the lanes being independent), and the
    unit tangent in ``t``.
    """
    n, B = y.shape
    dtype = y.dtype
    f0, lin = jax.linearize(vf, t, y)
    eye = jnp.eye(n + 1, n, dtype=dtype)  # rows 0..n-1: e_j; row n: 0
    tangent_y = jnp.broadcast_to(eye[:, :, None], (n + 1, n, B))
    tangent_t = jnp.broadcast_to((jnp.arange(n + 1) == n).astype(t.dtype)[:, None], (n + 1, B))
    out = jax.vmap(lin)(tangent_t, tangent_y)  # (n + 1, n, B): out[j, i] = d f_i / d y_j
    jac = jnp.swapaxes(out[:n], 0, 1)  # (n, n, B): jac[i, j] = d f_i / d y_j
    return f0, jac, out[n]


#: Largest number of multiply-adds of a sparse factorisation worth unrolling (beyond it the program, and the compile
#: time, would grow like a dense elimination's; the dense ``fori_loop`` LU is used instead).
SPARSE_MAX_UPDATES = 4000


def _dense_system(vf, t, y, inv_h_gamma):
    """``f``, ``df/dt`` and a solver of ``(I / (h gamma) - J) x = b``, all dense."""
    n = y.shape[0]
    f0, jac, f_t = linearise(vf, t, y)
    E = jnp.eye(n, dtype=y.dtype)[:, :, None] * inv_h_gamma[None] - jac
    lu = lu_factor(E)
    return f0, f_t, lambda b: lu_solve(lu, b)


def _sparse_system(plan: JacobianPlan, lu: SparseLU, vf, t, y, inv_h_gamma):
    """As :func:`_dense_system`, from the nonzeros of ``J`` only (``df/dt`` is None where it is structurally 0)."""
    n = y.shape[0]
    f0, jac, f_t = plan.evaluate(vf, t, y, lu.positions)  # (F, B) in the numbering of the factorisation
    diagonal = np.asarray([lu.positions[i, i] for i in range(n)], np.int32)
    matrix = (-jac).at[diagonal].add(jnp.broadcast_to(inv_h_gamma, (n, y.shape[1])), unique_indices=True)
    factors = lu.factor(matrix)
    return f0, f_t, lambda b: lu.solve(factors, b)


def linear_system(vf, t, y, inv_h_gamma, jacobian: str = "auto"):
    """``f(t, y)``, ``df/dt`` (or None when identically zero) and ``solve(b)`` for ``E = I / (h gamma) - J``.

    ``jacobian="auto"`` takes the sparse path (structural pattern, compressed Jacobian, static sparse LU) for
    models with more than ``UNROLL_MAX`` states whose pattern is known and sparse enough; ``"dense"`` always takes
    the dense one. ``inv_h_gamma`` is ``1 / (h gamma)`` of shape (1, B).
    """
    n = y.shape[0]
    if jacobian == "auto" and n > UNROLL_MAX:
        pattern = jacobian_pattern(vf, t, y)
        if pattern is not None:
            lu = SparseLU.build(pattern[:, :n])
            if lu.updates <= SPARSE_MAX_UPDATES:
                return _sparse_system(JacobianPlan.build(pattern), lu, vf, t, y, inv_h_gamma)
    return _dense_system(vf, t, y, inv_h_gamma)


_STAGE_TABLES = _stage_tables()


def _weighted(weights, U):
    """``sum_j weights[j] * U[j]`` over the stages as elementwise operations in stage order: each lane's sum then
    rounds the same whatever the batch width (a ``dot`` over the stage axis is blocked by the CPU library according
    to the array's shape, which changes the order of the additions from one batch width to another)."""
    total = weights[0] * U[0]
    for j in range(1, U.shape[0]):
        total = total + weights[j] * U[j]
    return total


@dataclass(frozen=True)
class Rodas4(AbstractSolver):
    """RODAS 4(3) (Hairer & Wanner): L-stable, stiffly accurate Rosenbrock method for stiff models.

    Adaptive with a 3rd-order embedded estimate; 3rd-order dense output. Keeps no state between steps (the
    Jacobian is re-evaluated at the start of every step), so ``restart`` after a bolus has nothing to refresh.
    """

    name = "rodas4"
    order = 4
    error_order = 3
    needs_jacobian = True
    #: Hairer's RODAS controls the step with Gustafsson's prediction and no growth after a rejection: on a paced
    #: cell model it saves rejections at the upstroke and in repolarisation (ORd-CiPA at rtol 1e-2, 128 lanes: 76 ->
    #: 70 attempts a beat, 19 -> 11 of them rejected, APD90 as close to the reference).
    controller: ClassVar[PIController] = PIController(predictive=True)
    #: ``"auto"``: the sparse Jacobian and LU where the model's pattern allows (see the module docstring);
    #: ``"dense"``: always the dense ones.
    jacobian: str = "auto"

    def init(self, vf, t, y):
        return ()

    def step(self, vf, t, y, dt, carry):
        n, B = y.shape
        dtype = y.dtype
        h = dt[None, :]
        inv_h = 1.0 / h
        # E = I / (h gamma) - J: one factorisation, six solves
        f0, f_t, solve = linear_system(vf, t, y, inv_h / GAMMA, self.jacobian)
        hft = h * f_t if f_t is not None else None  # None: the model does not depend on t explicitly

        u0 = solve(f0 + jnp.asarray(D[0], dtype) * hft if hft is not None else f0)
        # Stages 2..6 in one loop over a table of coefficients, so that the model's right-hand side appears once in
        # the compiled program rather than five times (compile time grows with the model's size times the number
        # of its copies; for a 41-state cell model this halves it). Stage 6 is evaluated at Y_6 = Y_5 + u_5.
        a_tab, cc_tab, c_tab, d_tab = (jnp.asarray(x, dtype) for x in _STAGE_TABLES)
        U = jnp.zeros((6,) + y.shape, dtype).at[0].set(u0)

        def stage(i, U):
            Y = y + _weighted(a_tab[i], U)
            rhs = vf(t + c_tab[i] * dt, Y) + _weighted(cc_tab[i], U) * inv_h
            if hft is not None:
                rhs = rhs + d_tab[i] * hft
            return U.at[i].set(solve(rhs))

        U = jax.lax.fori_loop(1, 6, stage, U)
        u = [U[j] for j in range(6)]
        Y6 = y + _weighted(a_tab[5], U)
        u6 = u[5]
        y1 = Y6 + u6
        u = u[:5]
        k1 = _combine(H2, u, dtype)
        k2 = _combine(H3, u, dtype)
        return y1, u6, (y, y1, k1, k2), carry

    def interpolate(self, dense, theta):
        y0, y1, k1, k2 = dense
        th = theta[None, :].astype(y0.dtype)
        return (1.0 - th) * y0 + th * (y1 + (1.0 - th) * (k1 + th * k2))
