"""FHIR R4 in: a patient's drug levels, doses and covariates from a health-record export (a Bundle).

What is read, and nothing more:

* ``Patient``: ``gender`` and ``birthDate`` -- the age in whole years at the first dose is kept, the birth date is
  not. Names, identifiers, addresses and contacts are never read.
* ``Observation`` (status final, amended, corrected or preliminary), by LOINC code: the drug's levels (the prior's
  codes), body weight (29463-7, 3141-9), body height (8302-2, 8306-3) and serum creatinine (2160-0 mg/dL, 14682-9
  umol/L, 38483-4), each a ``valueQuantity`` with a UCUM unit, at ``effectiveDateTime`` (or the start of
  ``effectivePeriod``, or ``effectiveInstant``). A level reported as ``< x`` (``comparator``) is below the limit
  of quantification ``x``. The latest weight, height and creatinine are used.
* ``MedicationAdministration`` (status completed or in-progress) of the prior's drug (its name in the medication's
  text or display, inline or in a Medication resource of the bundle; other drugs are skipped): the doses given --
  ``dosage.dose`` (mg, g, ug), ``effectiveDateTime`` for a bolus or an oral dose, ``effectivePeriod`` (start and
  end) or ``dosage.rateQuantity`` for an infusion.
* ``MedicationRequest`` of the drug (status active or completed), when no administration is recorded: the regimen --
  ``dosageInstruction[0].timing.repeat`` (``boundsPeriod.start``, ``frequency`` per ``period`` ``periodUnit``,
  ``count``, ``duration`` of an infusion) and ``doseAndRate[0].doseQuantity`` -- expanded into doses up to the last
  level (or ``count`` doses).

Times become hours from the first dose. Anything that cannot be read -- a level without a value or a unit, a unit of
the wrong kind, a dose without a time -- is refused with one sentence naming the resource (its type, position and
id) and the field. Other resources (Encounter, Condition, ...) are skipped.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..units import conversion_factor
from .record import Record, make_record

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
WEIGHT = {"29463-7", "3141-9"}
HEIGHT = {"8302-2", "8306-3"}
CREATININE = {"2160-0", "14682-9", "38483-4"}
#: Largest bundle read (bytes): a patient's levels and doses are kilobytes; a bigger upload is not a record.
MAX_BYTES = 5_000_000

_MASS_MG = {"mg": 1.0, "g": 1000.0, "ug": 1e-3, "mcg": 1e-3}
_WEIGHT_KG = {"kg": 1.0, "g": 1e-3, "[lb_av]": 0.45359237}
_HEIGHT_CM = {"cm": 1.0, "m": 100.0, "[in_i]": 2.54}
_CREATININE_MG_DL = {"mg/dL": 1.0, "umol/L": 1.0 / 88.42, "mmol/L": 1000.0 / 88.42}
_RATE_MG_H = {"mg/h": 1.0, "mg/min": 60.0, "g/h": 1000.0}
_PERIOD_H = {"min": 1.0 / 60.0, "h": 1.0, "d": 24.0, "wk": 168.0}
_LEVEL_STATUS = {"final", "amended", "corrected", "preliminary"}


def read_bundle(source, prior) -> Record:
    """Read a FHIR R4 Bundle for ``prior`` (a :class:`vhtwin.clinic.Prior` or its name).

    ``source`` is a path, the JSON text or bytes, or the parsed dict. Raises :class:`InputError` on anything that
    cannot be read, naming the resource and the field, before any compute.
    """
    from .priors import Prior, prior as load_prior

    pr = prior if isinstance(prior, Prior) else load_prior(prior)
    doc = _json(source)
    bundle = _bundle(doc)
    facts = {"age": None, "sex": None, "weight": None, "height": None, "creatinine": None}
    levels, administrations, requests, warnings = [], [], [], []
    latest: dict[str, tuple[datetime, float]] = {}
    birth = None
    medications = _medications(bundle)
    for k, entry in enumerate(bundle.entry or []):
        res = entry.resource
        kind = type(res).__name__
        where = f"entry[{k}] {kind}" + (f" {res.id!r}" if getattr(res, "id", None) else "")
        if kind == "Patient":
            facts["sex"] = res.gender if res.gender in ("male", "female") else None
            birth = res.birthDate
        elif kind == "Observation":
            _observation(res, where, pr, levels, latest)
        elif kind == "MedicationAdministration" and _of_drug(res, pr, medications):
            dose = _administration(res, where, pr)
            if dose is not None:
                administrations.append(dose)
        elif kind == "MedicationRequest" and _of_drug(res, pr, medications):
            if res.status in ("active", "completed"):
                requests.append((res, where))
    for name, (_, value) in latest.items():
        facts[name] = value
    if not administrations and requests:
        last_level = max((t for t, *_ in levels), default=None)
        for res, where in requests:
            administrations += _request_doses(res, where, pr, last_level)
    if not administrations:
        raise InputError("bundle: no dose of the drug (MedicationAdministration or MedicationRequest) to time the "
                         "levels from")
    administrations.sort(key=lambda d: d[0])
    start = administrations[0][0]
    if birth is not None:
        facts["age"] = _age(birth, start)
    hours = lambda t: (t - start).total_seconds() / 3600.0
    doses = pd.DataFrame({"time": [hours(t) for t, *_ in administrations],
                          "amount": [a for _, a, _ in administrations],
                          "duration": [d for *_, d in administrations]})
    data = pd.DataFrame({"time": [hours(t) for t, *_ in levels], "value": [v for _, v, _ in levels],
                         "lloq": [q for *_, q in levels]})
    if len(data) == 0:
        raise InputError(f"bundle: no level of {pr.drug} (LOINC {', '.join(pr.spec.level.loinc)}) to calibrate on")
    return make_record(pr, data, doses, facts, warnings)


# -- reading -----------------------------------------------------------------------------------------------------------
def _json(source) -> dict:
    if isinstance(source, dict):
        return source
    if isinstance(source, (bytes, bytearray)):
        text = bytes(source)
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        text = source.encode()
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"bundle: {str(source)[:200]!r} is neither a file nor FHIR JSON")
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"bundle: {path} is {path.stat().st_size} bytes; at most {MAX_BYTES} are read")
        text = path.read_bytes()
    if len(text) > MAX_BYTES:
        raise InputError(f"bundle: {len(text)} bytes; at most {MAX_BYTES} are read")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"bundle: not JSON ({err})") from None
    if not isinstance(doc, dict):
        raise InputError("bundle: the JSON is not an object (a FHIR resource)")
    return doc


def _bundle(doc: dict):
    try:
        from fhir.resources.R4B.bundle import Bundle
    except ImportError:  # pragma: no cover - the extra is part of the test set-up
        raise InputError("reading FHIR needs the clinic extra: pip install 'vhtwin[clinic]'") from None
    from pydantic import ValidationError

    if doc.get("resourceType") != "Bundle":
        raise InputError(f"bundle: resourceType is {doc.get('resourceType')!r}; a FHIR Bundle is expected")
    try:
        return Bundle.model_validate(doc)
    except ValidationError as err:
        first = err.errors()[0]
        loc = list(first["loc"])
        where = "Bundle"
        if len(loc) >= 2 and loc[0] == "entry" and isinstance(loc[1], int):
            entries = doc.get("entry") or []
            res = entries[loc[1]].get("resource", {}) if loc[1] < len(entries) else {}
            where = f"entry[{loc[1]}] {res.get('resourceType', '?')}" + (f" {res['id']!r}" if "id" in res else "")
            loc = [x for x in loc[2:] if x != "resource"]
        field_ = ".".join(str(x) for x in loc) or "(the resource)"
        # the offending value is not repeated: it may be a name or an identifier
        raise InputError(f"bundle: {where}: field {field_}: {first['msg']}") from None


def _medications(bundle) -> dict[str, str]:
    """The Medication resources of the bundle: their names by the references that can point to them."""
    out = {}
    for entry in bundle.entry or []:
        res = entry.resource
        if type(res).__name__ == "Medication":
            name = _names(res.code)
            for key in filter(None, [entry.fullUrl, f"Medication/{res.id}" if res.id else None]):
                out[key] = name
    return out


def _names(codeable) -> str:
    if codeable is None:
        return ""
    return " ".join(filter(None, [codeable.text] + [c.display for c in (codeable.coding or [])])).lower()


def _of_drug(res, pr, medications: dict) -> bool:
    """Whether a MedicationAdministration or MedicationRequest is of the prior's drug (by the name of its
    medication, inline or a Medication resource of the bundle): a record lists every drug a patient had."""
    name = _names(res.medicationCodeableConcept)
    if res.medicationReference is not None and res.medicationReference.reference:
        name += " " + medications.get(res.medicationReference.reference, "")
    return pr.drug.lower() in name


def _loinc(codeable) -> set[str]:
    return {c.code for c in (getattr(codeable, "coding", None) or []) if c.system == LOINC and c.code}


def _when(res, where: str) -> datetime:
    t = getattr(res, "effectiveDateTime", None) or getattr(res, "effectiveInstant", None)
    period = getattr(res, "effectivePeriod", None)
    if t is None and period is not None:
        t = period.start
    if t is None:
        raise InputError(f"bundle: {where}: field effectiveDateTime (or effectivePeriod.start) is missing")
    return _aware(t, where)


def _aware(t, where: str) -> datetime:
    if isinstance(t, str):
        raise InputError(f"bundle: {where}: time {t!r} must be a dateTime")
    if not isinstance(t, datetime):  # a date alone: the time of day is unknown
        raise InputError(f"bundle: {where}: time {t!r} has no time of day; a drug level or dose needs one")
    if t.tzinfo is None:
        raise InputError(f"bundle: {where}: time {t.isoformat()} has no time zone; FHIR requires one with a time")
    return t.astimezone(timezone.utc)


def _quantity(q, where: str, table: dict, what: str) -> float:
    if q is None or q.value is None:
        raise InputError(f"bundle: {where}: field valueQuantity.value is missing ({what})")
    unit = q.code or q.unit
    if q.system not in (None, UCUM) or unit not in table:
        raise InputError(f"bundle: {where}: unit {unit!r} of {what} is not one of {sorted(table)} (UCUM)")
    value = float(q.value) * table[unit]
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"bundle: {where}: {what} {q.value} {unit} must be a positive number")
    return value


def _observation(res, where: str, pr, levels: list, latest: dict) -> None:
    codes = _loinc(res.code)
    if not codes or res.status not in _LEVEL_STATUS:
        return
    kinds = [("weight", WEIGHT, _WEIGHT_KG), ("height", HEIGHT, _HEIGHT_CM), ("creatinine", CREATININE, _CREATININE_MG_DL)]
    for name, known, table in kinds:
        if codes & known:
            t = _when(res, where)
            value = _quantity(res.valueQuantity, where, table, name)
            if name not in latest or t >= latest[name][0]:
                latest[name] = (t, value)
            return
    if not codes & set(pr.spec.level.loinc):
        return
    t = _when(res, where)
    q = res.valueQuantity
    if q is None or q.value is None:
        raise InputError(f"bundle: {where}: field valueQuantity.value is missing (a {pr.drug} level)")
    unit = q.code or q.unit
    factor = conversion_factor(str(unit), pr.spec.level.unit) if unit else None
    if factor is None:
        raise InputError(f"bundle: {where}: unit {unit!r} of a {pr.drug} level is not a mass concentration "
                         f"(e.g. mg/L, ug/mL, ng/mL)")
    value = float(q.value) * factor
    if not math.isfinite(value) or value < 0:
        raise InputError(f"bundle: {where}: level {q.value} {unit} must be a number >= 0")
    if q.comparator in ("<", "<="):
        levels.append((t, np.nan, value))
    elif q.comparator is None:
        levels.append((t, value, np.nan))
    else:
        raise InputError(f"bundle: {where}: a level reported as {q.comparator!r} {q.value} cannot be fitted; only "
                         f"'<' (below the limit of quantification) is read")


def _route_ok(route, pr, where: str) -> None:
    if route is None:
        return
    text = " ".join(filter(None, [route.text] + [c.display or c.code for c in (route.coding or [])])).lower()
    oral = any(w in text for w in ("oral", "mouth", "26643006"))
    intravenous = any(w in text for w in ("intravenous", "iv", "47625008"))
    if pr.spec.route == "oral" and intravenous and not oral:
        raise InputError(f"bundle: {where}: route {text!r} is intravenous; the prior {pr.name} models oral doses")
    if pr.spec.route != "oral" and oral and not intravenous:
        raise InputError(f"bundle: {where}: route {text!r} is oral; the prior {pr.name} models intravenous doses")


def _administration(res, where: str, pr):
    if res.status not in ("completed", "in-progress"):
        return None
    dosage = res.dosage
    if dosage is None or dosage.dose is None:
        raise InputError(f"bundle: {where}: field dosage.dose is missing")
    _route_ok(dosage.route, pr, where)
    amount = _quantity(dosage.dose, where, _MASS_MG, "the dose")
    start = _when(res, where)
    duration = 0.0
    period = res.effectivePeriod
    if period is not None and period.end is not None:
        duration = (_aware(period.end, where) - start).total_seconds() / 3600.0
        if duration < 0:
            raise InputError(f"bundle: {where}: effectivePeriod ends before it starts")
    elif dosage.rateQuantity is not None:
        duration = amount / _quantity(dosage.rateQuantity, where, _RATE_MG_H, "the infusion rate")
    if pr.spec.route == "oral":
        duration = 0.0
    return start, amount, duration


def _request_doses(res, where: str, pr, last_level) -> list:
    if not res.dosageInstruction:
        raise InputError(f"bundle: {where}: field dosageInstruction is missing")
    di = res.dosageInstruction[0]
    _route_ok(di.route, pr, where)
    if not di.doseAndRate or di.doseAndRate[0].doseQuantity is None:
        raise InputError(f"bundle: {where}: field dosageInstruction[0].doseAndRate[0].doseQuantity is missing")
    amount = _quantity(di.doseAndRate[0].doseQuantity, where, _MASS_MG, "the dose")
    rep = di.timing.repeat if di.timing is not None else None
    if rep is None or rep.boundsPeriod is None or rep.boundsPeriod.start is None:
        raise InputError(f"bundle: {where}: field dosageInstruction[0].timing.repeat.boundsPeriod.start is missing")
    if not rep.period or rep.periodUnit not in _PERIOD_H:
        raise InputError(f"bundle: {where}: field dosageInstruction[0].timing.repeat.period/periodUnit must give the "
                         f"interval in {sorted(_PERIOD_H)}")
    interval = float(rep.period) * _PERIOD_H[rep.periodUnit] / float(rep.frequency or 1)
    duration = 0.0
    if rep.duration and pr.spec.route != "oral":
        if rep.durationUnit not in _PERIOD_H:
            raise InputError(f"bundle: {where}: durationUnit {rep.durationUnit!r} is not one of {sorted(_PERIOD_H)}")
        duration = float(rep.duration) * _PERIOD_H[rep.durationUnit]
    start = _aware(rep.boundsPeriod.start, where)
    if rep.count:
        n = int(rep.count)
    elif last_level is not None:
        n = int(np.floor((last_level - start).total_seconds() / 3600.0 / interval)) + 1
    else:
        n = 1
    return [(start + timedelta(hours=k * interval), amount, duration) for k in range(max(n, 1))]


def _age(birth, at: datetime) -> int:
    if not isinstance(birth, date):
        raise InputError(f"bundle: Patient: birthDate {birth!r} is not a date")
    day = at.date()
    years = day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
    if years < 0 or years > 130:
        raise InputError(f"bundle: Patient: birthDate gives an age of {years} years at the first dose")
    return years
