"""One-compartment pharmacokinetic model with first-order oral absorption and linear elimination.

    d depot / dt   = -ka * depot
    d central / dt =  ka * depot - (CL / V) * central
    Cc             =  central / V

The one-compartment open model with first-order absorption (Gibaldi & Perrier, *Pharmacokinetics*, 2nd ed., 1982,
ch. 1; the ADVAN2 structure of NONMEM). Doses go into ``depot`` (oral; bioavailability is folded into the dose) or
``central`` (intravenous). Default parameter values are illustrative typical adult values, not those of a
particular drug.
"""

from vhtwin import Model, Observable, Parameter, State


class OneCompartmentOral(Model):
    """One-compartment model with first-order absorption from a depot (amounts in mg, time in h)."""

    time_unit = "h"
    linear = True  # first-order transfer and elimination: solved exactly by solver="auto"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("depot", "mg", 0.0, dosable=True, bioavailability="F", lag="ALAG",
              description="amount at the absorption site (gut)"),
        State("central", "mg", 0.0, dosable=True, description="amount in the body (plasma and rapidly equilibrating tissues)"),
    )
    parameters = (
        Parameter("ka", 1.0, "h-1", positive=True, description="first-order absorption rate constant", source="illustrative typical value"),
        Parameter("CL", 5.0, "L h-1", positive=True, description="apparent clearance", source="illustrative typical value"),
        Parameter("V", 50.0, "L", positive=True, description="apparent volume of distribution", source="illustrative typical value"),
        Parameter("F", 1.0, "1", lower=0.0, description="bioavailability: fraction of each depot dose absorbed",
                  source="NONMEM F1 convention; 1 = complete"),
        Parameter("ALAG", 0.0, "h", lower=0.0, description="absorption lag time of depot doses",
                  source="NONMEM ALAG1 convention; 0 = none"),
    )
    observed = (Observable("Cc", "mg L-1", "plasma concentration"),)

    def rhs(self, t, y, p):
        absorption = p.ka * y.depot
        elimination = p.CL / p.V * y.central
        return {"depot": -absorption, "central": absorption - elimination}

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V}


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# one_compartment_oral_central and one_compartment_oral_depot (closed forms).
