"""Two-compartment pharmacokinetic model for intravenous dosing, with Michaelis--Menten elimination.

    d central / dt    = -Vmax * Cc / (Km + Cc) - (Q / V1) * central + (Q / V2) * peripheral
    d peripheral / dt =  (Q / V1) * central - (Q / V2) * peripheral
    Cc                =  central / V1

The mammillary two-compartment model (``two_compartment_iv``, NONMEM's ADVAN3) with capacity-limited elimination
from the central compartment instead of a clearance (Gibaldi & Perrier, *Pharmacokinetics*, 2nd ed., 1982, ch. 7,
nonlinear pharmacokinetics; in NONMEM a user-written ADVAN6/ADVAN13 model). When Cc << Km it becomes
``two_compartment_iv`` with CL = Vmax / Km. Boluses and infusions go into ``central``. The defaults are
illustrative: Vmax and Km of the order quoted for phenytoin in a 70 kg adult (as in ``one_compartment_oral_mm``),
and the distribution parameters Q, V1, V2 of ``two_compartment_iv``; they are not a fitted parameter set.
"""

from vhtwin import Model, Observable, Parameter, State

_PHENYTOIN_LIKE = "illustrative value, of the order quoted for phenytoin in a 70 kg adult (see module docstring)"


class TwoCompartmentIVMM(Model):
    """Two-compartment model, intravenous input, Michaelis--Menten elimination (amounts in mg, time in h)."""

    time_unit = "h"
    reference = "Gibaldi M, Perrier D. Pharmacokinetics, 2nd ed. Marcel Dekker, 1982."
    states = (
        State("central", "mg", 0.0, dosable=True, description="amount in the central compartment (plasma)"),
        State("peripheral", "mg", 0.0, description="amount in the peripheral compartment (tissues)"),
    )
    parameters = (
        Parameter("Vmax", 20.0, "mg h-1", positive=True, description="maximum elimination rate from the central compartment",
                  source=_PHENYTOIN_LIKE),
        Parameter("Km", 4.0, "mg L-1", positive=True, description="central concentration at half-maximal elimination rate",
                  source=_PHENYTOIN_LIKE),
        Parameter("V1", 50.0, "L", positive=True, description="central volume of distribution", source="illustrative typical value"),
        Parameter("Q", 10.0, "L h-1", positive=True, description="inter-compartmental clearance", source="illustrative typical value"),
        Parameter("V2", 100.0, "L", positive=True, description="peripheral volume of distribution", source="illustrative typical value"),
    )
    observed = (Observable("Cc", "mg L-1", "central (plasma) concentration"),)

    def rhs(self, t, y, p):
        concentration = y.central / p.V1
        elimination = p.Vmax * concentration / (p.Km + concentration)
        distribution = p.Q / p.V1 * y.central - p.Q / p.V2 * y.peripheral
        return {"central": -elimination - distribution, "peripheral": distribution}

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V1}


# -- validation targets, in vhtwin.testing.pharmacokinetics:
# two_compartment_iv_mm_central (scipy Radau) and michaelis_menten_linear_clearance
# (the linear limit).
