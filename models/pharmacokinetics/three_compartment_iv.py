"""Three-compartment pharmacokinetic model for intravenous dosing, with linear elimination.

    d central / dt     = -(CL / V1) * central - (Q2 / V1) * central + (Q2 / V2) * peripheral1
                                              - (Q3 / V1) * central + (Q3 / V3) * peripheral2
    d peripheral1 / dt =  (Q2 / V1) * central - (Q2 / V2) * peripheral1
    d peripheral2 / dt =  (Q3 / V1) * central - (Q3 / V3) * peripheral2
    Cc                 =  central / V1

The mammillary three-compartment model: a central compartment exchanging with a shallow (``peripheral1``) and a
deep (``peripheral2``) peripheral compartment, elimination from the central one (Gibaldi & Perrier,
*Pharmacokinetics*, 2nd ed., 1982, ch. 2, multicompartment models; the structure of NONMEM's ADVAN11). Boluses and
infusions go into ``central``. Default parameter values are illustrative typical adult values, not those of a
particular drug.
"""

from vhtwin import Model, Observable, Parameter, State


class ThreeCompartmentIV(Model):
    """Three-compartment mammillary model with intravenous input (amounts in mg, time in h)."""

    time_unit = "h"
    linear = True  # first-order transfer and elimination: solved exactly by solver="auto"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("central", "mg", 0.0, dosable=True, description="amount in the central compartment (plasma)"),
        State("peripheral1", "mg", 0.0, description="amount in the shallow peripheral compartment"),
        State("peripheral2", "mg", 0.0, description="amount in the deep peripheral compartment"),
    )
    parameters = (
        Parameter("CL", 5.0, "L h-1", positive=True, description="clearance from the central compartment", source="illustrative typical value"),
        Parameter("V1", 20.0, "L", positive=True, description="central volume of distribution", source="illustrative typical value"),
        Parameter("Q2", 10.0, "L h-1", positive=True, description="inter-compartmental clearance, central <-> peripheral1", source="illustrative typical value"),
        Parameter("V2", 50.0, "L", positive=True, description="shallow peripheral volume of distribution", source="illustrative typical value"),
        Parameter("Q3", 2.0, "L h-1", positive=True, description="inter-compartmental clearance, central <-> peripheral2", source="illustrative typical value"),
        Parameter("V3", 100.0, "L", positive=True, description="deep peripheral volume of distribution", source="illustrative typical value"),
    )
    observed = (Observable("Cc", "mg L-1", "central (plasma) concentration"),)

    def rhs(self, t, y, p):
        elimination = p.CL / p.V1 * y.central
        to_shallow = p.Q2 / p.V1 * y.central - p.Q2 / p.V2 * y.peripheral1
        to_deep = p.Q3 / p.V1 * y.central - p.Q3 / p.V3 * y.peripheral2
        return {
            "central": -elimination - to_shallow - to_deep,
            "peripheral1": to_shallow,
            "peripheral2": to_deep,
        }

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V1}


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# three_compartment_iv_amounts and three_compartment_iv_central (closed forms).
