"""Checks of everything a caller passes to ``simulate``, before any compute.

Each check returns plain numpy arrays in the engine's batch-last layout, or raises :class:`InputError` naming the
field, the value and what is allowed.
"""

from __future__ import annotations

from typing import Mapping

import jax
import numpy as np
import xarray as xr

from .errors import InputError
from .limits import MAX_OUTPUT_TIMES, check_count
from .equations import equations
from .model import Model
from .solvers import AbstractSolver, get_solver

#: Default precision per JAX platform. float64 on CPUs: it costs little there, and pharmacokinetic tolerances such
#: as rtol 1e-8 are below float32's resolution (eps 1.2e-7). float32 on GPUs, where it is what the hardware is built
#: for (twice the lanes per register file, a fraction of the memory traffic), as long as the tolerances asked for
#: are within its reach (:data:`FLOAT32_MIN_RTOL`). TPUs have no float64.
DEFAULT_PRECISION = {"cpu": "float64", "gpu": "float32", "cuda": "float32", "rocm": "float32", "tpu": "float32"}
#: The smallest relative tolerance float32 is the default for: below it a GPU's default is float64 (a step's
#: error estimate then falls to within a few roundings of float32's eps, and the controller chases noise).
FLOAT32_MIN_RTOL = 1e-6


def default_precision(rtol=None) -> str:
    """The precision ``simulate`` uses when none is given, for the current default JAX backend and the smallest
    relative tolerance asked for (``rtol``, a number or None)."""
    platform = jax.default_backend()
    precision = DEFAULT_PRECISION.get(platform, "float32")
    if precision == "float32" and platform != "tpu" and rtol is not None and float(rtol) < FLOAT32_MIN_RTOL:
        return "float64"
    return precision


def check_precision(precision, rtol=None):
    """``precision`` checked, or the default for this platform and the smallest relative tolerance ``rtol``."""
    if precision is None:
        return default_precision(rtol)
    if precision not in ("float64", "float32"):
        raise InputError(f"precision {precision!r} must be 'float64' or 'float32'")
    return precision


def parameter_matrix(model: Model, params) -> tuple[np.ndarray, bool, int]:
    """Parameters as a (P, B) float64 matrix, with whether the caller gave a batch and its size."""
    if params is None:
        params = {}
    if isinstance(params, xr.Dataset):
        params = {k: params[k].values for k in params.data_vars if k in model.parameter_names}
    if not isinstance(params, Mapping):
        raise InputError(f"params must be a dict of parameter values by name, got {type(params).__name__}")
    unknown = [k for k in params if k not in model.parameter_names]
    if unknown:
        raise InputError(f"unknown parameter {unknown[0]!r} for model {model.name}; its parameters are {list(model.parameter_names)}")
    values, sizes = {}, set()
    for name, v in params.items():
        if isinstance(v, str):
            a = None
        elif np.iscomplexobj(v):
            raise InputError(f"parameter {name!r}: values must be real numbers, got a complex value")
        else:
            try:
                a = np.asarray(v, dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"parameter {name!r}: expected numbers, got {type(v).__name__} {v!r:.60}") from None
        if a is None or a.ndim > 1:
            shape = "a string" if a is None else f"shape {a.shape}"
            hint = " (a 2-D array (n_patients, n_occasions) needs occasions=[start times])" if a is not None and a.ndim == 2 else ""
            raise InputError(f"parameter {name!r}: expected a number or a 1-D array (one value per patient), got {shape}{hint}")
        if a.ndim == 1:
            if a.shape[0] == 0:
                raise InputError(f"parameter {name!r}: empty array")
            sizes.add(a.shape[0])
        values[name] = a
    if len(sizes) > 1:
        lengths = {k: v.shape[0] for k, v in values.items() if v.ndim == 1}
        raise InputError(f"parameter arrays have different lengths {lengths}; every per-patient array must have the same length")
    B = sizes.pop() if sizes else 1
    P = np.empty((len(model.parameters), B))
    for i, q in enumerate(model.parameters):
        v = values.get(q.name, np.asarray(q.default, dtype=float))
        bad = q.violations(np.atleast_1d(v))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            where = f" (patient {k})" if np.ndim(v) else ""
            raise InputError(f"parameter {q.name!r}{where}: value {np.atleast_1d(v)[k]:g} is outside the allowed range ({q.allowed()})")
        P[i] = v
    return P, bool(sizes) or B > 1, B


def initial_states(model: Model, initial, B: int) -> np.ndarray:
    initial = {} if initial is None else initial
    if not isinstance(initial, Mapping):
        raise InputError(f"initial must be a dict of state values by name, got {type(initial).__name__}")
    unknown = [k for k in initial if k not in model.state_names]
    if unknown:
        raise InputError(f"unknown state {unknown[0]!r} in initial; the states of {model.name} are {list(model.state_names)}")
    per_patient = any(np.ndim(v) == 1 for v in initial.values())
    width = B if per_patient else 1
    y0 = np.empty((len(model.states), width))
    for i, s in enumerate(model.states):
        v = np.asarray(initial.get(s.name, s.initial), dtype=float)
        if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != B):
            raise InputError(f"initial value of {s.name!r}: expected a number or an array of {B} values, got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise InputError(f"initial value of {s.name!r} must be finite")
        y0[i] = v
    return y0


def output_times(times, B: int) -> tuple[bool, np.ndarray]:
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"times must be an array of numbers, got {type(times).__name__}") from None
    check_count("times: output times per patient", int(t.shape[-1]) if t.ndim else 1, MAX_OUTPUT_TIMES)
    if t.ndim == 1:
        if t.size == 0:
            raise InputError("times is empty")
        if not np.all(np.isfinite(t)):
            raise InputError(f"times must be finite; entry {int(np.flatnonzero(~np.isfinite(t))[0])} is {t[~np.isfinite(t)][0]}")
        d = np.diff(t)
        if np.any(d <= 0):
            k = int(np.flatnonzero(d <= 0)[0])
            raise InputError(f"times must be strictly increasing; times[{k + 1}] = {t[k + 1]:g} follows times[{k}] = {t[k]:g}")
        return True, t
    if t.ndim == 2:
        if t.shape[0] != B:
            raise InputError(f"per-patient times have {t.shape[0]} rows but there are {B} patients")
        for b, row in enumerate(t):
            n_valid = int(np.sum(~np.isnan(row)))
            if n_valid == 0 or np.any(np.isnan(row[:n_valid])) or not np.all(np.isfinite(row[:n_valid])):
                raise InputError(f"times of patient {b} must be finite numbers first, then NaN padding only at the end")
            if np.any(np.diff(row[:n_valid]) <= 0):
                raise InputError(f"times of patient {b} must be strictly increasing")
        return False, t
    raise InputError(f"times must be 1-D (shared) or 2-D (patient, time), got shape {t.shape}")


def tolerance(model: Model, tol, name: str, default: float) -> np.ndarray:
    n = len(model.states)
    if isinstance(tol, Mapping):
        unknown = [k for k in tol if k not in model.state_names]
        if unknown:
            raise InputError(f"{name}: unknown state {unknown[0]!r}; the states are {list(model.state_names)}")
        v = np.array([float(tol.get(s, default)) for s in model.state_names])
    else:
        v = np.asarray(tol, dtype=float)
        if v.ndim == 0:
            v = np.full(n, float(v))
        elif v.shape != (n,):
            raise InputError(f"{name}: expected a number, a dict by state name or {n} values, got shape {v.shape}")
    bad = ~np.isfinite(v) | (v <= 0)
    if bad.any():
        raise InputError(f"{name} {float(v[bad][0])!r} must be a finite number > 0")
    return v


def resolve_solver(model: Model, solver) -> AbstractSolver:
    """The method for ``solver`` (a name or an instance), specialised to the model where the method needs that."""
    if isinstance(solver, AbstractSolver):
        method = solver
    elif isinstance(solver, str):
        # "auto": the ODE method; simulate swaps in the exact path for linear models where it applies.
        method = get_solver(("rodas4" if model.stiff else "tsit5") if solver == "auto" else solver)
    else:
        raise InputError(f"solver must be a name or a solver instance, got {type(solver).__name__}")
    # Methods that need the model's structure (which states are gates) are specialised to it, unless the caller
    # already did (an instance that names its gates is kept as given).
    if hasattr(method, "for_model") and not getattr(method, "gates", ()):
        method = method.for_model(model)
    return method




def output_selection(model: Model, outputs) -> tuple[tuple[str, ...], tuple[int, ...] | None]:
    """The returned names (model order) and the state rows to save for them (None: every state)."""
    allowed = model.observable_names + model.state_names
    if outputs is None:
        return allowed, None
    if isinstance(outputs, str) or not all(isinstance(x, str) for x in outputs):
        raise InputError(f"outputs must be a list of names, got {outputs!r}")
    unknown = [x for x in outputs if x not in allowed]
    if unknown:
        raise InputError(f"unknown output {unknown[0]!r}; the model's observables and states are {list(allowed)}")
    if not outputs:
        raise InputError(f"outputs is empty; choose from {list(allowed)}")
    wanted = set(outputs)
    needed = {x for x in wanted if x in model.state_names}
    dependencies = equations(model).observable_dependencies()
    for name in wanted & set(model.observable_names):
        needed.update(dependencies[name])
    rows = tuple(i for i, name in enumerate(model.state_names) if name in needed)
    return tuple(x for x in allowed if x in wanted), rows
