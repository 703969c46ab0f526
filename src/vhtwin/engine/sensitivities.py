"""Forward-mode sensitivities attached to a solve, so that ``jax.jacfwd`` *and* ``jax.grad`` work through it.

The integration loop is a ``while_loop``, which has no reverse-mode rule. :func:`with_sensitivities` wraps a solve
``solve(p (P, B), y0 (n, B), *rest)`` in a ``jax.custom_jvp`` whose rule propagates one tangent per parameter and
per initial state through the same loop, batched (each lane's tangent output is that lane's column of the
Jacobian), and contracts them with the incoming direction. The rule is linear in that direction, so JAX can
transpose it: reverse mode works, at the cost of about (1 + P + n) solves -- right for the few-parameter problems
of calibration and estimation. The derivative is that of the discrete solution for the step sequence the solve
chose (step sizes are held fixed by ``stop_gradient`` on the controller).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def with_sensitivities(solve, rows: tuple[int, ...] | None = None):
    """``solve`` with its first two outputs (states, observables) differentiable with respect to ``p`` and ``y0``.

    ``rows`` limits the derivatives to those parameter rows (the parameters a calibration estimates): one tangent
    each instead of one per parameter and initial state -- a 30-parameter circulation model fitted on two needs two
    sensitivity solves, not forty. Tangents of the other rows and of ``y0`` are then taken as zero, which is right
    for a caller that holds them constant (and only such a caller may ask for it).
    """

    @jax.custom_jvp
    def differentiable(p, y0, *rest):
        return solve(p, y0, *rest)

    @differentiable.defjvp
    def _jvp(primals, tangents):
        p, y0, *rest = primals
        dp, dy0 = tangents[0], tangents[1]
        P, B = p.shape
        n = y0.shape[0]

        def directional(vp, vy):
            return jax.jvp(lambda a, b: solve(a, b, *rest), (p, y0), (vp, vy))

        # One tangent per parameter and per initial state, all in one batched loop, each set in every lane at once
        # (lanes are independent, so lane b's tangent output is lane b's column of the Jacobian).
        if rows is None:
            eye = jnp.eye(P + n, dtype=p.dtype)
            basis_p = jnp.broadcast_to(eye[:, :P, None], (P + n, P, B))
            basis_y = jnp.broadcast_to(eye[:, P:, None], (P + n, n, B))
            direction = jnp.concatenate([dp, jnp.broadcast_to(dy0, (n, B))], axis=0)  # (P + n, B)
        else:
            picked = jnp.eye(P, dtype=p.dtype)[jnp.asarray(rows)]  # (R, P)
            basis_p = jnp.broadcast_to(picked[:, :, None], (len(rows), P, B))
            basis_y = jnp.zeros((len(rows), n, B), p.dtype)
            direction = dp[jnp.asarray(rows)]  # (R, B)
        # The primal solve does not depend on the direction, so vmap leaves it unbatched: one solve, shared.
        outs, jac = jax.vmap(directional)(basis_p, basis_y)
        primal_out = tuple(x[0] for x in outs)
        t_states = jnp.einsum("jxtb,jb->xtb", jac[0], direction)
        t_obs = jnp.einsum("jxtb,jb->xtb", jac[1], direction)
        int_zero = lambda a: np.zeros(a.shape, dtype=jax.dtypes.float0)
        return primal_out, (t_states, t_obs, *(int_zero(a) for a in primal_out[2:]))

    return differentiable
