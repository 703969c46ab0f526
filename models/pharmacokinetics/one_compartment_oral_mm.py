"""One-compartment pharmacokinetic model with first-order oral absorption and Michaelis--Menten elimination.

    d depot / dt   = -ka * depot
    d central / dt =  ka * depot - Vmax * Cc / (Km + Cc)
    Cc             =  central / V

Capacity-limited (saturable) elimination (Gibaldi & Perrier, *Pharmacokinetics*, 2nd ed., 1982, ch. 7, nonlinear
pharmacokinetics): the elimination rate approaches ``Vmax`` when Cc >> Km, and the model becomes linear with
clearance CL = Vmax / Km when Cc << Km (the limit is ``one_compartment_oral``, NONMEM's ADVAN2). Doses go into
``depot`` (oral) or ``central`` (intravenous). The defaults are illustrative values of the order of those often
quoted for phenytoin in a 70 kg adult (Vmax about 7 mg kg-1 day-1, Km about 4 mg L-1, V about 0.7 L kg-1), not a
fitted parameter set.
"""

from vhtwin import Model, Observable, Parameter, State

_PHENYTOIN_LIKE = "illustrative value, of the order quoted for phenytoin in a 70 kg adult (see module docstring)"


class OneCompartmentOralMM(Model):
    """One-compartment model, first-order absorption, Michaelis--Menten elimination (amounts in mg, time in h)."""

    time_unit = "h"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("depot", "mg", 0.0, dosable=True, bioavailability="F", lag="ALAG",
              description="amount at the absorption site (gut)"),
        State("central", "mg", 0.0, dosable=True, description="amount in the body (plasma and rapidly equilibrating tissues)"),
    )
    parameters = (
        Parameter("ka", 1.0, "h-1", positive=True, description="first-order absorption rate constant", source="illustrative typical value"),
        Parameter("Vmax", 20.0, "mg h-1", positive=True, description="maximum elimination rate", source=_PHENYTOIN_LIKE),
        Parameter("Km", 4.0, "mg L-1", positive=True, description="concentration at half-maximal elimination rate", source=_PHENYTOIN_LIKE),
        Parameter("V", 50.0, "L", positive=True, description="apparent volume of distribution", source=_PHENYTOIN_LIKE),
        Parameter("F", 1.0, "1", lower=0.0, description="bioavailability: fraction of each depot dose absorbed",
                  source="NONMEM F1 convention; 1 = complete"),
        Parameter("ALAG", 0.0, "h", lower=0.0, description="absorption lag time of depot doses",
                  source="NONMEM ALAG1 convention; 0 = none"),
    )
    observed = (Observable("Cc", "mg L-1", "plasma concentration"),)

    def rhs(self, t, y, p):
        absorption = p.ka * y.depot
        concentration = y.central / p.V
        elimination = p.Vmax * concentration / (p.Km + concentration)
        return {"depot": -absorption, "central": absorption - elimination}

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V}


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# one_compartment_oral_mm_central (scipy Radau) and michaelis_menten_linear_clearance
# (the linear limit).
