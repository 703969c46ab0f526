"""The ``vhtwin`` command.

    vhtwin run [SPEC.toml] [--out STORE] [--resume | --overwrite] [--take-over] [--batch-size N]
               [--stored-precision float64|float32]
               [--executor local|dask] [--scheduler ADDRESS] [--n-per-arm N] [--target C] [--figures DIR]
                                          run an in-silico trial (default spec: two arms, 10,000 patients),
                                          print a summary table per arm and write the figures
    vhtwin info STORE                     a trial store's spec, progress, failures and provenance (or any store)
    vhtwin verify STORE [--quick]         read a trial store whole: complete (exit 0), incomplete (1) or damaged (2)
    vhtwin export STORE [--format csv|parquet] [--out FILE] [--table long|patients]
                                          a trial's results as a table, streamed batch by batch
    vhtwin plot STORE [--out DIR]         percentile bands per arm and NCA distributions (PNG or SVG)
    vhtwin models [--describe NAME]       list the library models, or describe one
    vhtwin simulate MODEL --times START:STOP:N [--param NAME=VALUE] [--initial NAME=VALUE]
                    [--bolus AMOUNT:STATE[@TIME]] [--out FILE.csv|FILE.zarr]
                                          one patient of a library model, a .py model or an SBML file
    vhtwin import MODEL.xml --out MODEL.py
                                          an SBML file written as a readable model module
    vhtwin calibrate --model NAME --data OBS.csv --prior PRIOR.toml [--protocol REGIMEN.toml] [--out FIG.png]
                                          calibrate patient twins to measurements, print them, plot their forecasts
    vhtwin serve [--host 127.0.0.1] [--port 8000] [--audit-dir DIR]
                                          the clinician's twin as a local JSON API (FHIR bundles in), audited

Ctrl-C stops a run within a second, with every written batch whole, and prints the command that resumes it
(exit status 130). Every error prints one line, ``vhtwin: error: <message>``, to stderr and exits with status 2, without a traceback
(``vhtwin --debug COMMAND ...`` shows it); a trial stopped by its failure threshold exits with status 3.
``python -m vhtwin`` is the same command.

The commands live in :mod:`.trial` (run, info, plot) and :mod:`.calibrate`; this module parses and dispatches.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Sequence

from ..cpu import use_cpu_cores
from ..errors import TrialError, VhtwinError
from ..interrupt import Stop

__all__ = ["main", "summary_table", "trial_info", "write_figures"]


def __getattr__(name: str):
    if name in ("summary_table", "trial_info", "write_figures"):
        from . import trial

        return getattr(trial, name)
    raise AttributeError(f"module 'vhtwin.cli' has no attribute {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vhtwin`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    # Ctrl-C from the first moment is recorded, not raised: a KeyboardInterrupt raised while the commands' libraries
    # load could land where a library swallows it. The commands (and numpy, pandas, JAX) load after this.
    early = Stop()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda signum, frame: early.requested.set())
    try:
        parser = _parser()
        argv = list(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(argv)
        args.argv = [a for a in argv if a != "--debug"]
        args.stop = early
        if early.requested.is_set():
            print("\nvhtwin: interrupted", file=sys.stderr)
            return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)  # each command handles Ctrl-C its own way (run: run_stoppable)
    # The command line splits batches over every core (JAX_NUM_CPU_DEVICES, when set, decides how many).
    use_cpu_cores()
    try:
        return args.run(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("\nvhtwin: interrupted", file=sys.stderr)
        return 130
    except TrialError as err:
        if args.debug:
            raise
        print(f"vhtwin: trial stopped: {err}", file=sys.stderr)
        return 3
    except (VhtwinError, OSError) as err:
        if args.debug:
            raise
        print(f"vhtwin: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except Exception as err:  # not raised on purpose: a defect, said in one line; --debug shows where
        if args.debug:
            raise
        print(f"vhtwin: error: {type(err).__name__}: {_one_line(err)} (an unexpected error: rerun with "
              "vhtwin --debug to see where it happened, and report it)", file=sys.stderr)
        return 2


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line (what is wrong and where to look), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    from .calibrate import add_parser as _add_calibrate
    from .convert import add_parser as _add_import
    from .estimate import add_parser as _add_estimate
    from .serve import add_parser as _add_serve
    from .simulate import add_parser as _add_simulate
    from .trial import _export, _info, _plot, _run, _verify

    parser = _Parser(prog="vhtwin", description="Virtual human twin simulation engine.")
    parser.add_argument("--version", action="version", version=f"vhtwin {_version()}")
    parser.add_argument("--debug", action="store_true", help="on an error, show its traceback")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "run", help="run an in-silico trial from a TOML spec (default: the built-in two-arm trial)",
        description=(
            "Run an in-silico trial into a Zarr store, print a summary table per arm (failures, Cmax, trough, AUC, "
            "target attainment) and write the figures. Without SPEC: the built-in default trial (two oral regimens, "
            "5,000 virtual patients per arm, two-compartment model). The TOML format: examples/README.md."
        ),
    )
    p.add_argument("spec", metavar="SPEC", nargs="?", help="trial spec (TOML); default: the built-in trial")
    p.add_argument("--out", metavar="STORE", default="out/trial.zarr", help="the Zarr store (default: out/trial.zarr)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="finish an interrupted run of the same spec")
    group.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument("--take-over", action="store_true",
                   help="take over the stale writer lock of a run that was killed (or ran on another host)")
    p.add_argument("--batch-size", type=_positive_int, default=1000, help="patients per batch (default: 1000)")
    p.add_argument("--stored-precision", choices=("float64", "float32"),
                   help="precision of the stored outputs (default: the solve's); float32 halves the store")
    p.add_argument("--executor", choices=("local", "dask"), default="local", help="where batches run (default: local)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler address (default: start a local cluster)")
    p.add_argument("--insecure-scheduler", action="store_true",
                   help="accept a scheduler on another machine over plain TCP (default: only tls:// or this machine)")
    p.add_argument("--n-per-arm", type=_positive_int, help="override the spec's number of patients per arm")
    p.add_argument("--target", type=float, metavar="C",
                   help="report the fraction of patients whose last-time value (the trough) is >= C")
    p.add_argument("--figures", metavar="DIR", help="folder for the figures (default: beside the store)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=_run)

    p = sub.add_parser("info", help="summarise a store: spec, progress, failures, provenance",
                       description="Print a store's spec, progress, failures per arm and provenance.")
    p.add_argument("store", metavar="STORE", help="path of a .zarr store")
    p.set_defaults(run=_info)

    p = sub.add_parser("verify", help="read a trial store whole and report it complete, incomplete or damaged",
                       description="Read every chunk of a trial store and check it against its checksum; report "
                                   "the store complete (exit status 0), incomplete -- batches not done (1) -- or "
                                   "damaged -- chunks missing, truncated or altered, each named (2). Resuming the "
                                   "run computes damaged batches again.")
    p.add_argument("store", metavar="STORE", help="a trial store")
    p.add_argument("--quick", action="store_true", help="only check that each chunk file exists (no reading)")
    p.set_defaults(run=_verify)

    p = sub.add_parser("export", help="a trial store's results as a CSV or Parquet table (long format, units in the header)",
                       description="Write a trial store's results, batch by batch in bounded memory: one row per arm, "
                                   "patient and time (--table long: the outputs and status) or one row per patient "
                                   "(--table patients: parameters, etas, covariates, status). Column names carry the "
                                   "units, e.g. 'Cc [mg L-1]'. Patients not computed yet are left out.")
    p.add_argument("store", metavar="STORE", help="a trial store")
    p.add_argument("--format", choices=("csv", "parquet"), help="file format (default: from --out, else csv)")
    p.add_argument("--out", metavar="FILE", help="the file (default: beside the store, STORE_STEM.csv or .parquet)")
    p.add_argument("--table", choices=("long", "patients"), default="long", help="table layout (default: long)")
    p.add_argument("--overwrite", action="store_true", help="replace the file if it exists")
    p.set_defaults(run=_export)

    p = sub.add_parser("plot", help="percentile bands per arm and NCA distributions of a trial store",
                       description="Write the percentile bands of one output per arm (a VPC-style figure, with "
                                   "observed data overlaid when given) and the NCA distributions per arm.")
    p.add_argument("store", metavar="STORE", help="a trial store")
    p.add_argument("--out", metavar="DIR", help="folder for the figures (default: beside the store)")
    p.add_argument("--variable", help="the output to plot (default: the first output of the spec)")
    p.add_argument("--format", choices=("png", "svg"), default="png", help="figure format (default: png)")
    p.add_argument("--observed", metavar="CSV", help="observed data to overlay: columns time and the variable (and id)")
    p.add_argument("--log", action="store_true", help="logarithmic concentration axis")
    p.set_defaults(run=_plot)

    p = sub.add_parser("models", help="list the library models", description="List the library models.")
    p.add_argument("--describe", metavar="NAME", help="print the states, parameters and observables of one model")
    p.set_defaults(run=_models)

    p = sub.add_parser("schema", help="print the JSON Schema of a spec file (for editors: completion and checks)",
                       description="Print the JSON Schema of a spec file: trial (vhtwin run), prior and protocol "
                                   "(vhtwin calibrate), estimate (vhtwin estimate). An editor given the schema completes and checks the keys.")
    p.add_argument("kind", choices=("trial", "prior", "protocol", "estimate"), help="which spec file")
    p.set_defaults(run=_schema)

    _add_calibrate(sub)
    _add_estimate(sub)
    _add_serve(sub)
    _add_import(sub)
    _add_simulate(sub)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _version() -> str:
    from .. import __version__

    return __version__


def _schema(args) -> int:
    import json

    from ..trial.spec_schema import json_schema

    print(json.dumps(json_schema(args.kind), indent=2))
    return 0


def _models(args) -> int:
    from ..library import list_models, load_model

    if args.describe:
        print(load_model(args.describe).describe())
    else:
        print("\n".join(list_models()))
    return 0
