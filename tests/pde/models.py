"""Small cell models for the tissue tests (time in ms, dimensionless potential)."""

import vhtwin as vh


class Nagumo(vh.Model):
    """FitzHugh--Nagumo with a cubic (bistable) upstroke: dv/dt = k v (v - a)(1 - v) - w, dw/dt = e (v - w).

    With ``e -> 0`` the front speed on a cable is ``sqrt(k D / 2) (1 - 2a)`` (the Nagumo travelling wave).
    ``w`` is linear in itself (``(v - w) e``): a gate for Rush--Larsen.
    """

    time_unit = "ms"
    states = (vh.State("v", "1", 0.0), vh.State("w", "1", 0.0, gate=True))
    parameters = (
        vh.Parameter("k", 1.0, "ms-1", positive=True),
        vh.Parameter("a", 0.13, "1", lower=0.0, upper=0.5),
        vh.Parameter("e", 0.002, "ms-1", lower=0.0),
    )

    def rhs(self, t, y, p):
        return {"v": p.k * y.v * (y.v - p.a) * (1.0 - y.v) - y.w, "w": p.e * (y.v - y.w)}


class Passive(vh.Model):
    """No reaction at all: the monodomain reduces to the heat equation."""

    time_unit = "ms"
    states = (vh.State("v", "1", 0.0),)
    parameters = (vh.Parameter("unused", 1.0, "1"),)

    def rhs(self, t, y, p):
        return {"v": 0.0 * y.v}
