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

import numpy as np

from vhtwin import InputError, Model, Observable, Parameter, State
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


# -- personalisation -------------------------------------------------------------------------------------------------
# Heart rate, stroke volume and cuff pressures -> Zc, R, C (and the half-sine inflow HR, SV, T_ej), vectorised:
#   * mean pressure MAP = DBP + form_factor (SBP - DBP), form factor 1/3 (the classic rule; e.g. Meaney E et al.
#     Formula and nomogram for the sphygmomanometric calculation of the mean arterial pressure. Heart 2000;
#     84:64), and mean flow CO = SV HR / 60;
#   * total peripheral resistance R_tot = (MAP - P_out) / CO (P_out = 0), split as Zc = zc_fraction R_tot (5 % by
#     default: Zc is about 5-10 % of the total resistance, Westerhof et al. 2009) and R = R_tot - Zc, so the
#     simulated time-averaged pressure at steady state is exactly MAP;
#   * ejection time T_ej from Weissler's regression of left-ventricular ejection time on heart rate, LVET = 413 - 1.7
#     HR ms (men; Weissler AM, Harris WS, Schoenfeld CD. Circulation 1968; 37:149-159), unless given;
#   * compliance C by the pulse pressure method (Stergiopulos N, Meister JJ, Westerhof N. Simple and accurate way for
#     estimating total and segmental arterial compliance: the pulse pressure method. Ann Biomed Eng 1994;
#     22:392-397; evaluated against other methods in Stergiopulos N, Meister JJ, Westerhof N. Evaluation of methods
#     for estimation of total arterial compliance. Am J Physiol 1995; 268:H1540-H1548): the C whose periodic
#     steady-state pulse pressure, for this inflow, Zc and R, equals SBP - DBP. Here it is solved exactly: the
#     periodic solution of the model with the half-sine inflow is in closed form, and its pulse pressure falls
#     monotonically with C, so C follows by bisection (on log C, per patient, vectorised). The simple estimate
#     SV / PP (stroke volume over pulse pressure) brackets it.
# The simulated MAP and pulse pressure then reproduce the targets; SBP and DBP individually differ from the cuff
# values by the difference between the model's waveform form factor and ``form_factor``.

def _periodic_pressure(s, R, C, Zc, period, SV, T_ej):
    """P_ao (n, m) of the 3-element model with the half-sine inflow at periodic steady state, at beat times s (n, m)
    (P_out = 0), in closed form."""
    tau = (R * C)[:, None]
    w = (np.pi / T_ej)[:, None]
    q_max = (np.pi * SV / (2.0 * T_ej))[:, None]
    A = q_max / C[:, None] * tau / (1.0 + (w * tau) ** 2)
    B = -w * tau * A
    T, Te = period[:, None], T_ej[:, None]
    P0 = -B * (np.exp(-(T - Te) / tau) + np.exp(-T / tau)) / (1.0 - np.exp(-T / tau))
    se = np.minimum(s, Te)
    ejecting = A * np.sin(w * se) + B * np.cos(w * se) + (P0 - B) * np.exp(-se / tau)
    P_end = -B + (P0 - B) * np.exp(-Te / tau)
    p_c = np.where(s <= Te, ejecting, P_end * np.exp(-(s - Te) / tau))
    q = np.where(s <= Te, q_max * np.sin(w * se), 0.0)
    return p_c + Zc[:, None] * q


def personalise(heart_rate, stroke_volume, systolic_pressure, diastolic_pressure, *, ejection_time=None,
                zc_fraction=0.05, form_factor=1.0 / 3.0, samples=2000):
    """Parameters of ``cardio/windkessel3`` (HR, SV, T_ej, Zc, R, C, P_out) for patients given by heart rate (min-1),
    stroke volume (mL) and systolic / diastolic pressure (mmHg), scalars or 1-D arrays of equal length; the mappings
    and sources are in the comment above. Returns a dict of arrays (0-d when every input is a scalar), usable as
    ``vh.simulate(model, params=...)``; start from ``initial={"P_C": diastolic_pressure}`` to be near steady state.
    Raises InputError naming the argument (non-positive values, SBP <= DBP, T_ej >= the beat period, ...)."""
    inputs = {}
    for name, v in (("heart_rate", heart_rate), ("stroke_volume", stroke_volume),
                    ("systolic_pressure", systolic_pressure), ("diastolic_pressure", diastolic_pressure)):
        try:
            a = np.asarray(v, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"personalise: {name} must be a number or a 1-D array, got {v!r}") from None
        if a.ndim > 1 or not np.all(np.isfinite(a) & (a > 0)):
            raise InputError(f"personalise: {name} must be finite and > 0 (a scalar or a 1-D array), got {v!r}")
        inputs[name] = a
    if not (0.0 <= zc_fraction < 1.0):
        raise InputError(f"personalise: zc_fraction {zc_fraction!r} must be in [0, 1)")
    if not (0.0 < form_factor < 1.0):
        raise InputError(f"personalise: form_factor {form_factor!r} must be in (0, 1)")
    scalar = all(a.ndim == 0 for a in inputs.values())
    try:
        hr, sv, sbp, dbp = (np.array(a, dtype=float) for a in np.broadcast_arrays(*map(np.atleast_1d, inputs.values())))
    except ValueError:
        raise InputError(f"personalise: the patient arrays have different lengths: "
                         f"{ {k: a.shape for k, a in inputs.items()} }") from None
    if np.any(sbp <= dbp):
        raise InputError("personalise: systolic_pressure must be above diastolic_pressure for every patient")
    period = 60.0 / hr
    if ejection_time is None:
        t_ej = (413.0 - 1.7 * hr) / 1000.0
    else:
        t_ej = np.broadcast_to(np.atleast_1d(np.asarray(ejection_time, float)), hr.shape).copy()
    if np.any(~np.isfinite(t_ej) | (t_ej <= 0) | (t_ej >= period)):
        raise InputError("personalise: ejection_time (Weissler's 413 - 1.7 HR ms unless given) must be > 0 and shorter "
                         "than the beat period 60 / heart_rate")
    pp = sbp - dbp
    mean_p = dbp + form_factor * pp
    co = sv / period                                  # mL s-1
    r_tot = mean_p / co
    zc = zc_fraction * r_tot
    r = r_tot - zc
    s = period[:, None] * np.linspace(0.0, 1.0, int(samples) + 1)[None, :]
    s = np.sort(np.concatenate([s, t_ej[:, None] * np.linspace(0.0, 1.0, 201)[None, :]], axis=1), axis=1)

    def pulse(c):
        p = _periodic_pressure(s, r, c, zc, period, sv, t_ej)
        return p.max(axis=1) - p.min(axis=1)

    lo, hi = np.log(sv / pp) - np.log(20.0), np.log(sv / pp) + np.log(5.0)
    if np.any(pulse(np.exp(hi)) > pp) or np.any(pulse(np.exp(lo)) < pp):
        raise InputError("personalise: no arterial compliance reproduces the pulse pressure with this inflow and Zc "
                         "(pulse pressure too small for the characteristic impedance: lower zc_fraction)")
    for _ in range(60):                               # bisection on log C: PP falls with C
        mid = 0.5 * (lo + hi)
        high_pp = pulse(np.exp(mid)) > pp
        lo, hi = np.where(high_pp, mid, lo), np.where(high_pp, hi, mid)
    out = {"HR": hr, "SV": sv, "T_ej": t_ej, "Zc": zc, "R": r, "C": np.exp(0.5 * (lo + hi)), "P_out": np.zeros_like(hr)}
    if scalar:
        out = {k: v.reshape(()) for k, v in out.items()}
    return out
