"""Turn protocols (dose regimens, pacing) into the per-trajectory event table the integration loop reads.

A protocol is anything with ``impulses(dosable_states)`` returning bolus jumps ``(time, state, amount)`` and
rectangular input pulses ``(start, end, channel, level)``; a channel is a dosable state (its infusion rate) or a
declared model input. Event times are the union of jump times and pulse edges; the input level after each event is
the sum of the pulses active then, computed directly (not by accumulating increments) so an input returns to
exactly its default when its pulses end.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..model import Model
from ..solvers.loop import Events


def empty_events(model: Model) -> Events:
    n, U = len(model.states), len(model.dosable_states) + len(model.inputs)
    return Events(
        times=np.full((1, 1), np.inf),
        jumps=np.zeros((1, n, 1)),
        inputs=np.zeros((1, U, 1)),
        initial_inputs=_input_defaults(model)[:, None],
    )


def _input_defaults(model: Model) -> np.ndarray:
    return np.array([0.0] * len(model.dosable_states) + [i.default for i in model.inputs], dtype=float)


def _channels(model: Model) -> dict[str, int]:
    names = list(model.dosable_states) + list(model.input_names)
    return {name: i for i, name in enumerate(names)}


def _table(model: Model, protocol: Any, batch: int) -> Events:
    """Event table of one protocol, with a trailing batch axis of ``batch`` (per-patient amounts) or 1."""
    if hasattr(protocol, "for_model"):  # a protocol that needs the model to resolve itself (pacing: its input)
        protocol = protocol.for_model(model)
    jumps, pulses = protocol.impulses(model.dosable_states)
    resets = protocol.reset_events(model.state_names) if hasattr(protocol, "reset_events") else []
    state_index = {s: i for i, s in enumerate(model.state_names)}
    channel = _channels(model)
    for _, _, name, _ in pulses:
        if name not in channel:
            raise InputError(f"protocol drives {name!r}, which is neither a dosable state nor an input of {model.name}")
    times = np.unique(np.array(
        [j[0] for j in jumps] + [p[0] for p in pulses] + [p[1] for p in pulses] + [r[0] for r in resets], dtype=float
    ))
    n, U, E = len(model.states), len(channel), max(len(times), 1)
    if not len(times):
        return empty_events(model)
    J = np.zeros((E, n, batch))
    for t, name, amount in jumps:
        J[np.searchsorted(times, t), state_index[name], :] += amount
    levels = np.zeros((E, U, batch))
    for start, end, name, level in pulses:
        active = (times >= start) & (times < end)
        levels[active, channel[name], :] += level
    defaults = _input_defaults(model)
    levels += defaults[None, :, None]
    reset = reset_to = None
    if resets:
        reset = np.zeros((E, batch))
        reset_to = np.full((E, n, batch), np.nan)  # NaN: back to the initial value
        for t, values in resets:
            e = np.searchsorted(times, t)
            reset[e] = 1.0
            for name, value in values.items():
                reset_to[e, state_index[name], :] = value
    return Events(times[:, None], J, levels, np.repeat(defaults[:, None], batch, axis=1), reset, reset_to)


def build_events(model: Model, protocol: Any, n_patients: int) -> Events:
    """Event table for a batch: one protocol shared by every patient, or a sequence of one protocol per patient.

    Shared protocols with scalar amounts keep a batch axis of 1 (no copy per patient). Per-patient protocols are
    padded to a common number of events with ``+inf`` times that never fire.
    """
    if protocol is None:
        return empty_events(model)
    if isinstance(protocol, (list, tuple)):
        if len(protocol) != n_patients:
            raise InputError(f"protocol: got {len(protocol)} per-patient protocols for {n_patients} patients")
        tables = [_table(model, p, 1) if p is not None else empty_events(model) for p in protocol]
        return _stack(tables, model)
    size = protocol.batch_size() if hasattr(protocol, "batch_size") else None
    if size is not None and size != n_patients:
        raise InputError(f"protocol: per-patient amounts have {size} entries but there are {n_patients} patients")
    return _table(model, protocol, size or 1)


def _stack(tables: Sequence[Events], model: Model) -> Events:
    E = max(t.times.shape[0] for t in tables)
    n, U = len(model.states), len(_channels(model))
    B = len(tables)
    times = np.full((E, B), np.inf)
    jumps = np.zeros((E, n, B))
    inputs = np.zeros((E, U, B))
    with_resets = any(t.reset is not None for t in tables)
    reset = np.zeros((E, B)) if with_resets else None
    reset_to = np.full((E, n, B), np.nan) if with_resets else None
    for b, t in enumerate(tables):
        e = t.times.shape[0]
        times[:e, b] = t.times[:, 0]
        jumps[:e, :, b] = t.jumps[:, :, 0]
        inputs[:e, :, b] = t.inputs[:, :, 0]
        inputs[e:, :, b] = t.inputs[-1, :, 0]
        if t.reset is not None:
            reset[:e, b] = t.reset[:, 0]
            reset_to[:e, :, b] = t.reset_to[:, :, 0]
    return Events(times, jumps, inputs, np.repeat(tables[0].initial_inputs[:, :1], B, axis=1), reset, reset_to)
