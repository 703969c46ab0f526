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


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# two_compartment_iv_central (closed form, boluses and infusions).
