"""Two-compartment pharmacokinetic model with first-order oral absorption and linear elimination.

    d depot / dt      = -ka * depot
    d central / dt    =  ka * depot - (CL / V1) * central - (Q / V1) * central + (Q / V2) * peripheral
    d peripheral / dt =  (Q / V1) * central - (Q / V2) * peripheral
    Cc                =  central / V1

The standard mammillary two-compartment model (Gibaldi & Perrier, *Pharmacokinetics*, 2nd ed., 1982, ch. 2; the
ADVAN4 structure of NONMEM). Doses go into ``depot`` (oral) or ``central`` (intravenous). Default parameter values
are the typical values of the vhtwin reference cohort (benchmarks/pk_cohort.py), not of a particular drug.
"""

from vhtwin import Model, Observable, Parameter, State


class TwoCompartmentOral(Model):
    """Two-compartment model with first-order absorption from a depot (amounts in mg, time in h)."""

    time_unit = "h"
    linear = True  # first-order transfer and elimination: solved exactly by solver="auto"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("depot", "mg", 0.0, dosable=True, bioavailability="F", lag="ALAG",
              description="amount at the absorption site (gut)"),
        State("central", "mg", 0.0, dosable=True, description="amount in the central compartment (plasma)"),
        State("peripheral", "mg", 0.0, description="amount in the peripheral compartment (tissues)"),
    )
    parameters = (
        Parameter("ka", 1.0, "h-1", positive=True, description="first-order absorption rate constant"),
        Parameter("CL", 5.0, "L h-1", positive=True, description="clearance from the central compartment"),
        Parameter("V1", 50.0, "L", positive=True, description="central volume of distribution"),
        Parameter("Q", 10.0, "L h-1", positive=True, description="inter-compartmental clearance"),
        Parameter("V2", 100.0, "L", positive=True, description="peripheral volume of distribution"),
        Parameter("F", 1.0, "1", lower=0.0, description="bioavailability: fraction of each depot dose absorbed",
                  source="NONMEM F1 convention; 1 = complete"),
        Parameter("ALAG", 0.0, "h", lower=0.0, description="absorption lag time of depot doses",
                  source="NONMEM ALAG1 convention; 0 = none"),
    )
    observed = (Observable("Cc", "mg L-1", "central (plasma) concentration"),)

    def rhs(self, t, y, p):
        absorption = p.ka * y.depot
        elimination = p.CL / p.V1 * y.central
        distribution = p.Q / p.V1 * y.central - p.Q / p.V2 * y.peripheral
        return {
            "depot": -absorption,
            "central": absorption - elimination - distribution,
            "peripheral": distribution,
        }

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V1}


# -- validation target ---------------------------------------------------------------------------------------------
def closed_form_central(t, dose_times, dose_amounts, ka, CL, V1, Q, V2):
    """Exact amount in ``central`` (mg) after oral boluses into ``depot``, by superposition (numpy, float64).

    With k10 = CL/V1, k12 = Q/V1, k21 = Q/V2 the disposition rate constants are the roots alpha > beta of
    s**2 - (k10 + k12 + k21) s + k10 k21 = 0, and one oral dose D at time 0 gives (Gibaldi & Perrier, ch. 2)

        central(t) = D ka [ (k21 - alpha) e^{-alpha t} / ((ka - alpha)(beta - alpha))
                          + (k21 - beta)  e^{-beta t}  / ((ka - beta)(alpha - beta))
                          + (k21 - ka)    e^{-ka t}    / ((alpha - ka)(beta - ka)) ].

    Doses at times ``<= t`` contribute only for ``t > dose time``; at a dose time the value is the one just before
    that dose, as in :func:`vhtwin.simulate`. Parameters broadcast (e.g. arrays of shape (n, 1) against ``t`` of
    shape (T,)). Valid when ka, alpha and beta are distinct.
    """
    import numpy as np

    t = np.asarray(t, float)
    ka, CL, V1, Q, V2 = (np.asarray(x, float) for x in (ka, CL, V1, Q, V2))
    k10, k12, k21 = CL / V1, Q / V1, Q / V2
    s = k10 + k12 + k21
    root = np.sqrt(s * s - 4.0 * k10 * k21)
    alpha, beta = 0.5 * (s + root), 0.5 * (s - root)
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
