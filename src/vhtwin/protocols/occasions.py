"""Inter-occasion variability inside one simulation: parameters that switch at occasion boundaries.

``simulate(..., occasions=[t_0, t_1, ...])`` with per-occasion parameter values (a population draw with an
``occasion`` dim and ``<name>_by_occasion`` variables, or a params dict with 2-D arrays ``(n_patients,
n_occasions)``) runs every occasion in one solve. Occasion ``k`` is in force on ``[t_k, t_{k+1})``, the last one to
the end; before ``t_0`` occasion 0 applies.

How it runs: the varying parameters are piecewise constant in time, like the model's inputs, which the loop
already switches at events. So

* each boundary ``t_k`` (k >= 1) at or after the start becomes an event row (merged with the dose events: a dose and
  a boundary at one time are one row; a dose there uses the new occasion's values, e.g. its bioavailability);
* the varying parameters ride along as extra trailing input channels of the event table (``Events.inputs``), and
  the engine reads them from the tail of ``u`` in place of the corresponding rows of ``p`` -- in the vector field
  (which covers infusion rates times F), in the dose fractions applied to each event's jumps, and in the
  observables at each output time;
* an output at a boundary time is the value just *before* the boundary (the left limit, as for every event): its
  observables use the previous occasion's parameters.

Without occasions nothing changes: no extra channels, the same compiled code.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import xarray as xr

from ..errors import InputError
from ..model import Model
from ..solvers.loop import Events


def split_parameters(model: Model, params, occasions) -> tuple[Any, dict[str, np.ndarray], np.ndarray | None]:
    """Separate per-occasion parameters from the rest.

    Returns ``(params for parameter_matrix, {name: (B, K) values}, occasion starts (K,) or (B, K))``. Without
    ``occasions`` the params come back unchanged (a draw with an occasion dim then gives occasion 0's values).
    """
    if occasions is None:
        return params, {}, None
    by_occasion: dict[str, np.ndarray] = {}
    if isinstance(params, xr.Dataset):
        names = [n for n in model.parameter_names if f"{n}_by_occasion" in params.data_vars]
        if "occasion" not in params.dims or not names:
            raise InputError(
                "occasions: given, but params has no per-occasion parameters (a population draw with an 'occasion' "
                "dim and <name>_by_occasion variables, from vh.Population(..., iov=vh.IOV(...)).sample, or a dict "
                "with 2-D arrays (n_patients, n_occasions)); without inter-occasion variability leave occasions=None"
            )
        base = {k: params[k].values for k in params.data_vars if k in model.parameter_names}
        for n in names:
            v = params[f"{n}_by_occasion"]
            if set(v.dims) != {"patient", "occasion"}:
                raise InputError(f"params {n}_by_occasion: expected dims ('patient', 'occasion'), got {v.dims}")
            by_occasion[n] = np.asarray(v.transpose("patient", "occasion").values, dtype=float)
    elif isinstance(params, Mapping):
        base = dict(params)
        for n, v in params.items():
            a = np.asarray(v, dtype=float) if not isinstance(v, str) else None
            if a is not None and a.ndim == 2:
                by_occasion[n] = a
            elif a is not None and a.ndim > 2:
                raise InputError(f"parameter {n!r}: expected a number, a 1-D array or a 2-D array (n_patients, n_occasions), got shape {a.shape}")
        if not by_occasion:
            raise InputError(
                "occasions: given, but no parameter in params varies by occasion (give 2-D arrays (n_patients, "
                "n_occasions), or a population draw with IOV); without inter-occasion variability leave occasions=None"
            )
    else:
        raise InputError(f"params must be a dict of parameter values by name, got {type(params).__name__}")

    unknown = [n for n in by_occasion if n not in model.parameter_names]
    if unknown:
        raise InputError(f"unknown parameter {unknown[0]!r} for model {model.name}; its parameters are {list(model.parameter_names)}")
    fixed = {name: "a dose lag" for name in model.lags().values()}
    fixed.update({name: f"an infusion {role}" for roles in model.modelled_infusions().values() for role, name in roles.items()})
    for n in by_occasion:
        if n in fixed:
            raise InputError(
                f"parameter {n!r} is {fixed[n]} and varies by occasion; dose times are resolved before the solve, so "
                "occasion-varying lags, infusion rates and durations are not supported (give it one value per patient)"
            )
    shapes = {n: a.shape for n, a in by_occasion.items()}
    if len(set(shapes.values())) > 1:
        raise InputError(f"per-occasion parameters have different shapes {shapes}; each must be (n_patients, n_occasions)")
    B, K = next(iter(shapes.values()))
    if B == 0 or K == 0:
        raise InputError(f"per-occasion parameters: empty array of shape {(B, K)}")
    for q in model.parameters:
        if q.name in by_occasion:
            bad = q.violations(by_occasion[q.name].ravel())
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise InputError(
                    f"parameter {q.name!r} (patient {k // K}, occasion {k % K}): value "
                    f"{by_occasion[q.name].ravel()[k]:g} is outside the allowed range ({q.allowed()})"
                )
            base[q.name] = by_occasion[q.name][:, 0]  # occasion 0: for steady states, initial values, checks
    starts = check_occasions(occasions, K, B)
    return base, by_occasion, starts


def check_occasions(occasions, K: int, B: int) -> np.ndarray:
    try:
        o = np.asarray(occasions, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"occasions {occasions!r} must be an array of occasion start times") from None
    if o.ndim not in (1, 2):
        raise InputError(f"occasions: expected a 1-D array of {K} start times (or (n_patients, {K})), got shape {o.shape}")
    if o.shape[-1] != K:
        raise InputError(
            f"occasions: got {o.shape[-1]} start times but the per-occasion parameters have {K} occasions; give one "
            "start time per occasion"
        )
    if o.ndim == 2 and o.shape[0] != B:
        raise InputError(f"occasions: per-patient start times have {o.shape[0]} rows but there are {B} patients")
    if not np.all(np.isfinite(o)):
        raise InputError(f"occasions {o.tolist()!r} must be finite")
    if K > 1 and not np.all(np.diff(o, axis=-1) > 0):
        raise InputError(f"occasions {o.tolist()!r} must be strictly increasing (occasion k starts at occasions[k])")
    return o


def _merge_column(ev: Events, col: int | None, bounds: np.ndarray, starts: np.ndarray, start: float):
    """One event column (lane ``col`` of a per-lane table, or the shared column) merged with the boundaries.

    Returns the merged times (E',), jumps (E', n, c), inputs (E', U, c), reset (E', c) or None, reset_to, the
    occasion in force from each row on (E',) and the occasion in force before the first row.
    """
    lane = lambda a: a if col is None or a.shape[-1] == 1 else a[..., col : col + 1]
    times = lane(ev.times)[:, 0]
    finite = np.isfinite(times)
    t_old = times[finite]
    pick = lambda a: lane(a)[finite]
    jumps, inputs = pick(ev.jumps), pick(ev.inputs)
    init = lane(ev.initial_inputs)
    bounds = bounds[bounds >= start]
    t_new = np.unique(np.concatenate([t_old, bounds]))
    n = ev.jumps.shape[1]
    if not len(t_new):
        t_new = np.array([np.inf])
    E = len(t_new)
    where = np.searchsorted(t_new, t_old)
    J = np.zeros((E, n, jumps.shape[-1]))
    J[where] = jumps
    prev = np.searchsorted(t_old, t_new, side="right") - 1  # last old event at or before each new row
    I = np.where((prev >= 0)[:, None, None], inputs[np.clip(prev, 0, None)] if len(t_old) else init[None], init[None])
    reset = reset_to = None
    if ev.reset is not None:
        r_old, rt_old = pick(ev.reset), pick(ev.reset_to)
        reset = np.zeros((E, r_old.shape[-1]))
        reset[where] = r_old
        reset_to = np.full((E, n, rt_old.shape[-1]), np.nan)
        reset_to[where] = rt_old
    occasion = np.clip(np.searchsorted(starts, t_new, side="right") - 1, 0, None)
    occasion_before = max(int(np.searchsorted(starts, start, side="left")) - 1, 0)
    return t_new, J, I, reset, reset_to, occasion, occasion_before


def merge(model: Model, events: Events, by_occasion: dict[str, np.ndarray], starts: np.ndarray, start: float):
    """The event table with occasion boundaries as rows and the varying parameters as trailing input channels.

    Returns the new table and the parameter rows (indices into the model's parameters) the tail replaces.
    """
    names = [n for n in model.parameter_names if n in by_occasion]
    rows = tuple(model.parameter_names.index(n) for n in names)
    values = np.stack([by_occasion[n] for n in names])  # (V, B, K)
    V, B, K = values.shape
    shared = starts.ndim == 1 and events.times.shape[1] == 1
    if shared:
        t, J, I, R, RT, occ, occ0 = _merge_column(events, None, starts[1:], starts, start)
        tail = np.moveaxis(values[:, :, occ], 2, 0)  # (E', V, B)
        inputs = np.concatenate([np.broadcast_to(I, I.shape[:2] + (B,)), tail], axis=1)
        initial = np.concatenate([np.broadcast_to(events.initial_inputs, (I.shape[1], B)), values[:, :, occ0]], axis=0)
        if J.shape[-1] not in (1, B) or (R is not None and R.shape[-1] not in (1, B)):
            raise InputError(f"per-patient dose amounts have {J.shape[-1]} entries but there are {B} patients")
        return Events(t[:, None], J, inputs, initial, R, RT), rows
    columns = []
    for b in range(B):
        s = starts if starts.ndim == 1 else starts[b]
        t, J, I, R, RT, occ, occ0 = _merge_column(events, b, s[1:], s, start)
        init = events.initial_inputs[:, b if events.initial_inputs.shape[-1] > 1 else 0]
        columns.append((t, J[..., 0], I[..., 0], None if R is None else R[:, 0], None if RT is None else RT[..., 0],
                        values[:, b, occ].T, init, values[:, b, occ0]))
    E = max(len(c[0]) for c in columns)
    n, U = events.jumps.shape[1], events.inputs.shape[1]
    times = np.full((E, B), np.inf)
    jumps = np.zeros((E, n, B))
    inputs = np.zeros((E, U + V, B))
    initial = np.zeros((U + V, B))
    with_resets = events.reset is not None
    reset = np.zeros((E, B)) if with_resets else None
    reset_to = np.full((E, n, B), np.nan) if with_resets else None
    for b, (t, J, I, R, RT, tail, init, tail0) in enumerate(columns):
        e = len(t)
        times[:e, b] = t
        jumps[:e, :, b] = J
        inputs[:e, :U, b], inputs[:e, U:, b] = I, tail
        inputs[e:, :, b] = inputs[e - 1, :, b]
        initial[:U, b], initial[U:, b] = init, tail0
        if with_resets:
            reset[:e, b], reset_to[:e, :, b] = R, RT
    return Events(times, jumps, inputs, initial, reset, reset_to), rows
