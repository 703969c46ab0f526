"""Exact and reference solutions of the library's pharmacokinetic models, for tests and benchmarks.

Two kinds of oracle, both independent of the engine (plain numpy and scipy, float64):

* Closed forms of the linear compartmental models, by superposition of the response to one bolus or one
  zero-order infusion (Gibaldi M, Perrier D. *Pharmacokinetics*, 2nd ed., Marcel Dekker, 1982, ch. 1 and 2;
  NONMEM's ADVAN1-4 and ADVAN11-12 structures).
* Reference solves of the Michaelis--Menten models by scipy's implicit Radau method at tight tolerance, restarted
  at each bolus, with the integrated Michaelis--Menten equation and the linear limit (Gibaldi & Perrier, ch. 7).

Conventions shared by every function: amounts in mg, times in h, volumes in L, clearances in L h-1. Boluses at
times ``<= t`` contribute only for ``t > dose time``: at a dose time the value is the one just before the dose, as
in :func:`vhtwin.simulate`. The body is empty before the first dose. The closed forms broadcast their parameters
against ``t`` (e.g. arrays of shape (n, 1) against ``t`` of shape (T,)); the Radau references take scalars.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "boluses_by_radau",
    "michaelis_menten_linear_clearance",
    "michaelis_menten_time_to_concentration",
    "one_compartment_iv_central",
    "one_compartment_iv_mm_central",
    "one_compartment_oral_central",
    "one_compartment_oral_depot",
    "one_compartment_oral_mm_central",
    "three_compartment_disposition_modes",
    "three_compartment_iv_amounts",
    "three_compartment_iv_central",
    "three_compartment_oral_amounts",
    "three_compartment_oral_central",
    "two_compartment_iv_central",
    "two_compartment_iv_mm_central",
    "two_compartment_oral_central",
    "two_compartment_oral_mm_central",
]


# -- linear models: closed forms -------------------------------------------------------------------------------------
def one_compartment_iv_central(t, dose_times, dose_amounts, CL, V, infusions=()):
    """Exact amount in ``central`` (mg) of ``pharmacokinetics/one_compartment_iv`` after boluses and infusions.

    With k = CL / V, a bolus D at time 0 gives central(t) = D e^{-k t}, and an infusion at rate R from ``ts`` to
    ``te`` gives (Gibaldi & Perrier, ch. 1)

        central(t) = (R / k) [ e^{-k (t - m)} - e^{-k (t - ts)} ],   m = min(t, te),  t > ts,

    which is R (1 - e^{-k (t - ts)}) / k during the infusion and decays as e^{-k (t - te)} after it.

    Parameters
    ----------
    t : array_like
        Times (h).
    dose_times, dose_amounts : sequence of float
        Bolus times (h) and amounts (mg) into ``central``.
    CL, V : array_like
        Clearance (L h-1) and volume (L); they broadcast against ``t``.
    infusions : sequence of (start, duration, amount)
        Zero-order infusions into ``central`` (h, h, mg).

    Returns
    -------
    numpy.ndarray
        The amount in ``central`` (mg), float64, of the broadcast shape.
    """
    t = np.asarray(t, float)
    CL, V = (np.asarray(x, float) for x in (CL, V))
    k = CL / V
    total = 0.0
    for td, amount in zip(dose_times, dose_amounts):
        tau = t - td
        after = tau > 0
        total = total + np.where(after, amount * np.exp(-k * np.where(after, tau, 0.0)), 0.0)
    for ts, duration, amount in infusions:
        rate = amount / duration
        after = t > ts
        m = np.minimum(t, ts + duration)
        c = rate / k * (np.exp(-k * (t - m)) - np.exp(-k * np.where(after, t - ts, 0.0)))
        total = total + np.where(after, c, 0.0)
    return total


def one_compartment_oral_central(t, dose_times, dose_amounts, ka, CL, V):
    """Exact amount in ``central`` (mg) of ``pharmacokinetics/one_compartment_oral`` after boluses into ``depot``.

    With k = CL / V, one oral dose D at time 0 gives the Bateman function (Gibaldi & Perrier, ch. 1)

        central(t) = D ka / (ka - k) [ e^{-k t} - e^{-ka t} ].

    Valid when ka != k. ``ka`` (h-1), ``CL`` (L h-1) and ``V`` (L) broadcast against ``t`` (h); returns float64
    amounts (mg).
    """
    t = np.asarray(t, float)
    ka, CL, V = (np.asarray(x, float) for x in (ka, CL, V))
    k = CL / V
    total = 0.0
    for td, amount in zip(dose_times, dose_amounts):
        tau = t - td
        after = tau > 0
        tau = np.where(after, tau, 0.0)
        c = amount * ka / (ka - k) * (np.exp(-k * tau) - np.exp(-ka * tau))
        total = total + np.where(after, c, 0.0)
    return total


def one_compartment_oral_depot(t, dose_times, dose_amounts, ka):
    """Exact amount in ``depot`` (mg) after oral boluses: the sum of D e^{-ka (t - dose time)} over past doses.

    ``ka`` (h-1) broadcasts against ``t`` (h). The same for every model with a first-order absorption depot.
    """
    t = np.asarray(t, float)
    ka = np.asarray(ka, float)
    total = 0.0
    for td, amount in zip(dose_times, dose_amounts):
        after = t > td
        total = total + np.where(after, amount * np.exp(-ka * np.where(after, t - td, 0.0)), 0.0)
    return total


def _two_compartment_rates(CL, V1, Q, V2):
    """k21 and the disposition rate constants alpha > beta, roots of s**2 - (k10 + k12 + k21) s + k10 k21 = 0."""
    k10, k12, k21 = CL / V1, Q / V1, Q / V2
    s = k10 + k12 + k21
    root = np.sqrt(s * s - 4.0 * k10 * k21)
    return k21, 0.5 * (s + root), 0.5 * (s - root)


def two_compartment_iv_central(t, dose_times, dose_amounts, CL, V1, Q, V2, infusions=()):
    """Exact amount in ``central`` (mg) of ``pharmacokinetics/two_compartment_iv`` after boluses and infusions.

    With k10 = CL/V1, k12 = Q/V1, k21 = Q/V2 the disposition rate constants are the roots alpha > beta of
    s**2 - (k10 + k12 + k21) s + k10 k21 = 0, and a bolus D at time 0 gives (Gibaldi & Perrier, ch. 2)

        central(t) = D [ A e^{-alpha t} + B e^{-beta t} ],   A = (alpha - k21) / (alpha - beta),
                                                             B = (k21 - beta) / (alpha - beta).

    An infusion at rate R from ``ts`` to ``te`` is the integral of that response over the infusion:

        central(t) = R [ A (e^{-alpha (t - m)} - e^{-alpha (t - ts)}) / alpha
                       + B (e^{-beta (t - m)}  - e^{-beta (t - ts)})  / beta ],   m = min(t, te),  t > ts.

    ``infusions`` is a sequence of ``(start, duration, amount)`` (h, h, mg). Parameters (L h-1, L) broadcast
    against ``t`` (h).
    """
    t = np.asarray(t, float)
    CL, V1, Q, V2 = (np.asarray(x, float) for x in (CL, V1, Q, V2))
    k21, alpha, beta = _two_compartment_rates(CL, V1, Q, V2)
    A, B = (alpha - k21) / (alpha - beta), (k21 - beta) / (alpha - beta)
    total = 0.0
    for td, amount in zip(dose_times, dose_amounts):
        after = t > td
        tau = np.where(after, t - td, 0.0)
        c = amount * (A * np.exp(-alpha * tau) + B * np.exp(-beta * tau))
        total = total + np.where(after, c, 0.0)
    for ts, duration, amount in infusions:
        rate = amount / duration
        after = t > ts
        since_start = np.where(after, t - ts, 0.0)
        since_stop = t - np.minimum(t, ts + duration)
        c = rate * (
            A * (np.exp(-alpha * since_stop) - np.exp(-alpha * since_start)) / alpha
            + B * (np.exp(-beta * since_stop) - np.exp(-beta * since_start)) / beta
        )
        total = total + np.where(after, c, 0.0)
    return total


def two_compartment_oral_central(t, dose_times, dose_amounts, ka, CL, V1, Q, V2):
    """Exact amount in ``central`` (mg) of ``pharmacokinetics/two_compartment_oral`` after boluses into ``depot``.

    With alpha > beta the disposition rate constants (see :func:`two_compartment_iv_central`), one oral dose D at
    time 0 gives (Gibaldi & Perrier, ch. 2)

        central(t) = D ka [ (k21 - alpha) e^{-alpha t} / ((ka - alpha)(beta - alpha))
                          + (k21 - beta)  e^{-beta t}  / ((ka - beta)(alpha - beta))
                          + (k21 - ka)    e^{-ka t}    / ((alpha - ka)(beta - ka)) ].

    Valid when ka, alpha and beta are distinct. Parameters broadcast against ``t`` (h).
    """
    t = np.asarray(t, float)
    ka, CL, V1, Q, V2 = (np.asarray(x, float) for x in (ka, CL, V1, Q, V2))
    k21, alpha, beta = _two_compartment_rates(CL, V1, Q, V2)
    total = 0.0
    for td, amount in zip(dose_times, dose_amounts):
        tau = t - td
        after = tau > 0
        tau = np.where(after, tau, 0.0)
        c = amount * ka * (
            (k21 - alpha) * np.exp(-alpha * tau) / ((ka - alpha) * (beta - alpha))
            + (k21 - beta) * np.exp(-beta * tau) / ((ka - beta) * (alpha - beta))
            + (k21 - ka) * np.exp(-ka * tau) / ((alpha - ka) * (beta - ka))
        )
        total = total + np.where(after, c, 0.0)
    return total


def three_compartment_disposition_modes(CL, V1, Q2, V2, Q3, V3):
    """Exponents and coefficients of the three-compartment response to a unit input into ``central``.

    In amounts x = (central, peripheral1, peripheral2) the model is dx/dt = K x with K = M diag(1/V), where
    M = [[-(CL+Q2+Q3), Q2, Q3], [Q2, -Q2, 0], [Q3, 0, -Q3]] is symmetric. K is therefore similar to the symmetric
    S = diag(V)^-1/2 M diag(V)^-1/2 = U diag(lam) U^T, its eigenvalues lam are real and negative, and

        exp(K t)[r, 0] = sum_i  C[r, i] e^{lam_i t},   C[r, i] = sqrt(V_r / V1) U[r, i] U[0, i],

    the tri-exponential disposition function (Gibaldi & Perrier, ch. 2).

    Returns
    -------
    lam : numpy.ndarray
        Exponents (h-1), shape (..., 3).
    C : numpy.ndarray
        Coefficients, shape (..., 3, 3) (rows: states, columns: exponents); parameters broadcast.
    """
    CL, V1, Q2, V2, Q3, V3 = np.broadcast_arrays(*(np.asarray(x, float) for x in (CL, V1, Q2, V2, Q3, V3)))
    zero = np.zeros_like(CL)
    M = np.stack(
        [
            np.stack([-(CL + Q2 + Q3), Q2, Q3], -1),
            np.stack([Q2, -Q2, zero], -1),
            np.stack([Q3, zero, -Q3], -1),
        ],
        -2,
    )
    root_v = np.sqrt(np.stack([V1, V2, V3], -1))
    S = M / root_v[..., :, None] / root_v[..., None, :]
    lam, U = np.linalg.eigh(S)
    C = (root_v / root_v[..., :1])[..., :, None] * U * U[..., :1, :]
    return lam, C


def three_compartment_iv_amounts(t, dose_times, dose_amounts, CL, V1, Q2, V2, Q3, V3, infusions=()):
    """Exact amounts (mg) of (central, peripheral1, peripheral2) of ``pharmacokinetics/three_compartment_iv``.

    By superposition of the modes of :func:`three_compartment_disposition_modes`: a bolus D at ``td`` adds
    D sum_i C[r, i] e^{lam_i (t - td)} for t > td; an infusion at rate R from ``ts`` to ``te`` adds

        R sum_i C[r, i] (e^{lam_i (t - ts)} - e^{lam_i (t - m)}) / lam_i,   m = min(t, te),  t > ts.

    ``infusions`` is a sequence of ``(start, duration, amount)``. Parameters broadcast against ``t`` (e.g. shape
    (n, 1) against (T,)); the result has shape (..., 3).
    """
    t = np.asarray(t, float)
    lam, C = three_compartment_disposition_modes(CL, V1, Q2, V2, Q3, V3)

    def combine(modes):  # modes (..., 3 exponents) -> amounts (..., 3 states)
        return (modes[..., None, :] * C).sum(-1)

    total = 0.0
    for td, amount in zip(dose_times, dose_amounts):
        after = (t > td)[..., None]
        tau = np.where(t > td, t - td, 0.0)[..., None]
        total = total + np.where(after, amount * combine(np.exp(lam * tau)), 0.0)
    for ts, duration, amount in infusions:
        rate = amount / duration
        after = (t > ts)[..., None]
        since_start = np.where(t > ts, t - ts, 0.0)[..., None]
        since_stop = (t - np.minimum(t, ts + duration))[..., None]
        modes = (np.exp(lam * since_start) - np.exp(lam * since_stop)) / lam
        total = total + np.where(after, rate * combine(modes), 0.0)
    return total


def three_compartment_iv_central(t, dose_times, dose_amounts, CL, V1, Q2, V2, Q3, V3, infusions=()):
    """Exact amount in ``central`` (mg); see :func:`three_compartment_iv_amounts`."""
    return three_compartment_iv_amounts(t, dose_times, dose_amounts, CL, V1, Q2, V2, Q3, V3, infusions)[..., 0]


def three_compartment_oral_amounts(t, dose_times, dose_amounts, ka, CL, V1, Q2, V2, Q3, V3):
    """Exact amounts (mg) of (depot, central, peripheral1, peripheral2) of ``pharmacokinetics/three_compartment_oral``.

    A dose D into ``depot`` at time 0 leaves D e^{-ka t} in the depot and feeds ``central`` at the rate
    ka D e^{-ka t}; convolving with the modes of :func:`three_compartment_disposition_modes` gives

        x_r(t) = ka D sum_i C[r, i] (e^{lam_i t} - e^{-ka t}) / (lam_i + ka),

    valid when ka differs from every -lam_i. Doses add by superposition. Parameters broadcast against ``t``; the
    result has shape (..., 4).
    """
    t = np.asarray(t, float)
    ka = np.asarray(ka, float)
    lam, C = three_compartment_disposition_modes(CL, V1, Q2, V2, Q3, V3)
    total = 0.0
    for td, amount in zip(dose_times, dose_amounts):
        after = t > td
        tau = np.where(after, t - td, 0.0)
        depot = amount * np.exp(-ka * tau)
        kk = ka[..., None]
        modes = (np.exp(lam * tau[..., None]) - np.exp(-kk * tau[..., None])) / (lam + kk)
        body = amount * ka[..., None] * (modes[..., None, :] * C).sum(-1)
        x = np.concatenate([depot[..., None], body], -1)
        total = total + np.where(after[..., None], x, 0.0)
    return total


def three_compartment_oral_central(t, dose_times, dose_amounts, ka, CL, V1, Q2, V2, Q3, V3):
    """Exact amount in ``central`` (mg) after oral boluses into ``depot``; see :func:`three_compartment_oral_amounts`."""
    return three_compartment_oral_amounts(t, dose_times, dose_amounts, ka, CL, V1, Q2, V2, Q3, V3)[..., 1]


# -- Michaelis--Menten models: reference solves and exact relations ------------------------------------------------
def michaelis_menten_linear_clearance(Vmax, Km):
    """Clearance (L h-1) of the linear model a Michaelis--Menten model approaches when Cc << Km: CL = Vmax / Km."""
    return Vmax / Km


def michaelis_menten_time_to_concentration(C, C0, Vmax, Km, V):
    """Time (h) for Cc to fall from ``C0`` to ``C`` (mg L-1) after one IV bolus into ``one_compartment_iv_mm``.

    The integrated Michaelis--Menten equation (Gibaldi & Perrier, ch. 7): Km ln(C0 / C) + (C0 - C) = Vmax t / V,
    with ``Vmax`` in mg h-1, ``Km`` in mg L-1 and ``V`` in L.
    """
    return V * (Km * np.log(C0 / C) + (C0 - C)) / Vmax


def boluses_by_radau(rhs, n_states, dosed, observed, t, dose_times, dose_amounts, rtol=1e-11, atol=1e-12):
    """State ``observed`` at the sorted times ``t`` after boluses into state ``dosed``, by scipy's Radau solver.

    Parameters
    ----------
    rhs : callable
        ``rhs(t, y)``: the model's right-hand side on a flat state, returning a list.
    n_states, dosed, observed : int
        Number of states, index of the dosed state and of the returned state.
    t : array_like
        Sorted 1-D output times.
    dose_times, dose_amounts : sequence of float
        Bolus times and amounts; the body is empty before the first.
    rtol, atol : float
        Radau's tolerances.

    Returns
    -------
    numpy.ndarray
        The observed state at ``t``. The solve restarts at each dose with ``y[dosed]`` raised by the dose, so no
        step straddles one.
    """
    from scipy.integrate import solve_ivp

    t = np.asarray(t, float)
    out = np.zeros_like(t)
    doses = sorted(zip(dose_times, dose_amounts))
    ends = [td for td, _ in doses[1:]] + [max(t[-1], doses[-1][0])]
    y = np.zeros(n_states)
    for (td, amount), end in zip(doses, ends):
        y = y.copy()
        y[dosed] += amount
        inside = (t > td) & (t <= end)
        if end > td:
            evals = np.unique(np.append(t[inside], end))
            sol = solve_ivp(rhs, (td, end), y, method="Radau", t_eval=evals, rtol=rtol, atol=atol)
            out[inside] = sol.y[observed, : inside.sum()]
            y = sol.y[:, -1]
    return out


def one_compartment_iv_mm_central(t, dose_times, dose_amounts, Vmax, Km, V, rtol=1e-11, atol=1e-12):
    """Amount in ``central`` (mg) of ``pharmacokinetics/one_compartment_iv_mm`` after IV boluses, by Radau.

    d central / dt = -Vmax Cc / (Km + Cc), Cc = central / V. ``t`` is a sorted 1-D array (h); parameters are
    scalars (mg h-1, mg L-1, L).
    """

    def rhs(_, y):
        concentration = y[0] / V
        return [-Vmax * concentration / (Km + concentration)]

    return boluses_by_radau(rhs, 1, 0, 0, t, dose_times, dose_amounts, rtol, atol)


def one_compartment_oral_mm_central(t, dose_times, dose_amounts, ka, Vmax, Km, V, rtol=1e-11, atol=1e-12):
    """Amount in ``central`` (mg) of ``pharmacokinetics/one_compartment_oral_mm`` after boluses into ``depot``, by Radau.

    First-order absorption ``ka`` (h-1) from the depot, Michaelis--Menten elimination from ``central``. ``t`` is a
    sorted 1-D array (h); parameters are scalars.
    """

    def rhs(_, y):
        concentration = y[1] / V
        return [-ka * y[0], ka * y[0] - Vmax * concentration / (Km + concentration)]

    return boluses_by_radau(rhs, 2, 0, 1, t, dose_times, dose_amounts, rtol, atol)


def two_compartment_iv_mm_central(t, dose_times, dose_amounts, Vmax, Km, V1, Q, V2, rtol=1e-11, atol=1e-12):
    """Amount in ``central`` (mg) of ``pharmacokinetics/two_compartment_iv_mm`` after IV boluses, by Radau.

    Michaelis--Menten elimination from ``central`` (volume V1) and linear distribution (Q) to ``peripheral`` (V2).
    ``t`` is a sorted 1-D array (h); parameters are scalars.
    """

    def rhs(_, y):
        concentration = y[0] / V1
        distribution = Q / V1 * y[0] - Q / V2 * y[1]
        return [-Vmax * concentration / (Km + concentration) - distribution, distribution]

    return boluses_by_radau(rhs, 2, 0, 0, t, dose_times, dose_amounts, rtol, atol)


def two_compartment_oral_mm_central(t, dose_times, dose_amounts, ka, Vmax, Km, V1, Q, V2, rtol=1e-11, atol=1e-12):
    """Amount in ``central`` (mg) of ``pharmacokinetics/two_compartment_oral_mm`` after boluses into ``depot``, by Radau.

    First-order absorption, Michaelis--Menten elimination from ``central`` (V1) and linear distribution (Q) to
    ``peripheral`` (V2). ``t`` is a sorted 1-D array (h); parameters are scalars.
    """

    def rhs(_, y):
        concentration = y[1] / V1
        distribution = Q / V1 * y[1] - Q / V2 * y[2]
        return [-ka * y[0], ka * y[0] - Vmax * concentration / (Km + concentration) - distribution, distribution]

    return boluses_by_radau(rhs, 3, 0, 1, t, dose_times, dose_amounts, rtol, atol)
