"""``vhtwin run``, ``vhtwin info`` and ``vhtwin plot``: in-silico trials from a TOML spec, and the summaries and
figures of a trial store (PK summaries for dosed arms, action-potential biomarkers for paced cell cohorts)."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..errors import InputError, StoreDamagedError

#: The spec ``vhtwin run`` uses when none is given (shipped inside the package).
DEFAULT_SPEC = "default_trial.toml"


def _run(args) -> int:
    from ..interrupt import TrialInterrupted, run_stoppable

    if args.scheduler and args.executor != "dask":
        raise InputError("--scheduler needs --executor dask")
    if args.spec and not Path(args.spec).is_file():
        raise InputError(f"trial spec {args.spec!r} does not exist")
    try:
        # Everything -- the imports of JAX, the spec, compiling, the batches -- runs where Ctrl-C can stop it.
        return run_stoppable(lambda stop: _run_trial(args, stop), stop=getattr(args, "stop", None))
    except TrialInterrupted:
        _leave_interrupted(args)
        raise  # not reached: the process has ended


def _run_trial(args, stop) -> int:
    from ..trial import Trial
    from ..trial.runner import run_trial
    from ..trial.toml_spec import load_trial_toml

    spec = Path(args.spec) if args.spec else files("vhtwin.trial") / DEFAULT_SPEC
    fields = load_trial_toml(spec)
    if args.n_per_arm:
        fields["n_per_arm"] = args.n_per_arm
    trial = Trial(**fields)
    if args.target is not None and _kind(trial) != "dosed":  # before any compute
        raise InputError(f"--target {args.target:g} is a concentration target: it needs an arm with doses of the "
                         "trial's model")
    print(f"{trial!r}\nspec: {spec}\nstore: {args.out}", flush=True)
    start = time.perf_counter()
    ds = run_trial(trial, args.out, batch_size=args.batch_size, executor=args.executor, resume=args.resume,
                   overwrite=args.overwrite, progress=not args.quiet, scheduler=args.scheduler,
                   take_over=args.take_over, insecure_scheduler=args.insecure_scheduler, stop=stop,
                   stored_precision=args.stored_precision)
    wall = time.perf_counter() - start
    print(f"\n{trial.n_per_arm * len(trial.arms):,} patients in {wall:.1f} s "
          f"({_rate(trial.n_per_arm * len(trial.arms) / wall)} patients/s end to end, compilation included)\n")
    print(summary_table(ds, trial, target=args.target))
    figures = Path(args.figures) if args.figures else Path(args.out).resolve().parent
    for path in write_figures(ds, trial, figures, Path(args.out).stem):
        print(f"figure: {path}")
    return 0


def _leave_interrupted(args) -> None:
    """Ctrl-C during a run: say what is in the store and the exact command that finishes it, then leave at once.

    The run's thread may be inside a compilation that would not return for minutes; every batch it wrote is whole
    (:func:`vhtwin.interrupt.run_stoppable` holds the write guard), so the process ends without waiting.
    """
    from ..trial.lock import release_if_ours
    from ..trial.paths import count_markers, replacement

    # Light modules only: the run's thread may be importing the heavy ones right now.
    path = Path(args.out)
    done = max(count_markers(replacement(path)), count_markers(path))
    release_if_ours(path)
    argv = [a for a in args.argv if a != "--overwrite"]
    command = shlex.join(["vhtwin", *argv, *([] if "--resume" in argv else ["--resume"])])
    sys.stdout.flush()
    sys.stderr.write(f"\nvhtwin: interrupted: {done} finished batch(es) are in {str(path)!r}; to finish the run: "
                     f"{command}\n")
    sys.stderr.flush()
    os._exit(130)


def _kind(trial) -> str:
    """``"paced"`` when an arm paces (a cell cohort), ``"dosed"`` when an arm doses, ``"self"`` for arms that solve
    themselves (a drug's PK driving heart cells), else ``"free"`` (also for the stored data a store's reader keeps of
    arms that solve themselves: their outputs get bands only)."""
    from ..trial.spec_codec import protocol_parts, solves_itself

    if any(solves_itself(p) for p in trial.arms.values()):
        return "self"
    if any(isinstance(p, dict) for p in trial.arms.values()):
        return "free"
    parts = [protocol_parts(p) for p in trial.arms.values()]
    if any(pacings for _, pacings in parts):
        return "paced"
    if any(regimen.doses for regimen, _ in parts):
        return "dosed"
    return "free"


def _beat_starts(trial, times) -> dict:
    from ..analysis import last_stimulus

    starts = {}
    for name, protocol in trial.arms.items():
        s = last_stimulus(protocol, times)
        if s is None:
            raise InputError(f"arm {name!r}: no stimulus inside the output window [{times[0]:g}, {times[-1]:g}], so "
                             "there is no beat to analyse; store the times of the last beat")
        starts[name] = s
    return starts


def summary_table(ds, trial, *, target: float | None = None) -> str:
    """Per arm, for the trial's first output: patients and failures, then

    - dosed trials: Cmax, the value at the last time (trough), AUC over the whole profile and, with ``target``, the
      fraction whose last value reaches it;
    - paced cell cohorts: APD90, APD50, resting and peak potential of the last beat in the output window;
    - arms that solve themselves (:class:`vhtwin.cipa.DrugExposure`): each patient's outcomes the arm gives once
      (the largest APD90 change and free concentration, the baseline APD90) and the patients with an EAD;
    - trials without events: the minimum, maximum and mean over the output window.
    """
    import pandas as pd

    from ..analysis import failure_counts

    kind = _kind(trial)
    if target is not None and kind != "dosed":
        raise InputError(f"--target {target:g} is a concentration target: it needs an arm with doses")
    variable = trial.outputs[0]
    unit = ds[variable].attrs.get("units", "")
    failures = failure_counts(ds)
    columns = {"dosed": _dosed_columns, "paced": _paced_columns, "free": _free_columns,
               "self": _self_solving_columns}[kind](ds, trial, variable, unit, target)
    rows = []
    for i, arm in enumerate(trial.arm_names):
        counts = failures.isel(arm=i)
        failed = int(counts.sum()) - int(counts.sel(status="success")) if "success" in counts["status"] else int(counts.sum())
        rows.append({"arm": arm, "patients": int(counts.sum()), "failed": failed,
                     **{label: values[i] for label, values in columns.items()}})
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        text = pd.DataFrame(rows).set_index("arm").to_string()
    for i, arm in enumerate(trial.arm_names):  # failures by status (their outputs are NaN, left out above)
        counts = failures.isel(arm=i)
        failed = {str(s): int(c) for s, c in zip(counts["status"].values, counts.values) if s != "success" and c}
        if failed:
            text += f"\nfailures in {arm}: " + ", ".join(f"{s} {c:,}" for s, c in failed.items())
    return text


def _dosed_columns(ds, trial, variable, unit, target) -> dict:
    from ..analysis import nca_summary, target_attainment

    last = float(ds["time"].values[-1])
    doses = {name: _total_dose(reg, last) for name, reg in trial.arms.items()}
    nca = nca_summary(ds, variable, dose=doses, q=(5, 50, 95), metrics=("cmax", "auclast"))
    trough = _percentiles_at(ds, variable, last)
    arms = range(len(trial.arm_names))
    out = {
        f"Cmax [{unit}] median (5-95%)": [_triple(nca["cmax"].isel(arm=i).values) for i in arms],
        f"C at {last:g} h [{unit}]": [_triple(trough[i]) for i in arms],
        f"AUC 0-{last:g} h median (5-95%)": [_triple(nca["auclast"].isel(arm=i).values) for i in arms],
    }
    if target is not None:
        pta = target_attainment(ds, variable, threshold=target, at=last)  # every arm
        out[f"C({last:g} h) >= {target:g}"] = [f"{float(pta.isel(arm=i)):.1%}" for i in arms]
    return out


def _paced_columns(ds, trial, variable, unit, target) -> dict:
    from ..analysis import action_potential_per_patient, action_potential_summary

    times = np.asarray(ds["time"].values, float)
    per_patient = action_potential_per_patient(ds, variable, beat_start=_beat_starts(trial, times))
    summary = action_potential_summary(per_patient)
    t_unit = ds["time"].attrs.get("units", "")
    arms = range(len(trial.arm_names))
    out = {}
    for m, label in (("apd90", "APD90"), ("apd50", "APD50"), ("resting_potential", "rest"), ("peak_voltage", "peak")):
        u = t_unit if m.startswith("apd") else unit
        out[f"{label} [{u}] median (5-95%)"] = [_triple(summary[m].isel(arm=i).values) for i in arms]
    out["repolarised"] = [f"{int(summary['n_analysed'].isel(arm=i))}" for i in arms]
    return out


def _self_solving_columns(ds, trial, variable, unit, target) -> dict:
    """Per arm: the median (5-95 %) of each per-patient outcome of arms that solve themselves (the parameters they
    drew, ``pk_*``, left out), and the patients with an EAD at any time point when ``EAD`` is stored."""
    from ..analysis import successful

    arms = range(len(trial.arm_names))
    outcomes = [o for o in next(iter(trial.arms.values())).per_patient() if not o.name.startswith("pk_") and o.name in ds]
    out = {}
    for o in outcomes:
        column = []
        for i in arms:
            x = np.asarray(ds[o.name].isel(arm=i).values, float)[successful(ds, i)]
            x = x[np.isfinite(x)]
            column.append(_triple(np.percentile(x, (5, 50, 95))) if x.size else "-")
        out[f"{o.name} [{o.unit}] median (5-95%)"] = column
    if "EAD" in ds:
        out["patients with an EAD"] = [
            str(int((np.asarray(ds["EAD"].isel(arm=i).transpose("patient", "time").values)[successful(ds, i)] > 0)
                    .any(axis=1).sum())) for i in arms]
    return out


def _free_columns(ds, trial, variable, unit, target) -> dict:
    from ..analysis import successful

    arms = range(len(trial.arm_names))
    out = {}
    for reduce in ("min", "max", "mean"):
        column = []
        for i in arms:
            x = np.asarray(getattr(ds[variable].isel(arm=i), reduce)("time").values, float)[successful(ds, i)]
            column.append(_triple(np.percentile(x, (5, 50, 95))) if x.size else "-")
        out[f"{reduce} [{unit}] median (5-95%)"] = column
    return out


def _rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _triple(values) -> str:
    lo, mid, hi = (float(v) for v in np.asarray(values).ravel()[:3])
    return f"{mid:.3g} ({lo:.3g} to {hi:.3g})"


def _percentiles_at(ds, variable: str, t: float) -> np.ndarray:
    from ..analysis import percentiles

    p = percentiles(ds.sel(time=[t]), variable, q=(5, 50, 95))
    return np.asarray(p.isel(time=0).values)  # (arm, 3)


def _total_dose(protocol, until: float) -> float:
    from ..trial.spec_codec import protocol_parts

    regimen, _ = protocol_parts(protocol)
    return float(sum(float(np.asarray(d.amount)) for d in regimen.doses if d.time <= until))


def write_figures(ds, trial, folder: Path, stem: str, fmt: str = "png", observed=None, log: bool = False,
                  variable: str | None = None) -> list[Path]:
    """The percentile bands per arm and, per arm, the distributions of the NCA metrics (dosed trials) or of the
    action-potential biomarkers (paced cell cohorts), as files in ``folder``. For an observation variable
    (``Cc_obs``: with residual error, so possibly negative), the bands only."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import plot
    from ..analysis import nca_per_patient

    variable = variable or trial.outputs[0]
    if variable not in ds:
        raise InputError(f"--variable {variable!r} is not in the store; its outputs are {list(trial.outputs)}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fig = plot.trial_bands(ds, variable, observed=observed, log=log)
    paths.append(folder / f"{stem}_{variable}_bands.{fmt}")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    kind = _kind(trial)
    if variable not in trial.outputs:
        return paths  # an observation (Cc_obs, with residual error): its bands only -- NCA and biomarkers are of predictions
    if kind == "dosed":
        last = float(ds["time"].values[-1])
        doses = {name: _total_dose(reg, last) for name, reg in trial.arms.items()}
        per_patient = nca_per_patient(ds, variable, dose=doses, metrics=("cmax", "auclast", "half_life"))
        fig = plot.nca_distributions(per_patient, metrics=("cmax", "auclast", "half_life"))
        paths.append(folder / f"{stem}_{variable}_nca.{fmt}")
    elif kind == "paced":
        from ..analysis import action_potential_per_patient

        times = np.asarray(ds["time"].values, float)
        per_patient = action_potential_per_patient(ds, variable, beat_start=_beat_starts(trial, times))
        fig = plot.nca_distributions(per_patient, metrics=("apd90", "apd50", "resting_potential"), log=False,
                                     title="Action-potential biomarkers of the last beat, per arm")
        paths.append(folder / f"{stem}_{variable}_action_potential.{fmt}")
    else:
        return paths
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def _trial_of(ds):
    """The stored design (outputs, arms, times): from the store's data alone; its model is never loaded."""
    from ..trial.spec_codec import decode_design

    return decode_design(json.loads(ds.attrs["vhtwin_spec"]))


def _plot(args) -> int:
    from ..trial import open_trial

    ds = open_trial(args.store)
    trial = _trial_of(ds)
    observed = None
    if args.observed:
        from ..io import read_csv_table

        observed = read_csv_table(args.observed, "--observed")
    folder = Path(args.out) if args.out else Path(args.store).resolve().parent
    for path in write_figures(ds, trial, folder, Path(args.store).stem, args.format, observed, args.log, args.variable):
        print(f"figure: {path}")
    return 0


def _info(args) -> int:
    from .. import io
    from ..trial import store as st

    path = Path(args.store)
    if not path.exists():
        raise InputError(f"store {args.store!r} does not exist")
    attrs = st.read_attrs(path)
    if not str(attrs.get("vhtwin_layout", "")).startswith("vhtwin-trial-store/"):  # a result of vhtwin.io.write_zarr
        ds = io.open_zarr(path)
        print(ds)
        if "status" in ds:
            status = np.asarray(ds["status"].values)
            print(f"\nstatus: {int((status == 0).sum())} of {status.size} trajectories succeeded")
        print("\nattributes:")
        for key, value in ds.attrs.items():
            print(f"  {key}: {value}")
        return 0
    print(trial_info(path))
    return 0


def _export(args) -> int:
    from ..trial.export import export_trial

    store = Path(args.store)
    fmt = args.format or (Path(args.out).suffix.lstrip(".").lower() if args.out else "csv")
    out = Path(args.out) if args.out else store.resolve().parent / f"{store.stem}{'-patients' if args.table == 'patients' else ''}.{fmt}"
    done = export_trial(store, out, format=fmt, table=args.table, overwrite=args.overwrite)
    print(f"exported: {done['path']} ({done['rows']:,} rows from {done['batches']} batches; store: {done['progress']})")
    if not done["complete"]:
        print("note: the store is not complete; patients not computed yet are not in the table (resume the run, then "
              "export again)")
    return 0


def _verify(args) -> int:
    from ..trial import verify_trial

    report = verify_trial(args.store, deep=not args.quick)
    print(report.report())
    return report.exit_code


def trial_info(path: Path) -> str:
    """A trial store in words: spec, progress, failures per arm (from the batch markers) and provenance."""
    from ..trial import store as st

    try:
        return _trial_info(path, st)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:
        raise StoreDamagedError(f"store {str(path)!r} has a damaged or edited spec attribute ({type(err).__name__}: "
                                f"{err}); it cannot be described") from None


def _trial_info(path: Path, st) -> str:
    from ..trial import verify_trial

    attrs = st.read_attrs(path)
    sizes = st.store_shape(path, attrs)
    spec = json.loads(attrs["vhtwin_spec"])
    done = st.done_batches(path)
    n_batches = sizes["n_batches"]
    arms = [a["name"] for a in spec["arms"]]
    quick = verify_trial(path, deep=False)  # files present and not empty: a look, not a read
    lines = [f"trial store {path}", "", "spec:"]
    lines.append(f"  model: {spec['model'].get('name')} (source sha256 {spec['model']['source_sha256'][:12]}...)")
    t = spec["times"]
    lines.append(f"  patients: {spec['n_per_arm']:,} per arm, seed {spec['seed']}, "
                 f"{'independent' if spec['independent_arms'] else 'the same (paired)'} patients in each arm")
    lines.append(f"  times: {len(t)} from {t[0]:g} to {t[-1]:g}; outputs {spec['outputs']}")
    lines.append(f"  solver: {spec['solver']} (by arm {attrs.get('solver_by_arm')}), rtol {spec['rtol']}, "
                 f"atol {spec['atol']}, precision {attrs.get('precision')}")
    for a in spec["arms"]:
        entries = a["protocol"] or []
        solving = [e for e in entries if "." in str(e.get("kind"))]  # an arm that solves itself: "cipa.DrugExposure"
        if solving:
            e = solving[0]
            doses = [d for d in e.get("regimen", []) if d.get("kind") == "dose"]
            lines.append(f"  arm {a['name']!r}: {e['kind']} {e.get('drug')}, {len(doses)} doses, "
                         f"{sum(float(d['amount']) for d in doses):g} in all (PK {e['pk_model'].get('name')}); "
                         f"{e.get('beats_per_point')} beats per time point after {e.get('baseline_beats')} drug-free")
            continue
        doses = [d for d in entries if d.get("kind") == "dose"]
        pacing = [p for p in entries if p.get("kind") == "pacing"]
        parts = []
        if doses or not pacing:
            parts.append(f"{len(doses)} doses, {sum(float(d['amount']) for d in doses):g} in all")
        parts += [f"{p['count']} stimuli every {p['period']:g} from {p['start']:g}" for p in pacing]
        lines.append(f"  arm {a['name']!r}: " + "; ".join(parts))
    batch_size = int(attrs["vhtwin_batch_size"])
    lines += ["", f"progress: {len(done)} of {n_batches * len(arms)} batches done "
                  f"({sum(int(i['patients']) for i in done.values()):,} of {spec['n_per_arm'] * len(arms):,} patients; "
                  f"batch size {batch_size}){'; complete' if attrs.get('vhtwin_complete') and not quick.damaged else ''}"]
    if quick.damaged:
        lines.append(f"DAMAGED: {len(quick.damaged)} chunk file(s) of done batches are missing or empty, e.g. "
                     f"{quick.damaged[0]}; 'vhtwin verify {path}' reads everything, resuming the run repairs it")
    lines.append("failures:")
    for k, name in enumerate(arms):
        counts: dict[str, int] = {}
        for (arm, _), info in done.items():
            if arm == k:
                for s, c in info["status"].items():
                    counts[s] = counts.get(s, 0) + int(c)
        failed = {s: c for s, c in counts.items() if s != "success"}
        n = sum(counts.values())
        text = ", ".join(f"{s} {c:,}" for s, c in sorted(failed.items())) if failed else "none"
        lines.append(f"  {name}: {text} (of {n:,} done)")
    lines += ["", "provenance:"]
    for key in ("vhtwin_version", "vhtwin_git_revision", "jax_version", "jax_backend", "devices", "precision",
                "model", "model_source_sha256", "seed"):
        lines.append(f"  {key}: {attrs.get(key)}")
    return "\n".join(lines)
