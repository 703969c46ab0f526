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

from vhtwin.models.pharmacokinetics._radau_reference import boluses_by_radau
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


# -- validation targets --------------------------------------------------------------------------------------------
# 1. An independent solution: scipy's implicit Radau method at tight tolerance (reference_central below).
# 2. The linear limit: for Km >> Cc the model is one_compartment_iv with CL = Vmax / Km (linear_limit_clearance).
# 3. After one bolus D the time course is known implicitly (Gibaldi & Perrier, ch. 7, integrated Michaelis--Menten
#    equation): Km ln(C0 / C) + (C0 - C) = Vmax t / V, with C0 = D / V (time_to_concentration below).
def linear_limit_clearance(Vmax, Km):
    """Clearance (L h-1) of the linear model that this one approaches when Cc << Km: CL = Vmax / Km."""
    return Vmax / Km


def time_to_concentration(C, C0, Vmax, Km, V):
    """Time (h) for Cc to fall from ``C0`` to ``C`` after one bolus (integrated Michaelis--Menten equation)."""
    import numpy as np

    return V * (Km * np.log(C0 / C) + (C0 - C)) / Vmax


def reference_central(t, dose_times, dose_amounts, Vmax, Km, V, rtol=1e-11, atol=1e-12):
    """Amount in ``central`` (mg) for one patient after IV boluses into ``central``, by scipy's Radau solver.

    The solve restarts at each dose with ``central`` raised by the dose; at a dose time the value is the one just
    before it, as in :func:`vhtwin.simulate`. ``t`` is a sorted 1-D array; parameters are scalars; the body is
    empty before the first dose.
    """

    def rhs(_, y):
        concentration = y[0] / V
        return [-Vmax * concentration / (Km + concentration)]

    return boluses_by_radau(rhs, 1, 0, 0, t, dose_times, dose_amounts, rtol, atol)
