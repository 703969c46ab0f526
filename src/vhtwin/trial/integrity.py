"""Damage to a trial store, found and named.

Every chunk of a store of layout 2 ends in a CRC-32C checksum of its bytes (Zarr v3's ``crc32c`` codec), and a
batch's completion marker is written only after all its chunks, each of which exists (empty chunks are written
too). So a chunk of a marked batch that is missing, truncated or altered is damage, and is named -- variable,
arm, patients and file -- by:

* :func:`checked_array`, through which :func:`vhtwin.open_trial` reads every variable (a read that meets damage
  raises :class:`~vhtwin.errors.StoreDamagedError`; it never returns the fill value in place of data);
* :func:`verify_trial` (``vhtwin verify STORE``), which reads everything and reports the store complete,
  incomplete (which batches) or damaged (which chunks);
* a resumed run, which verifies the store first and computes damaged batches again -- to the same bytes, since
  patient i depends on (seed, i) only.

Stores of layout 1 (written before checksums) are read and verified as far as they can be: a missing or truncated
chunk is found; altered bytes that still decompress are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, StoreDamagedError
from ..io import quiet_zarr
from . import store as st

#: Bytes read at once per variable when verifying (groups of whole chunks), so verifying a large store stays in
#: bounded memory and still reads many chunks per call.
_READ_BYTES = 64 * 2**20
#: The coordinates of a trial store: written at creation, rewritten from the spec by a resumed run if damaged.
COORDINATES = ("arm", "patient", "time")


@dataclass(frozen=True)
class Damage:
    """One damaged file of a store: what it holds, where, and why it cannot be read."""

    variable: str
    file: str
    reason: str
    arm: int | None = None
    batch: int | None = None
    patients: tuple[int, int] | None = None  # [first, last] patient index within the arm

    @property
    def repairable(self) -> bool:
        """Whether a resumed run can write it again: a batch's data, or a coordinate (from the spec)."""
        return self.batch is not None or (self.variable in COORDINATES and not self.file.endswith("zarr.json"))

    def __str__(self) -> str:
        where = ""
        if self.patients is not None:
            where = f" (arm {self.arm}, patients {self.patients[0]}..{self.patients[1]})"
        return f"{self.variable}: {self.file} {self.reason}{where}"


@dataclass
class Verification:
    """What :func:`verify_trial` found. ``state`` is ``"complete"``, ``"incomplete"`` or ``"damaged"``."""

    path: Path
    layout: str
    batches: int
    missing: list[tuple[int, int]] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    checked: int = 0  # chunk files read

    @property
    def state(self) -> str:
        return "damaged" if self.damaged else "incomplete" if self.missing else "complete"

    @property
    def exit_code(self) -> int:
        """0 complete, 1 incomplete, 2 damaged (``vhtwin verify``'s exit status)."""
        return {"complete": 0, "incomplete": 1, "damaged": 2}[self.state]

    @property
    def repairable(self) -> bool:
        return all(d.repairable for d in self.damaged)

    def damaged_batches(self) -> list[tuple[int, int]]:
        return sorted({(d.arm, d.batch) for d in self.damaged if d.batch is not None})

    def report(self) -> str:
        """A few lines: the state, then the missing batches and each damaged file."""
        lines = [f"{self.path}: {self.state} ({self.batches - len(self.missing)} of {self.batches} batches done, "
                 f"{self.checked:,} chunks read; layout {self.layout})"]
        if self.missing:
            lines.append("batches not done (arm, batch): " + _listing(self.missing))
        for d in self.damaged[:50]:
            lines.append(f"damaged: {d}")
        if len(self.damaged) > 50:
            lines.append(f"... and {len(self.damaged) - 50} more damaged files")
        if self.damaged:
            lines.append("resume the run (vhtwin run SPEC --out STORE --resume) to compute the damaged batches again"
                         if self.repairable else
                         "its metadata is damaged, which a resumed run cannot rewrite: run it again with --overwrite")
        if self.layout != st.LAYOUT:
            lines.append(f"note: layout {self.layout} has no chunk checksums; altered bytes that still decompress "
                         "cannot be detected")
        return "\n".join(lines)


def verify_trial(store, *, deep: bool = True) -> Verification:
    """Check a trial store: every marked batch's chunks exist and (``deep``) decode with a matching checksum.

    Parameters
    ----------
    store : path
        The trial store.
    deep : bool
        Read and check every chunk (default). ``False`` checks only that each file exists and is not empty -- a
        quick look, which misses altered bytes.

    Returns
    -------
    Verification
        ``state`` complete / incomplete / damaged, ``missing`` batches ``(arm, batch)``, ``damaged`` files,
        ``report()`` for people and ``exit_code`` 0/1/2.

    Raises
    ------
    InputError
        If there is nothing at ``store`` or it is not a vhtwin trial store.
    """
    path = Path(store)
    attrs = _root_attrs(path)
    layout = str(attrs.get("vhtwin_layout"))
    sizes = st.store_shape(path, attrs)
    n_arms, n_batches, batch_size, n = sizes["arms"], sizes["n_batches"], sizes["batch_size"], sizes["n_per_arm"]
    out = Verification(path, layout, n_arms * n_batches)
    done = st.done_batches(path)
    out.missing = [(a, k) for a in range(n_arms) for k in range(n_batches) if (a, k) not in done]
    arrays, broken = _arrays(path)
    out.damaged.extend(broken)
    for name, array in sorted(arrays.items()):
        dims = tuple(array.metadata.dimension_names or ())
        if dims[:2] == ("arm", "patient"):
            spans = [(a, k) for (a, k) in sorted(done) if a < n_arms and k < n_batches]
            out.damaged.extend(_check_batches(path, name, array, spans, batch_size, n, deep, out, layout))
        elif deep:
            out.damaged.extend(_check_whole(path, name, array, out))
    return out


def checked_array(path: Path, name: str, array, done: set, batch_size: int, layout: str):
    """``array`` (a Zarr array) behind a check: a read that meets a missing, truncated or altered chunk of a done
    batch raises :class:`StoreDamagedError` naming it. Give it to ``dask.array.from_array`` with the array's chunks."""
    return _Checked(Path(path), name, array, frozenset(done), batch_size, layout)


class _Checked:
    """Array-like over one Zarr array of a trial store (``shape``, ``dtype``, ``ndim``, ``__getitem__``)."""

    def __init__(self, path, name, array, done, batch_size, layout):
        self.path, self.name, self.array, self.done = path, name, array, done
        self.batch_size, self.layout = batch_size, layout
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        dims = tuple(array.metadata.dimension_names or ())
        self.per_patient = dims[:2] == ("arm", "patient")

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        spans = self._spans(key) if self.per_patient else []
        for arm, batch in spans:
            if (arm, batch) in self.done:
                damage = _missing(self.path, self.name, self.array, arm, batch, self.batch_size, self.layout)
                if damage is not None:
                    raise StoreDamagedError(_damaged_message(self.path, damage))
        try:
            values = self.array[key]
        except Exception as err:  # a codec's error (checksum, truncation) is damage, and gets named
            if spans:
                arm, batch = spans[0]
                damage = _batch_damage(self.name, self.array, arm, batch, self.batch_size, _reason(err))
            else:
                damage = Damage(self.name, f"{self.name}/c/...", _reason(err))
            raise StoreDamagedError(_damaged_message(self.path, damage)) from None
        if spans and any(span not in self.done for span in spans):
            values = self._hide_unfinished(key, values)
        return values

    def _hide_unfinished(self, key, values):
        """Rows of batches without a completion marker read as the fill value: a batch killed between its data
        and its marker is not a result yet. (``key`` may index the arm or patient axis by an integer, which drops
        that axis from ``values``.)"""
        values = np.array(values, copy=True)
        axes = []
        for axis in (0, 1):
            k = key[axis] if axis < len(key) else slice(None)
            if isinstance(k, slice):
                axes.append((np.arange(*k.indices(self.shape[axis])), True))
            else:
                axes.append((np.array([int(k)]), False))
        (arms, arm_kept), (rows, rows_kept) = axes
        batches = rows // self.batch_size
        for i, arm in enumerate(arms):
            for batch in np.unique(batches):
                if (int(arm), int(batch)) in self.done:
                    continue
                hit = batches == batch
                index = ((i,) if arm_kept else ()) + ((hit,) if rows_kept else ())
                if rows_kept or hit[0]:
                    values[index] = self.array.fill_value
        return values

    def _spans(self, key) -> list[tuple[int, int]]:
        arms = range(*key[0].indices(self.shape[0])) if isinstance(key[0], slice) else [int(key[0])]
        if len(key) > 1 and isinstance(key[1], slice):
            rows = range(*key[1].indices(self.shape[1]))
        elif len(key) > 1:
            rows = [int(key[1])]
        else:
            rows = range(self.shape[1])
        if len(rows) == 0:
            return []
        first, last = min(rows) // self.batch_size, max(rows) // self.batch_size
        return [(a, k) for a in arms for k in range(first, last + 1)]


def _damaged_message(path: Path, damage: Damage) -> str:
    return (f"trial store {str(path)!r} is damaged: {damage}. Run 'vhtwin verify {path}' for the full list; "
            "resuming the run computes damaged batches again")


def _root_attrs(path: Path) -> dict:
    if not path.exists():
        raise InputError(f"trial store {str(path)!r} does not exist")
    attrs = st.read_attrs(path)
    if not str(attrs.get("vhtwin_layout", "")).startswith("vhtwin-trial-store/"):
        raise InputError(f"{str(path)!r} is not a vhtwin trial store (its metadata names no vhtwin layout)")
    if attrs["vhtwin_layout"] not in st.READABLE_LAYOUTS:
        raise InputError(f"{str(path)!r} is a vhtwin trial store of layout {attrs['vhtwin_layout']!r}, which this "
                         f"version does not read (it reads {', '.join(st.READABLE_LAYOUTS)})")
    return attrs


def _arrays(path: Path):
    """The store's arrays by name, opened one by one so that a damaged metadata file names its array."""
    import zarr

    from ..store_safety import check_codecs

    check_codecs(path)
    arrays, broken = {}, []
    for meta in sorted(path.glob("*/zarr.json")):
        name = meta.parent.name
        if name == st.MARKERS or name.startswith("."):
            continue
        try:
            with quiet_zarr():
                arrays[name] = zarr.open_array(str(meta.parent), mode="r", zarr_format=3)
        except Exception as err:  # unparsable or inconsistent metadata
            broken.append(Damage(name, f"{name}/zarr.json", f"is not readable metadata ({_reason(err)})"))
    return arrays, broken


def _check_batches(path, name, array, spans, batch_size, n, deep, out, layout) -> list[Damage]:
    """The chunks of the done batches ``spans`` of one per-patient variable: present, and (deep) decodable."""
    found = []
    readable = []
    for arm, batch in spans:
        damage = _missing(path, name, array, arm, batch, batch_size, layout)
        if damage is not None:
            found.append(damage)
        else:
            readable.append((arm, batch))
    if not deep:
        return found
    chunk_bytes = max(1, int(np.prod(array.chunks)) * array.dtype.itemsize)
    group = max(1, _READ_BYTES // chunk_bytes)
    # Consecutive batches of one arm are read in one call (zarr reads their chunks concurrently); a call that fails
    # is read again chunk by chunk to name the damaged ones.
    runs = _runs(readable)
    for arm, first, last in runs:
        for start in range(first, last + 1, group):
            stop = min(start + group, last + 1)
            region = (slice(arm, arm + 1), slice(start * batch_size, min(stop * batch_size, n)))
            try:
                array[region]
                out.checked += stop - start
                continue
            except Exception:
                pass
            for batch in range(start, stop):
                out.checked += 1
                try:
                    array[(slice(arm, arm + 1), slice(batch * batch_size, min((batch + 1) * batch_size, n)))]
                except Exception as err:
                    found.append(_batch_damage(name, array, arm, batch, batch_size, _reason(err)))
    return found


def _check_whole(path, name, array, out) -> list[Damage]:
    """A coordinate (or any array not split by batch): read whole."""
    out.checked += max(1, array.nchunks)
    try:
        array[...]
    except Exception as err:
        return [Damage(name, f"{name}/c/...", _reason(err))]
    return []


def _missing(path, name, array, arm, batch, batch_size, layout) -> Damage | None:
    """The chunk file of a done batch, if it is missing or empty (every chunk of layout 2 is written, even if it
    holds only the fill value; layout 1 skipped such chunks, so there only a file that exists empty is damage)."""
    key = _chunk_key(array, arm, batch)
    f = path / name / key
    try:
        size = f.stat().st_size
    except FileNotFoundError:
        if layout != st.LAYOUT:
            return None
        return _batch_damage(name, array, arm, batch, batch_size, "is missing")
    if size == 0:
        return _batch_damage(name, array, arm, batch, batch_size, "is empty")
    return None


def _batch_damage(name, array, arm, batch, batch_size, reason) -> Damage:
    n = array.shape[1]
    first, last = batch * batch_size, min((batch + 1) * batch_size, n) - 1
    return Damage(name, f"{name}/{_chunk_key(array, arm, batch)}", reason, arm, batch, (first, last))


def _chunk_key(array, arm, batch) -> str:
    return array.metadata.encode_chunk_key((arm, batch) + (0,) * (array.ndim - 2))


def _reason(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if "checksum" in text.lower():
        return "fails its checksum (altered or truncated)"
    return f"cannot be decoded ({type(err).__name__}: {text[:120]})"


def _runs(spans) -> list[tuple[int, int, int]]:
    """``(arm, first, last)`` runs of consecutive batches."""
    runs = []
    for arm, batch in sorted(spans):
        if runs and runs[-1][0] == arm and runs[-1][2] == batch - 1:
            runs[-1] = (arm, runs[-1][1], batch)
        else:
            runs.append((arm, batch, batch))
    return runs


def _listing(pairs) -> str:
    shown = ", ".join(f"({a}, {k})" for a, k in pairs[:20])
    return shown + (f", ... ({len(pairs)} in all)" if len(pairs) > 20 else "")
