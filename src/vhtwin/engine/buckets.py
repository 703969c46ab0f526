"""Bucket sizes: how the engine pads a design's arrays so that one compiled program serves many designs.

A compiled solve is specialised to the shapes of its arrays. Were those the design's own sizes (this patient's
number of doses, that dataset's number of samples), every new design would compile again. So every size that comes
from a design is rounded up to a *bucket*, and padding fills the rest: event rows at ``+inf`` never fire, output
times at ``+inf`` are never saved, padded patient lanes are copies that are dropped afterwards.

Two roundings, by what padding costs:

* :func:`size_bucket` -- event rows, output times, distinct step lengths: padding costs only a little memory, so
  the next power of two (at least 4), which keeps the number of programs small;
* :func:`lane_bucket` -- patients (lanes): a padded lane is integrated like a real one, so the rounding is finer
  (powers of two up to 16, then four sizes per octave: 20, 24, 28, 32, 40, ...), wasting at most a quarter.
"""

from __future__ import annotations

#: Smallest bucket of a padded size (event rows, output times): designs with 1 to 4 entries share one program.
MIN_SIZE = 4


def size_bucket(n: int, minimum: int = MIN_SIZE) -> int:
    """The next power of two at or above ``max(n, minimum)``."""
    n = max(int(n), int(minimum), 1)
    return 1 << (n - 1).bit_length()


def lane_bucket(n: int, multiple: int = 1) -> int:
    """Lanes for ``n`` patients: a power of two up to 16, then a multiple of a quarter octave; then rounded up to a
    multiple of ``multiple`` (the number of devices that share the batch)."""
    n = max(int(n), 1)
    if n <= 16:
        b = 1 << (n - 1).bit_length()
    else:
        quarter = (1 << ((n - 1).bit_length() - 1)) // 4  # a quarter of the octave n lies in
        b = -(-n // quarter) * quarter
    return -(-b // multiple) * multiple
