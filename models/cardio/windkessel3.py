"""Three-element Windkessel: characteristic impedance in series with the RC Windkessel, driven by Q_in(t).

    dP_C / dt = Q_in(t) / C - (P_C - P_out) / (R * C)
    P_ao      = P_C + Zc * Q_in(t)

Westerhof's three-element model (Westerhof N, Elzinga G, Sipkema P. An artificial arterial system for pumping
hearts. J Appl Physiol 1971; 31:776-781; element definitions as in Westerhof N, Lankhaar JW, Westerhof BE. The
arterial Windkessel. Med Biol Eng Comput 2009; 47:131-141): the characteristic impedance Zc of the proximal aorta
(mmHg s mL-1) links the two-element Windkessel to the high-frequency behaviour of the arterial tree, so that the
input impedance tends to Zc rather than zero at high frequency and the pulse pressure is no longer overestimated.
P_C is the pressure across the compliance C (the "distal" pressure); R is the peripheral resistance, here the total
peripheral resistance minus Zc (Westerhof et al. 2009 note that R + Zc is the total resistance).

Inflow: the default half-sine ejection (parameters HR, SV, T_ej; see ``cardio/windkessel2``) or a sampled periodic
waveform through ``with_inflow(times, flows, period)``. Time s, pressure mmHg, flow mL s-1.
"""

from vhtwin import Model, Observable, Parameter, State
from vhtwin.models.cardio.windkessel2 import INFLOW_PARAMETERS, WESTERHOF_2009, half_sine_inflow, sampled_inflow_model

_ZC = ("typical adult value: Zc is about 5-10 % of the total peripheral resistance (Westerhof et al. 2009; "
       "0.03-0.1 mmHg s mL-1 in adult humans)")
_TYPICAL = ("typical resting adult value (Westerhof et al. 2009: total peripheral resistance about 1 mmHg s mL-1, "
            "total arterial compliance 1-2 mL mmHg-1)")


class Windkessel3(Model):
    """Three-element (Zc-RC) Windkessel driven by a half-sine aortic inflow (time s, pressure mmHg, flow mL s-1)."""

    time_unit = "s"
    reference = WESTERHOF_2009
    states = (State("P_C", "mmHg", 80.0, description="pressure across the arterial compliance (distal pressure)"),)
    parameters = (
        Parameter("Zc", 0.05, "mmHg s mL-1", positive=True, description="characteristic impedance of the proximal aorta",
                  source=_ZC),
        Parameter("R", 0.95, "mmHg s mL-1", positive=True, description="peripheral resistance (total minus Zc)",
                  source=_TYPICAL),
        Parameter("C", 1.2, "mL mmHg-1", positive=True, description="total arterial compliance", source=_TYPICAL),
        Parameter("P_out", 0.0, "mmHg", description="outflow (venous) pressure downstream of R",
                  source="0 mmHg: the usual simplification (Westerhof et al. 2009)"),
        *INFLOW_PARAMETERS,
    )
    observed = (
        Observable("P_ao", "mmHg", "aortic (input) pressure"),
        Observable("Q_in", "mL s-1", "aortic inflow"),
        Observable("Q_out", "mL s-1", "peripheral outflow through R"),
    )

    def inflow(self, t, p):
        return half_sine_inflow(t, p.HR, p.SV, p.T_ej)

    def rhs(self, t, y, p):
        return {"P_C": (self.inflow(t, p) - (y.P_C - p.P_out) / p.R) / p.C}

    def observables(self, t, y, p):
        q = self.inflow(t, p)
        return {"P_ao": y.P_C + p.Zc * q, "Q_in": q, "Q_out": (y.P_C - p.P_out) / p.R}


def with_inflow(times, flows, period) -> Model:
    """The 3-element Windkessel driven by a sampled periodic inflow (``times`` s, ``flows`` mL s-1 over one beat of
    ``period`` s; see :func:`vhtwin.models.cardio.windkessel2.sampled_inflow_model`). Parameters: Zc, R, C, P_out."""
    return sampled_inflow_model(Windkessel3, times, flows, period)
