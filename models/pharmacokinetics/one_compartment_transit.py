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

``transit_model(n_transit)`` gives the same model with any number n >= 1 of transit compartments (states depot,
transit1 ... transitN, central; ktr = (n + 1) / MTT; the last transit compartment is the absorption site), named
``one_compartment_transit_n<N>``. ``load_model("pharmacokinetics/one_compartment_transit")`` is the three-compartment
class below.
"""

import hashlib
import numbers

from vhtwin import InputError, Model, Observable, Parameter, State

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


# -- any number of transit compartments ----------------------------------------------------------------------------
_TRANSIT_MODELS: dict = {}


def transit_model(n_transit: int) -> Model:
    """The one-compartment transit model with ``n_transit`` transit compartments (an integer >= 1), as a Model.

    States are depot, transit1 ... transit<n_transit>, central; parameters, observables and equations are those of
    :class:`OneCompartmentTransit` with ktr = (n_transit + 1) / MTT (``transit_model(3)`` solves the same equations
    as the library model). The model is ``linear`` and named ``one_compartment_transit_n<n_transit>``; the same
    ``n_transit`` always returns the same instance, so compiled solves are reused.

    Raises
    ------
    InputError
        If ``n_transit`` is not an integer >= 1.
    """
    if isinstance(n_transit, bool) or not isinstance(n_transit, numbers.Integral) or n_transit < 1:
        raise InputError(f"n_transit must be an integer >= 1 (the number of transit compartments), got {n_transit!r}")
    n = int(n_transit)
    if n not in _TRANSIT_MODELS:
        _TRANSIT_MODELS[n] = _transit_class(n)()
    return _TRANSIT_MODELS[n]


def _transit_class(n: int) -> type:
    names = tuple(f"transit{i}" for i in range(1, n + 1))

    class OneCompartmentTransitN(Model):
        """One-compartment model with n transit compartments before absorption (amounts in mg, time in h)."""

        name = f"one_compartment_transit_n{n}"
        n_transit = n
        time_unit = OneCompartmentTransit.time_unit
        linear = True  # first-order transfer and elimination
        reference = OneCompartmentTransit.reference
        states = (
            OneCompartmentTransit.states[0],
            *(
                State(s, "mg", 0.0, description=f"transit compartment {i} of {n}" + (" (the absorption site)" if i == n else ""))
                for i, s in enumerate(names, start=1)
            ),
            OneCompartmentTransit.states[-1],
        )
        parameters = OneCompartmentTransit.parameters
        observed = OneCompartmentTransit.observed

        def rhs(self, t, y, p):
            ktr = (self.n_transit + 1) / p.MTT
            amounts = [y.depot, *(getattr(y, s) for s in names)]
            absorption = p.ka * amounts[-1]
            out = {"depot": -ktr * y.depot}
            for i, s in enumerate(names[:-1], start=1):
                out[s] = ktr * (amounts[i - 1] - amounts[i])
            out[names[-1]] = ktr * amounts[-2] - absorption
            out["central"] = absorption - p.CL / p.V * y.central
            return out

        def observables(self, t, y, p):
            return {"Cc": y.central / p.V}

        def source_hash(self) -> str:
            """SHA-256 of this class's source and of n_transit (the source alone is the same for every n)."""
            return hashlib.sha256(f"{super().source_hash()}:n_transit={self.n_transit}".encode()).hexdigest()

    OneCompartmentTransitN.__name__ = f"OneCompartmentTransitN{n}"
    return OneCompartmentTransitN
