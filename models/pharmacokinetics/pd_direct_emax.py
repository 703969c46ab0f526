"""Direct-effect Emax model: the effect follows the plasma concentration without delay.

    E = E0 + Emax * C / (EC50 + C)

The hyperbolic Emax model of Holford & Sheiner (1981), the simplest concentration-effect relation with a maximum:
E0 is the effect without drug, Emax the largest drug effect (negative for an inhibitory drug) and EC50 the
concentration giving half of it. The effect has no state of its own, so this is a :class:`vhtwin.compose.DirectEffect`
rather than a model: link it to a PK model, ``vh.link(pk, pd)``, and ``E`` becomes an observable of the linked model.
Default parameter values are illustrative, not those of a particular drug.
"""

from vhtwin import Input, Observable, Parameter
from vhtwin.compose import DirectEffect


class DirectEmax(DirectEffect):
    """Emax model of the effect of the concentration ``C`` (mg L-1) at the same instant (time in h)."""

    time_unit = "h"
    reference = (
        "Holford NHG, Sheiner LB. Understanding the dose-effect relationship: clinical application of "
        "pharmacokinetic-pharmacodynamic models. Clin Pharmacokinet 1981;6:429-453."
    )
    parameters = (
        Parameter("E0", 0.0, "1", description="effect without drug (baseline)", source="illustrative"),
        Parameter("Emax", 100.0, "1", description="maximal drug effect (negative for inhibition)", source="illustrative"),
        Parameter("EC50", 1.0, "mg L-1", positive=True, description="concentration giving half the maximal effect", source="illustrative"),
    )
    inputs = (Input("C", "mg L-1", description="drug concentration at the site of action (wired by vhtwin.link)"),)
    effects = (Observable("E", "1", "drug effect"),)

    def effect(self, t, y, p, u):
        return {"E": p.E0 + p.Emax * u.C / (p.EC50 + u.C)}


# -- validation target ---------------------------------------------------------------------------------------------
def effect_of(C, E0, Emax, EC50):
    """The effect (numpy): the model's equation, for checking a linked simulation against its concentration."""
    return E0 + Emax * C / (EC50 + C)
