"""A patient's record for one prior: levels, doses and covariates, whichever way they came in (a FHIR bundle, or
typed on the page), in the form :func:`vhtwin.calibrate` takes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..protocols import Dose, Regimen

#: The facts a record may give (``age`` years, ``sex`` 'male'/'female', ``weight`` kg, ``height`` cm,
#: ``creatinine`` mg/dL); covariates given by the model's own name (e.g. ``DIAL``) may be added.
FACTS = ("age", "sex", "weight", "height", "creatinine")


@dataclass
class Record:
    """A patient's record for one prior: what :func:`vhtwin.calibrate` needs, and nothing that identifies them.

    Attributes
    ----------
    data : DataFrame
        The drug levels: ``time`` (h from the first dose), ``value`` (the prior's level unit; NaN below the limit of
        quantification), ``lloq`` (the limit where reported, else NaN), ``observable``, ``unit``.
    regimen : Regimen
        The doses, in mg into the prior's dose state, at hours from the first dose.
    doses : DataFrame
        The same doses as a table: ``time`` (h), ``amount`` (mg), ``duration`` (h, 0 for a bolus).
    covariates : dict
        The prior's covariates (by the model's names), derived from the facts.
    facts : dict
        ``age`` (whole years at the first dose), ``sex``, ``weight`` (kg), ``height`` (cm), ``creatinine`` (mg/dL);
        None where the record has none.
    warnings : list of str
        Covariates outside the prior's source population, and what was skipped.
    """

    data: pd.DataFrame
    regimen: Regimen
    doses: pd.DataFrame
    covariates: dict
    facts: dict
    warnings: list[str] = field(default_factory=list)


def make_record(prior, levels, doses, facts: dict, warnings=()) -> Record:
    """A :class:`Record` from tables already in the prior's units.

    Parameters
    ----------
    prior : Prior
        The prior the record is for (its level observable and unit, dose state, route and covariates).
    levels : DataFrame or mapping
        ``time`` (h from the first dose), ``value`` (the prior's level unit; NaN below the limit of quantification)
        and optionally ``lloq`` (the limit where reported).
    doses : DataFrame or mapping
        ``time`` (h), ``amount`` (mg) and optionally ``duration`` (h of infusion; 0 or absent for a bolus or an
        oral dose).
    facts : dict
        The patient's facts (:data:`FACTS`, and covariates by the model's names).
    warnings : sequence of str
        Warnings found while reading the source; the prior's out-of-population warnings are added.

    Raises
    ------
    InputError
        Naming the table, the row and the field of the first value that cannot be used.
    """
    data = pd.DataFrame(levels).reset_index(drop=True)
    table = pd.DataFrame(doses).reset_index(drop=True)
    if "lloq" not in data:
        data["lloq"] = np.nan
    if "duration" not in table:
        table["duration"] = 0.0
    _check(data, "levels", {"time": "a time in hours", "value": "a level >= 0 (empty below the limit)"})
    _check(table, "doses", {"time": "a time in hours", "amount": "an amount > 0 mg",
                            "duration": "an infusion time >= 0 h"})
    if len(table) == 0:
        raise InputError("doses: none given; the levels are timed from the first dose")
    if len(data) == 0 or data["value"].notna().sum() + data["lloq"].notna().sum() == 0:
        raise InputError(f"levels: no level of {prior.drug} to calibrate on")
    for k, row in data.iterrows():
        if math.isnan(row["value"]) and not (row["lloq"] > 0):
            raise InputError(f"levels: row {k + 1}: value is empty but no limit of quantification (lloq) is given")
        if row["value"] < 0:
            raise InputError(f"levels: row {k + 1}: value {row['value']:g} must be >= 0 {prior.spec.level.unit}")
    for k, row in table.iterrows():
        if not row["amount"] > 0:
            raise InputError(f"doses: row {k + 1}: amount {row['amount']:g} must be > 0 mg")
        if not row["duration"] >= 0:
            raise InputError(f"doses: row {k + 1}: duration {row['duration']:g} must be >= 0 h")
    table = table[["time", "amount", "duration"]].astype(float)
    if prior.spec.route == "oral":
        table["duration"] = 0.0
    # times count from the first dose, whatever origin the source used
    start = float(table["time"].min())
    table["time"] -= start
    table = table.sort_values("time", kind="stable").reset_index(drop=True)
    data = data[["time", "value", "lloq"]].astype(float)
    data["time"] -= start
    data["observable"] = prior.spec.level.observable
    data["unit"] = prior.spec.level.unit
    data = data.sort_values("time", kind="stable").reset_index(drop=True)
    warnings = list(warnings)
    if (data["time"] < 0).any():
        warnings.append(f"{int((data['time'] < 0).sum())} level(s) before the first recorded dose were kept (time < 0)")
    regimen = Regimen(tuple(Dose(float(r.time), float(r.amount), prior.spec.dose_into, float(r.duration))
                            for r in table.itertuples()))
    facts = {**{k: None for k in FACTS}, **facts}
    covariates = prior.covariates(facts)
    warnings += prior.warnings(covariates, facts)
    return Record(data, regimen, table, covariates, facts, warnings)


def _check(table: pd.DataFrame, what: str, columns: dict) -> None:
    for name, meaning in columns.items():
        if name not in table:
            raise InputError(f"{what}: column {name!r} is missing ({meaning})")
        try:
            values = pd.to_numeric(table[name], errors="raise").astype(float)
        except (ValueError, TypeError):
            bad = next(v for v in table[name] if _not_number(v))
            raise InputError(f"{what}: {name} {str(bad)[:40]!r} is not a number; {name} is {meaning}") from None
        finite = np.isfinite(values) | (values.isna() & (name == "value"))
        if not finite.all():
            k = int(np.argmin(finite.to_numpy()))
            raise InputError(f"{what}: row {k + 1}: {name} {values.iloc[k]} is not finite; {name} is {meaning}")
        table[name] = values


def _not_number(v) -> bool:
    try:
        float(v)
        return False
    except (ValueError, TypeError):
        return True


def typical_record(prior) -> Record:
    """A made-up patient in the middle of the prior's source population: three doses of a middle dosing option and
    two levels. It has the shapes of a usual record (up to 16 doses and levels), so assessing it compiles the
    programs a real patient's assessment runs (``vhtwin serve --warm``); it is never shown or audited."""
    dosing, pop = prior.spec.dosing, prior.spec.source_population
    amount, interval = dosing.amounts[len(dosing.amounts) // 2], dosing.intervals[len(dosing.intervals) // 2]
    inside = lambda value, bounds: value if bounds is None else min(max(value, bounds[0]), bounds[1])
    facts = {"age": int(inside(60, pop.age)), "sex": "female", "weight": inside(70.0, pop.weight), "height": 170.0,
             "creatinine": 1.0}
    doses = {"time": [0.0, interval, 2 * interval], "amount": [amount] * 3, "duration": [dosing.duration] * 3}
    levels = {"time": [dosing.duration + 1.0, 3 * interval - 0.5], "value": [10.0, 5.0]}
    return make_record(prior, levels, doses, facts)


def warm_records(prior) -> list[Record]:
    """Made-up records that together compile what usual patients' assessments run (``vhtwin serve --warm``).

    The forecast's exact solution is compiled for a number of distinct step lengths between its output times and
    dose times (a bucket, :mod:`vhtwin.engine.buckets`): a record whose doses fall between the forecast's points
    (most) needs the larger bucket, one whose doses fall on them the smaller. :func:`typical_record` is the first
    kind; the second is one dose with the forecast's horizon chosen so that every dose of the continued regimen
    falls on its grid.
    """
    from .assess import FORECAST_POINTS

    first = typical_record(prior)
    dosing = prior.spec.dosing
    tau = float(dosing.intervals[0])
    steps = FORECAST_POINTS - 1
    per_interval = max(1, int(steps * tau // (tau + 48.0)))  # grid steps per interval, horizon >= tau + 48 h
    horizon = steps * tau / per_interval
    doses = {"time": [0.0], "amount": [dosing.amounts[len(dosing.amounts) // 2]], "duration": [dosing.duration]}
    levels = {"time": [dosing.duration + 1.0, horizon - 24.0], "value": [10.0, 2.0]}
    return [first, make_record(prior, levels, doses, dict(first.facts))]
