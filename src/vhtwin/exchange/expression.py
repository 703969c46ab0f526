"""Mathematical expressions of an imported model: a small tree, evaluated with JAX and printed as Python.

SBML and CellML write their equations in MathML; :mod:`vhtwin.exchange.sbml` reads them into this tree, which is the
only form an imported model's equations take. It is *data*: evaluating it calls a fixed set of JAX functions (the
operators below) on the model's variables and nothing else -- no text from a file is ever compiled or executed --
and tracing it under ``jax.jit`` gives the same program a hand-written model would. :func:`to_python` prints the same
tree as the body of a readable model module (``vhtwin import``).

Nodes: :class:`Num` (a constant), :class:`Sym` (a variable by its model-level name, or ``time``), :class:`Call`
(an operator of :data:`OPERATORS` applied to arguments), :class:`Piecewise` (``(value, condition)`` pieces and an
otherwise) and :class:`Solve` (the root of an implicit equation in one unknown, by Newton's method).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

__all__ = ["Call", "Expr", "Num", "OPERATORS", "Piecewise", "Solve", "Sym", "evaluate", "operator", "solve", "symbols",
           "to_python"]


class Expr:
    """A node of an expression tree."""


@dataclass(frozen=True)
class Num(Expr):
    value: float


@dataclass(frozen=True)
class Sym(Expr):
    name: str


@dataclass(frozen=True)
class Call(Expr):
    op: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Piecewise(Expr):
    pieces: tuple[tuple[Expr, Expr], ...]  # (value, condition)
    otherwise: Expr | None


@dataclass(frozen=True)
class Solve(Expr):
    """The value of ``unknown`` where ``residual`` (an expression that reads it) is zero: :data:`NEWTON_ITERATIONS`
    Newton steps from ``guess``, the derivative taken by forward-mode differentiation (so the result is
    differentiable too). A CellML algebraic loop of one variable (an implicit equation) becomes one."""

    unknown: str
    residual: Expr
    guess: Expr


#: Newton steps of a :class:`Solve` (a fixed count: the same program for every patient; from a guess within the
#: basin, quadratic convergence reaches the working precision in far fewer).
NEWTON_ITERATIONS = 30


def solve(residual: Callable, guess):
    """The root of ``residual(x) = 0`` near ``guess`` by :data:`NEWTON_ITERATIONS` Newton steps (JAX, differentiable):
    what a :class:`Solve` node evaluates to, and what a generated model module calls."""
    import jax

    jnp = _jnp()
    x0 = jnp.asarray(guess, dtype=jnp.result_type(float))
    x0 = jnp.broadcast_to(x0, jnp.shape(residual(x0))).astype(jnp.result_type(residual(x0), x0))

    def step(_, x):
        r, dr = jax.jvp(residual, (x,), (jnp.ones_like(x),))
        # no step where the slope is zero (a degenerate point, e.g. lanes without a patient): x stays, and no 0/0
        # reaches the derivatives (the inner where keeps the division finite on both branches)
        usable = dr != 0
        return x - jnp.where(usable, r / jnp.where(usable, dr, 1.0), 0.0)

    return jax.lax.fori_loop(0, NEWTON_ITERATIONS, step, x0)


def _jnp():
    import jax.numpy as jnp

    return jnp


def _fold(f):
    """An n-ary operator from a binary one (MathML's plus, times, and, or, min, max take any number of arguments)."""
    def op(*xs):
        out = xs[0]
        for x in xs[1:]:
            out = f(out, x)
        return out
    return op


def _gammaln(x):
    from jax.scipy.special import gammaln

    return gammaln(x)


def _xor(*xs):
    out = xs[0]
    for x in xs[1:]:
        out = _jnp().logical_xor(out, x)
    return out


def _exp(x):
    """exp, saturating at (nearly) the largest finite number of its precision instead of overflowing to inf, with a
    finite derivative: the value is the same wherever exp is finite, and the derivatives of the forms cell models are
    full of -- 1 / (1 + exp(x)), exp(x) / (1 + exp(x)) -- stay finite (about 0) where exp(x) or its derivative
    overflows, instead of inf / inf = NaN in a Jacobian. (A NaN derivative stays NaN.) The derivative is exp(x) up
    to the 0.8th power of the largest number (1e246 in float64) and held there beyond."""
    import jax

    jnp = _jnp()
    x = jnp.asarray(x)
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.result_type(float)
    largest = float(jnp.finfo(dtype).max)
    bound = math.log(largest) - 0.01  # - 0.01: no rounding up to inf

    @jax.custom_jvp
    def exp(z):
        return jnp.exp(jnp.minimum(z, bound))

    @exp.defjvp
    def exp_jvp(primals, tangents):
        (z,), (dz,) = primals, tangents
        value = exp(z)
        # the slope is exp(z), held below largest**0.8 so that slope * dz stays finite for any sensible dz (beyond
        # the bound the value is held: no slope); squared in a quotient's derivative it overflows to inf, and
        # finite / inf is the 0 it should be
        slope = jnp.where(z < bound, jnp.minimum(value, largest ** 0.8), 0.0)
        return value, slope * dz

    return exp(x.astype(dtype))


def _ops() -> dict[str, Callable]:
    jnp = _jnp()
    return {
        "plus": lambda *xs: _fold(lambda a, b: a + b)(*xs) if xs else 0.0,
        "minus": lambda a, b=None: -a if b is None else a - b,
        "times": lambda *xs: _fold(lambda a, b: a * b)(*xs) if xs else 1.0,
        "divide": lambda a, b: a / b,
        "power": lambda a, b: jnp.power(a, b),
        "root": lambda degree, x: jnp.power(x, 1.0 / degree),
        "sqrt": jnp.sqrt,
        "exp": _exp,
        "ln": jnp.log,
        "log10": jnp.log10,
        "log": lambda base, x: jnp.log(x) / jnp.log(base),
        "abs": jnp.abs,
        "floor": jnp.floor,
        "ceiling": jnp.ceil,
        "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan,
        "sec": lambda x: 1.0 / jnp.cos(x), "csc": lambda x: 1.0 / jnp.sin(x), "cot": lambda x: 1.0 / jnp.tan(x),
        "sinh": jnp.sinh, "cosh": jnp.cosh, "tanh": jnp.tanh,
        "sech": lambda x: 1.0 / jnp.cosh(x), "csch": lambda x: 1.0 / jnp.sinh(x), "coth": lambda x: 1.0 / jnp.tanh(x),
        "arcsin": jnp.arcsin, "arccos": jnp.arccos, "arctan": jnp.arctan,
        "arcsec": lambda x: jnp.arccos(1.0 / x), "arccsc": lambda x: jnp.arcsin(1.0 / x),
        "arccot": lambda x: jnp.arctan(1.0 / x),
        "arcsinh": jnp.arcsinh, "arccosh": jnp.arccosh, "arctanh": jnp.arctanh,
        "arcsech": lambda x: jnp.arccosh(1.0 / x), "arccsch": lambda x: jnp.arcsinh(1.0 / x),
        "arccoth": lambda x: jnp.arctanh(1.0 / x),
        "min": _fold(jnp.minimum), "max": _fold(jnp.maximum),
        "rem": lambda a, b: jnp.fmod(a, b),
        "factorial": lambda x: jnp.exp(_gammaln(x + 1.0)),
        "quotient": lambda a, b: jnp.trunc(a / b),
        "eq": lambda *xs: _chain(jnp.equal, xs), "neq": lambda a, b: jnp.not_equal(a, b),
        "lt": lambda *xs: _chain(jnp.less, xs), "leq": lambda *xs: _chain(jnp.less_equal, xs),
        "gt": lambda *xs: _chain(jnp.greater, xs), "geq": lambda *xs: _chain(jnp.greater_equal, xs),
        "and": lambda *xs: _fold(jnp.logical_and)(*xs) if xs else True,
        "or": lambda *xs: _fold(jnp.logical_or)(*xs) if xs else False,
        "xor": lambda *xs: _xor(*xs) if xs else False,
        "not": jnp.logical_not,
        "implies": lambda a, b: jnp.logical_or(jnp.logical_not(a), b),
    }


def _chain(rel, xs):
    """MathML relations take several arguments: a < b < c."""
    jnp = _jnp()
    out = rel(xs[0], xs[1])
    for a, b in zip(xs[1:-1], xs[2:]):
        out = jnp.logical_and(out, rel(a, b))
    return out


#: The operators an expression may use (the names of MathML's content elements, ``log`` with its base first and
#: ``root`` with its degree first).
OPERATORS = frozenset(["plus", "minus", "times", "divide", "power", "root", "sqrt", "exp", "ln", "log10", "log",
                       "abs", "floor", "ceiling", "sin", "cos", "tan", "sec", "csc", "cot", "sinh", "cosh", "tanh",
                       "sech", "csch", "coth", "arcsin", "arccos", "arctan", "arcsec", "arccsc", "arccot", "arcsinh",
                       "arccosh", "arctanh", "arcsech", "arccsch", "arccoth", "min", "max", "rem", "quotient", "eq",
                       "neq", "lt", "leq", "gt", "geq", "and", "or", "xor", "not", "implies", "factorial"])
_BOOLEAN = frozenset(["eq", "neq", "lt", "leq", "gt", "geq", "and", "or", "xor", "not", "implies"])


def operator(name: str) -> Callable:
    """The JAX function of an operator of :data:`OPERATORS` (what generated model modules call for the rarer ones)."""
    if name not in OPERATORS:
        raise KeyError(f"{name!r} is not an operator of an imported expression")
    return _ops()[name]


def evaluate(expr: Expr, env: Mapping[str, object]):
    """The value of ``expr`` with JAX, its symbols read from ``env`` (a mapping of name to value)."""
    ops = _ops()

    def ev(e):
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Sym):
            return env[e.name]
        if isinstance(e, Call):
            return ops[e.op](*(ev(a) for a in e.args))
        if isinstance(e, Piecewise):
            jnp = _jnp()
            out = ev(e.otherwise) if e.otherwise is not None else math.nan
            for value, condition in reversed(e.pieces):  # the first true piece wins
                out = jnp.where(ev(condition), ev(value), out)
            return out
        if isinstance(e, Solve):
            return solve(lambda x: evaluate(e.residual, {**env, e.unknown: x}), ev(e.guess))
        raise TypeError(f"not an expression node: {e!r}")

    return ev(expr)


def symbols(expr: Expr) -> set[str]:
    """The names an expression reads."""
    if isinstance(expr, Sym):
        return {expr.name}
    if isinstance(expr, Call):
        return set().union(*(symbols(a) for a in expr.args)) if expr.args else set()
    if isinstance(expr, Piecewise):
        out = set() if expr.otherwise is None else symbols(expr.otherwise)
        for value, condition in expr.pieces:
            out |= symbols(value) | symbols(condition)
        return out
    if isinstance(expr, Solve):
        return (symbols(expr.residual) - {expr.unknown}) | symbols(expr.guess)
    return set()


_INFIX = {"plus": "+", "times": "*", "divide": "/", "power": "**"}
_PYTHON = {"exp": "jnp.exp", "ln": "jnp.log", "log10": "jnp.log10", "sqrt": "jnp.sqrt", "abs": "jnp.abs",
           "floor": "jnp.floor", "ceiling": "jnp.ceil", "sin": "jnp.sin", "cos": "jnp.cos", "tan": "jnp.tan",
           "sinh": "jnp.sinh", "cosh": "jnp.cosh", "tanh": "jnp.tanh", "arcsin": "jnp.arcsin",
           "arccos": "jnp.arccos", "arctan": "jnp.arctan", "arcsinh": "jnp.arcsinh", "arccosh": "jnp.arccosh",
           "arctanh": "jnp.arctanh", "not": "jnp.logical_not", "neq": "jnp.not_equal", "rem": "jnp.fmod"}
_RELATION = {"eq": "==", "lt": "<", "leq": "<=", "gt": ">", "geq": ">="}


def to_python(expr: Expr, name: Callable[[str], str]) -> str:
    """``expr`` as a Python expression over ``jnp`` (``name`` maps a symbol to its Python spelling, e.g.
    ``lambda s: f"y.{s}"``)."""
    def py(e):
        if isinstance(e, Num):
            return repr(float(e.value)) if math.isfinite(e.value) else f"float({str(e.value)!r})"
        if isinstance(e, Sym):
            return name(e.name)
        if isinstance(e, Solve):
            inner = to_python(e.residual, lambda s: "x" if s == e.unknown else name(s))
            return f"solve(lambda x: {inner}, {py(e.guess)})"
        if isinstance(e, Piecewise):
            out = py(e.otherwise) if e.otherwise is not None else "jnp.nan"
            for value, condition in reversed(e.pieces):
                out = f"jnp.where({py(condition)}, {py(value)}, {out})"
            return out
        args = [py(a) for a in e.args]
        if e.op == "minus":
            return f"(-{args[0]})" if len(args) == 1 else f"({args[0]} - {args[1]})"
        if e.op in _INFIX:
            if not args:
                return "0.0" if e.op == "plus" else "1.0"
            return "(" + f" {_INFIX[e.op]} ".join(args) + ")"
        if e.op in _RELATION and len(args) == 2:
            return f"({args[0]} {_RELATION[e.op]} {args[1]})"
        if e.op in ("and", "or") and args:
            f = "jnp.logical_and" if e.op == "and" else "jnp.logical_or"
            out = args[0]
            for a in args[1:]:
                out = f"{f}({out}, {a})"
            return out
        if e.op in ("min", "max"):
            out = args[0]
            for a in args[1:]:
                out = f"jnp.{'minimum' if e.op == 'min' else 'maximum'}({out}, {a})"
            return out
        if e.op == "log":
            return f"(jnp.log({args[1]}) / jnp.log({args[0]}))"
        if e.op == "root":
            return f"jnp.power({args[1]}, 1.0 / {args[0]})"
        if e.op in _PYTHON:
            return f"{_PYTHON[e.op]}({', '.join(args)})"
        # the rest (sec, arcsech, quotient, xor, implies, chained relations): through the evaluator's own table
        return f"operator({e.op!r})({', '.join(args)})"

    return py(expr)


def is_boolean(expr: Expr) -> bool:
    """Whether an expression is a condition (a relation or a logical operator)."""
    return isinstance(expr, Call) and expr.op in _BOOLEAN
