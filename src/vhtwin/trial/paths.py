"""Where a trial store's parts and companions live: its hidden siblings and its marker folder.

Names only (no I/O beyond what a caller asks, no heavy imports), so that the command line can find them at once
when Ctrl-C stops a run, without waiting for the libraries the run itself loads.
"""

from __future__ import annotations

from pathlib import Path

#: Name of the group holding the completion markers.
MARKERS = "batches"


def sibling(path: Path, what: str) -> Path:
    """The hidden sibling ``.NAME.what`` of the store ``NAME`` (creation, replacement, lock, ...)."""
    path = Path(path)
    return path.parent / f".{path.name}.{what}"


def replacement(path: Path) -> Path:
    """Where the store that will replace ``path`` is written (``overwrite``): a hidden sibling, swapped in at the end."""
    return sibling(path, "replacement")


def lock_path(path: Path) -> Path:
    """The writer lock of the store ``path``."""
    return sibling(path, "lock")


def marker_name(arm: int, batch: int) -> str:
    return f"arm{arm}-batch{batch}"


def count_markers(path: Path) -> int:
    """How many completion markers the store at ``path`` holds (0 if there is none)."""
    return sum(1 for _ in (Path(path) / MARKERS).glob("arm*/zarr.json"))
