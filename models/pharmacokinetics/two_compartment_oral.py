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


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# two_compartment_oral_central (closed form).
