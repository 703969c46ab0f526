"""Bucket sizes: how the engine pads a design's arrays so that one compiled program serves many designs.

A compiled solve is specialised to the shapes of its arrays. Were those the design's own sizes (this patient's
number of doses, that dataset's number of samples), every new design would compile again. So every size that comes
from a design is rounded up to a *bucket*, and padding fills the rest: event rows at ``+inf`` never fire, output
times at ``+inf`` are never saved, padded patient lanes finish before their first step and are dropped afterwards.

Three roundings, by what padding costs:

* :func:`size_bucket` -- event rows, grid points and distinct step lengths of the exact path: padding costs almost
  nothing, so the next power of two (at least 16 for what a clinical design varies: one program serves designs of 1
  to 16 doses);
* :func:`fine_bucket` -- output times and measurements: every padded time is carried through the output buffer, so
  at least 16, then four sizes per octave (20, 24, 28, 32, 40, ...), wasting at most a quarter;
* :func:`lane_bucket` -- patients (lanes): a padded lane is integrated alongside the real ones, so the fine
  rounding, and then one more step that measurement asked for: a row of lanes whose length is a multiple of 256
  (1,024, 2,560, 5,120 ...) makes the loop's many per-state rows alias in the CPU caches and runs 15-30 % slower
  than a slightly longer one (benchmarks/latency.py measures it), so such a width per device gets 16 more lanes.
"""

from __future__ import annotations

#: Smallest bucket of the sizes a clinical design varies most: event rows, output times, measurements -- a twin's
#: patients with 1 to 16 doses or samples all share one program.
MIN_SIZE = 16


def size_bucket(n: int, minimum: int = MIN_SIZE) -> int:
    """The next power of two at or above ``max(n, minimum)``."""
    n = max(int(n), int(minimum), 1)
    return 1 << (n - 1).bit_length()


def fine_bucket(n: int, minimum: int = 1) -> int:
    """A power of two up to 16, then the next multiple of a quarter of the octave ``n`` lies in."""
    n = max(int(n), int(minimum), 1)
    if n <= 16:
        return 1 << (n - 1).bit_length()
    quarter = (1 << ((n - 1).bit_length() - 1)) // 4
    return -(-n // quarter) * quarter


def event_rows(n: int) -> int:
    """Rows of an event table (dose times, infusion ends, resets, occasion starts)."""
    return size_bucket(n, MIN_SIZE)


def output_times(n: int) -> int:
    """Output times (each carried through the output buffer of every lane)."""
    return fine_bucket(n, MIN_SIZE)


def measurements(n: int) -> int:
    """Measurements per patient of a calibration or an estimation."""
    return fine_bucket(n, MIN_SIZE)


def grid_points(n: int) -> int:
    """Points of the exact path's merged grid (its loop runs over the real ones only)."""
    return size_bucket(n, 2 * MIN_SIZE)


def step_lengths(n: int) -> int:
    """Distinct step lengths of the exact path, at least 16, so that sampling designs differing in their intervals
    share a program (a grid shared by the batch computes only its real ones)."""
    return size_bucket(n, MIN_SIZE)


def lane_bucket(n: int, multiple: int = 1) -> int:
    """Lanes for ``n`` patients split over ``multiple`` devices: :func:`fine_bucket` per device, staggered off
    multiples of 256 (see the module docstring)."""
    per_device = fine_bucket(-(-max(int(n), 1) // multiple))
    if per_device >= 512 and per_device % 256 == 0:
        per_device += 16
    return per_device * multiple
