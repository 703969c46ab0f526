"""Three-compartment pharmacokinetic model with first-order oral absorption and linear elimination.

    d depot / dt       = -ka * depot
    d central / dt     =  ka * depot - (CL / V1) * central - (Q2 / V1) * central + (Q2 / V2) * peripheral1
                                                           - (Q3 / V1) * central + (Q3 / V3) * peripheral2
    d peripheral1 / dt =  (Q2 / V1) * central - (Q2 / V2) * peripheral1
    d peripheral2 / dt =  (Q3 / V1) * central - (Q3 / V3) * peripheral2
    Cc                 =  central / V1

The mammillary three-compartment model (central, shallow ``peripheral1``, deep ``peripheral2``) with a first-order
absorption depot (Gibaldi & Perrier, *Pharmacokinetics*, 2nd ed., 1982, ch. 2; the structure of NONMEM's ADVAN12).
Doses go into ``depot`` (oral; bioavailability is folded into the dose) or ``central`` (intravenous). Default
parameter values are illustrative typical adult values (disposition as in ``three_compartment_iv``), not those of a
particular drug.
"""

from vhtwin import Model, Observable, Parameter, State


class ThreeCompartmentOral(Model):
    """Three-compartment mammillary model with first-order absorption from a depot (amounts in mg, time in h)."""

    time_unit = "h"
    linear = True  # first-order transfer and elimination: solved exactly by solver="auto"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("depot", "mg", 0.0, dosable=True, bioavailability="F", lag="ALAG",
              description="amount at the absorption site (gut)"),
        State("central", "mg", 0.0, dosable=True, description="amount in the central compartment (plasma)"),
        State("peripheral1", "mg", 0.0, description="amount in the shallow peripheral compartment"),
        State("peripheral2", "mg", 0.0, description="amount in the deep peripheral compartment"),
    )
    parameters = (
        Parameter("ka", 1.0, "h-1", positive=True, description="first-order absorption rate constant", source="illustrative typical value"),
        Parameter("CL", 5.0, "L h-1", positive=True, description="clearance from the central compartment", source="illustrative typical value"),
        Parameter("V1", 20.0, "L", positive=True, description="central volume of distribution", source="illustrative typical value"),
        Parameter("Q2", 10.0, "L h-1", positive=True, description="inter-compartmental clearance, central <-> peripheral1", source="illustrative typical value"),
        Parameter("V2", 50.0, "L", positive=True, description="shallow peripheral volume of distribution", source="illustrative typical value"),
        Parameter("Q3", 2.0, "L h-1", positive=True, description="inter-compartmental clearance, central <-> peripheral2", source="illustrative typical value"),
        Parameter("V3", 100.0, "L", positive=True, description="deep peripheral volume of distribution", source="illustrative typical value"),
        Parameter("F", 1.0, "1", lower=0.0, description="bioavailability: fraction of each depot dose absorbed",
                  source="NONMEM F1 convention; 1 = complete"),
        Parameter("ALAG", 0.0, "h", lower=0.0, description="absorption lag time of depot doses",
                  source="NONMEM ALAG1 convention; 0 = none"),
    )
    observed = (Observable("Cc", "mg L-1", "central (plasma) concentration"),)

    def rhs(self, t, y, p):
        absorption = p.ka * y.depot
        elimination = p.CL / p.V1 * y.central
        to_shallow = p.Q2 / p.V1 * y.central - p.Q2 / p.V2 * y.peripheral1
        to_deep = p.Q3 / p.V1 * y.central - p.Q3 / p.V3 * y.peripheral2
        return {
            "depot": -absorption,
            "central": absorption - elimination - to_shallow - to_deep,
            "peripheral1": to_shallow,
            "peripheral2": to_deep,
        }

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V1}


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# three_compartment_oral_amounts and three_compartment_oral_central (closed forms).
