"""The ``vhtwin`` command.

    vhtwin models [--describe NAME]       list the library models, or describe one
    vhtwin demo --out DIR [--n 1000]      simulate a virtual cohort on the two-compartment oral model
    vhtwin info STORE                     summarise a result store

Errors that vhtwin raises on purpose (bad input, unknown names) print ``vhtwin: error: <message>`` to stderr and
exit with status 2, without a traceback; a file-system error exits with status 1. ``python -m vhtwin`` is the same
command.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import VhtwinError

#: The demo cohort: typical values of the two-compartment oral model and the log-normal spread around them.
DEMO_MODEL = "pharmacokinetics/two_compartment_oral"
DEMO_TYPICAL = {"ka": 1.0, "CL": 5.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}
DEMO_OMEGA = 0.3  # standard deviation of log(parameter / typical), every parameter, independent
#: Tolerances per precision: float32 cannot resolve rtol 1e-8 (its epsilon is 1.2e-7).
DEMO_TOLERANCES = {"float64": (1e-8, 1e-10), "float32": (1e-5, 1e-7)}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vhtwin`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except VhtwinError as err:
        print(f"vhtwin: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"vhtwin: error: {err}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vhtwin", description="Virtual human twin simulation engine.")
    parser.add_argument("--version", action="version", version=f"vhtwin {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("models", help="list the library models", description="List the library models.")
    p.add_argument("--describe", metavar="NAME", help="print the states, parameters and observables of one model")
    p.set_defaults(run=_models)

    p = sub.add_parser(
        "demo",
        help="simulate a virtual cohort (two-compartment oral PK) and write a store and a figure",
        description=(
            f"Draw N virtual patients around the typical values {DEMO_TYPICAL} (log-normal, sd {DEMO_OMEGA} on the "
            "log scale), simulate 100 mg oral every 12 h x 14 doses with hourly outputs to 168 h, and write "
            "DIR/demo.zarr and DIR/demo_Cc.png."
        ),
    )
    p.add_argument("--out", metavar="DIR", default="out", help="output folder (default: out)")
    p.add_argument("--n", type=_positive_int, default=1000, help="number of patients (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the parameter draw (default: 0)")
    p.add_argument(
        "--precision", choices=("float64", "float32"), default=None,
        help="floating-point precision (default: float64 on CPU and GPU, float32 on TPU)",
    )
    p.set_defaults(run=_demo)

    p = sub.add_parser("info", help="summarise a result store", description="Print a store's variables and attributes.")
    p.add_argument("store", metavar="STORE", help="path of a .zarr store")
    p.set_defaults(run=_info)
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
    from . import __version__

    return __version__


# -- commands ----------------------------------------------------------------------------------------------------------
def _models(args) -> int:
    from .library import list_models, load_model

    if args.describe:
        print(load_model(args.describe).describe())
    else:
        print("\n".join(list_models()))
    return 0


def _demo(args) -> int:
    import jax

    import vhtwin as vh

    from . import io, plot

    out = Path(args.out)
    model = vh.load_model(DEMO_MODEL)
    precision = args.precision or vh.default_precision()
    rtol, atol = DEMO_TOLERANCES[precision]
    params = demo_parameters(args.n, args.seed)
    regimen = vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot")
    times = np.arange(169.0)

    start = time.perf_counter()
    ds = vh.simulate(model, params=params, times=times, protocol=regimen, rtol=rtol, atol=atol, precision=precision)
    wall = time.perf_counter() - start

    for q in model.parameters:  # the drawn ones; the rest (bioavailability, lag) at their defaults
        values = params.get(q.name, np.full(args.n, q.default))
        ds[q.name] = ("patient", values, {"units": q.unit, "long_name": q.description})
    ds.attrs.update(
        seed=args.seed,
        regimen="100 mg into depot every 12 h x 14 doses",
        variability=f"parameter = typical * exp(eta), eta ~ N(0, {DEMO_OMEGA}^2), independent per parameter",
        typical_values=[f"{k}={v:g} {model.unit_of(k)}" for k, v in DEMO_TYPICAL.items()],
    )
    out.mkdir(parents=True, exist_ok=True)
    store = io.write_zarr(ds, out / "demo.zarr", overwrite=True)
    figure = out / "demo_Cc.png"
    plot.time_course(ds, "Cc").savefig(figure, dpi=120)

    print(_summary(ds, wall, jax.default_backend(), rtol, atol))
    print(f"store:  {store}")
    print(f"figure: {figure}")
    return 0


def demo_parameters(n: int, seed: int) -> dict[str, np.ndarray]:
    """The demo cohort's parameters: ``typical * exp(N(0, 0.3**2))`` per parameter, drawn with ``default_rng(seed)``.

    The draws fill an ``(n, 5)`` array row by row (patient by patient, parameters in the order ka, CL, V1, Q, V2),
    so patient ``i``'s parameters depend on ``(seed, i)`` alone: a larger ``n`` adds patients, it never changes one.
    """
    eta = np.random.default_rng(seed).normal(0.0, DEMO_OMEGA, size=(n, len(DEMO_TYPICAL)))
    return {name: typical * np.exp(eta[:, j]) for j, (name, typical) in enumerate(DEMO_TYPICAL.items())}


def _summary(ds, wall: float, backend: str, rtol: float, atol: float) -> str:
    from .solvers import Status

    status = np.asarray(ds["status"].values)
    ok = status == 0
    failed = {Status(int(s)).name.lower(): int((status == s).sum()) for s in np.unique(status[~ok])}
    cmax = np.asarray(ds["Cc"].values)[ok].max(axis=1) if ok.any() else np.array([np.nan])
    p5, p50, p95 = np.percentile(cmax, [5, 50, 95])
    unit = ds["Cc"].attrs.get("units", "")
    lines = [
        f"model:     {ds.attrs['model']} ({ds.attrs['solver']}, {ds.attrs['precision']}, rtol {rtol:g}, atol {atol:g}, {backend})",
        f"patients:  {status.size} ({int(ok.sum())} succeeded)",
        "failures:  " + (", ".join(f"{k}: {v}" for k, v in failed.items()) if failed else "none"),
        f"Cmax:      median {p50:.3g} {unit} (5-95 %: {p5:.3g} to {p95:.3g})",
        f"wall time: {wall:.2f} s (including compilation)",
    ]
    return "\n".join(lines)


def _info(args) -> int:
    from . import io

    ds = io.open_zarr(args.store)
    print(ds)
    if "status" in ds:
        status = np.asarray(ds["status"].values)
        print(f"\nstatus: {int((status == 0).sum())} of {status.size} trajectories succeeded")
    print("\nattributes:")
    for key, value in ds.attrs.items():
        print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
