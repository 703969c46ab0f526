"""A trial run that kills itself with SIGKILL at a named point of creating or writing its store.

``python -m tests.trial.kill_at POINT STORE`` (from the repository root) runs the small trial of
:func:`tests.trial.trial_fixture.make_trial` (100 patients per arm, batches of 50) into STORE and sends itself
SIGKILL when it reaches POINT: no handler runs, no file is closed -- what a power cut or the OOM killer does. The
points hook the file operations the store is made of (zarr's chunk writes, the metadata renames), so each kill
lands at a real boundary of the write, or inside it.
"""

from __future__ import annotations

import os
import pathlib
import signal
import sys
import threading

import zarr.storage._local as zarr_local

from vhtwin.trial import store as st

from .trial_fixture import make_trial

N_PER_ARM, BATCH = 100, 50
_lock = threading.Lock()
_counts: dict[str, int] = {}


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def nth(what: str, n: int) -> bool:
    """Whether this is the ``n``-th time ``what`` happens in this process."""
    with _lock:
        _counts[what] = _counts.get(what, 0) + 1
        return _counts[what] == n


def _creating(path) -> bool:
    return ".creating-" in str(path)


def _chunk(path) -> bool:
    return "/c/" in str(path)


# Each point: a name and the patch that kills there. The store's coordinates are 3 chunks written at creation;
# each batch then writes 13 chunks (Cc, patient_id, 8 draw variables, status, n_steps, n_rejected).
def point_creating_metadata_half_written():
    real = zarr_local._put
    zarr_local._put = lambda path, value, exclusive=False: (die() if nth("put", 5) else real(path, value, exclusive))


def point_creating_before_the_marker_group():
    real = st._write_json_atomic
    st._write_json_atomic = lambda target, doc: die() if _creating(target) else real(target, doc)


def point_creating_before_the_rename():
    real = os.rename
    os.rename = lambda src, dst: die() if _creating(src) else real(src, dst)


def point_created_right_after_the_rename():
    real = os.rename

    def rename(src, dst):
        real(src, dst)
        if _creating(src):
            die()

    os.rename = rename


def point_writing_a_chunk_half_written():
    real = pathlib.Path.replace

    def replace(self, target):
        if self.suffix == ".partial" and _chunk(target) and nth("chunk", 3 + 5):
            die()  # the chunk's bytes are in its temporary file, which is not yet renamed into place
        return real(self, target)

    pathlib.Path.replace = replace


def point_writing_between_two_chunks_of_a_batch():
    real = zarr_local._put

    def put(path, value, exclusive=False):
        if _chunk(path) and nth("chunk", 3 + 13 + 6):
            die()
        return real(path, value, exclusive)

    zarr_local._put = put


def point_writing_data_written_marker_not():
    real = st.mark_done
    st.mark_done = lambda path, arm, batch, info: die() if nth("marker", 2) else real(path, arm, batch, info)


def point_writing_marker_half_written():
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith("arm0-batch1/zarr.json"):
            die()  # the marker's temporary file is complete, not yet renamed
        return real(src, dst)

    os.replace = replace


def point_writing_after_three_batches():
    real = st.mark_done

    def mark(path, arm, batch, info):
        real(path, arm, batch, info)
        if nth("marker", 3):
            die()

    st.mark_done = mark


def point_finishing_before_the_summary():
    st.update_attrs = lambda path, extra: die()


def point_finishing_summary_half_written():
    real = os.replace

    def replace(src, dst):
        if pathlib.Path(dst).name == "zarr.json" and pathlib.Path(dst).parent.name.endswith(".zarr"):
            die()
        return real(src, dst)

    os.replace = replace


POINTS = {name[len("point_"):]: f for name, f in dict(globals()).items() if name.startswith("point_")}


def pause_after_the_first_batch():
    """Not a kill: the run holds its writer lock, asleep after its first batch, until a test kills it."""
    import time

    real = st.mark_done

    def mark(path, arm, batch, info):
        real(path, arm, batch, info)
        time.sleep(600)

    st.mark_done = mark


POINTS_AND_PAUSES = {**POINTS, "pause_after_the_first_batch": pause_after_the_first_batch}


if __name__ == "__main__":
    POINTS_AND_PAUSES[sys.argv[1]]()
    make_trial(n_per_arm=N_PER_ARM).run(sys.argv[2], batch_size=BATCH, resume=True, progress=False)
    sys.exit("the run ended without reaching its kill point")
