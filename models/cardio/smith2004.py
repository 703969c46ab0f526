"""Smith et al. 2004 minimal closed-loop cardiovascular model with ventricular interaction and valve dynamics.

Six elastic chambers in a closed loop -- left ventricle (lv), aorta (ao), vena cava (vc), right ventricle (rv),
pulmonary artery (pa), pulmonary vein (pu) -- joined by two resistances (systemic R_sys, pulmonary R_pul) and four
valves with resistance and inertance (mitral mt, aortic av, tricuspid tc, pulmonary pv):

    dV_lv/dt = Q_mt+ - Q_av+          dV_ao/dt = Q_av+ - Q_sys         dV_vc/dt = Q_sys - Q_tc+
    dV_rv/dt = Q_tc+ - Q_pv+          dV_pa/dt = Q_pv+ - Q_pul         dV_pu/dt = Q_pul - Q_mt+
    Q_sys = (P_ao - P_vc) / R_sys     Q_pul = (P_pa - P_pu) / R_pul    (Q+ = max(Q, 0))

    valve (in -> out), flow Q:   dQ/dt = (P_in - P_out - R Q) / L   while open: P_in > P_out or Q > 0
                                 dQ/dt = -R Q / L                   while closed

Time-varying elastance. Each ventricular free wall (lvf, rvf) and the septum (spt) has the pressure-volume relation

    P(V) = e(t) E_es (V - V_d) + (1 - e(t)) P_0 (exp(lambda (V - V_0)) - 1),   e(t) = exp(-B (t mod T - C)^2)

with e(t) the driver (1 at end systole, ~0 in diastole) of beat period T. The ventricles share the septum, whose
volume V_spt (mL, positive towards the right ventricle) is defined implicitly by the pressure balance across it,

    P_spt(V_spt) = P_lvf(V_lv - V_spt) - P_rvf(V_rv + V_spt)

(the ventricles' free-wall volumes are V_lvf = V_lv - V_spt and V_rvf = V_rv + V_spt); the ventricles sit in the
pericardium, P_peri = P_0_pcd (exp(lambda_pcd (V_lv + V_rv - V_0_pcd)) - 1) + P_th, so P_lv = P_lvf + P_peri and
P_rv = P_rvf + P_peri. The vessels are linear: P_ao = E_es_ao (V_ao - V_d_ao), P_vc = E_es_vc (V_vc - V_d_vc),
P_pa = E_es_pa (V_pa - V_d_pa) + P_th, P_pu = E_es_pu (V_pu - V_d_pu) + P_th (the pulmonary vessels and the
pericardium are in the thorax, at thoracic pressure P_th).

The septal equation makes the model a DAE of index 1. It is solved inside ``rhs`` at every evaluation by a fixed
number (:data:`NEWTON_ITERATIONS`) of Newton steps on the residual, which is strictly increasing in V_spt (each term
has a positive derivative), started from V_spt = V_d_spt (the septum is stiff, E_es_spt = 48.8 mmHg/mL and
lambda_spt = 0.435 /mL, so V_spt stays within a few mL of V_d_spt = V_0_spt = 2 mL) and each step limited to
+-:data:`MAX_NEWTON_STEP` mL; the iteration is a fixed-count ``jax.lax.fori_loop``, so the rhs stays a pure,
differentiable JAX function. Over a
beat the residual after the iterations is below 1e-10 mmHg (``tests/models/test_circulation.py``).
:func:`septum_volume` is the solver, usable on its own.

Valves. As in the CellML version, a valve flow is a state with inertance that moves only while the valve is open
(forward pressure gradient, or forward flow still decelerating); a closed valve holds its flow (dQ/dt = 0), exactly
the CellML logic. The step that closes a valve may leave its flow a hair below zero (the adaptive controller keeps
that overshoot at the tolerance level); the volume balances use Q+ = max(Q, 0) on both sides of each valve, so
such a residue moves no volume and the total volume is conserved exactly whatever the flows do. The only kink left
is the jump of dQ/dt at closure (a genuine discontinuity of the model): Tsit5 and Rodas4 take a few rejected steps
there and never chatter (about 150-300 accepted steps per beat at rtol 1e-6). A relaxation of a closed valve's flow
to zero (dQ/dt = -R Q / L) was tried and doubled the rejected steps (sliding around Q = 0), so it is not used.

Sources and parameter sets. Smith BW, Chase JG, Nokes RI, Shaw GM, Wake G. Minimal haemodynamic system model
including ventricular interaction and valve dynamics. Med Eng Phys 2004; 26:131-139. The equations and the chamber
parameters come from the CellML model repository (workspace smith_chase_nokes_shaw_wake_2004, by Catherine Lloyd;
also BioModels MODEL1006230000, converted from it). The CellML file carries the parameter set of the paper with a
period of 0.75 s (HR 80 min-1) and C = 0.375 s, and labels its pressures "kPa" although every value is in mmHg (the
paper's unit). The defaults here follow the project's reference set (shared REFERENCES.md, "Cardiovascular"): a 1 s
period with C = 0.27 s and the circulation resistances R_sys 1.3889, R_pul 0.0952, R_pv 0.0015 mmHg s/mL and
E_es_ao 0.6713 mmHg/mL, where the CellML/paper table has R_sys 1.0889, R_pul 0.1552, R_pv 0.0055 and E_es_ao 0.6913
(:data:`CELLML_PARAMETERS` holds that set, period and C included, to simulate the CellML version). Every other value
is the same in both. Measured at periodic steady state (40 beats, rtol 1e-6): with the defaults, CO 4.47 L/min
(SV 74.5 mL, EF 60 %, BP 126/84 mmHg, MAP 104.5 mmHg) and 10.3 % less CO at P_th = 0 mmHg; with the full CellML set
(period 0.75 s) CO 5.28 L/min and 18.5 % less at P_th = 0; the paper reports a CO near 5 L/min and about 9 % less.

States: the six volumes (mL) and the four valve flows (mL/s); time in s, pressures in mmHg. Total blood volume
(1500 mL with the default initial state, the CellML one) is conserved.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vhtwin import Model, Observable, Parameter, State

SMITH_2004 = (
    "Smith BW, Chase JG, Nokes RI, Shaw GM, Wake G. Minimal haemodynamic system model including ventricular "
    "interaction and valve dynamics. Med Eng Phys 2004; 26:131-139. CellML: models.physiomeproject.org workspace "
    "smith_chase_nokes_shaw_wake_2004; BioModels MODEL1006230000."
)
_CELLML = "Smith et al. 2004 (CellML workspace smith_chase_nokes_shaw_wake_2004; same value in the paper)"
_REFSET = "project reference set (REFERENCES.md, Cardiovascular); CellML/paper value {}"

#: Newton iterations for the septal volume (a fixed-count fori_loop in the rhs).
NEWTON_ITERATIONS = 8
#: Largest change of V_spt per Newton step (mL): keeps the exponentials finite far from the root.
MAX_NEWTON_STEP = 20.0

#: The CellML (paper) values of the parameters that differ from the defaults.
CELLML_PARAMETERS = {"R_sys": 1.0889, "R_pul": 0.1552, "R_pv": 0.0055, "E_es_ao": 0.6913, "period": 0.75, "C": 0.375}


def _chamber(e, V, E_es, V_d, P_0, lam, V_0):
    """End-systolic/end-diastolic blend P(V) and dP/dV of one elastic wall."""
    ex = jnp.exp(lam * (V - V_0))
    return e * E_es * (V - V_d) + (1.0 - e) * P_0 * (ex - 1.0), e * E_es + (1.0 - e) * P_0 * lam * ex


def septum_residual(V_spt, e, V_lv, V_rv, p):
    """Pressure balance across the septum (mmHg): P_spt(V_spt) - P_lvf(V_lv - V_spt) + P_rvf(V_rv + V_spt), and its
    derivative with respect to V_spt (mmHg/mL, always > 0)."""
    P_spt, dP_spt = _chamber(e, V_spt, p.E_es_spt, p.V_d_spt, p.P_0_spt, p.lambda_spt, p.V_0_spt)
    P_lvf, dP_lvf = _chamber(e, V_lv - V_spt, p.E_es_lvf, p.V_d_lvf, p.P_0_lvf, p.lambda_lvf, p.V_0_lvf)
    P_rvf, dP_rvf = _chamber(e, V_rv + V_spt, p.E_es_rvf, p.V_d_rvf, p.P_0_rvf, p.lambda_rvf, p.V_0_rvf)
    return P_spt - P_lvf + P_rvf, dP_spt + dP_lvf + dP_rvf


def septum_volume(e, V_lv, V_rv, p, iterations=NEWTON_ITERATIONS):
    """The septal volume V_spt (mL) solving the septal pressure balance, by ``iterations`` Newton steps (``lax.fori_loop``) from
    V_spt = V_d_spt (each step clipped to +-MAX_NEWTON_STEP mL). Returns ``(V_spt, residual)``; works on scalars
    and on arrays, and is differentiable."""
    def step(_, x):
        f, df = septum_residual(x, e, V_lv, V_rv, p)
        return x - jnp.clip(f / df, -MAX_NEWTON_STEP, MAX_NEWTON_STEP)

    start = jnp.broadcast_to(jnp.asarray(p.V_d_spt, dtype=jnp.result_type(V_lv, float)), jnp.shape(V_lv))
    x = jax.lax.fori_loop(0, iterations, step, start)
    return x, septum_residual(x, e, V_lv, V_rv, p)[0]


def driver(t, p):
    """The activation e(t) = exp(-B (t mod period - C)^2) (dimensionless)."""
    return jnp.exp(-p.B * (jnp.mod(t, p.period) - p.C) ** 2)


def _valve(Q, dP, R, L):
    """Valve flow derivative: inertial flow while open (forward gradient or forward flow), relaxation to 0 when shut."""
    is_open = (dP > 0.0) | (Q > 0.0)
    return jnp.where(is_open, (dP - R * Q) / L, 0.0)


class Smith2004(Model):
    """Smith et al. 2004 minimal closed-loop circulation with ventricular interaction (volumes mL, flows mL/s,
    pressures mmHg, time s)."""

    time_unit = "s"
    reference = SMITH_2004
    states = (
        State("V_lv", "mL", 94.6812, description="left ventricular volume"),
        State("V_rv", "mL", 90.7302, description="right ventricular volume"),
        State("V_pa", "mL", 43.0123, description="pulmonary artery volume"),
        State("V_pu", "mL", 808.4579, description="pulmonary vein volume"),
        State("V_ao", "mL", 133.3381, description="aortic volume"),
        State("V_vc", "mL", 329.7803, description="vena cava volume"),
        State("Q_mt", "mL s-1", 245.5813, description="mitral valve flow"),
        State("Q_av", "mL s-1", 0.0, description="aortic valve flow"),
        State("Q_tc", "mL s-1", 190.0661, description="tricuspid valve flow"),
        State("Q_pv", "mL s-1", 0.0, description="pulmonary valve flow"),
    )
    parameters = (
        # driver
        Parameter("period", 1.0, "s", positive=True, description="beat period (60 / heart rate)",
                  source=_REFSET.format("0.75 s")),
        Parameter("B", 80.0, "s-2", positive=True, description="driver width: e(t) = exp(-B (t mod period - C)^2)",
                  source=_CELLML),
        Parameter("C", 0.27, "s", lower=0.0, description="driver peak time within the beat (end systole)",
                  source=_REFSET.format("0.375 s")),
        # thorax and pericardium
        Parameter("P_th", -4.0, "mmHg", description="intrathoracic pressure", source=_CELLML),
        Parameter("P_0_pcd", 0.5003, "mmHg", positive=True, description="pericardium pressure scale", source=_CELLML),
        Parameter("lambda_pcd", 0.03, "mL-1", positive=True, description="pericardium stiffness exponent", source=_CELLML),
        Parameter("V_0_pcd", 200.0, "mL", description="pericardium volume at zero pressure", source=_CELLML),
        # left and right ventricular free walls, septum
        Parameter("E_es_lvf", 2.8798, "mmHg mL-1", positive=True, description="LV free wall end-systolic elastance", source=_CELLML),
        Parameter("V_d_lvf", 0.0, "mL", description="LV free wall dead volume (end-systolic)", source=_CELLML),
        Parameter("P_0_lvf", 0.1203, "mmHg", positive=True, description="LV free wall end-diastolic pressure scale", source=_CELLML),
        Parameter("lambda_lvf", 0.033, "mL-1", positive=True, description="LV free wall end-diastolic stiffness", source=_CELLML),
        Parameter("V_0_lvf", 0.0, "mL", description="LV free wall end-diastolic zero-pressure volume", source=_CELLML),
        Parameter("E_es_rvf", 0.585, "mmHg mL-1", positive=True, description="RV free wall end-systolic elastance", source=_CELLML),
        Parameter("V_d_rvf", 0.0, "mL", description="RV free wall dead volume (end-systolic)", source=_CELLML),
        Parameter("P_0_rvf", 0.2157, "mmHg", positive=True, description="RV free wall end-diastolic pressure scale", source=_CELLML),
        Parameter("lambda_rvf", 0.023, "mL-1", positive=True, description="RV free wall end-diastolic stiffness", source=_CELLML),
        Parameter("V_0_rvf", 0.0, "mL", description="RV free wall end-diastolic zero-pressure volume", source=_CELLML),
        Parameter("E_es_spt", 48.754, "mmHg mL-1", positive=True, description="septum end-systolic elastance", source=_CELLML),
        Parameter("V_d_spt", 2.0, "mL", description="septum dead volume (end-systolic)", source=_CELLML),
        Parameter("P_0_spt", 1.1101, "mmHg", positive=True, description="septum end-diastolic pressure scale", source=_CELLML),
        Parameter("lambda_spt", 0.435, "mL-1", positive=True, description="septum end-diastolic stiffness", source=_CELLML),
        Parameter("V_0_spt", 2.0, "mL", description="septum end-diastolic zero-pressure volume", source=_CELLML),
        # vessels
        Parameter("E_es_ao", 0.6713, "mmHg mL-1", positive=True, description="aortic elastance", source=_REFSET.format("0.6913")),
        Parameter("V_d_ao", 0.0, "mL", description="aortic unstressed volume", source=_CELLML),
        Parameter("E_es_vc", 0.0059, "mmHg mL-1", positive=True, description="vena cava elastance", source=_CELLML),
        Parameter("V_d_vc", 0.0, "mL", description="vena cava unstressed volume", source=_CELLML),
        Parameter("E_es_pa", 0.369, "mmHg mL-1", positive=True, description="pulmonary artery elastance", source=_CELLML),
        Parameter("V_d_pa", 0.0, "mL", description="pulmonary artery unstressed volume", source=_CELLML),
        Parameter("E_es_pu", 0.0073, "mmHg mL-1", positive=True, description="pulmonary vein elastance", source=_CELLML),
        Parameter("V_d_pu", 0.0, "mL", description="pulmonary vein unstressed volume", source=_CELLML),
        Parameter("R_sys", 1.3889, "mmHg s mL-1", positive=True, description="systemic vascular resistance", source=_REFSET.format("1.0889")),
        Parameter("R_pul", 0.0952, "mmHg s mL-1", positive=True, description="pulmonary vascular resistance", source=_REFSET.format("0.1552")),
        # valves
        Parameter("R_mt", 0.0158, "mmHg s mL-1", positive=True, description="mitral valve resistance", source=_CELLML),
        Parameter("R_av", 0.018, "mmHg s mL-1", positive=True, description="aortic valve resistance", source=_CELLML),
        Parameter("R_tc", 0.0237, "mmHg s mL-1", positive=True, description="tricuspid valve resistance", source=_CELLML),
        Parameter("R_pv", 0.0015, "mmHg s mL-1", positive=True, description="pulmonary valve resistance", source=_REFSET.format("0.0055")),
        Parameter("L_mt", 7.6968e-5, "mmHg s2 mL-1", positive=True, description="mitral valve inertance", source=_CELLML),
        Parameter("L_av", 1.2189e-4, "mmHg s2 mL-1", positive=True, description="aortic valve inertance", source=_CELLML),
        Parameter("L_tc", 8.0093e-5, "mmHg s2 mL-1", positive=True, description="tricuspid valve inertance", source=_CELLML),
        Parameter("L_pv", 1.4868e-4, "mmHg s2 mL-1", positive=True, description="pulmonary valve inertance", source=_CELLML),
    )
    observed = (
        Observable("P_lv", "mmHg", "left ventricular pressure"),
        Observable("P_ao", "mmHg", "aortic pressure"),
        Observable("P_rv", "mmHg", "right ventricular pressure"),
        Observable("P_pa", "mmHg", "pulmonary artery pressure"),
        Observable("P_vc", "mmHg", "vena cava (central venous) pressure"),
        Observable("P_pu", "mmHg", "pulmonary vein pressure"),
        Observable("V_spt", "mL", "septal volume (positive towards the right ventricle)"),
        Observable("Q_sys", "mL s-1", "systemic flow through R_sys"),
        Observable("Q_pul", "mL s-1", "pulmonary flow through R_pul"),
        Observable("e", "1", "activation driver e(t)"),
    )

    def _pressures(self, t, y, p):
        e = driver(t, p)
        V_spt, _ = septum_volume(e, y.V_lv, y.V_rv, p)
        P_peri = p.P_0_pcd * (jnp.exp(p.lambda_pcd * (y.V_lv + y.V_rv - p.V_0_pcd)) - 1.0) + p.P_th
        P_lvf, _ = _chamber(e, y.V_lv - V_spt, p.E_es_lvf, p.V_d_lvf, p.P_0_lvf, p.lambda_lvf, p.V_0_lvf)
        P_rvf, _ = _chamber(e, y.V_rv + V_spt, p.E_es_rvf, p.V_d_rvf, p.P_0_rvf, p.lambda_rvf, p.V_0_rvf)
        return {
            "P_lv": P_lvf + P_peri,
            "P_rv": P_rvf + P_peri,
            "P_ao": p.E_es_ao * (y.V_ao - p.V_d_ao),
            "P_vc": p.E_es_vc * (y.V_vc - p.V_d_vc),
            "P_pa": p.E_es_pa * (y.V_pa - p.V_d_pa) + p.P_th,
            "P_pu": p.E_es_pu * (y.V_pu - p.V_d_pu) + p.P_th,
            "V_spt": V_spt,
            "e": e,
        }

    def rhs(self, t, y, p):
        P = self._pressures(t, y, p)
        Q_sys = (P["P_ao"] - P["P_vc"]) / p.R_sys
        Q_pul = (P["P_pa"] - P["P_pu"]) / p.R_pul
        mt, av, tc, pv = (jnp.maximum(q, 0.0) for q in (y.Q_mt, y.Q_av, y.Q_tc, y.Q_pv))
        return {
            "V_lv": mt - av,
            "V_rv": tc - pv,
            "V_pa": pv - Q_pul,
            "V_pu": Q_pul - mt,
            "V_ao": av - Q_sys,
            "V_vc": Q_sys - tc,
            "Q_mt": _valve(y.Q_mt, P["P_pu"] - P["P_lv"], p.R_mt, p.L_mt),
            "Q_av": _valve(y.Q_av, P["P_lv"] - P["P_ao"], p.R_av, p.L_av),
            "Q_tc": _valve(y.Q_tc, P["P_vc"] - P["P_rv"], p.R_tc, p.L_tc),
            "Q_pv": _valve(y.Q_pv, P["P_rv"] - P["P_pa"], p.R_pv, p.L_pv),
        }

    def observables(self, t, y, p):
        P = self._pressures(t, y, p)
        return {
            **{k: P[k] for k in ("P_lv", "P_ao", "P_rv", "P_pa", "P_vc", "P_pu", "V_spt", "e")},
            "Q_sys": (P["P_ao"] - P["P_vc"]) / p.R_sys,
            "Q_pul": (P["P_pa"] - P["P_pu"]) / p.R_pul,
        }


# -- validation helpers --------------------------------------------------------------------------------------------
def total_volume(ds):
    """Sum of the six compartment volumes (mL) of a simulate Dataset: conserved by the model."""
    return sum(ds[v] for v in ("V_lv", "V_rv", "V_pa", "V_pu", "V_ao", "V_vc"))
