"""``vhtwin estimate``: fit a population model to a NONMEM-style dataset from a TOML spec.

The spec names the model, the dataset (a CSV file), the starting population (a ``[population]`` table as in a trial
spec: typical values, omega, covariate models, residual) and the options (``[estimation]``: method, fix,
covariance, ...); ``vhtwin schema estimate`` prints its JSON Schema. The fit is written to a Zarr store
(:mod:`vhtwin.estimation.store`) with the parameter table as a CSV file and goodness-of-fit, eta and VPC figures
beside it. While it runs, a checkpoint beside the store (``STORE.checkpoint.json``) is updated after every
iteration; ``--resume`` continues from it after an interruption or a kill.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import InputError
from ..io import read_toml


def add_parser(sub) -> None:
    p = sub.add_parser(
        "estimate", help="fit a population model (FOCE-I, FOCE, Laplace, SAEM) to a dataset from a TOML spec",
        description=(
            "Estimate typical values, covariate effects, between-subject variability and residual error from a "
            "NONMEM-style dataset: FOCE-I (default), FOCE, Laplace or SAEM, every subject solved in one batched step. "
            "Writes the fit to a Zarr store, the parameter table to a CSV file and the goodness-of-fit, eta and VPC "
            "figures beside it. The spec format: examples/README.md; vhtwin schema estimate prints its schema."
        ),
    )
    p.add_argument("spec", metavar="SPEC", help="estimation spec (TOML)")
    p.add_argument("--out", metavar="STORE", default="out/fit.zarr", help="the Zarr store (default: out/fit.zarr)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue an interrupted estimation of the same spec")
    group.add_argument("--overwrite", action="store_true", help="replace an existing store, table and figures")
    p.add_argument("--table", metavar="CSV", help="parameter table (default: beside the store, STORE_STEM_table.csv)")
    p.add_argument("--figures", metavar="DIR", help="folder for the figures (default: beside the store)")
    p.add_argument("--vpc-replicates", type=int, default=200, metavar="N",
                   help="simulated datasets of the VPC (default 200; 0: no VPC)")
    p.set_defaults(run=run)


def _spec(path: Path):
    from ..trial.spec_schema import EstimationSpec, validate

    doc = read_toml(path, "estimation spec")
    return doc, validate(EstimationSpec, doc)


def outputs(out: Path, table: str | None, figures: str | None) -> dict[str, Path]:
    """Every file the command writes (so that each is checked before any compute)."""
    folder = Path(figures) if figures else out.parent
    stem = out.name[:-5] if out.name.endswith(".zarr") else out.name
    return {"store": out, "checkpoint": out.parent / f"{out.name}.checkpoint.json",
            "table": Path(table) if table else out.parent / f"{stem}_table.csv",
            "gof": folder / f"{stem}_gof.png", "etas": folder / f"{stem}_etas.png", "vpc": folder / f"{stem}_vpc.png"}


def run(args) -> int:
    import vhtwin as vh

    from ..dataset import read_dataset
    from ..estimation.checkpoint import is_checkpoint
    from ..estimation.saem import SaemSettings
    from ..estimation.store import read_fit, write_fit
    from ..trial.toml_spec import model_from_toml, population_from_toml

    spec_path = Path(args.spec)
    doc, spec = _spec(spec_path)
    base = spec_path.resolve().parent
    files = outputs(Path(args.out), args.table, args.figures)
    if args.vpc_replicates < 0:
        raise InputError(f"--vpc-replicates = {args.vpc_replicates}: must be >= 0")
    if args.resume and files["store"].exists() and not files["checkpoint"].exists():
        fitted = read_fit(files["store"])
        print(f"vhtwin: {files['store']} is complete (OFV {fitted.attrs['ofv']:.3f}); nothing to resume")
        return 0
    for key in ("store", "table", "gof", "etas", "vpc"):
        if files[key].exists() and not args.overwrite:
            raise InputError(f"{files[key]} already exists; pass --overwrite to replace it (or --out / --table / "
                             "--figures to write elsewhere)")
    if files["checkpoint"].exists() and not (args.resume or args.overwrite):
        raise InputError(f"{files['checkpoint']} holds an interrupted estimation; pass --resume to continue it or "
                         "--overwrite to start afresh")

    model = model_from_toml(spec.model, base)
    data_path = Path(spec.data.path) if Path(spec.data.path).is_absolute() else base / spec.data.path
    if not data_path.is_file():
        raise InputError(f"data.path = {spec.data.path!r}: no such file ({data_path}; a relative path is relative to "
                         "the TOML file)")
    compartments = None if spec.data.compartments is None else {int(k): v for k, v in spec.data.compartments.items()}
    data = read_dataset(data_path, model, compartments=compartments)
    population = population_from_toml(doc["population"], model, base)
    options = spec.estimation
    if args.overwrite and files["checkpoint"].exists():
        if not is_checkpoint(files["checkpoint"]):
            raise InputError(f"{files['checkpoint']} is not a vhtwin estimation checkpoint, so --overwrite leaves it "
                             "alone; move it away or choose another --out")
        files["checkpoint"].unlink()  # vhtwin's own checkpoint of an earlier run
    files["store"].parent.mkdir(parents=True, exist_ok=True)
    saem = None if options.saem is None else SaemSettings(**{**options.saem.model_dump(),
                                                            "kernels": tuple(options.saem.kernels)})
    try:
        fit = vh.estimate(model, data, population, method=options.method, fix=tuple(options.fix),
                          covariance=None if options.covariance == "none" else options.covariance,
                          max_iter=options.max_iter, gtol=options.gtol, saem=saem, checkpoint=files["checkpoint"])
    except KeyboardInterrupt:
        print(f"\nvhtwin: interrupted; continue with: vhtwin estimate {args.spec} --out {args.out} --resume")
        return 130
    write_fit(fit, files["store"], overwrite=args.overwrite, spec=spec.model_dump(mode="json"),
              data_sha256=hashlib.sha256(data_path.read_bytes()).hexdigest(),
              npde_simulations=options.npde_simulations)
    table = fit.table()
    table.to_csv(files["table"])
    for key in ("gof", "etas", "vpc"):
        files[key].parent.mkdir(parents=True, exist_ok=True)
    fit.plot_goodness_of_fit().savefig(files["gof"], dpi=120)
    fit.plot_etas().savefig(files["etas"], dpi=120)
    if args.vpc_replicates:
        fit.plot_vpc(args.vpc_replicates).savefig(files["vpc"], dpi=120)
    files["checkpoint"].unlink(missing_ok=True)  # the fit is stored: the checkpoint has served
    print(f"{options.method.upper()} fit of {model.name}: {fit.n_subjects} subjects, {fit.n_observations} "
          f"measurements; OFV {fit.ofv:.3f} (-2LL {fit.minus_2_log_likelihood:.3f}); converged {fit.converged} "
          f"({fit.message}); covariance step: {fit.covariance_status}")
    print(table.to_string(float_format=lambda v: f"{v:.4g}"))
    print(f"store: {files['store']}  table: {files['table']}  figures: {files['gof'].parent}")
    return 0
