"""``vhtwin.simulate``: one patient or a batch of patients -> an ``xarray.Dataset``; and ``Simulator``, the same
solve as a differentiable JAX function.

Everything the caller passes is checked first (:func:`vhtwin.engine.prepare`), before any compute; then one compiled,
batched solve runs (:mod:`vhtwin.engine`: one compilation per model, method, loop settings, precision, layout and
bucket sizes -- tolerances, times, parameters and doses are data, so changing them within the same buckets never
compiles again; :func:`vhtwin.compilation_count` shows it).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from . import engine
from .engine import Problem, compilation, run
from .errors import InputError, SolverError
from .model import Model
from .options import DEFAULTS
from .solvers import AbstractSolver, Status
from .validation import default_precision

__all__ = ["Simulator", "default_precision", "prepare", "run", "simulate"]


def prepare(model: Model, params=None, **kwargs) -> Problem:
    """Check a simulation request and lay it out for the engine (:func:`vhtwin.engine.prepare`)."""
    return engine.prepare(model, params, **kwargs)


def simulate(
    model: Model,
    params: Mapping[str, Any] | xr.Dataset | None = None,
    *,
    times=None,
    protocol=None,
    initial: Mapping[str, Any] | None = None,
    solver: str | AbstractSolver = DEFAULTS.solver,
    rtol: float | Mapping[str, float] = DEFAULTS.rtol,
    atol: float | Mapping[str, float] = DEFAULTS.atol,
    precision: str | None = DEFAULTS.precision,
    t0: float | None = None,
    dt0: float | None = DEFAULTS.dt0,
    dt_min: float = DEFAULTS.dt_min,
    dt_max: float = DEFAULTS.dt_max,
    max_steps: int = DEFAULTS.max_steps,
    outputs: list[str] | None = None,
    covariates=None,
    devices: int | None = None,
    throw: bool = False,
    occasions=None,
    data=None,
    seed: int = 0,
) -> xr.Dataset:
    """Simulate one patient or a batch of patients, or predict every record of a clinical dataset.

    Parameters
    ----------
    model : Model
        The model (e.g. from :func:`vhtwin.load_model`).
    params : dict, xarray.Dataset or Population, optional
        Parameter values by name. Scalars describe one patient; 1-D arrays of a common length ``n`` describe a batch
        of ``n`` patients (scalars are then shared). Missing parameters take the model's defaults. A Dataset with a
        ``patient`` dimension (e.g. from a population draw) works too. With ``data``: one value per subject (or one
        for all), or a :class:`vhtwin.Population` whose draw ``i`` (of ``seed``) is subject ``i``, with covariates
        from the dataset's columns.
    times : array_like
        Output times in the model's time unit: a strictly increasing 1-D grid shared by every patient, or a 2-D
        array ``(n, T)`` of per-patient times, each row increasing, padded at the end with NaN. Not with ``data``.
    protocol : Regimen, Pacing or sequence, optional
        Events: doses (:class:`vhtwin.Regimen`) and/or stimuli; a sequence gives one protocol per patient.
    initial : dict, optional
        Initial state values by name (scalar or per patient); the rest take the declared initial values.
    solver : str or solver instance
        ``"auto"`` (Tsit5, or Rodas4 for a model marked ``stiff``, or the exact path for a ``linear`` model),
        ``"tsit5"``, ``"tsit5_kernel"`` (each patient's Tsit5 solve in one GPU thread; see the solvers guide),
        ``"rodas4"``, ``"rk4"``, ``"rush_larsen"``, ``"exact"``. Fixed-step methods need ``dt0``.
    rtol, atol : float or dict
        Relative and absolute tolerances, scalar or per state (a dict by state name; missing states take the
        defaults 1e-6 and 1e-9).
    precision : {"float64", "float32"}, optional
        Floating-point precision of the solve. Default: float64 on CPU, float32 on GPU (float64 there when
        ``rtol`` < 1e-6) and on TPU.
    t0 : float, optional
        Start time; default the earlier of the first output time and the first event. States start at their
        initial values at ``t0``.
    dt0 : float, optional
        First step (adaptive methods estimate it when omitted) or the fixed step.
    dt_min, dt_max : float
        Step-size bounds.
    max_steps : int
        Steps (accepted plus rejected) allowed between two consecutive events or output times of a trajectory (as
        CVODE's ``mxstep``); a trajectory that needs more stops with status ``max_steps``.
    outputs : list of str, optional
        The observables and states to return (default: all). The solve then interpolates and stores only the
        states these need -- for ``["Cc"]`` of a three-state model, one row instead of three.
    covariates : dict or xarray.Dataset, optional
        Covariate values (scalar or per patient) for doses given per unit of a covariate (``per="WT"``: mg/kg).
        A population draw passed as ``params`` supplies its covariates itself.
    devices : int, optional
        Split the batch over this many local devices (default: all of them, once each gets at least 64 patients;
        on CPU, one device per core once :func:`vhtwin.use_cpu_cores` was called; the command line does). Results
        do not depend on it.
    throw : bool
        Raise :class:`SolverError` if any trajectory fails, instead of flagging it in ``status``.
    occasions : array_like, optional
        Start time of each occasion, for inter-occasion variability inside one simulation: strictly increasing, one
        per occasion of the per-occasion parameters (a 1-D array shared by the batch, or ``(n_patients,
        n_occasions)`` per patient). Per-occasion parameters come from a population draw with IOV (its
        ``<name>_by_occasion`` variables) or from 2-D arrays ``(n_patients, n_occasions)`` in a params dict.
        Occasion ``k`` is in force on ``[occasions[k], occasions[k+1])``, the last one to the end, and occasion 0
        before ``occasions[0]``. The parameters switch at the boundaries within the solve (the boundaries are events,
        like doses): a dose at a boundary time belongs to the new occasion (its bioavailability, for instance), and
        an output at a boundary time is the value just *before* it (the left limit, as at every event), so its
        observables use the previous occasion's parameters. Without ``occasions`` a draw with IOV gives occasion
        0's values throughout. Not supported with occasions: varying dose-lag, infusion rate or duration parameters,
        steady-state doses, ``solver="exact"`` (``"auto"`` uses the ODE path), and :class:`Simulator`.
        Parameter-dependent initial values use occasion 0's parameters.

    data : Dataset, optional
        A clinical dataset (:func:`vhtwin.read_dataset`): every subject is simulated with its own doses and
        predicted at each of its records, in batched calls (:mod:`vhtwin.dataset.predict`). ``times``,
        ``protocol``, ``covariates`` and ``occasions`` then come from the dataset.
    seed : int
        With ``data`` and a Population: the seed of the subjects' draws.

    Returns
    -------
    xarray.Dataset
        With ``data``: over ``("patient", "record")`` -- each observable (or ``outputs``), ``IPRED``, ``PRED`` (with
        a Population), ``DV``, ``EVID``, ``AMT``, ``MDV``, ``observed``, the covariates, ``ROW`` and ``time`` per
        record, ``ID`` and ``status`` per patient. Otherwise: one variable per observable and per state (``units`` attribute), over ``("patient", "time")`` -- or
        ``("time",)`` for one patient, or ``("patient", "obs")`` with a 2-D ``time`` coordinate for per-patient
        times -- plus ``status``, ``n_steps`` and ``n_rejected`` per patient. An output at an event time is the
        value just before the event. A failed trajectory's outputs are NaN and its ``status`` says why.

    Raises
    ------
    InputError
        On an unknown parameter or state, a wrong shape, a value outside a parameter's bounds, non-increasing
        times, a non-positive tolerance, an unknown dose target, or an unknown solver; on occasions that are not
        strictly increasing, do not match the number of occasions of the parameters, or come without per-occasion
        parameters.
    """
    if data is not None:
        # a dataset predicts itself (vhtwin.dataset.predict), one call of this function per group of subjects
        if not callable(getattr(data, "predict", None)):
            raise InputError(f"data must be a vhtwin.Dataset (from vh.read_dataset), got {type(data).__name__}")
        with compilation.counting():
            return data.predict(
                model, params, seed=seed, outputs=outputs, simulate=simulate, times=times, protocol=protocol,
                covariates=covariates, occasions=occasions, initial=initial, solver=solver, rtol=rtol, atol=atol,
                precision=precision, t0=t0, dt0=dt0, dt_min=dt_min, dt_max=dt_max, max_steps=max_steps,
                devices=devices, throw=throw,
            )
    if times is None:
        raise InputError("simulate: give times= (the output times), or data= (a dataset, predicted at its records)")
    with compilation.counting():
        problem = prepare(
            model, params, times=times, protocol=protocol, initial=initial, solver=solver, rtol=rtol, atol=atol,
            precision=precision, t0=t0, dt0=dt0, dt_min=dt_min, dt_max=dt_max, max_steps=max_steps,
            outputs=outputs, covariates=covariates, occasions=occasions,
        )
        n_local = len(jax.local_devices())
        if devices is not None and (isinstance(devices, bool) or not isinstance(devices, int) or not 1 <= devices <= n_local):
            raise InputError(f"devices {devices!r} must be an integer from 1 to {n_local} (the local devices)")
        with jax.enable_x64(problem.precision == "float64"):
            wanted = any(name in problem.model.state_names for name in problem.outputs)
            states, observed, status, n_steps, n_rejected = run(problem, n_devices=devices, states=wanted)
    if throw and np.any(status != Status.SUCCESS):
        bad = np.flatnonzero(status != Status.SUCCESS)
        raise SolverError(
            f"{len(bad)} of {problem.n_patients} trajectories failed; first: patient {bad[0]} with status "
            f"{Status(int(status[bad[0]])).name.lower()}"
        )
    return _to_dataset(problem, states, observed, status, n_steps, n_rejected)


class Simulator:
    """The solve of :func:`simulate` as a JAX function of the parameters: jit-able and differentiable.

    ``Simulator(model, times=..., protocol=..., n_patients=B, ...)`` checks everything once (same arguments as
    :func:`simulate`); calling it with a dict of parameter arrays returns a dict of JAX arrays -- every observable
    and state over ``(patient, time)`` (or ``(time,)`` for one patient), and ``status``. ``jax.jacfwd`` and
    ``jax.grad`` of those outputs with respect to the parameters (and ``initial`` states) work: the solve carries
    forward sensitivities (see :mod:`vhtwin.engine`). Parameters missing from the dict take the values given at
    construction (or the model's defaults). Values are not bounds-checked inside a trace.

    Examples
    --------
    >>> sim = vh.Simulator(m, times=np.arange(25.0), protocol=reg)
    >>> grad = jax.grad(lambda p: sim(p)["Cc"].sum())({"CL": 5.0, "V1": 50.0})
    """

    def __init__(self, model: Model, params=None, *, n_patients: int | None = None, **options):
        if options.get("occasions") is not None:
            raise InputError(
                "Simulator: occasions= is not supported (derivatives with respect to per-occasion parameters are not "
                "wired in); use vh.simulate(..., occasions=...) or one Simulator per occasion"
            )
        with compilation.counting():
            self.problem = prepare(model, params, n_patients=n_patients, **options)
        self._variants = {(): self.problem}

    def _with_initial(self, names: tuple[str, ...]) -> Problem:
        """The problem with the states ``names`` set by the caller (not by ``Model.initial``): another program."""
        key = tuple(sorted(names))
        if key not in self._variants:
            self._variants[key] = dataclasses.replace(self.problem, initial_given=self.problem.initial_given + key,
                                                      cache={})
        return self._variants[key]

    @property
    def design(self) -> tuple[dict, dict]:
        """The design as the arrays the compiled solve reads (``(lanes, shared)``, numpy).

        Pass a design of another Simulator with the same layout and buckets as ``design=`` to solve it with this
        one's compiled program: inside a ``jax.jit`` the design is then an argument, not a constant, so one compiled
        function serves every design (what calibration does for each new patient).
        """
        return engine.host_design(self.problem, 1)

    def __call__(self, params: Mapping[str, Any] | None = None, initial: Mapping[str, Any] | None = None,
                 design=None) -> dict:
        pr = self._with_initial(tuple(initial or ()))
        model, B = pr.model, pr.n_patients
        params, initial = params or {}, initial or {}
        fixed = {name: "a dose lag" for name in model.lags().values()}
        fixed.update({name: f"an infusion {role}" for roles in model.modelled_infusions().values() for role, name in roles.items()})
        if pr.steady_state and params:
            raise InputError(
                "the protocol has steady-state doses, whose steady states are found for the parameters given when "
                "the Simulator is built; give them there (Simulator(model, params={...})) -- a steady state is not "
                "differentiable yet"
            )
        for name in params:
            if name not in model.parameter_names:
                raise InputError(f"unknown parameter {name!r} for model {model.name}; its parameters are {list(model.parameter_names)}")
            if name in fixed:
                raise InputError(
                    f"parameter {name!r} is {fixed[name]}: dose times are fixed when the Simulator is built, so give "
                    "it there (Simulator(model, params={...})); it is not differentiable"
                )
        for name in initial:
            if name not in model.state_names:
                raise InputError(f"unknown state {name!r} in initial; the states of {model.name} are {list(model.state_names)}")
        with jax.enable_x64(pr.precision == "float64"):
            dtype = pr.dtype

            def column(source, names, defaults):
                rows = []
                for i, name in enumerate(names):
                    v = jnp.asarray(source[name]).astype(dtype) if name in source else jnp.asarray(defaults[i], dtype)
                    if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != B):
                        raise InputError(f"{name!r}: expected a scalar or an array of {B} values, got shape {v.shape}")
                    rows.append(jnp.broadcast_to(v, (B,)))
                return jnp.stack(rows)

            p = column(params, model.parameter_names, jnp.asarray(pr.params, dtype)[:, 0] if pr.params.shape[1] == 1 else pr.params)
            y0 = column(initial, model.state_names, pr.y0 if pr.y0.shape[1] > 1 else pr.y0[:, 0])
            with compilation.counting():
                states, observed, status, _, _ = run(pr, p, y0, n_devices=1, design=design)
            columns = _columns(pr, states, observed)
            out = {name: columns[name].T for name in pr.outputs}
            out["status"] = status
            if not pr.batched:
                out = {k: v[0] for k, v in out.items()}
            return out


# -- result ------------------------------------------------------------------------------------------------------------
def _columns(problem: Problem, states, observed) -> dict:
    """Every returned quantity as a (T, B) array by name: observables, then the saved states."""
    columns = {o.name: observed[i] for i, o in enumerate(problem.model.observed)}
    if states is not None:  # None: no state was asked for (simulate copies none to the host)
        columns.update({name: states[k] for k, name in enumerate(problem.saved_states)})
    return columns


def _to_dataset(problem: Problem, states, observed, status, n_steps, n_rejected) -> xr.Dataset:
    model, shared, batched = problem.model, problem.shared_times, problem.batched
    described = {x.name: x for x in (*model.observed, *model.states)}

    def var(values_TB, name):  # (T, B) -> Variable with units
        data = values_TB.T
        if shared:
            dims = ("patient", "time")
            if not batched:
                data, dims = data[0], ("time",)
        else:
            dims = ("patient", "obs")
        attrs = {"units": described[name].unit}
        if described[name].description:
            attrs["long_name"] = described[name].description
        return xr.Variable(dims, data, attrs=attrs)

    columns = _columns(problem, states, observed)
    data = {name: var(columns[name], name) for name in problem.outputs}
    per = lambda x, a: xr.Variable(("patient",), x, attrs=a) if (batched or not shared) else xr.Variable((), x[0], attrs=a)
    data["status"] = per(status.astype(np.int8), Status.flag_attrs())
    data["n_steps"] = per(n_steps, {"long_name": "accepted steps"})
    data["n_rejected"] = per(n_rejected, {"long_name": "rejected steps"})
    time_attrs = {"units": model.time_unit, "long_name": "time"}
    out_times = problem.out_times
    if shared:
        coords = {"time": xr.Variable(("time",), out_times, attrs=time_attrs)}
    else:
        coords = {"time": xr.Variable(("patient", "obs"), out_times, attrs=time_attrs)}
    if batched or not shared:
        coords["patient"] = np.arange(status.shape[0])
    if problem.occasion_starts is not None:
        starts = problem.occasion_starts
        dims = ("occasion",) if starts.ndim == 1 else ("patient", "occasion")
        coords["occasion_start"] = xr.Variable(dims, starts, attrs={"units": model.time_unit, "long_name": "occasion start time"})
        coords["occasion"] = np.arange(starts.shape[-1])
    return xr.Dataset(data, coords=coords, attrs=problem.attrs())
