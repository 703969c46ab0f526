"""Effect-compartment (link) model: the effect follows the plasma concentration with a delay.

    d Ce / dt = ke0 * (C - Ce)
    E         = E0 + Emax * Ce^gamma / (EC50^gamma + Ce^gamma)

A hypothetical effect compartment of negligible volume receives the drug from plasma with the first-order rate
constant ke0 (Sheiner et al. 1979), so the effect site concentration Ce lags the plasma concentration C
(hysteresis); the effect is the sigmoid Emax function of Ce (Holford & Sheiner 1981). The equilibration half-life
is ln 2 / ke0. The plasma concentration is the input ``C``: link this model to a PK model, ``vh.link(pk, pd)``,
and ``E`` becomes an observable of the linked model. Default parameter values are illustrative, not those of a
particular drug.
"""

import jax.numpy as jnp

from vhtwin import Input, Model, Observable, Parameter, State


class EffectCompartment(Model):
    """Effect compartment with a sigmoid Emax effect of the effect-site concentration (time in h)."""

    time_unit = "h"
    reference = (
        "Sheiner LB, Stanski DR, Vozeh S, Miller RD, Ham J. Simultaneous modeling of pharmacokinetics and "
        "pharmacodynamics: application to d-tubocurarine. Clin Pharmacol Ther 1979;25:358-371. "
        "Holford NHG, Sheiner LB. Clin Pharmacokinet 1981;6:429-453."
    )
    states = (State("Ce", "mg L-1", 0.0, description="effect-site concentration"),)
    parameters = (
        Parameter("ke0", 0.5, "h-1", positive=True, description="effect-site equilibration rate constant", source="illustrative"),
        Parameter("E0", 0.0, "1", description="effect without drug (baseline)", source="illustrative"),
        Parameter("Emax", 100.0, "1", description="maximal drug effect (negative for inhibition)", source="illustrative"),
        Parameter("EC50", 1.0, "mg L-1", positive=True, description="effect-site concentration giving half the maximal effect", source="illustrative"),
        Parameter("gamma", 1.0, "1", positive=True, description="Hill coefficient (steepness)", source="illustrative"),
    )
    inputs = (Input("C", "mg L-1", description="plasma drug concentration (wired by vhtwin.link)"),)
    observed = (Observable("E", "1", "drug effect"),)

    def rhs(self, t, y, p, u):
        return {"Ce": p.ke0 * (u.C - y.Ce)}

    def observables(self, t, y, p):
        # round-off can leave a concentration a hair below zero, and a fractional power of it is NaN
        c = jnp.power(jnp.maximum(y.Ce, 0.0), p.gamma)
        return {"E": p.E0 + p.Emax * c / (jnp.power(p.EC50, p.gamma) + c)}
