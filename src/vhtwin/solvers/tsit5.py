"""Tsitouras' 5(4) explicit Runge--Kutta pair with its free 4th-order continuous extension.

Reference: Ch. Tsitouras, "Runge--Kutta pairs of order 5(4) satisfying only the first column simplifying
assumption", Computers & Mathematics with Applications 62 (2011) 770--775. Seven stages, first-same-as-last: an
accepted step costs six new evaluations of the vector field.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .base import AbstractSolver

C = np.array([0.0, 0.161, 0.327, 0.9, 0.9800255409045096857298102862870245954942, 1.0, 1.0])

A = (
    (),
    (0.161,),
    (-0.008480655492356988544426874250230774675121, 0.3354806554923569885444268742502307746751),
    (2.897153057105493432130432594192938764924, -6.359448489975074843148159912383825625952, 4.362295432869581411017727318190886861027),
    (5.325864828439256604428877920840511317836, -11.74888356406282787774717033978577296188, 7.495539342889836208304604784564358155658, -0.09249506636175524925650207933207191611349),
    (5.861455442946420028659251486982647890394, -12.92096931784710929170611868178335939541, 8.159367898576158643180400794539253485181, -0.07158497328140099722453054252582973869127, -0.02826905039406838290900305721271224146717),
    (0.09646076681806522951816731316512876333711, 0.01, 0.4798896504144995747752495322905965199130, 1.379008574103741893192274821856872770756, -3.290069515436080679901047585711363850115, 2.324710524099773982415355918398765796109),
)

#: Weights of the 5th-order solution (the last row of A; the 7th stage is the FSAL evaluation).
B = np.array(A[6] + (0.0,))
#: Weights of the embedded 4th-order solution.
B_HAT = np.array([
    0.09468075576583945807478876255758922856117,
    0.009183565540343253096776363936645313759813,
    0.4877705284247615707855642599631228241516,
    1.234297566930478985655109673884237654035,
    -2.707712349983525454881109975059321670689,
    1.866628418170587035753719399566211498666,
    1.0 / 66.0,
])
B_ERR = B - B_HAT


def _interpolation_matrix() -> np.ndarray:
    """Monomial coefficients of the seven continuous weights b_i(theta) = sum_k M[i, k] theta**(k+1), k = 0..3.

    Tsitouras gives each b_i(theta) in factored form; expanding once here lets the loop evaluate all seven weights
    with one small matrix-vector product per output point.
    """
    P = np.polynomial.polynomial
    polys = [
        -1.0530884977290216 * P.polymul(P.polyfromroots([0.0, 1.3299890189751412]), [0.7139816917074209, -1.4364028541716351, 1.0]),
        0.1017 * P.polymul([0.0, 0.0, 1.0], [1.2949852507374631, -2.1966568338249754, 1.0]),
        2.490627285651252793 * P.polymul([0.0, 0.0, 1.0], [1.57803468208092486, -2.38535645472061657, 1.0]),
        -16.54810288924490272 * P.polyfromroots([1.21712927295533244, 0.61620406037800089, 0.0, 0.0]),
        47.37952196281928122 * P.polyfromroots([1.203071208372362603, 0.658047292653547382, 0.0, 0.0]),
        -34.87065786149660974 * P.polyfromroots([1.2, 0.666666666666666667, 0.0, 0.0]),
        2.5 * P.polyfromroots([1.0, 0.6, 0.0, 0.0]),
    ]
    M = np.zeros((7, 4))
    for i, c in enumerate(polys):
        c = np.pad(c, (0, 5 - len(c)))
        assert abs(c[0]) < 1e-12, "continuous weights vanish at theta = 0"
        M[i] = c[1:5]
    return M


INTERP = _interpolation_matrix()


@dataclass(frozen=True)
class Tsit5(AbstractSolver):
    """Tsitouras 5(4): the default non-stiff method (adaptive, FSAL, 4th-order dense output)."""

    name = "tsit5"
    order = 5
    error_order = 4

    def init(self, vf, t, y):
        return vf.rows(t, _rows(y))

    def restart(self, vf, t, y, carry, mask):
        fresh = vf.rows(t, _rows(y))
        return tuple(jnp.where(mask, a, b) for a, b in zip(fresh, carry))

    def step(self, vf, t, y, dt, f0):
        y1, err, dense, f1 = self.step_rows(vf, t, _rows(y), dt, f0)
        return jnp.stack(y1), jnp.stack(err), dense, f1

    def step_rows(self, vf, t, y0, dt, f0):
        """One step on the state as a tuple of rows (each (B,)): ``(y1 rows, error rows, dense, f1 rows)``.

        The row form is what both the integration loop (through :meth:`step`) and the per-lane GPU kernel
        (:mod:`vhtwin.solvers.lane_kernel`) run, so the two take the same arithmetic.
        """
        dtype = dt.dtype
        n = len(y0)

        def combine(base, weights, scale):
            # base + scale * sum_j w_j k_j, state by state (weights that are exactly zero are skipped)
            return tuple(
                base[r] + scale * sum(jnp.asarray(w, dtype) * k[j][r] for j, w in enumerate(weights) if w != 0.0)
                for r in range(n)
            )

        k = [tuple(f0)]
        for i in range(1, 6):
            k.append(tuple(vf.rows(t + jnp.asarray(C[i], dtype) * dt, combine(y0, A[i], dt))))
        # The seventh stage is evaluated at the 5th-order solution itself (first same as last).
        y1 = combine(y0, B[:6], dt)
        k.append(tuple(vf.rows(t + dt, y1)))
        zeros = tuple(jnp.zeros_like(r) for r in y0)
        err = combine(zeros, B_ERR, dt)
        return y1, err, (tuple(y0), dt, tuple(k)), k[6]

    def interpolate(self, dense, theta):
        return jnp.stack(self.interpolate_rows(dense, theta))

    def interpolate_rows(self, dense, theta, rows=None):
        """The continuous extension at ``theta`` as a tuple of the state rows ``rows`` (default: all)."""
        y0, dt, k = dense
        dtype = dt.dtype
        # Horner in theta for each weight: plain multiply-adds that fuse with the sums below (a (7, 4) @ (4, B)
        # product would leave the fused loop for a library call per step).
        w = []
        for i in range(7):
            c1, c2, c3, c4 = (jnp.asarray(c, dtype) for c in INTERP[i])
            w.append(dt * theta * (c1 + theta * (c2 + theta * (c3 + theta * c4))))
        rows = range(len(y0)) if rows is None else rows
        return tuple(y0[r] + sum(w[i] * k[i][r] for i in range(7)) for r in rows)


def _rows(y):
    return tuple(y[i] for i in range(y.shape[0]))
