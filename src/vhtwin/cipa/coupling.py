"""Coupling a drug concentration that changes over hours to a heart cell paced in milliseconds.

A PK model's free plasma concentration changes on a time scale of hours; the ORd-CiPA cell beats every 2000 ms and
its slow states ([Na+]i, [K+]i, drug trapped in hERG channels) follow a change of block over tens to hundreds of
beats. Two ways to join them, both built on :func:`paced_windows` (beats in *windows*, the drug concentration ``D``
constant within a window, the cell state carried from one window to the next; a point, or a PK interval of beats,
per solve, so that a solve's memory stays small and its shape, hence its compilation, is shared):

- **full coupling** (:func:`full_coupling`): every beat is a window and its ``D`` is the free concentration at the
  beat's start, beat after beat over the whole time (12 h is 21,600 beats). The reference.
- **multi-rate coupling** (:func:`multirate_coupling`): at each PK time point ``t_k`` the cell is paced
  ``beats_per_point`` beats at ``D = C_free(t_k)``, starting from the state the previous point left; the last beat is
  measured. The hours between points are not paced, so the cost is ``beats_per_point`` beats per point whatever the
  spacing. It is the quasi-steady approximation of the block at each point, with the cell's memory (its state, drug
  bound in hERG) carried from point to point. Optionally (``real_beats``) the drug's binding kinetics run faster in
  each window by the real beats it stands for over ``beats_per_point`` (at most :data:`MAX_BINDING_SPEED`), so the
  drug binds as far as it would have in that time. Its error against full coupling (dofetilide's label dose,
  hourly points: APD90 within 3.7 ms with 300 beats per point, 3.0 ms with 30 sped-up beats) is measured in
  ``benchmarks/cipa_coupling.py`` and stated in ``docs/guides/cardiac-safety.md``.

Both start every cell with ``baseline_beats`` drug-free beats from the model's initial state (the FDA's control
steady state), whose last beat is the cell's own baseline (its APD90 is what the change ``dAPD90`` is measured
from).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..errors import InputError
from ..library import load_model
from ..protocols.pacing import Pacing
from ..simulate import simulate
from .assay import CYCLE_LENGTH, MODEL, STIMULUS_DURATION, beat_grid, lanes_of
from .beats import beat_metrics

#: drug-free beats before the first window with drug (the cell's baseline)
BASELINE_BEATS = 100
#: beats per PK time point of the multi-rate coupling (APD90 within 3.7 ms of full coupling for dofetilide's label
#: dose at hourly points: benchmarks/results/cipa-coupling-error.json)
BEATS_PER_POINT = 300

#: the largest speed-up of the drug's binding kinetics in a multi-rate window: the largest checked against full
#: coupling (dofetilide at its label dose, 30 beats standing for 1,800: APD90 within 3.0 ms). Beyond it the drug
#: binds within a beat, which distorts the beat (1,800 x at 100 x the label dose gave a beat that did not repolarise).
MAX_BINDING_SPEED = 60.0

_METRICS = ("APD90", "APD50", "qNet", "EAD", "V_max", "V_rest")


def paced_windows(
    params: Mapping[str, Any],
    concentration,
    window_beats,
    analysed,
    *,
    initial: Mapping[str, Any] | None = None,
    binding_speed=None,
    cycle_length: float = CYCLE_LENGTH,
    solver: str = "rodas4",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps: int = 50_000_000,
) -> dict[str, np.ndarray]:
    """Pace ORd-CiPA cells through windows of beats at one drug concentration each, in one solve per call.

    Parameters
    ----------
    params : dict
        Model parameters by name (scalars or 1-D arrays over the lanes), ``D`` excluded.
    concentration : array_like, shape (lanes, windows) or (windows,)
        Free drug concentration in each window (nM).
    window_beats : sequence of int
        Beats in each window.
    analysed : sequence of int
        Windows whose last beat is measured.
    initial : dict, optional
        The cells' state to start from (the ``state`` this function returned), default the model's initial state.
    binding_speed : array_like, shape (lanes, windows) or (windows,), optional
        A factor on every drug transition of the hERG model in each window (binding and unbinding, ``Ku``; trapping
        and untrapping, ``Kt``): the drug's kinetics run that many times faster, its equilibria unchanged. Default 1.
    cycle_length, solver, rtol, atol, max_steps
        Pacing cycle length (ms) and the options of :func:`vhtwin.simulate`.

    Returns
    -------
    dict
        ``APD90``, ``APD50`` (ms), ``qNet`` (uC/uF), ``EAD`` (bool), ``V_max``, ``V_rest`` (mV), each of shape
        ``(lanes, len(analysed))``; ``status``, ``n_steps``, ``n_rejected`` of shape ``(lanes,)``; ``state``, the
        cells' state at the end of the last window (a dict by state name, to continue from).
    """
    model = load_model(MODEL)
    if "D" in params:
        raise InputError("params must not hold 'D': the drug concentration is given per window by concentration")
    beats = np.asarray(window_beats)
    if beats.ndim != 1 or beats.size == 0 or not np.issubdtype(beats.dtype, np.integer) or np.any(beats < 1):
        raise InputError(f"window_beats {window_beats!r} must be one or more whole numbers >= 1")
    W = beats.size
    conc = np.asarray(concentration, float)
    conc = conc[None, :] if conc.ndim == 1 else conc
    if conc.ndim != 2 or conc.shape[1] != W:
        raise InputError(f"concentration has shape {np.shape(concentration)}; expected (lanes, {W}) or ({W},): one "
                         "value per window")
    if np.any(~np.isfinite(conc) | (conc < 0)):
        raise InputError("concentration must be finite and >= 0 nM in every window")
    picked = np.asarray(analysed)
    if (picked.ndim != 1 or picked.size == 0 or not np.issubdtype(picked.dtype, np.integer)
            or np.any((picked < 0) | (picked >= W)) or np.any(np.diff(picked) <= 0)):
        raise InputError(f"analysed {analysed!r} must be increasing window numbers from 0 to {W - 1}")
    lanes = lanes_of(params)
    n = max([conc.shape[0]] + [v.size for v in lanes.values()])
    if conc.shape[0] not in (1, n) or any(v.size not in (1, n) for v in lanes.values()):
        raise InputError(f"params and concentration must have one length of lanes (or 1); got {conc.shape[0]} "
                         f"concentration rows and params of lengths {sorted({v.size for v in lanes.values()})}")
    lanes = {k: np.broadcast_to(v, (n,)).copy() for k, v in lanes.items()}
    lanes["D"] = np.broadcast_to(conc, (n, W)).copy()
    # the drug's rates vary by window (1 by default) in every call, so that every call is one program
    speed = np.ones(W) if binding_speed is None else np.asarray(binding_speed, float)
    speed = speed[None, :] if speed.ndim == 1 else speed
    if speed.ndim != 2 or speed.shape[1] != W or speed.shape[0] not in (1, n) or np.any(~(speed > 0)) \
            or np.any(~np.isfinite(speed)):
        raise InputError(f"binding_speed has shape {np.shape(binding_speed)} or values that are not finite "
                         f"numbers > 0; expected ({n}, {W}) or ({W},) factors > 0")
    defaults = model.default_parameters()
    for name in ("Ku", "Kt"):
        base = lanes.get(name, np.full(n, defaults[name]))
        lanes[name] = base[:, None] * np.broadcast_to(speed, (n, W))

    ends = np.cumsum(beats)  # beat number after each window's last beat
    starts = cycle_length * np.concatenate([[0], ends[:-1]])  # window start times (ms)
    grid = beat_grid(cycle_length)
    last_beat = cycle_length * (ends[picked] - 1)  # start of each analysed window's last beat
    wanted = last_beat[:, None] + grid[None, :]
    end = cycle_length * ends[-1]
    times, index = np.unique(np.append(wanted, end), return_inverse=True)
    index = index[:-1].reshape(wanted.shape)
    pacing = Pacing(period=cycle_length, duration=STIMULUS_DURATION, count=int(ends[-1]))
    # every state is written (at the measured beats' samples and the end), so that the end state can be carried on
    ds = simulate(model, lanes, times=times, protocol=pacing, occasions=starts, outputs=list(model.state_names),
                  initial=None if initial is None else dict(initial), solver=solver, rtol=rtol, atol=atol,
                  max_steps=max_steps)
    v, q = (np.atleast_2d(ds[x].transpose(..., "time").values) for x in ("V", "qNet"))
    metrics = beat_metrics(grid, v[:, index], q[:, index])
    out = {k: metrics[k] for k in _METRICS}
    for k in ("status", "n_steps", "n_rejected"):
        out[k] = np.atleast_1d(ds[k].values)
    out["state"] = {name: np.atleast_1d(ds[name].isel(time=-1).values) for name in model.state_names}
    return out


def multirate_coupling(
    params: Mapping[str, Any],
    concentration,
    *,
    beats_per_point: int = BEATS_PER_POINT,
    baseline_beats: int = BASELINE_BEATS,
    real_beats=None,
    **options: Any,
) -> dict[str, np.ndarray]:
    """The cell at each PK time point by multi-rate coupling.

    Parameters
    ----------
    params : dict
        Cell parameters (:func:`paced_windows`).
    concentration : array_like, shape (lanes, points)
        Free concentration (nM) at each PK time point.
    beats_per_point : int
        Beats paced at each point's concentration, from the state the previous point left.
    baseline_beats : int
        Drug-free beats first.
    real_beats : array_like, shape (points,), optional
        The beats of real time each point stands for (the spacing of the points, in beats). Given, the drug's
        binding kinetics in point ``k``'s window run ``real_beats[k] / beats_per_point`` times faster, within 1 and
        :data:`MAX_BINDING_SPEED` (``binding_speed`` of :func:`paced_windows`), so that the drug binds and unbinds
        as far in the window as in the real time it stands for while the rest of the cell beats at its own pace.
    **options
        As :func:`paced_windows` (cycle length, solver options).

    Returns
    -------
    dict
        :func:`paced_windows`' metrics over ``(lanes, 1 + points)``: column 0 is the drug-free baseline, column
        ``k + 1`` point ``k``.
    """
    conc = np.atleast_2d(np.asarray(concentration, float))
    _check_beats(beats_per_point=beats_per_point, baseline_beats=baseline_beats)
    K = conc.shape[1]
    speed = np.ones(K)
    if real_beats is not None:
        real = np.asarray(real_beats, float)
        if real.shape != (K,) or np.any(~np.isfinite(real)) or np.any(real < 0):
            raise InputError(f"real_beats has shape {real.shape} or values < 0; expected {K} beat counts >= 0, one "
                             "per point")
        speed = np.clip(real / beats_per_point, 1.0, MAX_BINDING_SPEED)
    # one solve per point, the state carried: a solve's memory grows with its output samples times its events, so
    # hours of points in one solve do not fit; every point's solve has one shape (and the baseline's too when
    # baseline_beats == beats_per_point), so this compiles once or twice
    pieces = [(conc[:, k:k + 1], [beats_per_point], [0], speed[k:k + 1], True) for k in range(K)]
    return _in_sequence(params, conc.shape[0], baseline_beats, pieces, options)


def _in_sequence(params, n: int, baseline_beats: int, pieces, options) -> dict[str, np.ndarray]:
    """The drug-free baseline, then ``pieces`` -- (concentration, window beats, analysed windows, binding speed, kept)
    -- one :func:`paced_windows` call each, the state carried from one to the next; the kept pieces' metrics joined
    along the windows."""
    first = paced_windows(params, np.zeros((n, 1)), [baseline_beats], [0], **options)
    parts, state = [first], first["state"]
    status, steps, rejected = first["status"], first["n_steps"], first["n_rejected"]
    for conc, beats, analysed, speed, kept in pieces:
        part = paced_windows(params, conc, beats, analysed, initial=state, binding_speed=speed, **options)
        state = part["state"]
        status = np.where(status == 0, part["status"], status)
        steps, rejected = steps + part["n_steps"], rejected + part["n_rejected"]
        if kept:
            parts.append(part)
    out = {k: np.concatenate([q[k] for q in parts], axis=1) for k in _METRICS}
    out.update(status=status, n_steps=steps, n_rejected=rejected, state=state)
    return out


def full_coupling(
    params: Mapping[str, Any],
    beat_concentration,
    points,
    *,
    baseline_beats: int = BASELINE_BEATS,
    chunk: int | None = None,
    **options: Any,
) -> dict[str, np.ndarray]:
    """The cell paced beat after beat with the concentration updated every beat (the reference coupling).

    Parameters
    ----------
    params : dict
        Cell parameters (:func:`paced_windows`).
    beat_concentration : array_like, shape (lanes, beats)
        Free concentration (nM) at the start of each beat after the baseline, one beat per cycle length of real
        time.
    points : sequence of int
        Beats (0-based, counted after the baseline) measured: the beat starting at each PK time point.
    baseline_beats : int
        Drug-free beats first.
    chunk : int, optional
        Most beats per solve (default all): the state is carried from one solve to the next. Hours of beats in one
        solve need memory for every beat's event; chunks of a PK interval's beats keep it small and, when the points
        fall one per chunk, compile once.

    Returns
    -------
    dict
        Metrics over ``(lanes, 1 + len(points))``: column 0 the baseline, then the beats of ``points``.
    """
    conc = np.atleast_2d(np.asarray(beat_concentration, float))
    _check_beats(baseline_beats=baseline_beats)
    N = conc.shape[1]
    p = np.asarray(points)
    if p.ndim != 1 or not np.issubdtype(p.dtype, np.integer) or np.any((p < 0) | (p >= N)):
        raise InputError(f"points {points!r} must be beat numbers from 0 to {N - 1}")
    if chunk is None:
        chunk = N
    _check_beats(chunk=chunk)
    pieces = []
    for start in range(0, N, chunk):
        stop = min(start + chunk, N)
        inside = p[(p >= start) & (p < stop)] - start
        # a chunk without a measured beat measures its last one, dropped after
        picked = inside if inside.size else np.array([stop - start - 1])
        pieces.append((conc[:, start:stop], np.ones(stop - start, int), picked, None, bool(inside.size)))
    return _in_sequence(params, conc.shape[0], baseline_beats, pieces, options)


def _check_beats(**counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} {value!r} must be a whole number >= 1")
