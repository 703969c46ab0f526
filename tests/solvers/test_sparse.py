"""The sparse path of Rodas4 (vhtwin.solvers.sparse): Jacobian pattern, compressed Jacobian, static sparse LU.

Each piece is checked against its dense counterpart: the compressed Jacobian against ``linearise`` (every column by
its own directional derivative) on the two large cell models and on models with few states, the sparse LU against
``numpy.linalg.solve``, a Rodas4 step against the same step on the dense path, and sensitivities through a solve
that takes the sparse path against central differences.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vhtwin as vh
from vhtwin.equations import equations
from vhtwin.solvers import Rodas4, VectorField
from vhtwin.solvers.linalg import UNROLL_MAX
from vhtwin.solvers.rodas import linearise
from vhtwin.solvers.sparse import JacobianPlan, SparseLU, jacobian_pattern

pytestmark = pytest.mark.slow

B = 5


@pytest.fixture(autouse=True)
def _x64():
    with jax.enable_x64(True):
        yield


def model_vector_field(model, rng, scale=0.05):
    """The batched vector field the engine builds for ``model`` (default parameters, zero inputs), and a state near
    the model's initial one (each entry perturbed by a relative ``scale``) at random times."""
    n = len(model.states)
    defaults = model.default_parameters()
    p_rows = tuple(jnp.full((B,), defaults[k]) for k in model.parameter_names)
    u_rows = tuple(jnp.zeros((B,)) for _ in range(len(model.dosable_states) + len(model.inputs)))
    row_rhs = jax.vmap(equations(model).row_rhs, in_axes=(0, 0, 0, 0))
    vf = VectorField(lambda t, rows: row_rhs(t, tuple(rows), p_rows, u_rows))
    y0 = np.array([s.initial for s in model.states])[:, None]
    y = jnp.asarray(y0 * (1.0 + scale * rng.standard_normal((n, B))) + 1e-3 * rng.standard_normal((n, B)) * (y0 == 0))
    t = jnp.asarray(rng.uniform(0.0, 1.0, B))
    return vf, t, y


MODELS = ("cardio/ohara_rudy2011", "cardio/tentusscher2006", "cardio/smith2004",
          "pharmacokinetics/two_compartment_oral_mm", "pharmacokinetics/one_compartment_transit")


@pytest.mark.parametrize("name", MODELS)
def test_compressed_jacobian_equals_dense(name):
    """Pattern from the program, nonzeros from coloured forward and reverse derivatives: equal to the dense Jacobian
    (column by column) entry by entry, and every entry outside the pattern is exactly zero."""
    model = vh.load_model(name)
    vf, t, y = model_vector_field(model, np.random.default_rng(len(name)))
    n = y.shape[0]
    pattern = jacobian_pattern(vf, t, y)
    assert pattern.shape == (n, n + 1)
    plan = JacobianPlan.build(pattern)
    f_ref, jac_ref, ft_ref = jax.jit(lambda t, y: linearise(vf, t, y))(t, y)
    f0, jac, f_t = jax.jit(lambda t, y: plan.dense(vf, t, y))(t, y)
    jac_ref, ft_ref = np.asarray(jac_ref), np.asarray(ft_ref)
    outside = ~pattern[:, :n]
    assert np.all(jac_ref[outside] == 0.0), "the pattern misses a nonzero"
    assert np.all(ft_ref[~pattern[:, n]] == 0.0), "the pattern misses a time dependence"
    np.testing.assert_allclose(np.asarray(f0), np.asarray(f_ref), rtol=1e-13, atol=0)
    scale = np.max(np.abs(jac_ref), axis=(0, 1), keepdims=True) + 1e-300
    np.testing.assert_allclose(np.asarray(jac) / scale, jac_ref / scale, rtol=0, atol=1e-13)
    np.testing.assert_allclose(np.asarray(f_t), ft_ref, rtol=1e-12, atol=1e-14 * (np.abs(ft_ref).max() + 1e-300))


def test_ionic_models_need_few_derivatives():
    """ORd's gates depend on V and themselves: one colour holds every gate column, and the dense rows (V and the
    ion concentrations) are read by reverse mode. Far fewer than the n + 1 derivatives of the dense Jacobian."""
    for name, most in (("cardio/ohara_rudy2011", 16), ("cardio/tentusscher2006", 12)):
        model = vh.load_model(name)
        vf, t, y = model_vector_field(model, np.random.default_rng(0))
        n = y.shape[0]
        plan = JacobianPlan.build(jacobian_pattern(vf, t, y))
        assert plan.evaluations <= most < n + 1, (name, plan.evaluations)
        lu = SparseLU.build(jacobian_pattern(vf, t, y)[:, :n])
        assert lu.updates < n * n  # a dense elimination needs ~n^3 / 3


def test_colouring_is_valid():
    """No two columns of a forward group share a row outside the reverse rows; every column of the pattern that
    has a nonzero in a forward row is in exactly one group."""
    rng = np.random.default_rng(3)
    for trial in range(20):
        n = int(rng.integers(2, 30))
        pattern = rng.random((n, n + 1)) < rng.uniform(0.05, 0.5)
        pattern[: n // 3, :] |= rng.random((n // 3, n + 1)) < 0.9  # a few dense rows
        plan = JacobianPlan.build(pattern)
        forward = np.ones(n, bool)
        forward[list(plan.reverse_rows)] = False
        seen = [j for g in plan.groups for j in g]
        assert len(seen) == len(set(seen))
        assert set(seen) == {j for j in range(n + 1) if pattern[forward, j].any()}
        for g in plan.groups:
            assert np.all(pattern[forward][:, list(g)].sum(axis=1) <= 1)
        assert plan.evaluations <= n + 1


def test_a_plain_callable_has_no_pattern():
    f = lambda t, y: -y
    assert jacobian_pattern(f, jnp.zeros(B), jnp.ones((3, B))) is None


def _solve_sparse(pattern, A):
    """x with A x = b through SparseLU on the pattern; A (B, n, n) numpy, b = A @ ones."""
    lu = SparseLU.build(pattern)
    n = pattern.shape[0]
    entries = {(i, j): jnp.asarray(A[:, i, j]) for i in range(n) for j in range(n) if pattern[i, j] or i == j}
    b = jnp.asarray(np.einsum("bij->ib", A))  # A @ ones, batch-last

    @jax.jit
    def run(entries, b):
        factors = lu.factor(lu.pack(entries, b.shape[1], b.dtype))
        return lu.solve(factors, b), factors.stable

    x, stable = run(entries, b)
    return np.asarray(x), bool(stable)


def test_sparse_lu_solves_on_a_cell_model_pattern():
    """ORd's pattern with random values, diagonally weighted as ``I / (h gamma) - J`` is: x = ones recovered."""
    model = vh.load_model("cardio/ohara_rudy2011")
    vf, t, y = model_vector_field(model, np.random.default_rng(0))
    n = y.shape[0]
    pattern = jacobian_pattern(vf, t, y)[:, :n]
    rng = np.random.default_rng(5)
    A = np.where(pattern, rng.standard_normal((B, n, n)), 0.0) + np.eye(n) * rng.uniform(3.0, 30.0, (B, 1, 1))
    x, stable = _solve_sparse(pattern, A)
    assert stable
    np.testing.assert_allclose(x, 1.0, rtol=0, atol=1e-11)


def test_sparse_lu_falls_back_to_pivoting():
    """A zero pivot in one lane fails the threshold test: the batch is solved by the dense pivoted LU instead and
    every lane is still right."""
    n = 12
    rng = np.random.default_rng(7)
    pattern = rng.random((n, n)) < 0.3
    A = np.where(pattern, rng.standard_normal((B, n, n)), 0.0) + np.eye(n) * 10.0
    lu = SparseLU.build(pattern)
    k = lu.order[0]
    j = lu.lower[0][0] if lu.lower[0] else (k + 1) % n
    pattern[j, k] = pattern[k, j] = True
    lu = SparseLU.build(pattern)
    k = lu.order[0]
    A[1, k, k] = 0.0  # lane 1: no usable diagonal pivot at the first step
    A[1, lu.lower[0][0], k] = 1.0
    A[1, k, lu.upper[0][0] if lu.upper[0] else lu.lower[0][0]] = 1.0
    x, stable = _solve_sparse(pattern, A)
    assert not stable
    ref = np.linalg.solve(A, A.sum(axis=2)[..., None])[..., 0].T
    np.testing.assert_allclose(x, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name, steps", [pytest.param("cardio/ohara_rudy2011", (1e-3, 0.1, 2.0), marks=pytest.mark.slow),  # ms
                                         ("cardio/smith2004", (1e-4, 1e-3, 1e-2))])  # s
def test_rodas4_step_sparse_equals_dense(name, steps):
    """One Rodas4 step on the sparse path and on the dense path agree to rounding, at small and large steps."""
    model = vh.load_model(name)
    vf, t, y = model_vector_field(model, np.random.default_rng(1))
    assert y.shape[0] > UNROLL_MAX  # the sparse path applies
    # one program per path, the step size an argument (a jit per step size would compile the model six times)
    sparse_step = jax.jit(lambda t, y, dt: Rodas4().step(vf, t, y, dt, ())[:2])
    dense_step = jax.jit(lambda t, y, dt: Rodas4(jacobian="dense").step(vf, t, y, dt, ())[:2])
    for h in steps:
        dt = jnp.full((B,), h)
        sparse, dense = sparse_step(t, y, dt), dense_step(t, y, dt)
        for a, b in zip(sparse, dense):
            a, b = np.asarray(a), np.asarray(b)
            assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)), h
            # relative to the tolerances a solve would use (rtol 1e-6, atol 1e-9) on the step's scale
            scale = 1e-9 + 1e-6 * np.maximum(np.abs(np.asarray(y)), np.abs(a))
            assert np.max(np.abs(a - b) / scale) < 1e-3, h


class GatedCable(vh.Model):
    """A small excitable model with the structure of an ionic cell model: a potential v, a concentration c, and
    eight gates that each relax to a voltage-dependent target (each gate depends on v and itself only)."""

    time_unit = "ms"
    stiff = True
    states = (vh.State("v", "mV", -80.0), vh.State("c", "mM", 1.0)) + tuple(
        vh.State(f"g{k}", "1", 0.1 + 0.05 * k) for k in range(8))
    parameters = (vh.Parameter("gbar", 0.5, "mS/uF", positive=True), vh.Parameter("tau", 2.0, "ms", positive=True))
    observed = (vh.Observable("potential", "mV"),)

    def rhs(self, t, y, p):
        gates = [getattr(y, f"g{k}") for k in range(8)]
        current = p.gbar * sum(g * (y.v - 10.0 * k) for k, g in enumerate(gates)) / 8.0 + 0.1 * (y.v + 80.0) * y.c
        out = {"v": -current + 5.0 * jnp.exp(-0.5 * (t - 3.0) ** 2), "c": -0.01 * current - 0.2 * (y.c - 1.0)}
        for k, g in enumerate(gates):
            target = 1.0 / (1.0 + jnp.exp(-(y.v + 40.0 - 5.0 * k) / 6.0))
            out[f"g{k}"] = (target - g) / (p.tau * (1.0 + 0.3 * k))
        return out

    def observables(self, t, y, p):
        return {"potential": y.v}


@pytest.mark.slow
def test_sensitivities_through_the_sparse_path():
    """jax.jacfwd through a Rodas4 solve of a 10-state gated model (sparse path, explicit time dependence) against
    central differences, and against the same derivative on the dense path."""
    times = np.array([0.0, 1.0, 4.0, 10.0])
    p0 = {"gbar": 0.5, "tau": 2.0}

    def solved(jacobian):
        sim = vh.Simulator(GatedCable(), times=times, solver=Rodas4(jacobian=jacobian), rtol=1e-10, atol=1e-12,
                           precision="float64", max_steps=100_000)
        return lambda p: jnp.stack([sim(p)[s] for s in ("v", "c", "g3")])

    out, out_dense = solved("auto"), solved("dense")
    jac = jax.jacfwd(out)({k: jnp.float64(v) for k, v in p0.items()})
    jac_dense = jax.jacfwd(out_dense)({k: jnp.float64(v) for k, v in p0.items()})
    for name in p0:
        h = 1e-5 * p0[name]
        up, down = dict(p0), dict(p0)
        up[name] += h
        down[name] -= h
        fd = (np.asarray(out(up)) - np.asarray(out(down))) / (2 * h)
        got = np.asarray(jac[name])
        for i in range(3):
            np.testing.assert_allclose(got[i], fd[i], rtol=1e-5, atol=1e-6 * np.abs(fd[i]).max(), err_msg=name)
            np.testing.assert_allclose(got[i], np.asarray(jac_dense[name])[i], rtol=1e-7,
                                       atol=1e-9 * np.abs(fd[i]).max(), err_msg=name)


def test_reverse_rows_by_row_equal_the_whole_transpose():
    """With the row form each reverse row is the gradient of its own output; a vector field without it (a plain
    callable) transposes the whole linearised model per row. Both give the same Jacobian."""
    model = vh.load_model("cardio/tentusscher2006")
    vf, t, y = model_vector_field(model, np.random.default_rng(7))
    plan = JacobianPlan.build(jacobian_pattern(vf, t, y))
    assert plan.reverse_rows
    plain = lambda t, y: vf(t, y)  # no .rows: the whole transpose
    by_row = jax.jit(lambda t, y: plan.dense(vf, t, y))(t, y)
    whole = jax.jit(lambda t, y: plan.dense(plain, t, y))(t, y)
    for a, b in zip(by_row[:2], whole[:2]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13, atol=1e-13 * float(np.abs(b).max()))
