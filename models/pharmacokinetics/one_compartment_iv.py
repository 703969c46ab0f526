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


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# one_compartment_iv_central (closed form, boluses and infusions).
