"""Read a NONMEM-style dataset (a CSV file or a pandas DataFrame) into a :class:`vhtwin.Dataset`.

:func:`read_dataset` (also :func:`read_events`, the same reader) takes a table with the columns ID, TIME, AMT, RATE,
DUR, CMT, II, ADDL, SS, EVID, DV, MDV, DVID, CENS, LIMIT (names are case-insensitive; every column but ID and TIME
is optional) and any further numeric columns, which are covariates. It returns the IDs in order of first
appearance, one :class:`vhtwin.Regimen` per ID, each ID's observation times, its records and its covariates --
ready for ``vh.simulate(model, params, data=ds)`` (a prediction at every record), ``ds.simulate(model, params)``
(outputs at the observation times) or estimation.

Semantics (those of NONMEM, as mrgsolve and rxode2 implement them):

* ``EVID`` 0 is an observation: its TIME becomes an output time of that ID, its DV the measured value (``MDV`` 1 or
  a missing DV: no measured value). An observation must not carry an AMT. ``EVID`` 1 is a dose. ``EVID`` 2
  ("other-type event"; in NONMEM it forces a solver restart) is accepted and has no effect here: it neither doses
  nor adds an output time (``vh.simulate(..., data=ds)`` still predicts at it). ``EVID`` 3 is a reset: every state
  returns to its initial value and infusions in progress stop. ``EVID`` 4 is a reset followed by the record's
  dose. A missing ``EVID`` column (or a blank entry) means 1 where AMT > 0, else 0.
* A dose is a bolus when RATE == 0 and DUR == 0; a zero-order infusion of AMT at RATE (> 0), i.e. over AMT/RATE,
  or over DUR (> 0). Giving both RATE > 0 and DUR > 0 is refused (ambiguous). An infusion whose duration would be 0
  (RATE > 0 with AMT == 0) is refused; a bolus of AMT == 0 is accepted and does nothing. RATE = -1 takes the
  infusion rate, RATE = -2 its duration, from the target state's ``rate`` / ``duration`` parameter (NONMEM's R and
  D; :class:`vhtwin.State`); the record is refused if the model declares none.
* ``SS`` = 1 (with II > 0) is a steady-state dose: at TIME the system is reset to the steady state that the dose
  repeated every II has built up, then the dose is given (:mod:`vhtwin.protocols.steady_state`; bioavailability, lag,
  infusions longer than II and modelled rates all count). An output at that TIME is the pre-dose steady state when
  the dose opens the record set. ``SS`` = 2 (add to the current state) and a steady-state constant infusion
  (SS = 1 with II = 0) are refused as not supported yet.
* ``ADDL`` > 0 adds that many further doses every ``II`` after the record (ADDL > 0 needs II > 0); II without ADDL
  or SS is ignored. Infusions repeated this way may overlap; the rates then add.
* ``CMT`` is the 1-based number of the target state in the model's declaration order of *all* states (the NONMEM
  compartment number), or a state name. ``compartments={1: "depot", 2: "central"}`` replaces that numbering: only
  the numbers it lists are then valid. A dose needs a dosable target; when CMT is missing (blank, "." or 0) the
  model's only dosable state is used if it has exactly one. An EVID 3 record needs no CMT.
* ``DVID`` (optional) says which observable an observation measures: 1 for the model's first observable, 2 for the
  second...; without it every observation measures the first. ``CENS`` 1 marks a DV below the limit of
  quantification (``LIMIT``, or DV itself, is the limit), as in nlmixr2 and Monolix.
* Bioavailability (F) and absorption lag (ALAG) are the model's parameters (:class:`vhtwin.State`
  ``bioavailability=`` and ``lag=``), applied when the records are simulated: write AMT as given, TIME as the dose
  was given.
* An output at a dose time is the value just *before* the dose (:func:`vhtwin.simulate`'s left-limit rule),
  whatever the order of the observation and dose records at that time.
* Any other column whose entries are all numbers (or missing) is a covariate. Within an ID a covariate may change
  from record to record: its value at a time is the last one given at or before it (last observation carried
  forward); missing entries before an ID's first value take that first value. Columns with text are ignored (a
  name or a record number is never carried into vhtwin's results).
* Duplicate observation times within an ID are kept once in ``observation_times`` (each row strictly increasing,
  as ``simulate`` needs); ``Dataset.observation_rows`` says which records share an output time.

Records must be sorted by TIME within an ID and each ID must form one contiguous block (NONMEM treats a repeated ID
after another ID as a new individual; that is refused here). Blank, NaN and ``"."`` entries mean "absent" (0 for
AMT, RATE, DUR, II, ADDL, SS). Every error is an :class:`InputError` that names the record -- its 1-based row in the
file, header excluded (the position in a DataFrame) -- its ID and the column.

Examples
--------
>>> ds = vh.read_dataset("study.csv", model)
>>> pred = vh.simulate(model, {"CL": 5.0, "V": 50.0}, data=ds)       # (patient, record)
>>> vh.write_dataset(pred, "predictions.csv")
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

import pandas as pd

from ..errors import InputError
from ..identifiers import refuse_identifiers
from ..limits import MAX_DOSES
from ..model import Model
from ..protocols.dosing import Dose, Regimen, Reset
from .dataset import Dataset

__all__ = ["read_dataset", "read_events"]

_NUMERIC = ("time", "amt", "rate", "dur", "ii", "addl", "ss", "evid", "dv", "mdv", "dvid", "cens", "limit")
_KNOWN = ("id", "time", "amt", "rate", "dur", "cmt", "ii", "addl", "ss", "evid", "dv", "mdv", "dvid", "cens", "limit")


def read_dataset(path_or_frame, model: Model, *, compartments: Mapping[int, str] | None = None,
                 allow_identifiers: bool = False) -> Dataset:
    """Read a NONMEM-style dataset into a :class:`vhtwin.Dataset` (see the module docstring for the semantics).

    Parameters
    ----------
    path_or_frame : str, os.PathLike or pandas.DataFrame
        A CSV file with a header row, or a DataFrame. Column names are case-insensitive.
    model : Model
        The model whose states CMT refers to and whose observables DVID numbers.
    compartments : dict, optional
        ``{number: state name}`` replacing the default CMT numbering (declaration order of the model's states).
    allow_identifiers : bool
        Read columns whose names say they are direct identifiers (a name, MRN, date of birth, address, a calendar
        date, free text: :mod:`vhtwin.identifiers`); numeric ones then become covariates. By default such a
        column is refused.

    Returns
    -------
    Dataset

    Raises
    ------
    InputError
        Before any compute, naming the record's row, its ID and the column: a missing ID/TIME column, a
        non-numeric or negative value, an unknown or non-dosable compartment, ADDL without II, records out of time
        order within an ID, an infusion of zero duration, a modelled rate or duration the model does not declare,
        SS = 1 without II, a DVID the model has no observable for, and features not supported yet (SS = 2, a
        steady-state constant infusion); an empty table.
    """
    if not isinstance(model, Model):
        raise InputError(f"model must be a vhtwin.Model instance, got {type(model).__name__}")
    frame = _frame(path_or_frame)
    if not allow_identifiers:
        refuse_identifiers(frame.columns, "dataset", "read_dataset(..., allow_identifiers=True)")
    columns: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for name in frame.columns:
        key = str(name).strip().lower()
        if key in _KNOWN:
            if key in columns:
                raise InputError(f"event records: column {key.upper()} appears more than once (names are case-insensitive)")
            columns[key] = frame[name].tolist()
        else:
            label = str(name).strip()
            if label.upper() in (o.upper() for o in others):
                raise InputError(f"event records: column {label!r} appears more than once (names are case-insensitive)")
            others[label] = frame[name]
    for required in ("id", "time"):
        if required not in columns:
            raise InputError(f"event records: required column {required.upper()} is missing; the columns are {list(map(str, frame.columns))}")
    if len(frame) == 0:
        raise InputError("event records: the table has no records (only a header); give at least one record")

    cmt_map = _compartment_map(model, compartments)
    dosable = model.dosable_states
    n_observables = len(model.observed)
    n_rows = len(frame)
    ids: list = []
    regimens: dict[Any, list[Dose]] = {}
    resets: dict[Any, list[Reset]] = {}
    observations: dict[Any, dict[float, list[int]]] = {}
    last_time: dict[Any, float] = {}
    current = None
    table = {k: np.zeros(n_rows) for k in ("TIME", "EVID", "AMT", "RATE", "DUR", "II", "ADDL", "SS", "MDV", "DVID", "CENS")}
    table["DV"] = np.full(n_rows, np.nan)
    table["LIMIT"] = np.full(n_rows, np.nan)
    subject = np.zeros(n_rows, np.int64)

    for r in range(n_rows):
        row = r + 1
        raw_id = columns["id"][r]
        pid = _parse_id(raw_id, row)
        where = f"record {row} (ID {pid})"
        v = {k: _number(columns[k][r], k, where) if k in columns else None for k in _NUMERIC}
        time = v["time"]
        if time is None:
            raise InputError(f"{where}: TIME is missing")
        amt = v["amt"] or 0.0
        rate, dur, ii, ss = (v[k] or 0.0 for k in ("rate", "dur", "ii", "ss"))
        addl = v["addl"] or 0.0
        evid = v["evid"] if v["evid"] is not None else (1.0 if amt > 0 else 0.0)

        # ID blocks and time order
        if pid != current:
            if pid in regimens:
                raise InputError(
                    f"{where}: ID {pid} appears again after other IDs; the records of one ID must be contiguous "
                    "(sort by ID, then TIME)"
                )
            ids.append(pid)
            regimens[pid], resets[pid], observations[pid], current = [], [], {}, pid
        elif time < last_time[pid]:
            raise InputError(f"{where}: TIME {time:g} is before the previous record's TIME {last_time[pid]:g}; sort the records of each ID by TIME")
        last_time[pid] = time
        subject[r] = len(ids) - 1

        if evid not in (0.0, 1.0, 2.0, 3.0, 4.0):
            raise InputError(f"{where}: EVID {evid:g} is not a valid event type (0 observation, 1 dose, 2 other, 3 reset, 4 reset and dose)")
        if ss not in (0.0, 1.0, 2.0):
            raise InputError(f"{where}: SS {ss:g} is not valid (0 none, 1 steady state)")
        if ss == 2:
            raise InputError(f"{where}: SS 2 (steady state added to the current state) is not supported yet; use SS 1")

        if amt < 0:
            raise InputError(f"{where}: AMT {amt:g} must be >= 0")
        dv, mdv = v["dv"], v["mdv"]
        if mdv is not None and mdv not in (0.0, 1.0):
            raise InputError(f"{where}: MDV {mdv:g} must be 0 (DV is a measurement) or 1 (no measurement)")
        dvid = v["dvid"] if v["dvid"] is not None else 1.0
        if evid == 0 and (dvid != int(dvid) or not 1 <= dvid <= max(n_observables, 1)):
            allowed = f"1 to {n_observables}" if n_observables else "1 (the model has no observables)"
            raise InputError(f"{where}: DVID {dvid:g} names no observable of {model.name}; allowed: {allowed} "
                             f"({list(model.observable_names)})")
        cens = v["cens"] or 0.0
        if cens not in (0.0, 1.0):
            raise InputError(f"{where}: CENS {cens:g} must be 0 (quantified) or 1 (below the limit of quantification)")
        table["TIME"][r], table["EVID"][r], table["AMT"][r] = time, evid, amt
        table["RATE"][r], table["DUR"][r], table["II"][r], table["ADDL"][r], table["SS"][r] = rate, dur, ii, addl, ss
        table["DVID"][r], table["CENS"][r] = dvid, cens
        table["LIMIT"][r] = np.nan if v["limit"] is None else v["limit"]
        if evid == 0:
            if amt != 0:
                raise InputError(f"{where}: an observation record (EVID 0) cannot carry AMT {amt:g}; use EVID 1 for a dose")
            measured = dv is not None and mdv != 1.0
            table["DV"][r] = dv if measured else np.nan
            table["MDV"][r] = 0.0 if measured else 1.0
            observations[pid].setdefault(time, []).append(row)
            continue
        table["MDV"][r] = 1.0
        if evid == 2:
            continue  # other-type event: no effect here (NONMEM restarts its solver at it)
        if evid in (3.0, 4.0):
            resets[pid].append(Reset(time))
            if evid == 3:
                continue

        # dose (EVID 1, or the dose of EVID 4)
        modelled = {-1.0: "rate", -2.0: "duration"}.get(rate)
        if rate < 0 and modelled is None:
            raise InputError(f"{where}: RATE {rate:g} must be >= 0, or -1 (rate from the model) or -2 (duration from the model)")
        if dur < 0:
            raise InputError(f"{where}: DUR {dur:g} must be >= 0 (0 for a bolus or RATE)")
        if rate > 0 and dur > 0:
            raise InputError(f"{where}: RATE {rate:g} and DUR {dur:g} are both given; give one of them for an infusion")
        if modelled and dur > 0:
            raise InputError(f"{where}: RATE {rate:g} leaves the infusion's {modelled} to the model; DUR {dur:g} must then be 0")
        if rate > 0:
            duration = amt / rate
            if duration == 0:
                raise InputError(f"{where}: RATE {rate:g} with AMT 0 is an infusion of zero duration; use RATE 0 for no dose")
        else:
            duration = dur
        if ii < 0:
            raise InputError(f"{where}: II {ii:g} must be >= 0")
        if addl < 0 or addl != int(addl):
            raise InputError(f"{where}: ADDL {addl:g} must be a whole number >= 0")
        if addl > MAX_ADDL:
            raise InputError(f"{where}: ADDL {addl:g} is more additional doses than vhtwin expands (at most {MAX_ADDL})")
        if addl > 0 and ii <= 0:
            raise InputError(f"{where}: ADDL {addl:g} needs an interval II > 0 (II is {ii:g})")
        if ss == 1 and ii <= 0:
            raise InputError(
                f"{where}: SS 1 needs an interval II > 0 (II is {ii:g}); a steady-state constant infusion (II 0) "
                "is not supported yet"
            )
        into = _target(columns["cmt"][r] if "cmt" in columns else None, cmt_map, model, dosable, where)
        if modelled and modelled not in model.modelled_infusions().get(into, {}):
            raise InputError(
                f"{where}: RATE {rate:g} takes the infusion {modelled} from the model, but state {into!r} of "
                f"{model.name} declares no {modelled} parameter (State({into!r}, ..., {modelled}=\"<parameter>\"))"
            )
        for k in range(int(addl) + 1):
            regimens[pid].append(Dose(time + k * ii, amt, into, duration, ss_interval=ii if (ss == 1 and k == 0) else 0.0,
                                      modelled=modelled))

    max_obs = max((len(o) for o in observations.values()), default=0)
    obs_times = np.full((len(ids), max_obs), np.nan)
    obs_rows = []
    for i, pid in enumerate(ids):
        ts = sorted(observations[pid])
        obs_times[i, : len(ts)] = ts
        obs_rows.append([observations[pid][t] for t in ts])
    records = pd.DataFrame({"ID": [ids[i] for i in subject], **table})
    if "cmt" in columns:
        records.insert(4, "CMT", [None if _missing(c) else (c.strip() if isinstance(c, str) else c) for c in columns["cmt"]])
    covariates, text = _covariates(others, subject, ids)
    for name, values in covariates.items():
        records[name] = values
    records["ROW"] = np.arange(1, n_rows + 1)
    return Dataset(
        ids=np.asarray(ids),
        regimens=[Regimen(tuple(regimens[pid]), tuple(resets[pid])) for pid in ids],
        observation_times=obs_times,
        observation_rows=obs_rows,
        records=records,
        covariate_names=tuple(covariates),
        text_columns=tuple(text),
        model_name=model.name,
    )


#: Most additional doses one record may expand into (ADDL): a typing error such as 1e9 is refused, not expanded.
MAX_ADDL = MAX_DOSES

read_events = read_dataset  # the reader of earlier versions: one reader, one type


def _frame(path_or_frame):
    if isinstance(path_or_frame, pd.DataFrame):
        return path_or_frame
    if isinstance(path_or_frame, (str, os.PathLike)):
        try:
            return pd.read_csv(path_or_frame, dtype=str, keep_default_na=False, skipinitialspace=True)
        except FileNotFoundError:
            raise InputError(f"event records: no such file {os.fspath(path_or_frame)!r}") from None
        except pd.errors.EmptyDataError:
            raise InputError(f"event records: file {os.fspath(path_or_frame)!r} is empty (no header, no records)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise InputError(f"event records: file {os.fspath(path_or_frame)!r} is not a readable CSV table ({err})") from None
    raise InputError(f"event records must be a CSV path or a pandas DataFrame, got {type(path_or_frame).__name__}")


def _covariates(others: dict, subject: np.ndarray, ids: list) -> tuple[dict[str, np.ndarray], list[str]]:
    """Numeric extra columns as covariates per record (LOCF within an ID, first value back-filled); the names of
    the columns with text (ignored)."""
    covariates, text = {}, []
    for name, column in others.items():
        raw = column.astype(object)
        blank = raw.map(_missing).to_numpy(bool)
        values = pd.to_numeric(raw.where(~blank, None), errors="coerce").to_numpy(float)
        if np.any(np.isnan(values) & ~blank) or np.any(np.isinf(values)):
            text.append(name)
            continue
        covariates[name] = carried_forward(values, subject)
    return covariates, text


def carried_forward(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Missing (NaN) entries filled with the last value before them in the same group (contiguous groups), and
    those before a group's first value with that first value. Vectorised: no loop over groups."""
    n = values.shape[0]
    index = np.arange(n)
    valid = ~np.isnan(values)
    last = np.maximum.accumulate(np.where(valid, index, -1))
    forward = np.where((last >= 0) & (group[np.maximum(last, 0)] == group), values[np.maximum(last, 0)], np.nan)
    nxt = np.minimum.accumulate(np.where(valid, index, n)[::-1])[::-1]
    backward = np.where((nxt < n) & (group[np.minimum(nxt, n - 1)] == group), values[np.minimum(nxt, n - 1)], np.nan)
    return np.where(np.isnan(forward), backward, forward)


# -- parsing helpers ---------------------------------------------------------------------------------------------------
def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() in ("", ".")
    try:
        return bool(isinstance(value, (float, np.floating)) and math.isnan(value))
    except TypeError:
        return False


def _number(value, column: str, where: str) -> float | None:
    """A finite float, or None when absent; InputError on anything else."""
    if _missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{where}: {column.upper()} {value!r} is not a number")
    try:
        x = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {column.upper()} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise InputError(f"{where}: {column.upper()} {value!r} must be a finite number")
    return x


def _parse_id(value, row: int):
    if _missing(value):
        raise InputError(f"record {row}: ID is missing")
    if isinstance(value, str):
        text = value.strip()
        try:
            x = float(text)
        except ValueError:
            return text
    elif isinstance(value, (int, np.integer)):
        return int(value)
    else:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise InputError(f"record {row}: ID {value!r} is neither a number nor a text label") from None
    if not math.isfinite(x):
        raise InputError(f"record {row}: ID {value!r} must be finite")
    return int(x) if x == int(x) else x


def _compartment_map(model: Model, compartments) -> dict[int, str]:
    states, dosable = model.state_names, model.dosable_states
    if compartments is None:
        return {i + 1: s for i, s in enumerate(states)}
    if not isinstance(compartments, Mapping):
        raise InputError(f"compartments must be a dict {{number: state name}}, got {type(compartments).__name__}")
    out = {}
    for k, name in compartments.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise InputError(f"compartments: key {k!r} must be an integer compartment number")
        if name not in dosable:
            raise InputError(f"compartments: {k} -> {name!r} is not a dosable state of {model.name}; the dosable states are {list(dosable)}")
        out[int(k)] = name
    return out


def _target(value, cmt_map: dict[int, str], model: Model, dosable, where: str) -> str:
    """The dosable state a dose record's CMT names."""
    listing = f"the dosable states are {list(dosable)}"
    if _missing(value) or _is_zero(value):
        if len(dosable) == 1:
            return dosable[0]
        raise InputError(f"{where}: CMT is missing for a dose and {model.name} has several dosable states; {listing}")
    name = value.strip() if isinstance(value, str) else None
    if name is not None:
        try:
            number = float(name)
        except ValueError:
            if name in dosable:
                return name
            kind = "is a state that is not dosable" if name in model.state_names else "is not a state"
            raise InputError(f"{where}: CMT {name!r} {kind} of {model.name}; {listing}") from None
    else:
        if isinstance(value, (bool, np.bool_)):
            raise InputError(f"{where}: CMT {value!r} is neither a compartment number nor a state name")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{where}: CMT {value!r} is neither a compartment number nor a state name") from None
    if not math.isfinite(number) or number != int(number):
        raise InputError(f"{where}: CMT {value!r} must be a whole compartment number or a state name; {listing}")
    n = int(number)
    if n not in cmt_map:
        valid = sorted(cmt_map)
        raise InputError(f"{where}: CMT {n} is out of range (valid numbers {valid}); {listing}")
    state = cmt_map[n]
    if state not in dosable:
        raise InputError(f"{where}: CMT {n} is state {state!r}, which is not dosable; {listing}")
    return state


def _is_zero(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        return float(value.strip() if isinstance(value, str) else value) == 0
    except (TypeError, ValueError):
        return False
