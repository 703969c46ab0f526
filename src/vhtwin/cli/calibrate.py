"""``vhtwin calibrate``: patient twins from a table of measurements, a population prior and a dosing protocol.

The data are a CSV with columns ``time``, ``value`` and optionally ``observable``, ``lloq``, ``id``; every other
column is a covariate (constant within a patient: body weight for mg/kg doses or a covariate model, ...). The prior
is a TOML file with a ``[population]`` table, in the format of a trial spec's population (``examples/README.md``);
the protocol a TOML file with ``doses`` (and optionally ``resets``) as in a trial arm. The twins are printed with
their 95 % intervals, and their forecast (data, posterior median and interval) is drawn, one panel per patient.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import read_toml

#: Columns of the data table that are not covariates.
DATA_COLUMNS = ("time", "value", "unit", "observable", "lloq", "id")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="calibrate patient twins to measurements (individual MAP with a population prior)",
        description=(
            "Calibrate one patient twin (or one per id) to measurements: the individual MAP estimate with the "
            "population as prior, its Laplace uncertainty, and a forecast. Data: CSV with time, value, unit (of the "
            "values: mass concentrations are converted) and optionally observable, lloq, id; other columns are covariates. Prior: TOML with a [population] table as in a trial "
            "spec. Protocol: TOML with doses (and resets) as in a trial arm."
        ),
    )
    p.add_argument("--model", required=True, metavar="NAME", help="library model name or path of a model .py file")
    p.add_argument("--data", required=True, metavar="CSV", help="the measurements")
    p.add_argument("--prior", required=True, metavar="TOML", help="the population prior ([population] table)")
    p.add_argument("--protocol", metavar="TOML", help="the dosing protocol (doses = [...]); default: no doses")
    p.add_argument("--out", metavar="PNG", help="forecast figure (default: <data stem>_forecast.png beside the data)")
    p.add_argument("--until", type=float, metavar="T", help="forecast up to this time (default: 1.25 x the last sample)")
    p.add_argument("--level", type=float, default=0.9, help="central probability of the forecast band (default 0.9)")
    p.set_defaults(run=run)


def read_prior(path: str, model):
    """The :class:`vhtwin.Population` of a prior TOML file (a ``[population]`` table, or its keys at top level)."""
    from ..trial.toml_spec import population_from_toml

    doc = read_toml(path, "--prior")
    table = doc["population"] if "population" in doc else doc
    return population_from_toml(table, model, Path(path).resolve().parent)


def read_protocol(path: str | None, model, covariate_names):
    """The :class:`vhtwin.Regimen` of a protocol TOML file (``doses``, ``resets`` as in a trial arm), or None."""
    from ..trial.toml_spec import protocol_from_toml

    if path is None:
        return None
    try:
        return protocol_from_toml(read_toml(path, "--protocol"), model, covariate_names)
    except InputError as err:
        raise InputError(f"--protocol {path!r}: {err}") from None


def read_data(path: str):
    """The measurements and the per-patient covariates (every other column) of a data CSV."""
    import pandas as pd

    from ..identifiers import refuse_identifiers
    from ..io import read_csv_table

    table = read_csv_table(path, "--data")
    refuse_identifiers(table.columns, f"--data {path!r}")
    names = [c for c in table.columns if c not in DATA_COLUMNS]
    data = table[[c for c in table.columns if c in DATA_COLUMNS]]
    if not names:
        return data, None
    key = table["id"] if "id" in table else pd.Series(0, index=table.index)
    covariates = {}
    for name in names:
        per = table.groupby(key, sort=True)[name]
        if (per.nunique(dropna=False) > 1).any():
            bad = per.nunique(dropna=False)
            first = bad[bad > 1].index[0]
            first = first.item() if hasattr(first, "item") else first
            raise InputError(f"--data {path!r}: covariate column {name!r} changes within patient id {first!r}; a "
                             "covariate column holds one value per patient")
        covariates[name] = per.first().to_numpy()
    if "id" not in table:
        covariates = {k: v[0] for k, v in covariates.items()}
    else:
        covariates = pd.DataFrame({"id": sorted(table["id"].unique()), **covariates})
    return data, covariates


def intervals(twin, z: float = 1.959963984540054) -> list[dict]:
    """Per patient and estimated parameter: the MAP value and the 95 % Laplace interval (mapped from the eta scale
    through the parameter's distribution, so a log-normal parameter's interval is asymmetric)."""
    eta = np.atleast_2d(twin.eta)
    sd = np.atleast_2d(twin.sd)
    k = eta.shape[1]
    bounds = {}
    for j, name in enumerate(twin.eta_names):
        for s in (-1.0, 1.0):
            moved = eta + s * z * sd[:, j:j + 1] * np.eye(k)[j]
            bounds[name, s] = twin._parameters(moved)[name]
    rows = []
    ids = np.atleast_1d(twin.ids)
    for b in range(eta.shape[0]):
        for name in twin.eta_names:
            pid = ids[b].item() if hasattr(ids[b], "item") else ids[b]
            rows.append({"id": pid, "parameter": name, "MAP": np.atleast_1d(twin.params[name])[b],
                         "95% low": bounds[name, -1.0][b], "95% high": bounds[name, 1.0][b],
                         "unit": twin.model.unit_of(name)})
    return rows


def forecast_figure(twin, data, times, level: float):
    """One panel per patient: the measurements, the posterior median and the central ``level`` band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = twin.predict(times, level=level)
    observable = data["observable"].iloc[0] if "observable" in data else twin.model.observable_names[0]
    ids = np.atleast_1d(twin.ids)
    n = ids.size
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False, sharex=True)
    unit = pred[observable].attrs.get("units", "")
    for b, ax in enumerate(axes.ravel()):
        if b >= n:
            ax.set_visible(False)
            continue
        sel = (lambda v: v.isel(patient=b)) if "patient" in pred.dims else (lambda v: v)
        ax.fill_between(times, sel(pred[f"{observable}_lower"]), sel(pred[f"{observable}_upper"]), alpha=0.3,
                        label=f"{level:.0%} interval")
        ax.plot(times, sel(pred[observable]), label="median")
        rows_b = data if "id" not in data else data[data["id"] == ids[b]]
        if "observable" in rows_b:
            rows_b = rows_b[rows_b["observable"] == observable]
        ax.plot(rows_b["time"], rows_b["value"], "o", color="k", ms=3, label="measured")
        ax.set_title(f"id {ids[b]}" if "id" in data else twin.model.name, fontsize=9)
        ax.set_xlabel(f"time [{twin.model.time_unit}]")
        ax.set_ylabel(f"{observable} [{unit}]")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(f"Patient twin forecasts: {twin.model.name}")
    fig.tight_layout()
    return fig


def run(args) -> int:
    import pandas as pd

    from ..calibration import calibrate
    from ..library import load_model

    model = load_model(args.model)
    prior = read_prior(args.prior, model)
    data, covariates = read_data(args.data)
    names = () if prior.covariates is None else prior.covariates.names
    names = tuple(names) + tuple(() if covariates is None else [c for c in covariates if c != "id"])
    protocol = read_protocol(args.protocol, model, names)
    if not 0 < args.level < 1:
        raise InputError(f"--level {args.level!r} must be between 0 and 1")
    twin = calibrate(model, data, prior=prior, protocol=protocol, covariates=covariates)
    print(repr(twin))
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(pd.DataFrame(intervals(twin)).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    last = float(np.nanmax(data["time"].to_numpy(float)))
    until = args.until if args.until is not None else 1.25 * last
    if not until > 0:
        raise InputError(f"--until {until!r} must be > 0")
    times = np.linspace(0.0, until, 241)
    fig = forecast_figure(twin, data, times, args.level)
    out = Path(args.out) if args.out else Path(args.data).with_name(Path(args.data).stem + "_forecast.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"figure: {out}")
    return 0
