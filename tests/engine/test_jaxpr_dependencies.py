"""The structural walker shared by the sparse Jacobian and the engine's output selection."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vhtwin.jaxpr_dependencies import input_dependencies


@jax.jit
def _helper(a, b, c):
    return a * 2.0, b + c


def test_each_output_depends_on_the_inputs_it_reads_through_calls():
    def f(x, y, z, w):
        u, v = _helper(x, y, z)  # a call: followed, so u reads x only
        return u, v, jnp.where(w > 0, x, z), jnp.asarray(3.0)

    closed = jax.make_jaxpr(f)(1.0, 2.0, 3.0, 4.0)
    masks = input_dependencies(closed, [1, 2, 4, 8])
    assert masks == [1, 2 | 4, 8 | 1 | 4, 0]  # a select depends on its condition and both branches


def test_untracked_inputs_contribute_nothing():
    closed = jax.make_jaxpr(lambda t, y: (t * y, t))(0.0, 1.0)
    assert input_dependencies(closed, [0, 1]) == [1, 0]
