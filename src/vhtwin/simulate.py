"""``vhtwin.simulate``: one patient or a batch of patients -> an ``xarray.Dataset``.

Everything the caller passes is checked here, before any compute; then one compiled, batched solve runs (one
compilation per model, method, loop settings, precision and array shapes -- tolerances, times, parameters and
doses are traced values, so changing them never recompiles).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from . import __version__
from .errors import InputError, ModelError, SolverError
from .events import build_events
from .model import Model
from .solvers import AbstractSolver, LoopConfig, PIController, Status, VectorField, get_solver, integrate
from .solvers.loop import Events, Outputs

#: Default precision per JAX platform. float64 where the hardware has it: pharmacokinetic tolerances such as
#: rtol 1e-8 are below float32's resolution (eps 1.2e-7). TPUs have no float64, so float32 there.
DEFAULT_PRECISION = {"cpu": "float64", "gpu": "float64", "cuda": "float64", "rocm": "float64", "tpu": "float32"}


def default_precision() -> str:
    """The precision ``simulate`` uses when none is given, for the current default JAX backend."""
    return DEFAULT_PRECISION.get(jax.default_backend(), "float32")


def simulate(
    model: Model,
    params: Mapping[str, Any] | xr.Dataset | None = None,
    *,
    times,
    protocol=None,
    initial: Mapping[str, Any] | None = None,
    solver: str | AbstractSolver = "auto",
    rtol: float | Mapping[str, float] = 1e-6,
    atol: float | Mapping[str, float] = 1e-9,
    precision: str | None = None,
    t0: float | None = None,
    dt0: float | None = None,
    dt_min: float = 0.0,
    dt_max: float = math.inf,
    max_steps: int = 100_000,
    saves_per_step: int = 2,
    throw: bool = False,
) -> xr.Dataset:
    """Simulate one patient or a batch of patients.

    Parameters
    ----------
    model : Model
        The model (e.g. from :func:`vhtwin.load_model`).
    params : dict or xarray.Dataset, optional
        Parameter values by name. Scalars describe one patient; 1-D arrays of a common length ``n`` describe a batch
        of ``n`` patients (scalars are then shared). Missing parameters take the model's defaults. A Dataset with a
        ``patient`` dimension (e.g. from a population draw) works too.
    times : array_like
        Output times in the model's time unit: a strictly increasing 1-D grid shared by every patient, or a 2-D
        array ``(n, T)`` of per-patient times, each row increasing, padded at the end with NaN.
    protocol : Regimen, Pacing or sequence, optional
        Events: doses (:class:`vhtwin.Regimen`) and/or stimuli; a sequence gives one protocol per patient.
    initial : dict, optional
        Initial state values by name (scalar or per patient); the rest take the declared initial values.
    solver : str or solver instance
        ``"auto"`` (Tsit5, or Rodas4 for a model marked ``stiff``), ``"tsit5"``, ``"rodas4"``, ``"rk4"``,
        ``"rush_larsen"``. Fixed-step methods need ``dt0``.
    rtol, atol : float or dict
        Relative and absolute tolerances, scalar or per state (a dict by state name; missing states take the
        defaults 1e-6 and 1e-9).
    precision : {"float64", "float32"}, optional
        Floating-point precision of the solve. Default: float64 on CPU and GPU, float32 on TPU.
    t0 : float, optional
        Start time; default the earlier of the first output time and the first event. States start at their
        initial values at ``t0``.
    dt0 : float, optional
        First step (adaptive methods estimate it when omitted) or the fixed step.
    dt_min, dt_max : float
        Step-size bounds.
    max_steps : int
        Steps (accepted plus rejected) after which a trajectory stops with status ``max_steps``.
    saves_per_step : int
        Output points one step may cover before it is shortened (a compile-time setting; see
        :mod:`vhtwin.solvers.loop`).
    throw : bool
        Raise :class:`SolverError` if any trajectory fails, instead of flagging it in ``status``.

    Returns
    -------
    xarray.Dataset
        One variable per observable and per state (``units`` attribute), over ``("patient", "time")`` -- or
        ``("time",)`` for one patient, or ``("patient", "obs")`` with a 2-D ``time`` coordinate for per-patient
        times -- plus ``status``, ``n_steps`` and ``n_rejected`` per patient. An output at an event time is the
        value just before the event. A failed trajectory's outputs are NaN and its ``status`` says why.

    Raises
    ------
    InputError
        On an unknown parameter or state, a wrong shape, a value outside a parameter's bounds, non-increasing
        times, a non-positive tolerance, an unknown dose target, or an unknown solver.
    """
    if not isinstance(model, Model):
        raise InputError(f"model must be a vhtwin.Model instance, got {type(model).__name__}")
    precision = _check_precision(precision)
    P, batched, n_patients = _parameter_matrix(model, params)
    y0 = _initial_states(model, initial, n_patients)
    shared_times, out_times = _output_times(times, n_patients)
    batched = batched or not shared_times or (y0.shape[1] > 1)
    events = build_events(model, protocol, n_patients)
    if events.times.shape[1] > 1:
        batched = True
    method = _resolve_solver(model, solver)
    rtol_v = _tolerance(model, rtol, "rtol", 1e-6)
    atol_v = _tolerance(model, atol, "atol", 1e-9)
    if not method.adaptive and (dt0 is None or not (math.isfinite(dt0) and dt0 > 0)):
        raise InputError(f"solver {method.name!r} is fixed-step: give dt0 > 0 (the step), got {dt0!r}")
    if dt0 is not None and not (math.isfinite(dt0) and dt0 > 0):
        raise InputError(f"dt0 {dt0!r} must be a finite number > 0")
    if not (dt_min >= 0 and dt_max > 0 and dt_max >= dt_min):
        raise InputError(f"step bounds dt_min={dt_min!r}, dt_max={dt_max!r} must satisfy 0 <= dt_min <= dt_max, dt_max > 0")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise InputError(f"max_steps {max_steps!r} must be a positive integer")
    if isinstance(saves_per_step, bool) or not isinstance(saves_per_step, (int, np.integer)) or saves_per_step < 1:
        raise InputError(f"saves_per_step {saves_per_step!r} must be a positive integer")

    first_out = out_times[0] if shared_times else np.nanmin(out_times[:, 0])
    first_event = float(np.min(events.times)) if np.isfinite(events.times).any() else math.inf
    start = min(first_out, first_event) if t0 is None else float(t0)
    if t0 is not None and (not math.isfinite(start) or start > first_out):
        raise InputError(f"t0 {t0!r} must be finite and not after the first output time {first_out:g}")
    if start > first_event:
        raise InputError(f"t0 {start:g} is after the first event at {first_event:g}")
    if shared_times:
        t_end = np.full(n_patients, out_times[-1])
    else:
        t_end = np.nanmax(out_times, axis=1)

    config = LoopConfig(max_steps=int(max_steps), saves_per_step=int(saves_per_step), controller=PIController())
    n_dev = _device_split(n_patients)
    B = -(-n_patients // n_dev) * n_dev  # padded to a multiple of the device count with copies of the last lane
    pad = lambda a: a if a.shape[-1] in (1, B) else np.concatenate([a, np.repeat(a[..., -1:], B - a.shape[-1], -1)], -1)
    events_batched = events.times.shape[1] > 1
    run = _compiled(model, method, config, n_dev, events_batched, not shared_times)
    with jax.enable_x64(precision == "float64"):
        dtype = jnp.float64 if precision == "float64" else jnp.float32
        f = lambda a: jnp.asarray(a, dtype)
        ev = Events(*(f(pad(np.asarray(x))) for x in events))
        T_out = f(out_times if shared_times else pad(np.where(np.isnan(out_times), np.inf, out_times).T))
        result = run(
            f(pad(P) if P.shape[1] > 1 else np.broadcast_to(P, (P.shape[0], B))),
            f(pad(y0) if y0.shape[1] > 1 else np.broadcast_to(y0, (y0.shape[0], B))),
            f(np.full(B, start)),
            f(pad(t_end)),
            ev,
            T_out,
            f(np.full(B, np.nan if dt0 is None else dt0)),
            f(np.full(B, dt_min)),
            f(np.full(B, dt_max)),
            f(rtol_v),
            f(atol_v),
        )
        states, observed, status, n_steps, n_rejected = (np.asarray(x)[..., :n_patients] for x in result)

    if throw and np.any(status != Status.SUCCESS):
        bad = np.flatnonzero(status != Status.SUCCESS)
        raise SolverError(
            f"{len(bad)} of {n_patients} trajectories failed; first: patient {bad[0]} with status "
            f"{Status(int(status[bad[0]])).name.lower()}"
        )
    return _to_dataset(
        model, states, observed, status, n_steps, n_rejected, out_times, shared_times, batched,
        attrs={
            "model": model.name,
            "model_source_sha256": model.source_hash(),
            "solver": method.name,
            "rtol": rtol_v.tolist(),
            "atol": atol_v.tolist(),
            "precision": precision,
            "time_unit": model.time_unit,
            "output_at_event": "value just before the event (left limit)",
            "vhtwin_version": __version__,
        },
    )


#: Smallest number of patients per device worth a split (below it, one device is faster).
MIN_LANES_PER_DEVICE = 64


def _device_split(n_patients: int) -> int:
    """How many local devices share a batch: all of them once each gets at least MIN_LANES_PER_DEVICE lanes."""
    n_dev = len(jax.local_devices())
    return max(1, min(n_dev, n_patients // MIN_LANES_PER_DEVICE))


# -- the compiled solve ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _compiled(model: Model, method: AbstractSolver, config: LoopConfig, n_devices: int = 1,
              events_batched: bool = False, times_batched: bool = False):
    """One jitted solve per (model, method, loop settings, device split); jax.jit adds the per-shape cache."""

    row_rhs = jax.vmap(model.row_rhs, in_axes=(0, 0, 0, 0))

    def batched_field(p, u):
        p_rows = tuple(p[i] for i in range(p.shape[0]))
        u_rows = tuple(u[i] for i in range(u.shape[0]))
        return VectorField(lambda t, y_rows: row_rhs(t, tuple(y_rows), p_rows, u_rows))

    def solve(p, y0, t0, t_end, events, out_times, dt0, dt_min, dt_max, rtol, atol):
        res = integrate(
            lambda u: batched_field(p, u), method, config, t0, y0, t_end, events, Outputs(out_times),
            dt0, dt_min, dt_max, rtol, atol,
        )
        T = out_times.shape[0]
        t_grid = out_times if out_times.ndim == 2 else jnp.broadcast_to(out_times[:, None], (T, y0.shape[1]))
        observe = jax.vmap(jax.vmap(model.flat_observables, in_axes=(0, 1, None), out_axes=1), in_axes=(1, 2, 1), out_axes=2)
        observed = observe(t_grid, res.saved, p)  # (m, T, B)
        return res.saved, observed, res.status, res.n_steps, res.n_rejected

    if n_devices == 1:
        return jax.jit(solve)
    # Each device integrates its own slice of the batch in its own loop (no cross-device step synchronisation):
    # lanes are independent, so a shard finishes when its own slowest lane does.
    from jax.sharding import Mesh, PartitionSpec as S

    mesh = Mesh(np.array(jax.local_devices()[:n_devices]), ("batch",))
    lane, row_lane, rep = S("batch"), S(None, "batch"), S()
    events_spec = Events(*(S(*([None] * k), "batch") for k in (1, 2, 2, 1))) if events_batched else Events(rep, rep, rep, rep)
    in_specs = (row_lane, row_lane, lane, lane, events_spec, row_lane if times_batched else rep, lane, lane, lane, rep, rep)
    out_specs = (S(None, None, "batch"), S(None, None, "batch"), lane, lane, lane)
    return jax.jit(jax.shard_map(solve, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False))


# -- input checking ----------------------------------------------------------------------------------------------------
def _check_precision(precision):
    if precision is None:
        return default_precision()
    if precision not in ("float64", "float32"):
        raise InputError(f"precision {precision!r} must be 'float64' or 'float32'")
    return precision


def _parameter_matrix(model: Model, params) -> tuple[np.ndarray, bool, int]:
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
        a = np.asarray(v, dtype=float) if not isinstance(v, str) else None
        if a is None or a.ndim > 1:
            shape = "a string" if a is None else f"shape {a.shape}"
            raise InputError(f"parameter {name!r}: expected a number or a 1-D array (one value per patient), got {shape}")
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


def _initial_states(model: Model, initial, B: int) -> np.ndarray:
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


def _output_times(times, B: int) -> tuple[bool, np.ndarray]:
    try:
        t = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"times must be an array of numbers, got {type(times).__name__}") from None
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


def _tolerance(model: Model, tol, name: str, default: float) -> np.ndarray:
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
        raise InputError(f"{name} {v[bad][0]!r} must be a finite number > 0")
    return v


def _resolve_solver(model: Model, solver) -> AbstractSolver:
    if isinstance(solver, AbstractSolver):
        return solver
    if solver == "auto":
        return get_solver("rodas4" if model.stiff else "tsit5")
    return get_solver(solver)


# -- result ------------------------------------------------------------------------------------------------------------
def _to_dataset(model, states, observed, status, n_steps, n_rejected, out_times, shared, batched, attrs) -> xr.Dataset:
    def var(values_TB, unit, description=""):  # (T, B) -> DataArray
        data = values_TB.T
        if shared:
            dims = ("patient", "time")
            if not batched:
                data, dims = data[0], ("time",)
        else:
            dims = ("patient", "obs")
        a = {"units": unit}
        if description:
            a["long_name"] = description
        return xr.Variable(dims, data, attrs=a)

    data = {}
    for i, o in enumerate(model.observed):
        data[o.name] = var(observed[i], o.unit, o.description)
    for i, s in enumerate(model.states):
        data[s.name] = var(states[i], s.unit, s.description)
    per = lambda x, a: xr.Variable(("patient",), x, attrs=a) if (batched or not shared) else xr.Variable((), x[0], attrs=a)
    data["status"] = per(status.astype(np.int8), Status.flag_attrs())
    data["n_steps"] = per(n_steps, {"long_name": "accepted steps"})
    data["n_rejected"] = per(n_rejected, {"long_name": "rejected steps"})
    time_attrs = {"units": model.time_unit, "long_name": "time"}
    if shared:
        coords = {"time": xr.Variable(("time",), out_times, attrs=time_attrs)}
    else:
        coords = {"time": xr.Variable(("patient", "obs"), out_times, attrs=time_attrs)}
    if batched or not shared:
        coords["patient"] = np.arange(status.shape[0])
    return xr.Dataset(data, coords=coords, attrs=attrs)
