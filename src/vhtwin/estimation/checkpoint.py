"""Checkpoints of a running estimation: a killed or interrupted fit resumes where it stopped.

A checkpoint is one JSON file (data only: numbers and strings; reading it runs nothing), replaced atomically after
every outer iteration (FOCE-I, FOCE, Laplace: the BFGS state and the modes) or every 25 SAEM iterations (the
statistics, chains and random key). It carries a fingerprint of what is being estimated -- model source, dataset
records, parametrisation, starting values, method and options -- and is only resumed by the same estimation.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..errors import InputError

FORMAT = "vhtwin-estimation-checkpoint/1"


def fingerprint(model, data, par, method: str, options: dict) -> str:
    """sha256 of everything that decides the estimation's path."""
    h = hashlib.sha256()
    h.update(json.dumps({"model": model.name, "source": model.source_hash(), "method": method,
                         "names": list(par.names), "u0": [repr(float(v)) for v in par.u0],
                         "free": [int(i) for i in par.free], "options": options}, sort_keys=True).encode())
    h.update(data.to_frame().to_csv(index=False).encode())
    return h.hexdigest()


def read(path: Path, expected: str) -> dict | None:
    """The saved state at ``path`` when it is a checkpoint of this estimation; None when there is none.

    Raises
    ------
    InputError
        If the file is not a checkpoint, or one of another estimation.
    """
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"checkpoint {str(path)!r} cannot be read ({err}); it is not a vhtwin estimation checkpoint "
                         "-- move it away (vhtwin never deletes a file it did not write)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"checkpoint {str(path)!r} is not a vhtwin estimation checkpoint (format {FORMAT!r}); move "
                         "it away or choose another path")
    if doc.get("fingerprint") != expected:
        raise InputError(f"checkpoint {str(path)!r} is of another estimation (different model, data, starting values, "
                         "method or options); start afresh with another path, or remove that file")
    return doc["state"]


def is_checkpoint(path: Path) -> bool:
    """True when ``path`` is a file vhtwin wrote as an estimation checkpoint (what vhtwin may remove)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def write(path: Path, fingerprint_: str, method: str, state: dict) -> None:
    """Replace the checkpoint atomically (a kill mid-write leaves the previous one)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "fingerprint": fingerprint_, "method": method,
                               "state": _plain(state)}))
    os.replace(tmp, path)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
