"""Two-compartment pharmacokinetic model for intravenous dosing, with linear elimination.

    d central / dt    = -(CL / V1) * central - (Q / V1) * central + (Q / V2) * peripheral
    d peripheral / dt =  (Q / V1) * central - (Q / V2) * peripheral
    Cc                =  central / V1

The standard mammillary two-compartment model (Gibaldi & Perrier, *Pharmacokinetics*, 2nd ed., 1982, ch. 2; the
ADVAN3 structure of NONMEM). Boluses and infusions go into ``central``. Default parameter values are illustrative
typical adult values (the same as those of ``two_compartment_oral``), not those of a particular drug.
"""

from vhtwin import Model, Observable, Parameter, State


class TwoCompartmentIV(Model):
    """Two-compartment model with intravenous input (amounts in mg, time in h)."""

    time_unit = "h"
    linear = True  # first-order transfer and elimination: solved exactly by solver="auto"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("central", "mg", 0.0, dosable=True, description="amount in the central compartment (plasma)"),
        State("peripheral", "mg", 0.0, description="amount in the peripheral compartment (tissues)"),
    )
    parameters = (
        Parameter("CL", 5.0, "L h-1", positive=True, description="clearance from the central compartment", source="illustrative typical value"),
        Parameter("V1", 50.0, "L", positive=True, description="central volume of distribution", source="illustrative typical value"),
        Parameter("Q", 10.0, "L h-1", positive=True, description="inter-compartmental clearance", source="illustrative typical value"),
        Parameter("V2", 100.0, "L", positive=True, description="peripheral volume of distribution", source="illustrative typical value"),
    )
    observed = (Observable("Cc", "mg L-1", "central (plasma) concentration"),)

    def rhs(self, t, y, p):
        elimination = p.CL / p.V1 * y.central
        distribution = p.Q / p.V1 * y.central - p.Q / p.V2 * y.peripheral
        return {"central": -elimination - distribution, "peripheral": distribution}

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V1}


# -- validation target ---------------------------------------------------------------------------------------------
def closed_form_central(t, dose_times, dose_amounts, CL, V1, Q, V2, infusions=()):
    """Exact amount in ``central`` (mg) after IV boluses and zero-order infusions, by superposition (numpy, float64).

    With k10 = CL/V1, k12 = Q/V1, k21 = Q/V2 the disposition rate constants are the roots alpha > beta of
    s**2 - (k10 + k12 + k21) s + k10 k21 = 0, and a bolus D at time 0 gives (Gibaldi & Perrier, ch. 2)

        central(t) = D [ A e^{-alpha t} + B e^{-beta t} ],   A = (alpha - k21) / (alpha - beta),
                                                             B = (k21 - beta) / (alpha - beta).

    An infusion at rate R from ``ts`` to ``te`` is the integral of that response over the infusion:

        central(t) = R [ A (e^{-alpha (t - m)} - e^{-alpha (t - ts)}) / alpha
                       + B (e^{-beta (t - m)}  - e^{-beta (t - ts)})  / beta ],   m = min(t, te),  t > ts.

    ``infusions`` is a sequence of ``(start, duration, amount)``. Boluses at times ``<= t`` contribute only for
    ``t > dose time`` (the value at a dose time is the one just before it, as in :func:`vhtwin.simulate`).
    Parameters broadcast (e.g. arrays of shape (n, 1) against ``t`` of shape (T,)).
    """
    import numpy as np

    t = np.asarray(t, float)
    CL, V1, Q, V2 = (np.asarray(x, float) for x in (CL, V1, Q, V2))
    k10, k12, k21 = CL / V1, Q / V1, Q / V2
    s = k10 + k12 + k21
    root = np.sqrt(s * s - 4.0 * k10 * k21)
    alpha, beta = 0.5 * (s + root), 0.5 * (s - root)
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
