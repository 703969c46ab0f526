"""One-compartment model with transit-compartment absorption (a delayed, gradual absorption).

    d depot / dt    = -ktr * depot
    d transit1 / dt =  ktr * depot    - ktr * transit1
    d transit2 / dt =  ktr * transit1 - ktr * transit2
    d transit3 / dt =  ktr * transit2 - ka  * transit3
    d central / dt  =  ka  * transit3 - (CL / V) * central
    ktr             =  (n + 1) / MTT,   n = 3 transit compartments
    Cc              =  central / V

A chain of identical first-order transit compartments between the dose and the absorption site gives the
gamma-shaped delay seen after many oral formulations, with a smooth onset that a lag time cannot produce (Savic RM,
Jonker DM, Kerbusch T, Karlsson MO. Implementation of a transit compartment model for describing drug absorption
in pharmacokinetic studies. J Pharmacokinet Pharmacodyn 2007; 34:711-726). Here the number of transit compartments
is fixed at three and the mean transit time MTT is the parameter; the last compartment is the absorption site
(first-order ka into the central compartment). Default values are illustrative. Linear: solved exactly by
``solver="auto"``.
"""

from vhtwin import Model, Observable, Parameter, State

N_TRANSIT = 3


class OneCompartmentTransit(Model):
    """One-compartment model with three transit compartments before absorption (amounts in mg, time in h)."""

    time_unit = "h"
    linear = True  # first-order transfer and elimination
    reference = "Savic RM et al. J Pharmacokinet Pharmacodyn 2007; 34:711-726."
    states = (
        State("depot", "mg", 0.0, dosable=True, bioavailability="F", lag="ALAG", description="amount given orally"),
        State("transit1", "mg", 0.0, description="first transit compartment"),
        State("transit2", "mg", 0.0, description="second transit compartment"),
        State("transit3", "mg", 0.0, description="third transit compartment (the absorption site)"),
        State("central", "mg", 0.0, dosable=True, description="amount in the central compartment"),
    )
    parameters = (
        Parameter("MTT", 1.5, "h", positive=True, description="mean transit time from the dose to the absorption site",
                  source="illustrative typical value"),
        Parameter("ka", 1.0, "h-1", positive=True, description="absorption rate constant from the last transit compartment",
                  source="illustrative typical value"),
        Parameter("CL", 5.0, "L h-1", positive=True, description="apparent clearance", source="illustrative typical value"),
        Parameter("V", 50.0, "L", positive=True, description="apparent volume of distribution",
                  source="illustrative typical value"),
        Parameter("F", 1.0, "1", lower=0.0, description="bioavailability: fraction of each depot dose absorbed",
                  source="NONMEM F1 convention; 1 = complete"),
        Parameter("ALAG", 0.0, "h", lower=0.0, description="lag time of depot doses",
                  source="NONMEM ALAG1 convention; 0 = none"),
    )
    observed = (Observable("Cc", "mg L-1", "central (plasma) concentration"),)

    def rhs(self, t, y, p):
        ktr = (N_TRANSIT + 1) / p.MTT
        absorption = p.ka * y.transit3
        return {
            "depot": -ktr * y.depot,
            "transit1": ktr * (y.depot - y.transit1),
            "transit2": ktr * (y.transit1 - y.transit2),
            "transit3": ktr * y.transit2 - absorption,
            "central": absorption - p.CL / p.V * y.central,
        }

    def observables(self, t, y, p):
        return {"Cc": y.central / p.V}
