"""Four-element Windkessel, series-inertance variant: inertance L in series with Zc, then the RC Windkessel.

    dP_C / dt = Q_in(t) / C - (P_C - P_out) / (R * C)
    P_ao      = P_C + Zc * Q_in(t) + L * dQ_in/dt

Which variant. Westerhof et al. 2009 (The arterial Windkessel. Med Biol Eng Comput 47:131-141) discuss two ways of
adding the total arterial inertance L to the three-element model: in *series* with the characteristic impedance
Zc (the "series" or "LZRC" four-element model, Burattini R, Gnudi G. Med Biol Eng Comput 1982; 20:134-144), or in
*parallel* with Zc (Stergiopulos N, Westerhof BE, Westerhof N. Total arterial inertance as the fourth element of the
Windkessel model. Am J Physiol 1999; 276:H81-H88). This module is the **series** variant: the inflow passes Zc and
L in turn, so the input pressure gains the inertial term L dQ_in/dt and the state is, as in the 3-element model, the
pressure P_C across the compliance. (With a prescribed inflow the series inertance adds no dynamics; it shapes the
input pressure -- a higher early-systolic pressure while the flow accelerates, lower while it decelerates.)

Inflow: the default half-sine ejection (parameters HR, SV, T_ej; see ``cardio/windkessel2``), whose dQ_in/dt is
analytic (it jumps at the start and end of ejection), or a sampled periodic waveform through
``with_inflow(times, flows, period)``, whose dQ_in/dt is the periodic central-difference slope of the samples,
interpolated linearly. Time s, pressure mmHg, flow mL s-1.
"""

from vhtwin import Model, Observable, Parameter, State
from vhtwin.models.cardio.windkessel2 import (
    INFLOW_PARAMETERS, WESTERHOF_2009, half_sine_inflow, half_sine_inflow_rate, sampled_inflow_model,
)

_TYPICAL = ("typical resting adult value (Westerhof et al. 2009: total peripheral resistance about 1 mmHg s mL-1, "
            "total arterial compliance 1-2 mL mmHg-1, Zc 5-10 % of the resistance)")


class Windkessel4(Model):
    """Four-element Windkessel, inertance in series with Zc (time s, pressure mmHg, flow mL s-1)."""

    time_unit = "s"
    reference = WESTERHOF_2009
    states = (State("P_C", "mmHg", 80.0, description="pressure across the arterial compliance (distal pressure)"),)
    parameters = (
        Parameter("Zc", 0.05, "mmHg s mL-1", positive=True, description="characteristic impedance of the proximal aorta",
                  source=_TYPICAL),
        Parameter("L", 0.005, "mmHg s2 mL-1", lower=0.0, description="total arterial inertance (in series with Zc)",
                  source="order of the total arterial inertance in adult humans, about 0.005 mmHg s2 mL-1 "
                         "(Stergiopulos et al. 1999, Westerhof et al. 2009)"),
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

    def inflow_rate(self, t, p):
        return half_sine_inflow_rate(t, p.HR, p.SV, p.T_ej)

    def rhs(self, t, y, p):
        return {"P_C": (self.inflow(t, p) - (y.P_C - p.P_out) / p.R) / p.C}

    def observables(self, t, y, p):
        q = self.inflow(t, p)
        return {
            "P_ao": y.P_C + p.Zc * q + p.L * self.inflow_rate(t, p),
            "Q_in": q,
            "Q_out": (y.P_C - p.P_out) / p.R,
        }


def with_inflow(times, flows, period) -> Model:
    """The 4-element (series-inertance) Windkessel driven by a sampled periodic inflow (``times`` s, ``flows``
    mL s-1 over one beat of ``period`` s; see :func:`vhtwin.models.cardio.windkessel2.sampled_inflow_model`).
    Parameters: Zc, L, R, C, P_out."""
    return sampled_inflow_model(Windkessel4, times, flows, period)
