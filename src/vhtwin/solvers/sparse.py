"""Structural sparsity of a model's Jacobian: its pattern, a compressed evaluation, and a static sparse LU.

Large ionic cell models have sparse Jacobians: a gating variable depends only on the membrane potential and on
itself, so a 41-state model such as O'Hara--Rudy 2011 has about 220 structural nonzeros out of 1,681. Three things
follow, all decided once, when the solve is traced (nothing here depends on values):

1. :func:`jacobian_pattern` -- which entries of ``df/dy`` (and ``df/dt``) can be nonzero, read from the program of
   the right-hand side itself (its jaxpr): an output that does not depend on an input through any chain of
   operations has an identically zero derivative with respect to it. Both branches of every ``select`` count, so
   the pattern holds at every state, unlike a pattern probed numerically at a few points.
2. :class:`JacobianPlan` -- the nonzeros from fewer directional derivatives than ``n``: columns that share no row
   are seeded together (Curtis, Powell & Reid, "On the estimation of sparse Jacobian matrices", J. Inst. Maths
   Applics 13 (1974) 117-119; greedy colouring of the column intersection graph). A row that depends on almost
   every state (the membrane potential's, which sums every current) would force every column into its own colour,
   so the densest rows are instead taken one at a time by reverse mode (one vector-Jacobian product each), and the
   columns are coloured over the remaining rows only (a bidirectional partition: Coleman & Verma, "The efficient
   computation of sparse Jacobian matrices using automatic differentiation", SIAM J. Sci. Comput. 19 (1998)
   1210-1233). Every nonzero is then read off exactly once: the result equals the dense Jacobian entry by entry.
   Each reverse row is the gradient of its own output, whose transposed program holds only what that output
   depends on (a concentration's row is a fraction of the model).
3. :class:`SparseLU` -- Gaussian elimination on the pattern of ``E = I / (h gamma) - J`` with a static pivot order
   (Markowitz's criterion restricted to the diagonal, i.e. minimum degree: H. M. Markowitz, "The elimination form
   of the inverse and its application to linear programming", Management Science 3 (1957) 255-269), emitting only
   the updates of structural nonzeros and of their fill-in. Its stability is checked per factorisation with the
   threshold test of sparse direct solvers (I. S. Duff, A. M. Erisman & J. K. Reid, *Direct Methods for Sparse
   Matrices*, Oxford 1986, section 5.4): every pivot must be at least ``threshold`` times the largest entry of its
   column in the active submatrix (default 1e-3, see :attr:`SparseLU.DEFAULT_THRESHOLD`). A batch where some lane
   fails it is solved instead by the dense LU with partial pivoting of :mod:`vhtwin.solvers.linalg`.

Numeric values travel packed, one ``(F, B)`` array for the F positions of the (filled) pattern, batch-last like
everything else. Pivots that do not touch each other's rows or columns are eliminated together (all the gates of a
cell model at once), so a factorisation or a triangular solve is a few gathers, products and scatter-adds per level
of the elimination, whatever the number of nonzeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..jaxpr_dependencies import input_dependencies
from . import linalg

def jacobian_pattern(vf, t, y):
    """Structural pattern of ``[df/dy, df/dt]`` as a boolean array (n, n + 1), or None when it cannot be read.

    ``vf`` must offer the row form ``vf.rows(t, rows)`` (:class:`vhtwin.solvers.base.VectorField`): each state is
    then its own input of the traced program and each derivative its own output, so the dependencies are exact at
    the level of states. Any other callable gives None (callers fall back to the dense Jacobian).
    """
    rows_fn = getattr(vf, "rows", None)
    if rows_fn is None:
        return None
    n = y.shape[0]
    try:
        closed = jax.make_jaxpr(lambda t, *rows: tuple(rows_fn(t, rows)))(t, *(y[i] for i in range(n)))
    except Exception:  # a vector field that cannot be traced on its own: no pattern, dense path
        return None
    if len(closed.jaxpr.outvars) != n:
        return None
    deps = input_dependencies(closed, [1 << n] + [1 << j for j in range(n)])
    return np.array([[(d >> j) & 1 for j in range(n + 1)] for d in deps], dtype=bool)


def _greedy_colouring(columns: np.ndarray) -> list[list[int]]:
    """Groups of columns (indices into the pattern ``columns`` (rows, cols)) no two of which share a row.

    Largest-first greedy colouring of the column intersection graph (Curtis, Powell & Reid 1974).
    """
    m, k = columns.shape
    order = sorted(range(k), key=lambda j: (-int(columns[:, j].sum()), j))
    groups: list[list[int]] = []
    used: list[np.ndarray] = []
    for j in order:
        for g, rows in enumerate(used):
            if not np.any(rows & columns[:, j]):
                groups[g].append(j)
                used[g] = rows | columns[:, j]
                break
        else:
            groups.append([j])
            used.append(columns[:, j].copy())
    return [sorted(g) for g in groups]


@dataclass(frozen=True)
class JacobianPlan:
    """How to evaluate the nonzeros of ``[df/dy, df/dt]`` with few directional derivatives.

    reverse_rows : rows computed by reverse mode, one vector-Jacobian product each (the densest rows)
    groups : column groups seeded together in one forward directional derivative; column ``n`` is ``t``
    nnz : the structural nonzeros of ``df/dy`` as (row, column) pairs
    time_rows : rows with a structural ``df/dt``
    """

    n: int
    reverse_rows: tuple[int, ...]
    groups: tuple[tuple[int, ...], ...]
    nnz: tuple[tuple[int, int], ...]
    time_rows: tuple[int, ...]
    pattern: Any = field(compare=False, repr=False)

    @classmethod
    def build(cls, pattern: np.ndarray, reverse_cost: float = 1.5) -> "JacobianPlan":
        """The partition with the least cost: each forward derivative costs 1, each reverse row ``reverse_cost``.

        A reverse row runs the transposed program of its own output only (:meth:`_reverse`), so its cost varies
        with the row; on ORd-CiPA the nine dense rows cost about half a forward derivative each, and every cost from
        0.35 to 1.5 gives the same split there (6 forward groups, 9 reverse rows), so the default is left at 1.5.

        Rows go to reverse mode densest first; every prefix is tried and the cheapest split kept.
        """
        n = pattern.shape[0]
        by_density = sorted(range(n), key=lambda i: (-int(pattern[i].sum()), i))
        best = None
        for k in range(n + 1):
            reverse = sorted(by_density[:k])
            rest = np.ones(n, bool)
            rest[reverse] = False
            cols = [j for j in range(n + 1) if pattern[rest, j].any()]
            groups = [tuple(cols[g] for g in grp) for grp in _greedy_colouring(pattern[rest][:, cols])] if cols else []
            cost = len(groups) + reverse_cost * k
            if best is None or cost < best[0]:
                best = (cost, tuple(reverse), tuple(groups))
            if k and int(pattern[by_density[k - 1]].sum()) <= 1:
                break  # the remaining rows are (near) empty: moving them cannot help
        _, reverse, groups = best
        nnz = tuple((i, j) for i in range(n) for j in range(n) if pattern[i, j])
        time_rows = tuple(i for i in range(n) if pattern[i, n])
        return cls(n, reverse, groups, nnz, time_rows, pattern)

    def _reverse(self, vf, lin, t, y):
        """The reverse rows of ``[df/dt, df/dy]``: ``(R, B)`` and ``(R, n, B)``.

        With the row form (:class:`vhtwin.solvers.base.VectorField`) each row is the gradient of its own output: the
        transposed program then holds only the operations that output depends on (the rest carry a zero cotangent,
        which JAX leaves out while transposing), and a concentration's row costs a fraction of the whole model's.
        Transposing the whole linearised model once per row with a unit cotangent would run every operation of
        every row each time (measured on ORd-CiPA, nine rows over 128 lanes: 1.1 against 11.8 us a lane).
        """
        n, B = y.shape
        rows_fn = getattr(vf, "rows", None)
        if rows_fn is None:
            transpose = jax.linear_transpose(lin, t, y)
            R = len(self.reverse_rows)
            cot = np.zeros((R, n), dtype=np.dtype(y.dtype))
            cot[np.arange(R), list(self.reverse_rows)] = 1.0
            cot_y = jnp.broadcast_to(jnp.asarray(cot, y.dtype)[:, :, None], (R, n, B))
            return jax.vmap(lambda c: transpose(c))(cot_y)
        y_rows = tuple(y[j] for j in range(n))
        unit = jnp.ones((B,), y.dtype)
        d_t, d_y = [], []
        for i in self.reverse_rows:
            _, pull = jax.vjp(lambda t_, *rows, i=i: rows_fn(t_, rows)[i], t, *y_rows)
            grads = pull(unit)
            d_t.append(grads[0])
            d_y.append(jnp.stack(grads[1:]))
        return jnp.stack(d_t), jnp.stack(d_y)

    @property
    def evaluations(self) -> int:
        """Directional derivatives per Jacobian (forward and reverse)."""
        return len(self.groups) + len(self.reverse_rows)

    def evaluate(self, vf, t, y, positions: dict | None = None):
        """``f(t, y)`` (n, B), the nonzeros of ``df/dy`` packed (F, B), and ``df/dt`` (n, B) or None.

        ``positions`` numbers the F entries wanted (``positions[(i, j)] = q``, e.g. :attr:`SparseLU.positions`);
        entries outside the pattern come out 0. Default: the structural nonzeros, in row-major order (:attr:`nnz`).
        """
        n, B = y.shape
        dtype = y.dtype
        if positions is None:
            positions = {ij: q for q, ij in enumerate(self.nnz)}
        f0, lin = jax.linearize(vf, t, y)
        reverse = {i: r for r, i in enumerate(self.reverse_rows)}
        owner = {j: g for g, cols in enumerate(self.groups) for j in cols}
        G, R = len(self.groups), len(self.reverse_rows)
        # every derivative computed lands in one (G n + R n + 1, B) block; the last row is 0
        blocks, time_blocks = [], []
        if G:
            seeds = np.zeros((G, n + 1), dtype=np.dtype(dtype))
            for g, cols in enumerate(self.groups):
                seeds[g, list(cols)] = 1.0
            tangent_y = jnp.broadcast_to(jnp.asarray(seeds[:, :n], dtype)[:, :, None], (G, n, B))
            tangent_t = jnp.broadcast_to(jnp.asarray(seeds[:, n], t.dtype)[:, None], (G, B))
            # vmap a plain function, not `lin` itself: JAX names a mapped function by its repr, and the repr of a
            # linearized function prints its whole program (seconds to minutes for a 41-state cell model)
            out = jax.vmap(lambda dt_, dy_: lin(dt_, dy_))(tangent_t, tangent_y)  # (G, n, B): sum over group g's j of df_i/dy_j
            blocks.append(out.reshape(G * n, B))
        if R:
            ct_t, ct_y = self._reverse(vf, lin, t, y)  # (R, B), (R, n, B): rows of df/dt and df/dy
            blocks.append(ct_y.reshape(R * n, B))
            time_blocks.append(ct_t.astype(dtype))
        blocks.append(jnp.zeros((1, B), dtype))
        source = jnp.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        zero_row = G * n + R * n

        def where(i, j):
            if j < n and not self.pattern[i, j]:
                return zero_row
            if i in reverse:
                return G * n + reverse[i] * n + j if j < n else None
            return owner[j] * n + i

        index = np.full(len(positions), zero_row, np.int32)
        for (i, j), q in positions.items():
            index[q] = where(i, j)
        jac = source[index]
        f_t = None
        if self.time_rows:
            rows = []
            for i in range(n):
                if not self.pattern[i, n]:
                    rows.append(source[zero_row])
                elif i in reverse:
                    rows.append(time_blocks[0][reverse[i]])
                else:
                    rows.append(source[owner[n] * n + i])
            f_t = jnp.stack(rows)
        return f0, jac, f_t

    def dense(self, vf, t, y):
        """``f``, the full Jacobian (n, n, B) and ``df/dt`` (n, B) (zeros where structurally zero), for checks."""
        n, B = y.shape
        positions = {(i, j): i * n + j for i in range(n) for j in range(n)}
        f0, jac, f_t = self.evaluate(vf, t, y, positions)
        return f0, jac.reshape(n, n, B), (jnp.zeros_like(f0) if f_t is None else f_t)


class SparseFactors(NamedTuple):
    """Numeric factors of :class:`SparseLU`.

    values : (F, B)     the ``L`` multipliers and ``U`` entries at the positions of the filled pattern
    inv_diag : (n, B)   reciprocal pivots, by state
    stable : () bool    whether every lane passed the threshold test (else the dense pivoted LU is used)
    matrix : (F, B)     the entries of ``E`` itself (for that fallback)
    """

    values: Any
    inv_diag: Any
    stable: Any
    matrix: Any


def _levels(steps, depends_on):
    """Group the steps into levels: a step's level is one more than the highest level of the steps it depends on."""
    level = {}
    for k in steps:
        level[k] = 1 + max((level[d] for d in depends_on(k)), default=-1)
    out = [[] for _ in range(1 + max(level.values(), default=-1))]
    for k in steps:
        out[level[k]].append(k)
    return out


def _idx(values) -> np.ndarray:
    return np.asarray(values, dtype=np.int32)


@dataclass(frozen=True, eq=False)
class SparseLU:
    """Static-pattern LU of ``E`` with diagonal pivots in minimum-degree order; see the module docstring.

    The filled pattern's ``F`` positions are numbered (``positions[(i, j)]``) and the numeric factors kept packed as
    one ``(F, B)`` array. Pivots that do not depend on each other (no pivot updates another's row or column, e.g.
    all the gates of a cell model) are eliminated together: each *level* of the elimination is a handful of
    gathers, elementwise products and one scatter-add over the batch, whatever the number of pivots in it. The
    triangular solves are levelled the same way.
    """

    n: int
    order: tuple
    lower: tuple
    upper: tuple
    positions: dict
    updates: int
    threshold: float
    factor_levels: tuple
    forward_levels: tuple
    backward_levels: tuple

    #: Smallest acceptable ratio of a pivot to the largest entry of its column in the active submatrix: the
    #: default tolerance for diagonal pivots of UMFPACK's symmetric strategy (T. A. Davis, "A column pre-ordering
    #: strategy for the unsymmetric-pattern multifrontal method", ACM Trans. Math. Softw. 30 (2004) 165-195).
    DEFAULT_THRESHOLD = 1e-3

    @classmethod
    def build(cls, pattern: np.ndarray, threshold: float | None = None) -> "SparseLU":
        """Symbolic factorisation of a matrix with the pattern ``pattern`` (n, n) plus its diagonal."""
        threshold = cls.DEFAULT_THRESHOLD if threshold is None else threshold
        n = pattern.shape[0]
        S = np.array(pattern[:, :n], bool) | np.eye(n, dtype=bool)
        active = np.ones(n, bool)
        order, lower, upper = [], [], []
        updates = 0
        for _ in range(n):
            # Markowitz count (r - 1)(c - 1) of each remaining diagonal pivot; ties: the sparser, then the first
            cand = np.nonzero(active)[0]
            col_counts = (S[:, cand] & active[:, None]).sum(axis=0) - 1
            row_counts = (S[cand, :] & active[None, :]).sum(axis=1) - 1
            k = int(cand[np.argmin(col_counts * row_counts * (2 * n + 1) + col_counts + row_counts)])
            active[k] = False
            rows = tuple(int(i) for i in np.nonzero(S[:, k] & active)[0])
            cols = tuple(int(j) for j in np.nonzero(S[k, :] & active)[0])
            for i in rows:
                S[i, list(cols)] = True  # fill-in
            updates += len(rows) * len(cols)
            order.append(k)
            lower.append(rows)
            upper.append(cols)
        positions = {(int(i), int(j)): q for q, (i, j) in enumerate(zip(*np.nonzero(S)))}
        step_of = {k: s for s, k in enumerate(order)}

        # factorisation levels: pivot k waits for every earlier pivot that updates its row or its column
        touches = {k: set() for k in order}
        for s, k in enumerate(order):
            for i in lower[s]:
                touches[i].add(k)
            for j in upper[s]:
                touches[j].add(k)
        factor_levels = []
        for level in _levels(order, lambda k: touches[k]):
            piv = [positions[k, k] for k in level]
            l_pos, l_owner, t_pos, t_l, t_u = [], [], [], [], []
            for a, k in enumerate(level):
                s = step_of[k]
                for i in lower[s]:
                    m = len(l_pos)
                    l_pos.append(positions[i, k])
                    l_owner.append(a)
                    for j in upper[s]:
                        t_pos.append(positions[i, j])
                        t_l.append(m)
                        t_u.append(positions[k, j])
            factor_levels.append(tuple(_idx(x) for x in (piv, l_pos, l_owner, t_pos, t_l, t_u)))

        # forward substitution (L z = b): z_k is final once every L entry of row k has been applied
        fwd = []
        for level in _levels(order, lambda k: [c for c in order[: step_of[k]] if k in lower[step_of[c]]]):
            rows, cols, pos = [], [], []
            for k in level:
                for i in lower[step_of[k]]:
                    rows.append(i)
                    cols.append(k)
                    pos.append(positions[i, k])
            if rows:
                fwd.append(tuple(_idx(x) for x in (rows, cols, pos)))
        # backward substitution (U x = z): x_k needs every x_j of row k of U
        bwd = []
        for level in _levels(list(reversed(order)), lambda k: upper[step_of[k]]):
            rows, cols, pos = [], [], []
            for k in level:
                for j in upper[step_of[k]]:
                    rows.append(k)
                    cols.append(j)
                    pos.append(positions[k, j])
            bwd.append((_idx(level),) + tuple(_idx(x) for x in (rows, cols, pos)))
        return cls(n, tuple(order), tuple(lower), tuple(upper), positions, updates, threshold,
                   tuple(factor_levels), tuple(fwd), tuple(bwd))

    def pack(self, entries: dict, B: int, dtype):
        """The (F, B) array of a matrix given by its nonzeros ``entries[(i, j)]`` (B,) (fill positions are 0)."""
        zero = jnp.zeros((B,), dtype)
        keys = sorted(self.positions, key=self.positions.get)
        return jnp.stack([entries.get(k, zero) for k in keys])

    def factor(self, matrix) -> SparseFactors:
        """Factorise ``E`` given packed, (F, B), in the numbering of :attr:`positions`."""
        vals = matrix
        stable = jnp.ones((), bool)
        for piv, l_pos, l_owner, t_pos, t_l, t_u in self.factor_levels:
            pivot = vals[piv]  # (K, B)
            if len(l_pos):
                col = vals[l_pos]  # (M, B): the column below each pivot
                # threshold test, written without a per-column max: every |a_ik| <= |a_kk| / threshold
                ok = self.threshold * jnp.abs(col) <= jnp.abs(pivot[l_owner])
                stable = stable & jnp.all(ok) & jnp.all(jnp.isfinite(pivot))
                mult = col / pivot[l_owner]
                vals = vals.at[l_pos].set(mult, unique_indices=True)
                if len(t_pos):
                    vals = vals.at[t_pos].add(-mult[t_l] * vals[t_u])
        diag = _idx([self.positions[k, k] for k in range(self.n)])
        return SparseFactors(vals, 1.0 / vals[diag], stable, matrix)

    def _solve_sparse(self, factors: SparseFactors, b):
        vals, inv_diag = factors.values, factors.inv_diag
        x = b
        for rows, cols, pos in self.forward_levels:
            x = x.at[rows].add(-vals[pos] * x[cols])
        for level, rows, cols, pos in self.backward_levels:
            if len(rows):
                x = x.at[rows].add(-vals[pos] * x[cols])
            x = x.at[level].multiply(inv_diag[level], unique_indices=True)
        return x

    def _solve_dense(self, factors: SparseFactors, b):
        n, B = b.shape
        flat = _idx([i * n + j for (i, j) in sorted(self.positions, key=self.positions.get)])
        E = jnp.zeros((n * n, B), b.dtype).at[flat].set(factors.matrix, unique_indices=True).reshape(n, n, B)
        return linalg.solve(E, b)

    def solve(self, factors: SparseFactors, b):
        """``x`` (n, B) with ``E x = b``: the sparse factors when every lane passed the threshold test, else the dense
        LU with partial pivoting (computed only in that case)."""
        return lax.cond(factors.stable, self._solve_sparse, self._solve_dense, factors, b)


__all__ = ["JacobianPlan", "SparseFactors", "SparseLU", "jacobian_pattern"]
