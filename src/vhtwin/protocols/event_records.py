"""Where :func:`read_events` lived in earlier versions: it reads a whole dataset now (:mod:`vhtwin.dataset`)."""

from __future__ import annotations


def read_events(path_or_frame, model, *, compartments=None):
    """:func:`vhtwin.read_dataset` (the same reader; its result is a :class:`vhtwin.Dataset`)."""
    from ..dataset import read_dataset

    return read_dataset(path_or_frame, model, compartments=compartments)


def __getattr__(name):
    if name == "EventSet":
        from ..dataset import Dataset

        return Dataset
    raise AttributeError(name)
