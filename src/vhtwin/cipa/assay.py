"""The CiPA in-silico assay: ORd-CiPA cells paced at a 2000 ms cycle length for 1000 beats from the FDA's control
steady state, the last 250 beats analysed (the FDA protocol, ``AP_simulation/AP_simulation.R``), every drug,
concentration and uncertainty sample one lane of a batch.

How the batch runs: lanes go through in slices of ``batch`` (the last slice padded with copies of its last lane, so
that every slice has the same shape and one compilation serves the whole assay). For each slice the beats before the
analysed ones are simulated ``chunk`` beats per call of :func:`vhtwin.simulate`, each call continuing from the
state where the last one stopped and writing only the states at beat boundaries; the analysed beats are one more call
that writes only V and the charge ``qNet``, on 0.1 ms samples through the first 10 ms of each beat (the upstroke)
and 1 ms samples after (the FDA code's grid). Per-beat metrics: :mod:`vhtwin.cipa.beats`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import xarray as xr

from ..errors import InputError
from ..library import load_model
from ..protocols.pacing import Pacing
from ..simulate import simulate
from .beats import beat_metrics, keep_worst_beat

#: the model of the assay
MODEL = "cardio/ohara_rudy_cipa2017"
#: the FDA protocol
CYCLE_LENGTH = 2000.0  # ms
BEATS = 1000
ANALYSED = 250
STIMULUS_DURATION = 0.5  # ms, at the model's documented -80 uA/uF
#: lanes per simulation call: wider batches spread the loop's fixed cost over more cells (2 CPU cores, 20 beats of
#: dofetilide at rtol 2e-2: 1,239 cell-beats/s in batches of 64, 2,294 of 256, 2,455 of 1024;
#: benchmarks/results/cipa-speed.json)
BATCH = 256

_UPSTROKE = 10.0  # ms sampled finely after each stimulus
_FINE, _COARSE = 0.1, 1.0  # ms


def beat_grid(cycle_length: float) -> np.ndarray:
    """Sample times of one beat from its stimulus: 0.1 ms through the upstroke, 1 ms after, and the next stimulus."""
    fine = np.arange(0.0, _UPSTROKE, _FINE)
    coarse = np.arange(_UPSTROKE, cycle_length, _COARSE)
    return np.concatenate([fine, coarse, [cycle_length]])


def run_assay(
    params: Mapping[str, Any],
    *,
    beats: int = BEATS,
    analysed: int = ANALYSED,
    cycle_length: float = CYCLE_LENGTH,
    batch: int = BATCH,
    chunk: int = 50,
    solver: str = "rodas4",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 10_000_000,
) -> xr.Dataset:
    """Pace ORd-CiPA cells (one per lane of ``params``) and measure the analysed beats.

    Parameters
    ----------
    params : dict
        Model parameters by name, scalars or 1-D arrays of one length (the lanes); the rest keep their defaults.
    beats : int
        Beats paced in all, from the model's initial state (the FDA's control steady state at 2000 ms).
    analysed : int
        The last ``analysed`` beats are measured; the kept beat is the one with the largest dV/dt in its EAD
        window (:func:`vhtwin.cipa.beats.keep_worst_beat`).
    cycle_length : float
        Pacing cycle length (ms).
    batch : int
        Most lanes per simulation call (fewer when there are fewer lanes); default :data:`BATCH`. Memory grows
        with it: a lane's analysed beats are kept as V and qNet at 2,090 samples a beat (8.4 MB per lane for the
        FDA's 250 analysed beats at 2000 ms, 2.1 GB for 256 lanes, before the copies the measurement makes).
    chunk : int
        Most beats per simulation call before the analysed ones (a divisor of their number is used).
    solver, rtol, atol, max_steps
        Passed to :func:`vhtwin.simulate`.

    Returns
    -------
    xarray.Dataset
        Over ``lane``: ``qNet`` (uC/uF), ``APD90``, ``APD50`` (ms), ``EAD`` (bool), ``n_EAD``,
        ``n_not_depolarised``, ``n_not_repolarised``, ``V_max``, ``V_rest`` (mV), ``status`` (0 or the solver's).
    """
    model = load_model(MODEL)
    for name, value, low in (("beats", beats, 1), ("analysed", analysed, 1), ("batch", batch, 1), ("chunk", chunk, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name} {value!r} must be a whole number >= {low}")
    if analysed > beats:
        raise InputError(f"analysed {analysed} must be at most beats ({beats})")
    if not (isinstance(cycle_length, (int, float)) and math.isfinite(cycle_length) and cycle_length > _UPSTROKE):
        raise InputError(f"cycle_length {cycle_length!r} must be a number of ms > {_UPSTROKE:g}")
    unknown = set(params) - set(model.parameter_names)
    if unknown:
        raise InputError(f"params {sorted(unknown)} are not parameters of {MODEL}; it has {list(model.parameter_names)}")
    lanes = lanes_of(params)
    n = next(iter(lanes.values())).size if lanes else 1
    batch = min(int(batch), n)  # no padding beyond the lanes there are
    per_slice = []
    for start in range(0, n, batch):
        index = np.minimum(np.arange(start, start + batch), n - 1)  # pad with the last lane
        sub = {k: v[index] for k, v in lanes.items()}
        out = _slice(model, sub, beats, analysed, float(cycle_length), int(chunk),
                     dict(solver=solver, rtol=rtol, atol=atol, max_steps=max_steps))
        per_slice.append({k: v[: min(batch, n - start)] for k, v in out.items()})
    data = {k: np.concatenate([s[k] for s in per_slice]) for k in per_slice[0]}
    units = {"qNet": "uC uF-1", "APD90": "ms", "APD50": "ms", "V_max": "mV", "V_rest": "mV"}
    ds = xr.Dataset({k: xr.Variable(("lane",), v, attrs={"units": units.get(k, "1")}) for k, v in data.items()},
                    coords={"lane": np.arange(n)})
    ds.attrs.update(model=MODEL, cycle_length=float(cycle_length), beats=int(beats), analysed=int(analysed),
                    solver=solver, rtol=rtol, atol=atol)
    return ds


def lanes_of(params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``params`` as 1-D float arrays of one length (scalars broadcast)."""
    arrays = {k: np.atleast_1d(np.asarray(v, float)) for k, v in params.items()}
    sizes = {v.size for v in arrays.values() if v.size != 1}
    if len(sizes) > 1 or any(v.ndim != 1 for v in arrays.values()):
        raise InputError(f"params must be scalars or 1-D arrays of one length; got lengths {sorted(sizes)}")
    n = sizes.pop() if sizes else 1
    return {k: np.broadcast_to(v, (n,)).copy() for k, v in arrays.items()}


def _chunk(total: int, most: int) -> int:
    """The largest divisor of ``total`` that is at most ``most`` (every call then has the same shape)."""
    return max(d for d in range(1, min(total, most) + 1) if total % d == 0)


def _slice(model, params, beats, analysed, cycle_length, chunk, options) -> dict[str, np.ndarray]:
    names = model.state_names
    pacing = Pacing(period=cycle_length, duration=STIMULUS_DURATION, count=1)
    status = np.zeros(next(iter(params.values())).size if params else 1, int)
    # the model's initial state given as data, as a carried state is: a run without beats before the analysed ones
    # then uses the program of a run with them (an initial state given or not are two programs)
    state = {s.name: np.full(status.size, float(s.initial)) for s in model.states}
    before = beats - analysed
    if before:
        step = _chunk(before, chunk)
        for k in range(0, before, step):
            t0 = k * cycle_length
            ds = simulate(model, params, times=t0 + cycle_length * np.arange(step + 1),
                          protocol=_train(pacing, t0, step), initial=state, t0=t0, outputs=list(names), **options)
            status = np.where(status == 0, np.atleast_1d(ds["status"].values), status)
            state = {s: np.atleast_1d(ds[s].isel(time=-1).values) for s in names}
    t0 = before * cycle_length
    grid = beat_grid(cycle_length)
    times = np.concatenate([t0 + b * cycle_length + grid[:-1] for b in range(analysed)] + [[t0 + analysed * cycle_length]])
    ds = simulate(model, params, times=times, protocol=_train(pacing, t0, analysed), initial=state, t0=t0,
                  outputs=["V", "qNet"], **options)
    status = np.where(status == 0, np.atleast_1d(ds["status"].values), status)
    per_beat = grid.size - 1
    v, q = (np.atleast_2d(ds[x].transpose(..., "time").values) for x in ("V", "qNet"))
    # beats (lane, beat, sample): each beat's samples and the next beat's first one
    index = np.arange(analysed)[:, None] * per_beat + np.arange(grid.size)[None, :]
    metrics = keep_worst_beat(beat_metrics(grid, v[:, index], q[:, index]))
    metrics["status"] = status
    return metrics


def _train(pacing: Pacing, start: float, count: int) -> Pacing:
    from dataclasses import replace

    return replace(pacing, start=start, count=count)
