"""The batched Newton trust-region minimiser on functions with known minima."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vhtwin.calibration import fit

pytestmark = pytest.mark.slow


def test_rosenbrock_lanes_converge_to_their_own_minima():
    """Each lane is a Rosenbrock valley with its own minimum (a, a^2), started on the far side of the bend: the
    Hessian is indefinite there, so plain Newton steps would not descend."""
    a = jnp.array([1.0, -0.5, 2.0, 0.3])

    def rosenbrock(x):
        return (a - x[:, 0]) ** 2 + 100.0 * (x[:, 1] - x[:, 0] ** 2) ** 2

    with jax.enable_x64(True):
        x0 = jnp.tile(jnp.array([-1.2, 1.0]), (4, 1))
        result = jax.jit(lambda x: fit.minimise(rosenbrock, x, max_iter=200, max_step=1.0))(x0)
    assert np.all(np.asarray(result.converged))
    np.testing.assert_allclose(np.asarray(result.x), np.stack([a, a**2], axis=1), atol=1e-6)
    assert np.all(np.asarray(result.iterations) < 200)


def test_lanes_are_independent_and_failures_are_values():
    """A lane whose objective is undefined at the start reports converged = False; the others are unaffected."""

    def objective(x):
        centre = jnp.array([[0.5, -0.2], [1.0, 1.0], [0.0, 0.0]])
        value = jnp.sum((x - centre) ** 2, axis=1) + 0.1 * jnp.sum(x**4, axis=1)
        return value.at[2].set(jnp.nan)  # lane 2: nowhere defined

    with jax.enable_x64(True):
        result = jax.jit(lambda x: fit.minimise(objective, x))(jnp.zeros((3, 2)))
    assert list(np.asarray(result.converged)) == [True, True, False]
    g = np.asarray(result.gradient)[:2]
    assert np.max(np.abs(g)) < 1e-6


def test_iteration_cap_is_reported():
    with jax.enable_x64(True):
        far = lambda x: jnp.sum((x - 50.0) ** 2, axis=1)  # 50 units away, steps of at most 2
        result = jax.jit(lambda x: fit.minimise(far, x, max_iter=5))(jnp.zeros((2, 1)))
    assert not np.asarray(result.converged).any()
    assert list(np.asarray(result.iterations)) == [5, 5]
    np.testing.assert_allclose(np.asarray(result.x), 10.0)  # five capped steps of 2 towards the minimum


def test_convergence_at_the_objective_resolution():
    """An objective known only to ~1e-9 with smooth derivatives -- as an ODE solve at a loose tolerance gives it
    (its step sequence, frozen for the derivatives, changes from point to point): the search stops at the minimum
    once a rejected step promised less than that resolution -- converged with ``noise``, not without."""

    def rough(x):
        smooth = jnp.sum(jnp.cosh(x - 0.3), axis=1)
        jitter = jax.lax.stop_gradient(jnp.sin(1e7 * x[:, 0]) ** 2)  # 0..1, changing on a 1e-7 scale
        return smooth + 1e-9 * jitter

    with jax.enable_x64(True):
        x0 = jnp.zeros((1, 1))
        # gradient and decrement tests off: only the resolution can end the search
        strict = jax.jit(lambda x: fit.minimise(rough, x, gtol=0.0, ftol=0.0))(x0)
        tolerant = jax.jit(lambda x: fit.minimise(rough, x, gtol=0.0, ftol=0.0, noise=1e-8))(x0)
    assert bool(tolerant.converged[0]) and not bool(strict.converged[0])
    assert abs(float(tolerant.x[0, 0]) - 0.3) < 1e-4 and int(tolerant.iterations[0]) < 20
