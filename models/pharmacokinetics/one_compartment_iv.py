"""One-compartment pharmacokinetic model for intravenous dosing, with linear elimination.

    d central / dt = -(CL / V) * central          (+ zero-order infusion rate, added by the engine)
    Cc             =  central / V

The one-compartment open model (Gibaldi & Perrier, *Pharmacokinetics*, 2nd ed., 1982, ch. 1; the ADVAN1
structure of NONMEM). Boluses and infusions go into ``central``. The elimination rate constant is k = CL / V and
the half-life ln 2 / k. Default parameter values are illustrative typical adult values, not those of a particular
drug.
"""

from vhtwin import Model, Observable, Parameter, State


class OneCompartmentIV(Model):
    """One-compartment model with intravenous input (amounts in mg, time in h)."""

    time_unit = "h"
    linear = True  # first-order transfer and elimination: solved exactly by solver="auto"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("central", "mg", 0.0, dosable=True, description="amount in the body (plasma and rapidly equilibrating tissues)"),
    )
    parameters = (
        Parameter("CL", 5.0, "L h-1", positive=True, description="clearance", source="illustrative typical value"),
        Parameter("V", 50.0, "L", positive=True, description="volume of distribution", source="illustrative typical value"),
    )
    observed = (Observable("Cc", "mg L-1", "plasma concentration"),)

    def rhs(self, t, y, p):
        elimination = p.CL / p.V * y.central
        return {"central": -elimination}

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V}


# -- validation target ---------------------------------------------------------------------------------------------
def closed_form_central(t, dose_times, dose_amounts, CL, V, infusions=()):
    """Exact amount in ``central`` (mg) after IV boluses and zero-order infusions, by superposition (numpy, float64).

    With k = CL / V, a bolus D at time 0 gives central(t) = D e^{-k t}, and an infusion at rate R from ``ts`` to
    ``te`` gives (Gibaldi & Perrier, ch. 1)

        central(t) = (R / k) [ e^{-k (t - m)} - e^{-k (t - ts)} ],   m = min(t, te),  t > ts,

    which is R (1 - e^{-k (t - ts)}) / k during the infusion and decays as e^{-k (t - te)} after it.

    ``infusions`` is a sequence of ``(start, duration, amount)``. Boluses at times ``<= t`` contribute only for
    ``t > dose time`` (the value at a dose time is the one just before it, as in :func:`vhtwin.simulate`).
    Parameters broadcast (e.g. arrays of shape (n, 1) against ``t`` of shape (T,)).
    """
    import numpy as np

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
