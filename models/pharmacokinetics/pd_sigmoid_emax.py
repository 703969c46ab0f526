"""Direct-effect sigmoid Emax (Hill) model: the effect follows the plasma concentration without delay.

    E = E0 + Emax * C^gamma / (EC50^gamma + C^gamma)

The sigmoid Emax model of Holford & Sheiner (1981), after Hill's equation (Hill 1910): the Emax model with a
steepness ``gamma`` (the Hill coefficient; gamma = 1 gives the hyperbolic Emax model). The effect has no state of
its own, so this is a :class:`vhtwin.compose.DirectEffect`: link it to a PK model, ``vh.link(pk, pd)``. Default
parameter values are illustrative, not those of a particular drug.
"""

import jax.numpy as jnp

from vhtwin import Input, Observable, Parameter
from vhtwin.compose import DirectEffect


class SigmoidEmax(DirectEffect):
    """Sigmoid Emax model of the effect of the concentration ``C`` (mg L-1) at the same instant (time in h)."""

    time_unit = "h"
    reference = (
        "Holford NHG, Sheiner LB. Understanding the dose-effect relationship: clinical application of "
        "pharmacokinetic-pharmacodynamic models. Clin Pharmacokinet 1981;6:429-453. "
        "Hill AV. The possible effects of the aggregation of the molecules of haemoglobin on its dissociation "
        "curves. J Physiol 1910;40:iv-vii."
    )
    parameters = (
        Parameter("E0", 0.0, "1", description="effect without drug (baseline)", source="illustrative"),
        Parameter("Emax", 100.0, "1", description="maximal drug effect (negative for inhibition)", source="illustrative"),
        Parameter("EC50", 1.0, "mg L-1", positive=True, description="concentration giving half the maximal effect", source="illustrative"),
        Parameter("gamma", 2.0, "1", positive=True, description="Hill coefficient (steepness)", source="illustrative"),
    )
    inputs = (Input("C", "mg L-1", description="drug concentration at the site of action (wired by vhtwin.link)"),)
    effects = (Observable("E", "1", "drug effect"),)

    def effect(self, t, y, p, u):
        # round-off can leave a concentration a hair below zero, and a fractional power of it is NaN
        c = jnp.power(jnp.maximum(u.C, 0.0), p.gamma)
        return {"E": p.E0 + p.Emax * c / (jnp.power(p.EC50, p.gamma) + c)}


# -- validation target ---------------------------------------------------------------------------------------------
def effect_of(C, E0, Emax, EC50, gamma):
    """The effect (numpy): the model's equation, for checking a linked simulation against its concentration."""
    import numpy as np

    c = np.maximum(C, 0.0) ** gamma
    return E0 + Emax * c / (EC50**gamma + c)
