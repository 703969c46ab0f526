"""``vhtwin.Trial``: an in-silico trial spec -- model, population, arms, cohort size, output grid, solver, seed --
and how one batch of its virtual patients is computed.

Patient ``i`` of an arm is drawn from ``(seed, i)`` only (the population's counter-based draws), so a batch's
result does not depend on the batch size, the executor or the order batches run in. Every arm gets the same
patients (a paired design) unless ``independent_arms=True``, which gives arm ``a`` the ids
``a * n_per_arm .. (a + 1) * n_per_arm - 1``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from ..errors import InputError
from ..limits import MAX_PATIENTS, check_count
from ..model import Model
from ..options import DEFAULTS as SOLVER
from ..population import Population
from ..population.streams import check_seed
from ..simulate import prepare, simulate
from ..validation import check_precision, output_selection, output_times, tolerance
from .spec_codec import DEFAULTS as SPEC_DEFAULTS, protocol_parts, solves_itself
from .store import per_patient_variables


class Trial:
    """An in-silico trial: the same virtual population under each arm's protocol.

    Parameters
    ----------
    model : Model
        The model (from the library or a ``.py`` file, so that the spec can name it).
    population : Population
        The virtual population (covariates, variability, residual error) of ``model``.
    arms : dict
        Arm name -> protocol: a :class:`vhtwin.Regimen` (doses), a :class:`vhtwin.Pacing` (stimuli, for cardiac cell
        models), their sum (``regimen + pacing``), or ``None`` (no events: e.g. a circulation model that drives
        itself), or an arm that solves its patients itself (:func:`vhtwin.trial.spec_codec.solves_itself`: e.g.
        :class:`vhtwin.cipa.DrugExposure`, a PK model driving the trial's heart cells). Names are non-empty strings.
        Arms of the second kind give their own outputs; a trial's arms are all of one kind.
    n_per_arm : int
        Virtual patients per arm.
    times : array_like
        Output times (model time unit), strictly increasing, shared by every patient.
    outputs : list of str, optional
        Observables and states to store (default: every observable, or every state if the model has none).
    solver, rtol, atol, precision
        As in :func:`vhtwin.simulate` (``precision`` is fixed when the trial is made: a spec names one).
    seed : int
        Seed of the population draws: patient i depends on (seed, i) only.
    independent_arms : bool
        Draw different patients for each arm instead of the same ones (default: paired).
    max_failure_fraction : float
        The run stops with :class:`vhtwin.TrialError` when more than this fraction of the patients done so far have
        failed to solve (default 0.01). A patient drawn with a parameter outside the model's allowed range (a
        normal draw of a positive parameter below zero) is not a failure of the solver: it is flagged with status
        ``invalid_parameters``, its draw stored and its outputs NaN, and the run goes on.
    max_steps : int
        As in :func:`vhtwin.simulate`: the step budget per patient (raise it for long pacing protocols).
    dt0 : float, optional
        As in :func:`vhtwin.simulate`: the first step of an adaptive solver, the step of a fixed-step one
        (``solver="rush_larsen"`` needs it).

    Examples
    --------
    >>> trial = vh.Trial(model=m, population=pop, n_per_arm=5000, times=np.arange(0.0, 169.0), outputs=["Cc"], seed=1,
    ...                  arms={"100 mg q12h": vh.Regimen.repeated(100.0, 12.0, 14, into="depot"),
    ...                        "200 mg q24h": vh.Regimen.repeated(200.0, 24.0, 7, into="depot")})
    >>> ds = trial.run("trial.zarr", batch_size=1000)

    A cohort of virtual myocytes paced at two rates, the last beat stored:

    >>> trial = vh.Trial(model=ord_model, population=cells, n_per_arm=1000, times=np.arange(19_000.0, 20_000.0),
    ...                  outputs=["V"], solver="rodas4", max_steps=200_000,
    ...                  arms={"1 Hz": vh.Pacing(period=1000.0, duration=0.5, count=20),
    ...                        "2 Hz": vh.Pacing(period=500.0, duration=0.5, count=40)})
    """

    def __init__(
        self,
        model: Model,
        population: Population,
        arms: Mapping[str, Any],
        n_per_arm: int,
        times,
        outputs: Sequence[str] | None = None,
        solver: str = SOLVER.solver,
        rtol: float | Mapping[str, float] = SOLVER.rtol,
        atol: float | Mapping[str, float] = SOLVER.atol,
        precision: str | None = SOLVER.precision,
        seed: int = 0,
        independent_arms: bool = SPEC_DEFAULTS["independent_arms"],
        max_failure_fraction: float = SPEC_DEFAULTS["max_failure_fraction"],
        max_steps: int = SOLVER.max_steps,
        dt0: float | None = SOLVER.dt0,
    ):
        if not isinstance(model, Model):
            raise InputError(f"Trial model must be a vhtwin.Model, got {type(model).__name__}")
        if not isinstance(population, Population):
            raise InputError(f"Trial population must be a vhtwin.Population, got {type(population).__name__}")
        if type(population.model) is not type(model):
            raise InputError(f"Trial population is for model {population.model.name}, not {model.name}")
        if not isinstance(arms, Mapping) or not arms:
            raise InputError(f"Trial arms must be a non-empty dict of name -> protocol, got {arms!r}")
        for name, protocol in arms.items():
            if not isinstance(name, str) or not name.strip():
                raise InputError(f"Trial arms: arm name {name!r} must be a non-empty string")
            if solves_itself(protocol):
                continue
            try:
                protocol_parts(protocol)
            except InputError as err:
                raise InputError(f"Trial arms[{name!r}]: {err}") from None
        solving = [solves_itself(p) for p in arms.values()]
        if any(solving) and not all(solving):
            kind = next(type(p).__name__ for p in arms.values() if solves_itself(p))
            raise InputError(f"Trial arms {list(arms)}: an arm that solves itself (a {kind}) cannot share a trial with "
                             "dose or pacing arms (their outputs differ); run them as two trials")
        if any(solving) and population.residual is not None:
            raise InputError("Trial population: a residual error model applies to the model's outputs, which arms that "
                             "solve themselves do not give; leave residual=None")
        if isinstance(n_per_arm, bool) or not isinstance(n_per_arm, (int, np.integer)) or n_per_arm < 1:
            raise InputError(f"Trial n_per_arm {n_per_arm!r} must be a positive integer")
        check_count("Trial n_per_arm", int(n_per_arm), MAX_PATIENTS)
        shared, t = output_times(times, 1)
        if not shared:
            raise InputError("Trial times must be one 1-D grid shared by every patient")
        if not isinstance(solver, str):
            raise InputError(f"Trial solver must be a name (a spec stores it), got {type(solver).__name__}")
        if not isinstance(independent_arms, (bool, np.bool_)):
            raise InputError(f"Trial independent_arms {independent_arms!r} must be True or False")
        f = max_failure_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float, np.integer, np.floating)) or not 0 <= f <= 1:
            raise InputError(f"Trial max_failure_fraction {f!r} must be a number from 0 to 1")
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise InputError(f"Trial max_steps {max_steps!r} must be a positive integer")
        if dt0 is not None and (isinstance(dt0, bool) or not isinstance(dt0, (int, float, np.integer, np.floating))
                                or not math.isfinite(dt0) or dt0 <= 0):
            raise InputError(f"Trial dt0 {dt0!r} must be None or a finite number > 0")
        self.model, self.population = model, population
        self.arms = dict(arms)
        self.n_per_arm = int(n_per_arm)
        self.times = t
        self.solving = any(solving)
        if self.solving:
            self.outputs = _arm_outputs(self.arms, outputs)
        else:
            self.outputs = output_selection(model, None if outputs is None else list(outputs))[0]
        self.solver, self.rtol, self.atol = solver, rtol, atol
        self.precision = check_precision(precision, float(tolerance(model, rtol, "rtol", SOLVER.rtol).min()))
        self.seed = check_seed(seed)
        self.independent_arms = bool(independent_arms)
        self.max_failure_fraction = float(f)
        self.max_steps = int(max_steps)
        self.dt0 = None if dt0 is None else float(dt0)
        # Everything simulate would refuse is refused now, on one patient per arm, before any run starts.
        one = self.population.sample(n=1, seed=self.seed)
        self.methods = {}
        for name, protocol in self.arms.items():
            if self.solving:
                try:
                    protocol.check(model, self.times, population)
                except InputError as err:
                    raise InputError(f"Trial arm {name!r}: {err}") from None
                self.methods[name] = solver
                continue
            try:
                problem = prepare(model, one, times=self.times, protocol=protocol, solver=solver, rtol=rtol, atol=atol,
                                  precision=self.precision, outputs=list(self.outputs), max_steps=self.max_steps,
                                  dt0=self.dt0)
            except InputError as err:
                raise InputError(f"Trial arm {name!r}: {err}") from None
            self.methods[name] = problem.method.name

    # -- spec ---------------------------------------------------------------------------------------------------------
    def fields(self) -> dict:
        """The constructor arguments (what a spec holds)."""
        return dict(
            model=self.model, population=self.population, arms=self.arms, n_per_arm=self.n_per_arm, times=self.times,
            outputs=list(self.outputs), solver=self.solver, rtol=self.rtol, atol=self.atol, precision=self.precision,
            seed=self.seed, independent_arms=self.independent_arms, max_failure_fraction=self.max_failure_fraction,
            max_steps=self.max_steps, dt0=self.dt0,
        )

    def to_dict(self) -> dict:
        """The spec as JSON-safe data (stored in the trial's store; equal dicts mean the same trial)."""
        from .spec_codec import encode_trial

        return encode_trial(**self.fields())

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, spec: Mapping) -> "Trial":
        from .spec_codec import decode_trial

        return cls(**decode_trial(dict(spec)))

    @classmethod
    def from_toml(cls, path) -> "Trial":
        """A trial from a TOML spec file (format: ``examples/README.md``)."""
        from .toml_spec import load_trial_toml

        return cls(**load_trial_toml(path))

    @property
    def arm_names(self) -> list[str]:
        return list(self.arms)

    def __repr__(self) -> str:
        return (f"<vhtwin Trial: {self.model.name}, arms {self.arm_names}, {self.n_per_arm:,} patients per arm, "
                f"{len(self.times)} output times, seed {self.seed}>")

    # -- running ------------------------------------------------------------------------------------------------------
    def run(self, store, batch_size: int = 1000, executor: str = "local", resume: bool = False,
            overwrite: bool = False, progress: bool = True, scheduler=None, take_over: bool = False,
            insecure_scheduler: bool = False, stored_precision: str | None = None) -> xr.Dataset:
        """Run the trial into a Zarr store and return it opened (lazily).

        Parameters
        ----------
        store : str or path-like
            Directory of the store (``.zarr``).
        batch_size : int
            Patients per batch: per compiled solve, per chunk of the store, per unit of resume. Peak memory
            depends on it, not on the cohort size.
        executor : {"local", "dask"}
            ``"local"``: batches in this process, sharded over every local device, the write of one batch
            overlapping the compute of the next. ``"dask"``: batches as tasks on a Dask distributed cluster.
        resume : bool
            Finish a store of the same spec: only batches without a completion marker run.
        overwrite : bool
            Replace an existing store.
        progress : bool
            Print progress (patients done, rate, ETA) on stderr.
        scheduler : str or distributed.Client, optional
            With ``executor="dask"``: the scheduler's address or a client; default a new local cluster.
        take_over : bool
            Take over a stale writer lock: one left by a run that was killed (its process no longer runs) or that
            ran on another host. Without it such a lock is a named error, since two runs must not write one store.
        insecure_scheduler : bool
            Accept a scheduler address over plain TCP to another machine (refused by default: the spec and the
            results would cross the network unencrypted). Prefer ``tls://`` with certificates.
        stored_precision : {"float64", "float32"}, optional
            Precision of the stored outputs (default: the solve's). ``"float32"`` halves the store and the time to
            write it, which is what limits a trial on a fast path (the exact solver, a GPU); it keeps about seven
            significant digits, more than a solve at ``rtol >= 1e-6`` guarantees. A store keeps the precision it
            was created with: resume with the same.

        Returns
        -------
        xarray.Dataset
            :func:`vhtwin.open_trial` of the store.

        Raises
        ------
        InputError
            On bad arguments, a store that exists (without resume/overwrite) or holds another spec, or a store
            another run is writing (its writer lock names the host and process).
        StoreDamagedError
            When resuming a store whose metadata is damaged (damaged data is computed again).
        TrialError
            When the failure fraction passes ``max_failure_fraction`` (the finished batches stay in the store).
        KeyboardInterrupt
            On Ctrl-C (as ``vhtwin.interrupt.TrialInterrupted``): a batch being written is finished first,
            so the store resumes.
        """
        from .runner import run_trial

        return run_trial(self, store, batch_size=batch_size, executor=executor, resume=resume, overwrite=overwrite,
                         progress=progress, scheduler=scheduler, take_over=take_over,
                         insecure_scheduler=insecure_scheduler, stored_precision=stored_precision)

    def batch_range(self, batch: int, batch_size: int) -> tuple[int, int]:
        """Patients ``[start, stop)`` (index within the arm) of batch ``batch``."""
        start = batch * batch_size
        return start, min(start + batch_size, self.n_per_arm)

    def n_batches(self, batch_size: int) -> int:
        return math.ceil(self.n_per_arm / batch_size)

    def compute_batch(self, arm: int, batch: int, batch_size: int) -> xr.Dataset:
        """One batch of one arm as the store's variables, shaped ``(1, m, ...)`` (no coordinates).

        The draw is padded to ``batch_size`` patients (copies of the last) so every batch has the same shapes and
        reuses one compiled solve; the padding is dropped before returning.
        """
        name = self.arm_names[arm]
        start, stop = self.batch_range(batch, batch_size)
        m = stop - start
        first = start + (arm * self.n_per_arm if self.independent_arms else 0)
        draw = self.population.sample(n=m, seed=self.seed, first_patient=first)
        invalid = self._invalid(draw)
        solvable = _replace_invalid(draw, invalid, self.model) if invalid.any() else draw
        padded = solvable if m == batch_size else solvable.isel(
            patient=np.r_[np.arange(m), np.full(batch_size - m, m - 1)])
        options = dict(solver=self.solver, rtol=self.rtol, atol=self.atol, precision=self.precision,
                       max_steps=self.max_steps, dt0=self.dt0)
        try:
            if self.solving:
                out = self.arms[name].solve(self.model, padded, self.times, seed=self.seed, **options)
            else:
                out = simulate(self.model, padded, times=self.times, protocol=self.arms[name],
                               outputs=list(self.outputs), **options)
        except InputError as err:
            raise _with_global_ids(err, name, draw) from None
        out = out.isel(patient=slice(0, m))
        if invalid.any():
            out = _flag_invalid(out, invalid, self.outputs)
        data = {}
        dtype = np.float32 if self.precision == "float32" else np.float64
        ids = np.asarray(draw["patient"].values, np.int64)
        for v in self.outputs:
            data[v] = (("arm", "patient", "time"), out[v].values.astype(dtype)[None])
        for v, observed in self.observations.items():
            # Observations with the population's residual error: epsilon from (seed, patient id, time index, output)
            # only, so the same patient gets the same noise in every batch size, executor and arm.
            noisy = self.population.residual.apply(out[v].values, seed=self.seed, patient_ids=ids, name=v)
            data[observed] = (("arm", "patient", "time"), np.asarray(noisy).astype(dtype)[None])
        data["patient_id"] = (("arm", "patient"), np.asarray(draw["patient"].values, np.int64)[None])
        for v in per_patient_variables(draw):
            # an arm that solves itself reports the parameters it set (e.g. a drug's block) in place of the draw's
            used = out[v] if self.solving and v in out and out[v].dims == ("patient",) else draw[v]
            data[v] = (("arm", "patient"), np.asarray(used.values, draw[v].dtype)[None])
        for v in self.arm_per_patient:
            data[v.name] = (("arm", "patient"), np.asarray(out[v.name].values, float)[None])
        data["status"] = (("arm", "patient"), out["status"].values.astype(np.int8)[None])
        data["n_steps"] = (("arm", "patient"), out["n_steps"].values.astype(np.int32)[None])
        data["n_rejected"] = (("arm", "patient"), out["n_rejected"].values.astype(np.int32)[None])
        return xr.Dataset(data)

    @property
    def described_outputs(self) -> dict:
        """``{output: its vhtwin.Observable or State}`` (name, unit, description) of the stored outputs."""
        if self.solving:
            return {o.name: o for o in next(iter(self.arms.values())).outputs}
        return {x.name: x for x in (*self.model.observed, *self.model.states)}

    @property
    def arm_per_patient(self) -> tuple:
        """What arms that solve themselves store once per patient (:class:`vhtwin.Observable` each); empty otherwise."""
        return next(iter(self.arms.values())).per_patient() if self.solving else ()

    @property
    def observations(self) -> dict[str, str]:
        """``{output: name of its observation variable}`` (``"Cc": "Cc_obs"``): every output gets one, drawn from the
        population's residual error model, when the population has one (none otherwise)."""
        if self.population.residual is None:
            return {}
        return {v: f"{v}_obs" for v in self.outputs}

    def _invalid(self, draw: xr.Dataset) -> np.ndarray:
        """Patients of ``draw`` with a parameter (on any occasion) outside the model's allowed range."""
        bad = np.zeros(draw.sizes["patient"], dtype=bool)
        for q in self.model.parameters:
            for var in (q.name, f"{q.name}_by_occasion"):
                if var in draw:
                    v = q.violations(np.asarray(draw[var].values, dtype=float))
                    bad |= v.reshape(v.shape[0], -1).any(axis=1)
        return bad


def _arm_outputs(arms: Mapping[str, Any], outputs) -> list[str]:
    """The outputs of arms that solve themselves: all of one kind, ``outputs`` among theirs (default all)."""
    kinds = {p.KIND for p in arms.values()}
    if len(kinds) > 1:
        raise InputError(f"Trial arms: arms that solve themselves must be of one kind; got {sorted(kinds)}")
    given = [o.name for o in next(iter(arms.values())).outputs]
    if outputs is None:
        return given
    chosen = [outputs] if isinstance(outputs, str) else list(outputs)
    unknown = [o for o in chosen if o not in given]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise InputError(f"Trial outputs {chosen!r}: this trial's arms give {given}; choose one or more of them, "
                         "each once")
    return chosen


def _replace_invalid(draw: xr.Dataset, invalid: np.ndarray, model) -> xr.Dataset:
    """The draw with each invalid patient's parameters set to the model's defaults, so the batch solves; their
    results are then replaced by NaN and status ``invalid_parameters`` (:func:`_flag_invalid`)."""
    draw = draw.copy()
    for q in model.parameters:
        for var in (q.name, f"{q.name}_by_occasion"):
            if var in draw:
                values = np.array(draw[var].values, dtype=float)
                values[invalid] = q.default
                draw[var] = draw[var].copy(data=values)
    return draw


def _flag_invalid(out: xr.Dataset, invalid: np.ndarray, outputs) -> xr.Dataset:
    from ..solvers import Status

    out = out.copy()
    for v in outputs:
        values = np.array(out[v].values)
        values[invalid] = np.nan
        out[v] = out[v].copy(data=values)
    for var, flag in (("status", Status.INVALID_PARAMETERS), ("n_steps", 0), ("n_rejected", 0)):
        values = np.array(out[var].values)
        values[invalid] = flag
        out[var] = out[var].copy(data=values)
    return out


def _with_global_ids(err: InputError, arm: str, draw: xr.Dataset) -> InputError:
    """The error of a batch's solve, with "patient k" (index in the batch) made the global patient id."""
    import re

    ids = np.asarray(draw["patient"].values)

    def global_id(match):
        k = int(match.group(1))
        return f"patient {int(ids[k])}" if k < ids.size else match.group(0)

    return InputError(f"arm {arm!r}: " + re.sub(r"patient (\d+)", global_id, str(err)))
