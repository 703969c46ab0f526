"""Which inputs of a traced JAX function each output depends on: the one structural walker of the project.

Rodas4's sparse path reads the Jacobian's pattern with it (:func:`vhtwin.solvers.sparse.jacobian_pattern`), and the
engine the states an observable reads, so that it saves only those (:meth:`vhtwin.equations.Equations.
observable_dependencies`). Dependencies are sets of inputs held as integer bit masks: input ``j`` is ``1 << j``
(or any mask the caller assigns, e.g. 0 for an input it does not track).
"""

from __future__ import annotations

try:  # the public home of these types
    from jax.extend.core import ClosedJaxpr, Jaxpr, Literal
except ImportError:  # pragma: no cover - older JAX
    from jax.core import ClosedJaxpr, Jaxpr, Literal

#: Primitives whose inner jaxpr maps inputs to outputs one to one (calls): followed, so that a helper function
#: taking many states does not make each of its outputs depend on all of them.
CALL_PRIMITIVES = ("pjit", "jit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call", "remat",
                   "checkpoint")


def input_dependencies(closed, in_deps) -> list[int]:
    """For each output of a jaxpr, the inputs it depends on, as the union (bitwise or) of their masks.

    Parameters
    ----------
    closed : ClosedJaxpr or Jaxpr
        The traced function (``jax.make_jaxpr(f)(*args)``).
    in_deps : sequence of int
        One mask per input (``closed.jaxpr.invars``), e.g. ``1 << j`` for input j, 0 for an untracked one.

    Returns
    -------
    list of int
        One mask per output. Constants and literals depend on nothing.

    Notes
    -----
    Conservative: an equation's outputs depend on all of its inputs (both sides of a ``select``, every operand of
    a loop), except for plain calls (:data:`CALL_PRIMITIVES`), whose body is followed.
    """
    jaxpr = closed.jaxpr if isinstance(closed, ClosedJaxpr) else closed
    env = {v: 0 for v in jaxpr.constvars}
    env.update(zip(jaxpr.invars, in_deps))
    read = lambda v: 0 if isinstance(v, Literal) else env[v]
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        if eqn.primitive.name in CALL_PRIMITIVES:
            subs = [p for p in eqn.params.values() if isinstance(p, (ClosedJaxpr, Jaxpr))]
            inner = (subs[0].jaxpr if isinstance(subs[0], ClosedJaxpr) else subs[0]) if subs else None
            if inner is not None and len(inner.invars) == len(ins) and len(inner.outvars) == len(eqn.outvars):
                env.update(zip(eqn.outvars, input_dependencies(subs[0], ins)))
                continue
        union = 0
        for d in ins:
            union |= d
        for v in eqn.outvars:
            env[v] = union
    return [read(v) for v in jaxpr.outvars]
