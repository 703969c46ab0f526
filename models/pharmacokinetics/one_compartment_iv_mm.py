"""One-compartment pharmacokinetic model for intravenous dosing, with Michaelis--Menten elimination.

    d central / dt = -Vmax * Cc / (Km + Cc)
    Cc             =  central / V

Capacity-limited (saturable) elimination (Gibaldi & Perrier, *Pharmacokinetics*, 2nd ed., 1982, ch. 7, nonlinear
pharmacokinetics): the elimination rate approaches ``Vmax`` when Cc >> Km, and the model becomes linear with
clearance CL = Vmax / Km when Cc << Km (the limit is ``one_compartment_iv``, NONMEM's ADVAN1). Boluses and
infusions go into ``central``. The defaults are illustrative values of the order of those often quoted for
phenytoin in a 70 kg adult (Vmax about 7 mg kg-1 day-1, Km about 4 mg L-1, V about 0.7 L kg-1; the same as
``one_compartment_oral_mm``), not a fitted parameter set.
"""

from vhtwin import Model, Observable, Parameter, State

_PHENYTOIN_LIKE = "illustrative value, of the order quoted for phenytoin in a 70 kg adult (see module docstring)"


class OneCompartmentIVMM(Model):
    """One-compartment model, intravenous input, Michaelis--Menten elimination (amounts in mg, time in h)."""

    time_unit = "h"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("central", "mg", 0.0, dosable=True, description="amount in the body (plasma and rapidly equilibrating tissues)"),
    )
    parameters = (
        Parameter("Vmax", 20.0, "mg h-1", positive=True, description="maximum elimination rate", source=_PHENYTOIN_LIKE),
        Parameter("Km", 4.0, "mg L-1", positive=True, description="concentration at half-maximal elimination rate", source=_PHENYTOIN_LIKE),
        Parameter("V", 50.0, "L", positive=True, description="apparent volume of distribution", source=_PHENYTOIN_LIKE),
    )
    observed = (Observable("Cc", "mg L-1", "plasma concentration"),)

    def rhs(self, t, y, p):
        concentration = y.central / p.V
        return {"central": -p.Vmax * concentration / (p.Km + concentration)}

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V}


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# one_compartment_iv_mm_central (scipy Radau), michaelis_menten_time_to_concentration
# (integrated Michaelis--Menten equation) and michaelis_menten_linear_clearance (the linear limit).
