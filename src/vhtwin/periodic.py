"""Periodic steady states (limit cycles) by brute-force pacing: simulate period after period until the state at the
start of a period stops changing.

``periodic_steady_state(model, params, period=1000.0, protocol_per_period=vh.Pacing(1000.0, 1.0))`` paces a cell
model to its steady state; with ``protocol_per_period=None`` it runs a model whose own right-hand side is periodic in
``t`` (a circulation model with its heartbeat driver ``e(t)``) to its limit cycle.

How it works: the batch is simulated ``chunk`` periods per call of :func:`vhtwin.simulate`, each call continuing from
the last state (``initial=``) at the time where the last one stopped (``t0=``), so the model's time runs on without a
break, and with the one-period protocol repeated at ``t0 + k period``. Every call has the same shapes, so one
compilation serves them all. After period ``k`` the state ``x_k`` (at ``t0 + k period``, just before that period's
events) is compared with ``x_{k-1}``::

    change_k = max over states |x_k - x_{k-1}| / (|x_k| + atol)

and a patient has converged at the first ``k`` with ``change_k <= tol`` (``atol``: the solver's absolute tolerance,
per state when given per state). The batch keeps its width until every patient has converged, failed or reached
``max_periods`` (patients that converged early keep running; their result is the state at their own first
convergence -- dropping them would recompile the solve for every new width). A patient whose solve fails keeps its
last good state, gets ``converged = False`` and its solver status.

Periods are counted from ``t0``: period ``k`` covers ``[t0 + k period, t0 + (k + 1) period)``; the protocol for one
period (times from 0) is shifted there. :class:`vhtwin.Pacing` protocols and any protocol with ``impulses`` (a
:class:`vhtwin.Regimen` of plain doses, or both combined with ``+``) can be repeated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
import xarray as xr

from .errors import InputError
from .model import Model
from .options import DEFAULTS
from .protocols.pacing import Combined, Pacing

__all__ = ["periodic_steady_state"]


def periodic_steady_state(
    model: Model,
    params: Mapping[str, Any] | xr.Dataset | None = None,
    *,
    period: float,
    protocol_per_period=None,
    tol: float = 1e-4,
    max_periods: int = 1000,
    chunk: int = 10,
    initial: Mapping[str, Any] | None = None,
    t0: float = 0.0,
    keep_last: bool = False,
    times_per_period: int = 1000,
    solver=DEFAULTS.solver,
    rtol: float | Mapping[str, float] = DEFAULTS.rtol,
    atol: float | Mapping[str, float] = DEFAULTS.atol,
    **simulate_options,
) -> xr.Dataset:
    """The state at the start of a period once the model has settled into a periodic steady state, per patient.

    Parameters
    ----------
    model : Model
        The model.
    params : dict or Dataset, optional
        Parameters as for :func:`vhtwin.simulate` (scalars: one patient; 1-D arrays: a batch).
    period : float
        The period, in the model's time unit (the pacing cycle length; the model's own period when it is driven
        from inside).
    protocol_per_period : Pacing, Regimen or combination, optional
        The events of ONE period, with times from 0 (e.g. ``vh.Pacing(period, 1.0)``, count 1). Repeated every period.
    tol : float
        Convergence threshold on ``change_k`` (see the module docstring): a relative state change per period.
    max_periods : int
        Give up after this many periods (``converged`` False; the state after ``max_periods`` periods is returned).
    chunk : int
        Periods per simulate call.
    initial : dict, optional
        Initial states by name (scalar or per patient); default the model's initial values.
    t0 : float
        Time at the start of period 0.
    keep_last : bool
        Also simulate one more period from the returned state (on ``times_per_period + 1`` points from ``t0`` to
        ``t0 + period``, the model's time shifted back by a whole number of periods) and return it as
        ``last_<name>`` variables over ``("patient", "time")`` for every output of the model.
    times_per_period : int
        Output intervals of that last period.
    solver, rtol, atol, **simulate_options
        Passed to :func:`vhtwin.simulate` (``precision``, ``dt0``, ``dt_max``, ``max_steps``...).

    Returns
    -------
    xarray.Dataset
        A variable per state with the state at the start of the final period (``units``), ``n_periods`` (periods
        simulated before it), ``converged`` (bool), ``change`` (the last ``change_k``), ``status`` (0, or the status
        of a failed solve), over ``patient`` (no dims for one patient); with ``keep_last`` the ``last_*`` variables.
    """
    from .simulate import simulate

    if not isinstance(model, Model):
        raise InputError(f"periodic_steady_state needs a vhtwin Model, got {type(model).__name__}")
    if isinstance(period, bool) or not isinstance(period, (int, float)) or not (math.isfinite(period) and period > 0):
        raise InputError(f"period {period!r} must be a finite number > 0")
    for name, value in (("max_periods", max_periods), ("chunk", chunk), ("times_per_period", times_per_period)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"{name} {value!r} must be a positive integer")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise InputError(f"tol {tol!r} must be a number > 0")
    if not (isinstance(t0, (int, float)) and math.isfinite(t0)):
        raise InputError(f"t0 {t0!r} must be a finite number")
    period, t0, chunk = float(period), float(t0), int(min(chunk, max_periods))
    names = model.state_names
    floor = _per_state(atol, names, DEFAULTS.atol)[:, None]  # (n, 1)
    options = dict(solver=solver, rtol=rtol, atol=atol, outputs=list(names), **simulate_options)

    state = None  # (n, B) at the start of the next chunk
    batched = None
    done = 0
    result = first_change = converged_at = status = None
    while done < max_periods:
        start = t0 + done * period
        times = start + period * np.arange(chunk + 1)
        init = initial if state is None else {s: (state[i] if batched else float(state[i, 0])) for i, s in enumerate(names)}
        ds = simulate(model, params, times=times, protocol=_repeat(protocol_per_period, start, period, chunk),
                      initial=init, t0=start, **options)
        batched = "patient" in ds.dims
        X = np.stack([np.atleast_2d(ds[s].transpose(..., "time").values) for s in names])  # (n, B, chunk + 1)
        st = np.atleast_1d(ds["status"].values).astype(int)
        B = X.shape[1]
        if result is None:
            result = X[:, :, 0].copy()
            converged_at = np.full(B, -1)
            first_change = np.full(B, np.nan)
            status = np.zeros(B, int)
            n_done = np.zeros(B, int)
        active = (converged_at < 0) & (status == 0)
        failed_now = active & (st != 0)
        status[failed_now] = st[failed_now]
        usable = min(chunk, max_periods - done)
        for k in range(1, usable + 1):
            change = np.max(np.abs(X[:, :, k] - X[:, :, k - 1]) / (np.abs(X[:, :, k]) + floor), axis=0)
            live = active & ~failed_now & (converged_at < 0)
            result[:, live] = X[:, live, k]
            first_change[live] = change[live]
            n_done[live] = done + k
            hit = live & (change <= tol)
            converged_at[hit] = done + k
        done += usable
        ok = np.isfinite(X[:, :, -1]).all(axis=0) & (st == 0)
        state = np.where(ok[None, :], X[:, :, -1], result if state is None else state)
        if not ((converged_at < 0) & (status == 0)).any():
            break

    converged = converged_at >= 0
    dims = ("patient",) if batched else ()
    squeeze = (lambda a: a) if batched else (lambda a: a[0])
    data = {s: xr.Variable(dims, squeeze(result[i]), attrs={"units": model.unit_of(s)}) for i, s in enumerate(names)}
    data["n_periods"] = xr.Variable(dims, squeeze(n_done), attrs={"units": "1", "long_name": "periods simulated"})
    data["converged"] = xr.Variable(dims, squeeze(converged), attrs={"long_name": f"change per period <= {tol:g}"})
    data["change"] = xr.Variable(dims, squeeze(first_change), attrs={
        "units": "1", "long_name": "max over states of |x_k - x_{k-1}| / (|x_k| + atol) at the returned period"})
    data["status"] = xr.Variable(dims, squeeze(status.astype(np.int8)), attrs={"long_name": "0 success, else the solver status"})
    coords = {"patient": np.arange(result.shape[1])} if batched else {}
    out = xr.Dataset(data, coords=coords)
    out.attrs.update(period=period, t0=t0, tol=tol, max_periods=int(max_periods), time_unit=model.time_unit,
                     model=model.name)
    if keep_last:
        times = t0 + period * np.arange(times_per_period + 1) / times_per_period
        init = {s: (result[i] if batched else float(result[i, 0])) for i, s in enumerate(names)}
        last_options = {k: v for k, v in options.items() if k != "outputs"}
        last = simulate(model, params, times=times, protocol=_repeat(protocol_per_period, t0, period, 1),
                        initial=init, t0=t0, **last_options)
        out = out.assign_coords(time=last["time"])
        for name in last.data_vars:
            if "time" in last[name].dims:
                out[f"last_{name}"] = last[name]
    return out


def _per_state(value, names, default):
    if isinstance(value, Mapping):
        return np.array([float(value.get(s, default)) for s in names])
    return np.full(len(names), float(value))


def _repeat(protocol, start: float, period: float, count: int):
    """``protocol`` (one period, times from 0) repeated ``count`` times from ``start``."""
    if protocol is None:
        return None
    if isinstance(protocol, Pacing) and protocol.count == 1:
        return replace(protocol, period=period, count=count, start=start + protocol.start)
    if isinstance(protocol, Combined):
        return Combined(tuple(_repeat(p, start, period, count) for p in protocol.parts))
    if not (hasattr(protocol, "impulses") or hasattr(protocol, "for_model")):
        raise InputError(f"protocol_per_period {protocol!r} is not a protocol (a Pacing, a Regimen or their sum)")
    return _Repeated(protocol, tuple(start + k * period for k in range(count)))


@dataclass(frozen=True)
class _Repeated:
    """A protocol's events copied at each of ``offsets`` (jumps, pulses and resets shifted in time)."""

    part: Any
    offsets: tuple

    def for_model(self, model):
        return _Repeated(self.part.for_model(model), self.offsets) if hasattr(self.part, "for_model") else self

    def impulses(self, dosable):
        jumps, pulses = self.part.impulses(dosable)
        return (
            [(t + o, *rest) for o in self.offsets for t, *rest in jumps],
            [(a + o, b + o, *rest) for o in self.offsets for a, b, *rest in pulses],
        )

    def reset_events(self, state_names):
        if not hasattr(self.part, "reset_events"):
            return []
        return [(t + o, *rest) for o in self.offsets for t, *rest in self.part.reset_events(state_names)]
