"""Comparing trial stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def store_files(path: Path) -> dict[str, bytes]:
    """Every file of a store by relative path, except the completion markers (which record timings)."""
    path = Path(path)
    return {
        str(f.relative_to(path)): f.read_bytes()
        for f in sorted(path.rglob("*")) if f.is_file() and f.relative_to(path).parts[0] != "batches"
    }


def assert_same_store(a: Path, b: Path) -> None:
    """Bit for bit: the same files with the same bytes (data chunks, array metadata, attributes)."""
    fa, fb = store_files(a), store_files(b)
    assert sorted(fa) == sorted(fb), set(fa) ^ set(fb)
    differ = [k for k in fa if fa[k] != fb[k]]
    assert not differ, f"files differ: {differ[:5]}"


def assert_same_data(da, db) -> None:
    assert set(da.variables) == set(db.variables)
    for v in da.variables:
        x, y = da[v].values, db[v].values
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), v
