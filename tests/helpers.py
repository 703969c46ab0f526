"""Small models and data shared by the engine tests (not a test module)."""

from __future__ import annotations

import numpy as np

import vhtwin as vh

TYPICAL = {"ka": 1.0, "CL": 5.0, "V1": 50.0, "Q": 10.0, "V2": 100.0}


def cohort(n: int, seed: int = 0, sd: float = 0.3) -> dict[str, np.ndarray]:
    """The reference cohort: typical values times exp(N(0, sd^2)), independently per parameter and patient."""
    rng = np.random.default_rng(seed)
    return {k: v * np.exp(rng.normal(0.0, sd, n)) for k, v in TYPICAL.items()}


class Decay(vh.Model):
    """One compartment, first-order elimination: amount(t) = D exp(-k (t - t_dose))."""

    time_unit = "h"
    states = (vh.State("amount", "mg", dosable=True),)
    parameters = (vh.Parameter("k", 0.2, "h-1", positive=True),)
    observed = (vh.Observable("remaining", "mg"),)

    def rhs(self, t, y, p):
        return {"amount": -p.k * y.amount}

    def observables(self, t, y, p):
        return {"remaining": y.amount}


class Growth(vh.Model):
    """Exponential growth y' = r y: a large r overflows, which is how the failure tests break one trajectory."""

    time_unit = "h"
    states = (vh.State("y", "1", initial=1.0),)
    parameters = (vh.Parameter("r", -0.1, "h-1"),)
    observed = (vh.Observable("level", "1"),)

    def rhs(self, t, y, p):
        return {"y": p.r * y.y}

    def observables(self, t, y, p):
        return {"level": y.y}
