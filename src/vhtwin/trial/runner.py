"""Running a trial into its store: the store's template and spec check, which batches remain, the executors, the
failure threshold, progress, and the final summary attributes.

Executors share one contract: a batch is computed, its region written, then its marker written
(:func:`vhtwin.trial.batch.run_batch`), and the runner only learns of a batch through its marker's information.
``"local"`` runs batches in this process -- the write of a batch on a writer thread overlaps the compute of the
next, so at most two batches are in memory; ``"dask"`` (:mod:`vhtwin.trial.dask_executor`) sends them to Dask
workers.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dask.array as da
import jax
import numpy as np
import xarray as xr

from .._version import __version__
from ..errors import InputError, StoreDamagedError, TrialError
from . import store as st
from .batch import write_batch
from .integrity import COORDINATES, verify_trial
from ..interrupt import Stop, TrialInterrupted
from .lock import writer_lock
from .reading import open_trial
from .store import per_patient_variables
from .progress import Progress


def run_trial(trial, store, *, batch_size: int, executor: str, resume: bool, overwrite: bool, progress: bool,
              scheduler=None, take_over: bool = False, insecure_scheduler: bool = False,
              stop: Stop | None = None, stored_precision: str | None = None) -> xr.Dataset:
    """Run ``trial`` into ``store`` (see :meth:`vhtwin.Trial.run`); ``stop``: a request to stop between batches
    (:func:`vhtwin.interrupt.run_stoppable`, which the command line uses for Ctrl-C)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InputError(f"batch_size {batch_size!r} must be a positive integer")
    batch_size = int(min(batch_size, trial.n_per_arm))
    if executor not in ("local", "dask"):
        raise InputError(f"executor {executor!r} must be 'local' or 'dask'")
    if stored_precision not in (None, "float64", "float32"):
        raise InputError(f"stored_precision {stored_precision!r} must be 'float64', 'float32' or None (the precision "
                         "of the solve)")
    stored = stored_precision or trial.precision
    if scheduler is not None and executor != "dask":
        raise InputError("scheduler is for executor='dask'")
    for name, flag in (("resume", resume), ("overwrite", overwrite), ("progress", progress), ("take_over", take_over),
                       ("insecure_scheduler", insecure_scheduler)):
        if not isinstance(flag, bool):
            raise InputError(f"{name} {flag!r} must be True or False")
    if resume and overwrite:
        raise InputError("resume and overwrite exclude each other: resume finishes a store, overwrite replaces it")
    if executor == "dask":
        from .dask_executor import check_scheduler

        check_scheduler(scheduler, insecure_scheduler)
    path = Path(store)
    spec_json = trial.to_json()
    with writer_lock(path, take_over=take_over):
        try:
            return _run_locked(trial, path, spec_json, batch_size=batch_size, executor=executor, resume=resume,
                               overwrite=overwrite, progress=progress, scheduler=scheduler, stop=stop, stored=stored)
        except KeyboardInterrupt:
            # Ctrl-C in a notebook or script: the batches written so far are whole (a started write ends first).
            raise TrialInterrupted(f"the run into {str(path)!r} was interrupted; the finished batches are in the "
                                   "store: run it again with resume=True to finish it") from None


def _run_locked(trial, path: Path, spec_json: str, *, batch_size, executor, resume, overwrite, progress, scheduler,
                stop, stored):
    target = _target(path, spec_json, batch_size, stored, resume=resume, overwrite=overwrite)
    bar = Progress(trial.n_per_arm * len(trial.arms), enabled=progress)
    try:
        return _run_batches(trial, path, target, spec_json, batch_size, stored, executor, scheduler, bar, stop)
    finally:
        bar.close()


def _run_batches(trial, path, target, spec_json, batch_size, stored, executor, scheduler, bar, stop):
    if not target.exists():
        template, encoding = _template(trial, batch_size, stored)
        st.create(target, template, _attributes(trial, spec_json, batch_size, stored), encoding)
    else:
        _repair(trial, target, batch_size, stored, bar.note)

    n_batches = trial.n_batches(batch_size)
    done = st.done_batches(target)
    todo = [(a, k) for a in range(len(trial.arms)) for k in range(n_batches) if (a, k) not in done]
    already = sum(int(info["patients"]) for info in done.values())
    bar.advance(already, already)
    tally = _Tally(trial.max_failure_fraction, done.values())
    tally.check()

    def finished(info: dict) -> None:
        bar.advance(int(info["patients"]), already)
        tally.add(info)
        tally.check()

    if todo:
        if executor == "local":
            _run_local(trial, target, todo, batch_size, finished, stop)
        else:
            from .dask_executor import run_on_dask

            run_on_dask(type(trial), spec_json, target, todo, batch_size, finished, scheduler, stop)
    done = st.done_batches(target)
    if tally.counts.get("invalid_parameters"):
        bar.note(f"{tally.counts['invalid_parameters']:,} patients were drawn with a parameter outside the model's "
                 "allowed range: flagged with status invalid_parameters (their draws are stored), not solved")
    if len(done) == n_batches * len(trial.arms):
        st.sweep_leftovers(target)
    st.update_attrs(target, _summary(trial, done, n_batches))
    if target != path:
        st.swap_in(path, target)  # the replacement is complete: only now does it take the old store's place
    return open_trial(path)


def _target(path: Path, spec_json: str, batch_size: int, stored: str, *, resume: bool, overwrite: bool) -> Path:
    """The folder this run writes: ``path``, or beside it the replacement of the store at ``path`` (``overwrite``).

    Only a vhtwin trial store is ever replaced; the replacement is written beside it and swapped in when complete,
    so a run that fails or is killed leaves the old store as it was. A replacement left by such a run is continued
    by the next run that asks for the same spec (``resume`` or ``overwrite``), and restarted by one that does not.
    """
    st.finish_swap(path)
    pending = st.replacement(path)
    continues = pending.exists() and _same_spec(pending, spec_json, batch_size, stored)
    if overwrite:
        if path.exists() and not st.is_trial_store(path):
            raise InputError(
                f"{str(path)!r} exists and is not a vhtwin trial store; overwrite replaces only a store vhtwin wrote, "
                "so it was left untouched -- choose another path, or move it away yourself"
            )
        if not path.exists():
            return path
        if pending.exists() and not continues:
            st.remove(pending)  # a replacement for another spec, abandoned: ours, and of no use
        return pending
    if resume:
        if continues:
            return pending  # an interrupted overwrite with this spec: finish it, then swap it in
        if path.exists():
            _check_same_spec(path, spec_json, batch_size, stored)
        return path
    if path.exists():
        raise InputError(
            f"store {str(path)!r} already exists; pass resume=True to finish it or overwrite=True to replace it"
        )
    return path


def _repair(trial, path: Path, batch_size: int, stored: str, note) -> None:
    """Verify a store this run continues, and mark its damaged batches not done so that they are computed again.

    Every chunk of every done batch is read (:func:`vhtwin.trial.integrity.verify_trial`); a damaged coordinate is
    rewritten from the spec. Damaged metadata cannot be rewritten batch by batch: that is a named error.
    """
    report = verify_trial(path)
    if not report.damaged:
        return
    if not report.repairable:
        worst = next(d for d in report.damaged if not d.repairable)
        raise StoreDamagedError(f"store {str(path)!r} is damaged beyond what resume repairs: {worst}; run it again "
                                "with overwrite=True (vhtwin run --overwrite)")
    batches = report.damaged_batches()
    for arm, batch in batches:
        st.unmark(path, arm, batch)
    coordinates = sorted({d.variable for d in report.damaged if d.batch is None and d.variable in COORDINATES})
    if coordinates:
        template, _ = _template(trial, batch_size, stored)
        for name in coordinates:
            st.rewrite_array(path, name, template[name].values)
    note(f"repairing {str(path)!r}: {len(report.damaged)} damaged file(s); computing {len(batches)} batch(es) again"
         + (f", rewriting {', '.join(coordinates)}" if coordinates else ""))


def _same_spec(path: Path, spec_json: str, batch_size: int, stored: str) -> bool:
    try:
        _check_same_spec(path, spec_json, batch_size, stored)
    except InputError:
        return False
    return True


def _run_local(trial, path: Path, todo, batch_size: int, finished, stop: Stop | None = None) -> None:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vhtwin-writer") as writer:
        pending = None
        try:
            for arm, batch in todo:
                if stop is not None:
                    stop.check(f"before batch {batch} of arm {arm}")
                t0 = time.perf_counter()
                ds = trial.compute_batch(arm, batch, batch_size)
                elapsed = time.perf_counter() - t0
                if pending is not None:
                    finished(pending.result())
                pending = writer.submit(_guarded_write, stop, path, ds, arm, batch, batch_size, elapsed)
            if pending is not None:
                finished(pending.result())
                pending = None
        finally:
            if pending is not None:
                pending.result()  # let a started write end (its marker comes after its data either way)


def _guarded_write(stop: Stop | None, *args) -> dict:
    """Write a batch and its marker whole: a stop waits for the guard, so it never lands between the two."""
    if stop is None:
        return write_batch(*args)
    with stop.writing:
        return write_batch(*args)


class _Tally:
    """Status counts over the finished batches, and the failure threshold."""

    def __init__(self, limit: float, infos):
        self.limit = limit
        self.patients = 0
        self.counts: dict[str, int] = {}
        for info in infos:
            self.add(info)

    def add(self, info: dict) -> None:
        self.patients += int(info["patients"])
        for name, c in info["status"].items():
            self.counts[name] = self.counts.get(name, 0) + int(c)

    def check(self) -> None:
        # Patients drawn outside a parameter's range are the population model's, not the solver's: they are
        # flagged (status invalid_parameters) and reported, and do not count towards the solver's failures.
        failed = self.patients - self.counts.get("success", 0) - self.counts.get("invalid_parameters", 0)
        if self.patients and failed / self.patients > self.limit:
            detail = ", ".join(f"{k} {v:,}" for k, v in sorted(self.counts.items()) if k not in ("success", "invalid_parameters"))
            raise TrialError(
                f"{failed:,} of {self.patients:,} patients done so far failed ({failed / self.patients:.2%}; {detail}), "
                f"more than max_failure_fraction {self.limit:g}. The finished batches are in the store; look at "
                "their status, then change the solver settings (max_steps, tolerances, a stiff solver) or the limit"
            )


def _check_same_spec(path: Path, spec_json: str, batch_size: int, stored: str) -> None:
    if not st.is_trial_store(path):
        raise InputError(f"{str(path)!r} is not a vhtwin trial store, so there is nothing to resume; choose another path")
    attrs = st.read_attrs(path)
    if attrs.get("vhtwin_layout") != st.LAYOUT:
        raise InputError(f"{str(path)!r} is a vhtwin trial store of layout {attrs.get('vhtwin_layout')!r}, which this "
                         f"version ({st.LAYOUT!r}) cannot resume")
    theirs, ours = json.loads(attrs.get("vhtwin_spec", "{}")), json.loads(spec_json)
    if theirs != ours:
        keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise InputError(
            f"store {str(path)!r} was written by a different spec (differs in {keys}); resume needs the same spec -- "
            "pass overwrite=True to replace the store"
        )
    if int(attrs.get("vhtwin_batch_size", -1)) != batch_size:
        raise InputError(
            f"store {str(path)!r} was written with batch_size {attrs.get('vhtwin_batch_size')}, not {batch_size}; "
            "resume with the same batch_size (it sets the chunks)"
        )
    # stores written before stored_precision existed hold the solve's precision
    theirs_stored = attrs.get("vhtwin_stored_precision", attrs.get("precision"))
    if theirs_stored != stored:
        raise InputError(
            f"store {str(path)!r} holds {theirs_stored} values, not {stored}; resume with stored_precision="
            f"{theirs_stored!r}"
        )


def _template(trial, batch_size: int, stored: str):
    """The store's variables as lazy fill values (nothing computed), and their encodings (chunks, fill values);
    the outputs in the ``stored`` precision."""
    A, n, T = len(trial.arms), trial.n_per_arm, len(trial.times)
    one = trial.population.sample(n=1, seed=trial.seed)
    model = trial.model
    described = trial.described_outputs
    out_dtype = np.float32 if stored == "float32" else np.float64
    data, encoding = {}, {}

    def add(name, dims, dtype, fill, attrs):
        shape = (A, n, T) if len(dims) == 3 else (A, n)
        chunks = (1, batch_size, T) if len(dims) == 3 else (1, batch_size)
        data[name] = xr.Variable(dims, da.full(shape, fill, dtype=dtype, chunks=chunks), attrs=attrs)
        encoding[name] = {"chunks": chunks, "fill_value": fill, "compressors": st.compressors()}

    for v in trial.outputs:
        attrs = {"units": described[v].unit}
        if described[v].description:
            attrs["long_name"] = described[v].description
        add(v, ("arm", "patient", "time"), out_dtype, np.nan, attrs)
    for v, observed in trial.observations.items():
        add(observed, ("arm", "patient", "time"), out_dtype, np.nan,
            {"units": described[v].unit, "long_name": f"{v} observed: the prediction with the population's residual error"})
    add("patient_id", ("arm", "patient"), np.int64, -1, {"long_name": "global patient id (the draws depend on seed and id)"})
    for v in per_patient_variables(one):
        dtype = one[v].dtype
        fill = np.nan if np.issubdtype(dtype, np.floating) else -1
        add(v, ("arm", "patient"), dtype, fill, _json_attrs(one[v].attrs))
    for v in trial.arm_per_patient:
        add(v.name, ("arm", "patient"), np.float64, np.nan, {"units": v.unit, "long_name": v.description})
    from ..solvers import Status

    add("status", ("arm", "patient"), np.int8, -1,
        {**Status.flag_attrs(), "note": "-1: not computed yet"})
    add("n_steps", ("arm", "patient"), np.int32, -1, {"long_name": "accepted steps (-1: not computed yet)"})
    add("n_rejected", ("arm", "patient"), np.int32, -1, {"long_name": "rejected steps (-1: not computed yet)"})
    for name in COORDINATES:
        encoding[name] = {"compressors": st.compressors()}
    coords = {
        "arm": ("arm", np.array(trial.arm_names)),
        "patient": ("patient", np.arange(n, dtype=np.int64), {"long_name": "patient index within the arm"}),
        "time": ("time", trial.times, {"units": model.time_unit, "long_name": "time"}),
    }
    return xr.Dataset(data, coords=coords), encoding


def _json_attrs(attrs: dict) -> dict:
    from ..io import json_safe_attrs

    return json_safe_attrs(dict(attrs), "variable")


def _attributes(trial, spec_json: str, batch_size: int, stored: str) -> dict:
    """Provenance and layout: everything needed to know what produced the store (deterministic: no clock)."""
    devices = jax.local_devices()
    return {
        "title": f"vhtwin in-silico trial: {trial.model.name}, arms {trial.arm_names}",
        "vhtwin_layout": st.LAYOUT,
        "vhtwin_spec": spec_json,
        "vhtwin_batch_size": batch_size,
        "vhtwin_stored_precision": stored,
        "vhtwin_n_batches": trial.n_batches(batch_size),
        "vhtwin_version": __version__,
        "vhtwin_git_revision": st.git_revision(),
        "jax_version": jax.__version__,
        "jax_backend": jax.default_backend(),
        "devices": f"{len(devices)} x {devices[0].device_kind}",
        "model": trial.model.name,
        "model_source_sha256": trial.model.source_hash(),
        "precision": trial.precision,
        "solver": trial.solver,
        "solver_by_arm": json.dumps(trial.methods),
        "rtol": json.dumps(trial.rtol) if isinstance(trial.rtol, dict) else float(trial.rtol),
        "atol": json.dumps(trial.atol) if isinstance(trial.atol, dict) else float(trial.atol),
        "seed": str(trial.seed),
        "n_per_arm": trial.n_per_arm,
        "independent_arms": trial.independent_arms,
        "max_failure_fraction": trial.max_failure_fraction,
        "max_steps": trial.max_steps,
        "dt0": "none" if trial.dt0 is None else trial.dt0,
        "output_at_event": "value just before the event (left limit)",
    }


def _summary(trial, done: dict, n_batches: int) -> dict:
    """Status counts per arm and whether every batch is done (deterministic, so a resumed store equals a fresh one)."""
    by_arm = {name: {} for name in trial.arm_names}
    for (arm, _), info in sorted(done.items()):
        counts = by_arm[trial.arm_names[arm]]
        for k, v in info["status"].items():
            counts[k] = counts.get(k, 0) + int(v)
    complete = len(done) == n_batches * len(trial.arms)
    return {"vhtwin_status_counts": json.dumps(by_arm, sort_keys=True), "vhtwin_complete": bool(complete)}
