"""Exact concentrations of linear compartmental models by superposition, in numpy, written from the textbook formulas
(Gibaldi & Perrier, Pharmacokinetics, 2nd ed., 1982, ch. 1-2 and appendix C) independently of the engine.

A dose's response is a sum of exponentials ``sum_i a_i exp(-lambda_i s)`` per unit amount (``impulse``); a bolus
scales it, an infusion of rate R over [t1, t2) integrates it, and a regimen adds its doses up.
"""

from __future__ import annotations

import numpy as np


def impulse(model: str, target: str, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """Central concentration per unit dose: coefficients ``a`` (1/L) and rates ``lam`` (1/h) of its exponentials."""
    if model == "one_compartment":
        k = p["CL"] / p["V"]
        if target == "central":
            return np.array([1.0 / p["V"]]), np.array([k])
        ka = p["ka"]
        c = ka / (p["V"] * (ka - k))
        return np.array([c, -c]), np.array([k, ka])
    # two compartments: micro constants, then the hybrid rates alpha > beta
    k10, k12, k21 = p["CL"] / p["V1"], p["Q"] / p["V1"], p["Q"] / p["V2"]
    s, prod = k10 + k12 + k21, k10 * k21
    alpha = 0.5 * (s + np.sqrt(s * s - 4 * prod))
    beta = 0.5 * (s - np.sqrt(s * s - 4 * prod))
    if target == "central":
        return np.array([(alpha - k21) / (alpha - beta), (k21 - beta) / (alpha - beta)]) / p["V1"], np.array([alpha, beta])
    ka = p["ka"]
    a = ka / p["V1"] * np.array([
        (k21 - alpha) / ((ka - alpha) * (beta - alpha)),
        (k21 - beta) / ((ka - beta) * (alpha - beta)),
        (k21 - ka) / ((alpha - ka) * (beta - ka)),
    ])
    return a, np.array([alpha, beta, ka])


def dose(t, a, lam, start, amount, duration=0.0):
    """Concentration at ``t`` from one dose of ``amount`` starting at ``start`` (a bolus, or an infusion)."""
    t = np.asarray(t, float)[:, None]
    s = t - start
    if duration == 0:
        return np.where(s[:, 0] > 0, (amount * a * np.exp(-lam * np.maximum(s, 0.0))).sum(axis=1), 0.0)
    rate = amount / duration
    run = np.clip(s, 0.0, duration)  # time infused so far
    since_end = np.maximum(s - duration, 0.0)
    total = rate * a / lam * (np.exp(-lam * since_end) - np.exp(-lam * (since_end + run)))
    return np.where(s[:, 0] > 0, total.sum(axis=1), 0.0)


def regimen(t, a, lam, doses):
    """Sum over ``doses`` = [(start, amount, duration), ...]."""
    return sum((dose(t, a, lam, *d) for d in doses), np.zeros(len(np.atleast_1d(t))))
