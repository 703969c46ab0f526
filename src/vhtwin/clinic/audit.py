"""The audit trail: every calibration and recommendation appended to a local, tamper-evident log.

One JSON object per line in ``<directory>/audit.jsonl``. Each entry holds its sequence number, the time (UTC), what
was done (``kind``), the software version, the prior (name, version, sha256 of its file), the sha256 of the inputs
(the de-identified record: levels, doses, covariates), the results, and two hashes: ``previous`` (the hash of the
entry before, 64 zeros for the first) and ``hash`` (sha256 of this entry's canonical JSON without ``hash``). Editing,
removing, inserting or reordering an entry breaks the chain at that entry, which :meth:`AuditTrail.verify` reports.
(The chain shows that the log was changed, not who changed it: whoever can rewrite the whole file can rewrite the
chain; keep a copy of the last hash elsewhere -- :meth:`AuditTrail.head` -- to pin it.)

No identifiers: the inputs enter by their hash only, and an entry whose keys look like a direct identifier (a name,
a record number, a birth date, an address, contact details; :mod:`vhtwin.identifiers`) is refused before anything
is written.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import InputError
from ..identifiers import identifier_kind

FILE = "audit.jsonl"
GENESIS = "0" * 64
KINDS = ("calibration", "recommendation")


def canonical(value: Any) -> bytes:
    """The canonical JSON of ``value`` (sorted keys, no spaces, UTF-8): what is hashed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def digest(value: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical(value)).hexdigest()


class AuditTrail:
    """The append-only log in ``directory`` (created if missing; an existing log is continued, never replaced)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise InputError(f"audit directory {self.directory} exists and is not a directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / FILE
        self._lock = threading.Lock()

    # -- writing -------------------------------------------------------------------------------------------------------
    def append(self, kind: str, *, prior: dict, inputs: Any, results: dict) -> dict:
        """Append one entry and return it.

        ``prior``: at least ``name``, ``version`` and ``sha256``; ``inputs``: the de-identified inputs (only their
        hash is kept); ``results``: numbers, strings, lists and dicts of them.
        """
        if kind not in KINDS:
            raise InputError(f"audit entry kind {kind!r} must be one of {list(KINDS)}")
        missing = [k for k in ("name", "version", "sha256") if k not in prior]
        if missing:
            raise InputError(f"audit entry: prior lacks {missing}")
        _check_plain(results, "results")
        body = {"kind": kind, "software": {"vhtwin": __version__},
                "prior": {k: prior[k] for k in ("name", "version", "sha256")},
                "inputs_sha256": digest(_plain(inputs)), "results": _plain(results)}
        with self._lock:
            entries = self._read(strict=True)
            previous = entries[-1]["hash"] if entries else GENESIS
            entry = {"seq": len(entries), "time": datetime.now(timezone.utc).isoformat(timespec="microseconds"),
                     **body, "previous": previous}
            entry["hash"] = digest(entry)
            line = canonical(entry) + b"\n"
            with open(self.path, "ab") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        return entry

    # -- reading -------------------------------------------------------------------------------------------------------
    def entries(self) -> list[dict]:
        """The entries, oldest first (unchecked: :meth:`verify` checks them)."""
        return self._read(strict=False)

    def head(self) -> str:
        """The hash of the last entry (64 zeros for an empty log)."""
        entries = self._read(strict=False)
        return entries[-1]["hash"] if entries else GENESIS

    def verify(self) -> list[str]:
        """The problems of the log, one sentence each (empty: the chain is intact)."""
        if not self.path.exists():
            return []
        problems, previous = [], GENESIS
        lines = self.path.read_bytes().split(b"\n")
        for k, raw in enumerate(lines):
            if not raw:
                if k != len(lines) - 1:
                    problems.append(f"line {k + 1}: empty line inside the log")
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                problems.append(f"line {k + 1}: not JSON (cut short or edited)")
                continue
            claimed = entry.pop("hash", None)
            if entry.get("seq") != k:
                problems.append(f"line {k + 1}: sequence number {entry.get('seq')!r}, expected {k}")
            if entry.get("previous") != previous:
                problems.append(f"line {k + 1}: does not follow the entry before it (removed, inserted or reordered)")
            if claimed != digest(entry):
                problems.append(f"line {k + 1}: its hash does not match its content (edited)")
            previous = claimed
        return problems

    def export(self, path: str | os.PathLike) -> Path:
        """Write the log, checked, to ``path``: ``.json`` (the entries and the verification) or ``.csv`` (one row per
        entry, results as JSON). Refuses to overwrite an existing file."""
        path = Path(path)
        if path.exists():
            raise InputError(f"audit export: {path} exists; vhtwin does not overwrite it")
        entries, problems = self.entries(), self.verify()
        if path.suffix == ".json":
            path.write_text(json.dumps({"log": str(self.path), "verified": not problems, "problems": problems,
                                        "head": self.head(), "entries": entries}, indent=1))
        elif path.suffix == ".csv":
            columns = ["seq", "time", "kind", "software", "prior_name", "prior_version", "prior_sha256",
                       "inputs_sha256", "results", "previous", "hash"]
            with open(path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(columns)
                for e in entries:
                    w.writerow([e.get("seq"), e.get("time"), e.get("kind"), e.get("software", {}).get("vhtwin"),
                                e.get("prior", {}).get("name"), e.get("prior", {}).get("version"),
                                e.get("prior", {}).get("sha256"), e.get("inputs_sha256"),
                                json.dumps(e.get("results"), sort_keys=True), e.get("previous"), e.get("hash")])
        else:
            raise InputError(f"audit export: {path.name} must end in .json or .csv")
        return path

    def _read(self, strict: bool) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for raw in self.path.read_bytes().splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                if strict:
                    raise InputError(f"audit log {self.path} is damaged (a line is not JSON); vhtwin does not append "
                                     f"to a broken chain -- keep the file and start a new log directory") from None
        problems = self.verify() if strict else []
        if problems:
            raise InputError(f"audit log {self.path} fails verification ({problems[0]}); vhtwin does not append "
                             f"to a broken chain -- keep the file and start a new log directory")
        return out


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (numpy scalars and arrays, tuples and DataFrames made lists and dicts)."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a DataFrame: column-wise lists
        return {str(c): _plain(list(value[c])) for c in value.columns}
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InputError(f"audit entry: a value of type {type(value).__name__} is not plain data")


def _check_plain(value: Any, where: str) -> None:
    """Refuse keys that look like direct identifiers, anywhere in ``value``."""
    if isinstance(value, dict):
        for k, v in value.items():
            kind = identifier_kind(k)
            if kind is not None and kind != "a calendar date":
                raise InputError(f"audit entry: {where}.{k} looks like {kind}, a direct identifier, which the audit "
                                 f"trail never holds")
            _check_plain(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
