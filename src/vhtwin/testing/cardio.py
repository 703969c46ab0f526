"""Exact and reference solutions of the library's cardiovascular models, for tests and benchmarks.

* ``cardio/windkessel2`` with its default half-sine inflow is linear with a piecewise-smooth forcing, so its
  pressure is known in closed form beat by beat (:func:`windkessel2_pressure`), and so is the periodic steady state
  (:func:`windkessel2_periodic_initial_pressure`). Element definitions: Westerhof N, Lankhaar JW, Westerhof BE.
  The arterial Windkessel. Med Biol Eng Comput 2009; 47:131-141.
* ``cardio/mitchell_schaeffer`` has a leading-order action-potential duration (:func:`mitchell_schaeffer_apd_leading_order`)
  and an independent solve of the same equations by scipy's Radau (:func:`mitchell_schaeffer_reference`).
  Mitchell CC, Schaeffer DG. A two-current model for the dynamics of cardiac membrane potential. Bull Math Biol
  2003; 65:767-793. doi:10.1016/S0092-8240(03)00041-7.

Everything here is plain numpy and scipy in float64, independent of the engine.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "mitchell_schaeffer_apd_leading_order",
    "mitchell_schaeffer_reference",
    "windkessel2_periodic_initial_pressure",
    "windkessel2_pressure",
]

# The documented stimulus amplitude of cardio/mitchell_schaeffer (ms-1): a 1 ms pulse raises v from rest to about 0.2.
MITCHELL_SCHAEFFER_STIMULUS = 0.2


# -- two-element Windkessel with the half-sine inflow --------------------------------------------------------------
# During ejection P' + P / tau = (Q_max / C) sin(w s) + P_out / tau (tau = R C, w = pi / T_ej, s = time since the beat
# started), whose particular solution is P_out + A sin(w s) + B cos(w s) with A = (Q_max / C) tau / (1 + w^2 tau^2),
# B = -w tau A; in diastole P relaxes to P_out with time constant tau.
def _windkessel2_beat(P0, s, R, C, P_out, T_ej, q_max):
    tau = R * C
    w = math.pi / T_ej
    A = (q_max / C) * tau / (1.0 + (w * tau) ** 2)
    B = -w * tau * A
    s = np.asarray(s, float)
    in_ejection = s <= T_ej
    part = P_out + A * np.sin(w * np.minimum(s, T_ej)) + B * np.cos(w * np.minimum(s, T_ej))
    ejecting = part + (P0 - (P_out + B)) * np.exp(-np.minimum(s, T_ej) / tau)
    P_end = P_out + A * math.sin(math.pi) + B * math.cos(math.pi) + (P0 - (P_out + B)) * math.exp(-T_ej / tau)
    relaxing = P_out + (P_end - P_out) * np.exp(-(s - T_ej) / tau)
    return np.where(in_ejection, ejecting, relaxing)


def windkessel2_pressure(t, P0, R, C, HR, SV, T_ej, P_out=0.0):
    """P_ao(t) (mmHg) of ``cardio/windkessel2`` with the half-sine inflow, from P_ao(0) = P0, in closed form.

    Parameters
    ----------
    t : array_like
        1-D times >= 0 (s).
    P0 : float
        Pressure at t = 0 (mmHg).
    R, C : float
        Peripheral resistance (mmHg s mL-1) and compliance (mL mmHg-1).
    HR, SV, T_ej : float
        Heart rate (min-1), stroke volume (mL) and ejection time (s) of the inflow
        Q_in = Q_max sin(pi s / T_ej) for s < T_ej in each beat, Q_max = pi SV / (2 T_ej).
    P_out : float
        Outflow (venous) pressure (mmHg).

    Returns
    -------
    numpy.ndarray
        The pressure at ``t``, propagated beat by beat from the exact end-of-beat value.
    """
    t = np.asarray(t, float)
    period = 60.0 / HR
    q_max = math.pi * SV / (2.0 * T_ej)
    beats = np.floor(t / period).astype(int)
    out = np.empty_like(t)
    start = P0
    for k in range(int(beats.max()) + 1 if t.size else 0):
        here = beats == k
        out[here] = _windkessel2_beat(start, t[here] - k * period, R, C, P_out, T_ej, q_max)
        start = float(_windkessel2_beat(start, np.array([period]), R, C, P_out, T_ej, q_max)[0])
    return out


def windkessel2_periodic_initial_pressure(R, C, HR, SV, T_ej, P_out=0.0):
    """The pressure (mmHg) at the start of a beat at periodic steady state, P(T) = P(0), solved exactly.

    The end-of-beat pressure is affine in the start pressure, P(T) = a P0 + b with a = exp(-T / (R C)), so
    P0 = b / (1 - a). Arguments as in :func:`windkessel2_pressure`.
    """
    period = 60.0 / HR
    q_max = math.pi * SV / (2.0 * T_ej)
    b = float(_windkessel2_beat(0.0, np.array([period]), R, C, P_out, T_ej, q_max)[0])
    a = math.exp(-period / (R * C))
    return b / (1.0 - a)


# -- Mitchell--Schaeffer cell ---------------------------------------------------------------------------------------
def mitchell_schaeffer_apd_leading_order(tau_in=0.3, tau_out=6.0, tau_close=150.0):
    """Leading-order maximal action-potential duration (ms) of ``cardio/mitchell_schaeffer``.

    During the plateau h decays as exp(-t / tau_close), and the plateau loses its stable fixed point when h falls
    to 4 tau_in / tau_out, so APD = tau_close ln(tau_out / (4 tau_in)) (Mitchell & Schaeffer 2003, section 3):
    241 ms at the defaults. The full model repolarises later, so this is a lower bound of its APD.
    """
    return tau_close * np.log(tau_out / (4.0 * tau_in))


def mitchell_schaeffer_reference(t, *, stimuli=((0.0, 1.0),), amplitude=MITCHELL_SCHAEFFER_STIMULUS, tau_in=0.3,
                                 tau_out=6.0, tau_open=120.0, tau_close=150.0, v_gate=0.13, initial=(0.0, 1.0),
                                 rtol=1e-10, atol=1e-12):
    """(v, h) of ``cardio/mitchell_schaeffer`` at the sorted times ``t`` (ms), by scipy's Radau solver.

    Parameters
    ----------
    t : array_like
        Sorted 1-D times (ms); ``t[0]`` is the start time and ``initial`` the state there.
    stimuli : sequence of (start, end)
        Intervals (ms) with ``J_stim = amplitude`` (ms-1); the solve restarts at every stimulus edge so that no
        step straddles one.
    tau_in, tau_out, tau_open, tau_close, v_gate : float
        The model's parameters (ms, and dimensionless ``v_gate``); the switch at ``v_gate`` is left to the
        step-size control.
    initial : (float, float)
        (v, h) at ``t[0]``; the default is the rest state.
    rtol, atol : float
        Radau's tolerances.

    Returns
    -------
    numpy.ndarray
        Shape ``(2, len(t))``: rows v and h.
    """
    from scipy.integrate import solve_ivp

    t = np.asarray(t, float)
    edges = sorted({float(x) for s in stimuli for x in s if t[0] < x < t[-1]})
    cuts = [t[0]] + edges + [t[-1]]

    def rhs(time, y, stim):
        v, h = y
        dh = (1.0 - h) / tau_open if v < v_gate else -h / tau_close
        return [h * v * v * (1.0 - v) / tau_in - v / tau_out + stim, dh]

    out = np.empty((2, t.size))
    out[:, 0] = initial
    y = np.asarray(initial, float)
    for a, b in zip(cuts[:-1], cuts[1:]):
        mid = 0.5 * (a + b)
        stim = amplitude if any(s <= mid < e for s, e in stimuli) else 0.0
        inside = (t > a) & (t <= b)
        evals = np.unique(np.append(t[inside], b))
        sol = solve_ivp(rhs, (a, b), y, method="Radau", t_eval=evals, rtol=rtol, atol=atol, args=(stim,))
        out[:, inside] = sol.y[:, : inside.sum()]
        y = sol.y[:, -1]
    return out
