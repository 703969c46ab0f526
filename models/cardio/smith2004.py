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
paper's unit). The defaults here are vhtwin's reference adult set: a 1 s
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
import numpy as np

from vhtwin import InputError, Model, Observable, Parameter, State

SMITH_2004 = (
    "Smith BW, Chase JG, Nokes RI, Shaw GM, Wake G. Minimal haemodynamic system model including ventricular "
    "interaction and valve dynamics. Med Eng Phys 2004; 26:131-139. CellML: models.physiomeproject.org workspace "
    "smith_chase_nokes_shaw_wake_2004; BioModels MODEL1006230000."
)
_CELLML = "Smith et al. 2004 (CellML workspace smith_chase_nokes_shaw_wake_2004; same value in the paper)"
_REFSET = "vhtwin reference adult set (1 s beat); CellML/paper value {}"

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


# -- personalisation -------------------------------------------------------------------------------------------------
# Patient parameters (heart rate, body size, target mean arterial pressure and cardiac output) -> model parameters and
# initial volumes, vectorised over patients. The mappings, in the order they are applied:
#
# 1. Heart rate. period = 60 / HR. The driver e(t) = exp(-B (t - C)^2) is scaled with the cycle length the way
#    electromechanical systole shortens with heart rate: its peak (end systole) C = C_ref sqrt(T / T_ref) and its
#    width 1/sqrt(B) also proportional to sqrt(T), i.e. B = B_ref T_ref / T, so the driver keeps its shape in the time
#    variable t / sqrt(T) and e at the start and end of each beat stays ~exp(-B_ref C_ref^2) = 0.003. This is
#    Bazett's square-root relation for the duration of ventricular systole (Bazett HC. An analysis of the
#    time-relations of electrocardiograms. Heart 1920; 7:353-370: QT = k sqrt(RR)); it agrees within a few per cent
#    over 55-100 min-1 with the linear regression of total electromechanical systole on heart rate of Weissler AM,
#    Harris WS, Schoenfeld CD (Systolic time intervals in heart failure in man. Circulation 1968; 37:149-159):
#    QS2 = 546 - 2.1 HR ms (men), whose ratio QS2(100)/QS2(60) = 0.80 against sqrt(0.6) = 0.77 here.
# 2. Body size. Body surface area by Mosteller's formula (Mosteller RD. Simplified calculation of body-surface area.
#    N Engl J Med 1987; 317:1098): BSA = sqrt(height_cm weight_kg / 3600) m2, or given. Volume scale
#    s = (BSA / BSA_REF)^size_exponent with BSA_REF the Mosteller BSA of the reference adult (Pulse's standard male,
#    180 cm, 77 kg: 1.962 m2) and size_exponent 1 by default: the ratiometric indexing of chamber volumes and cardiac
#    output to BSA used clinically (Lang RM et al. Recommendations for cardiac chamber quantification by
#    echocardiography in adults. J Am Soc Echocardiogr 2015; 28:1-39; the cardiac index CO / BSA). Allometric
#    analyses give exponents above 1 for volumes against BSA (volumes ~ mass^1, BSA ~ mass^0.67 so ~1.5: Dewey FE,
#    Rosenthal D, Murphy DJ, Froelicher VF, Ashley EA. Does size matter? Clinical applications of scaling cardiac
#    size and function for body size. Circulation 2008; 117:2279-2287); pass size_exponent=1.5 for that. The model is
#    then scaled by similarity: every volume (states, V_d, V_0, V_0_pcd) by s; every elastance E_es, every
#    end-diastolic stiffness lambda and every resistance and inertance by 1/s; pressures scales P_0 unchanged. This
#    scaling is exact: the scaled model's volumes and flows are s times the reference model's and its pressures are
#    the same (so stroke volume and cardiac output scale with s at equal heart rate, blood pressure does not).
# 3. Targets (optional, per patient; NaN = no target for that patient). Mean pressure = resistance x flow, so R_sys
#    sets MAP / CO. Cardiac output is set with a scale f applied by the same similarity scaling as body size (all
#    volumes -- the blood volume, which in this model is all stressed volume since every unstressed volume is 0 --
#    by f; elastances, stiffnesses, resistances, inertances by 1/f), which multiplies CO by exactly f and leaves
#    every pressure unchanged. The stressed volume alone is a weak lever in this model: the ventricles fill on a
#    steep exponential EDPVR, and at steady state (80 beats, defaults) a 20 % larger blood volume raises CO by only
#    3 % (and -20 % lowers it 4 %), so a CO target reached by the blood volume alone would need about 5 times the
#    relative volume change, and many iterations. Heart rate matters: CO is 4.22 L/min at 55 min-1 and 5.80 at 100
#    (stroke volume falls less than the beat shortens). First order: the reference model's MAP and CO at the
#    patient's heart rate (REFERENCE_BY_HR: defaults, BSA_REF, driver scaled as in 1, 100 beats at rtol 1e-8;
#    linear interpolation in HR) times s for CO give f = CO / (s CO_ref(HR)) and R_sys scaled by
#    (MAP / CO) / (MAP_ref(HR) / (s CO_ref(HR))). Then ``refine`` fixed-point iterations: simulate the whole batch
#    ``beats`` beats (each patient on its own grid of whole beats, one vh.simulate call, compiled once for all
#    iterations), measure MAP and CO over each patient's last beat (the time averages of P_ao and Q_sys), rescale
#    R_sys by (MAP_t / CO_t) / (MAP / CO) and apply the similarity scale f = CO_t / CO (blood volume by CO_t / CO,
#    with the chambers and vessels scaled along). Each iteration warm-starts: the returned
#    initial state is the state at the start of the last simulated beat scaled by f (volumes and flows), which is
#    exactly on the scaled model's limit cycle when R_sys did not change, so a simulation from it starts near
#    steady state.
#
# Accuracy: see PERSONALISATION_ACCURACY (measured 20 beats from the returned state; tests/models/
# test_personalisation.py checks refine=2 within 5 %).

#: Reference adult for the size scaling: Mosteller BSA of Pulse's standard male (180 cm, 77 kg), m2.
BSA_REF = 1.9621
#: The reference model (defaults, BSA_REF, driver scaled to the heart rate as in step 1) at periodic steady state (100
#: beats, rtol 1e-8): heart rate (min-1), mean arterial pressure (mmHg) and cardiac output (L min-1, mean systemic
#: flow) -- the first-order starting point of the targets, interpolated linearly in heart rate (constant outside).
REFERENCE_BY_HR = {
    "HR": np.array([40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0, 140.0, 160.0]),
    "MAP": np.array([77.88, 92.44, 104.90, 116.60, 126.25, 132.41, 135.58, 138.16, 139.84, 138.62, 133.58]),
    "CO": np.array([3.308, 3.944, 4.483, 4.990, 5.406, 5.667, 5.798, 5.910, 5.985, 5.936, 5.722]),
}
#: Largest (mean) relative error of MAP and CO by refine level, 16 hearts spanning HR 55-100 min-1, MAP 80-110 mmHg,
#: CO 4-7 L/min, BSA 1.5-2.3 m2, each measured over the last of 20 beats simulated from the returned state (rtol 1e-6).
PERSONALISATION_ACCURACY = {
    0: {"MAP": (0.129, 0.064), "CO": (0.117, 0.057)},
    1: {"MAP": (0.028, 0.018), "CO": (0.024, 0.017)},
    2: {"MAP": (0.0051, 0.0040), "CO": (0.0045, 0.0035)},
}
#: Reference beat period (s) and driver (B s-2, C s) that the heart-rate mapping scales.
PERIOD_REF, B_REF, C_REF = 1.0, 80.0, 0.27

_VOLUMES = ("V_lv", "V_rv", "V_pa", "V_pu", "V_ao", "V_vc")
_FLOWS = ("Q_mt", "Q_av", "Q_tc", "Q_pv")
#: Parameters scaled by s (volumes) and by 1/s (elastances, stiffnesses, resistances, inertances) in the size step.
_SCALE_UP = ("V_d_lvf", "V_0_lvf", "V_d_rvf", "V_0_rvf", "V_d_spt", "V_0_spt", "V_d_ao", "V_d_vc", "V_d_pa", "V_d_pu",
             "V_0_pcd")
_SCALE_DOWN = ("E_es_lvf", "E_es_rvf", "E_es_spt", "E_es_ao", "E_es_vc", "E_es_pa", "E_es_pu",
               "lambda_lvf", "lambda_rvf", "lambda_spt", "lambda_pcd",
               "R_sys", "R_pul", "R_mt", "R_av", "R_tc", "R_pv", "L_mt", "L_av", "L_tc", "L_pv")


def scale_size(params, initial, factor):
    """The similarity scaling by ``factor`` (per patient): volume parameters and the state (volumes and flows) times
    ``factor``; elastances, stiffnesses, resistances and inertances divided by it. Returns new dicts."""
    params, initial = dict(params), {k: v * factor for k, v in initial.items()}
    params.update({k: params[k] * factor for k in _SCALE_UP})
    params.update({k: params[k] / factor for k in _SCALE_DOWN})
    return params, initial


def mosteller_bsa(height, weight):
    """Body surface area (m2) from height (cm) and weight (kg): sqrt(height weight / 3600) (Mosteller 1987)."""
    return np.sqrt(np.asarray(height, float) * np.asarray(weight, float) / 3600.0)


def _patient_array(name, value, *, allow_nan=False, low=0.0, high=np.inf):
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"personalise: {name} must be a number or a 1-D array of numbers, got {value!r}") from None
    if a.ndim > 1:
        raise InputError(f"personalise: {name} must be a scalar or a 1-D array (one value per patient), got shape {a.shape}")
    bad = ~((a > low) & (a < high)) & ~(np.isnan(a) if allow_nan else False)
    if bad.any():
        first = a.reshape(-1)[np.argmax(bad.reshape(-1))]
        rng = f"in ({low:g}, {high:g})" if np.isfinite(high) else f"> {low:g}"
        raise InputError(f"personalise: {name} must be finite and {rng}{' (or NaN: no target)' if allow_nan else ''}, "
                         f"got {first!r}")
    return a


def last_beat_means(ds, period):
    """MAP (mmHg, mean P_ao) and CO (L min-1, mean Q_sys) over the last beat of a simulation on per-patient grids of
    whole beats (``times`` from :func:`beat_grid`), and the state at the start of that beat (dict of arrays)."""
    t = np.atleast_2d(np.asarray(ds["time"].values, float))
    per = np.atleast_1d(np.asarray(period, float))
    m = _SAMPLES_PER_BEAT
    def last(name):
        return np.atleast_2d(np.asarray(ds[name].values, float))[:, -(m + 1):]
    tt = t[:, -(m + 1):]
    mean_p = np.trapezoid(last("P_ao"), tt, axis=-1) / per
    mean_q = np.trapezoid(last("Q_sys"), tt, axis=-1) / per
    start = {k: last(k)[:, 0] for k in (*_VOLUMES, *_FLOWS)}
    return mean_p, mean_q * 0.06, start


#: Output samples per beat of the refinement simulations.
_SAMPLES_PER_BEAT = 250


def beat_grid(period, beats, samples_per_beat=_SAMPLES_PER_BEAT):
    """Per-patient output times ``(n, beats * samples_per_beat + 1)``: whole beats of each patient's period."""
    per = np.atleast_1d(np.asarray(period, float))
    return per[:, None] * np.linspace(0.0, beats, beats * samples_per_beat + 1)[None, :]


def personalise(heart_rate, height=None, weight=None, body_surface_area=None, mean_arterial_pressure=None,
                cardiac_output=None, *, refine=2, beats=20, size_exponent=1.0, model=None, **simulate_options):
    """Model parameters and initial state of ``cardio/smith2004`` for patients given by heart rate, body size and
    (optionally) target mean arterial pressure and cardiac output. See the comment block above this function for
    the mappings and their sources.

    Parameters
    ----------
    heart_rate : float or 1-D array
        Heart rate (min-1), > 0 and < 250 (the driver needs a beat of at least 0.24 s).
    height, weight : float or 1-D array, optional
        Height (cm) and weight (kg): body surface area by Mosteller's formula. Give these or ``body_surface_area``.
    body_surface_area : float or 1-D array, optional
        Body surface area (m2).
    mean_arterial_pressure : float or 1-D array, optional
        Target MAP (mmHg; time average of the aortic pressure). NaN entries: no target for that patient.
    cardiac_output : float or 1-D array, optional
        Target cardiac output (L min-1). NaN entries: no target for that patient.
    refine : int
        Fixed-point iterations (each one vh.simulate call of the whole batch, ``beats`` beats); 0: first order only.
    beats : int
        Beats simulated per iteration (each patient on its own grid of whole beats).
    size_exponent : float
        Volume scale s = (BSA / BSA_REF) ** size_exponent (1: ratiometric BSA indexing).
    model : Model, optional
        The Smith2004 instance to simulate (default: a new one).
    **simulate_options
        Passed to vh.simulate in the refinement (default rtol 1e-6, atol 1e-6, precision "float64").

    Returns
    -------
    (params, initial) : two dicts of float arrays, one entry per patient (0-d arrays when every input is a scalar),
        usable as ``vh.simulate(model, params=params, initial=initial, ...)``. ``params`` holds every parameter the
        mapping sets (period, B, C, the scaled elastances, stiffnesses, volumes, resistances and inertances); the
        others keep their defaults.

    Raises
    ------
    InputError
        Naming the argument: a heart rate <= 0 (or >= 250), no body size, both a BSA and height/weight, a
        non-positive size or target, arrays of different lengths, refine < 0.
    """
    from vhtwin import simulate

    hr = _patient_array("heart_rate", heart_rate, high=250.0)
    if body_surface_area is not None:
        if height is not None or weight is not None:
            raise InputError("personalise: give body_surface_area or height and weight, not both")
        bsa = _patient_array("body_surface_area", body_surface_area)
    else:
        for name, v in (("height", height), ("weight", weight)):
            if v is None:
                raise InputError(f"personalise: {name} is missing: give height (cm) and weight (kg), or "
                                 "body_surface_area (m2), for the body size")
        bsa = mosteller_bsa(_patient_array("height", height), _patient_array("weight", weight))
    targets = {}
    for name, v in (("mean_arterial_pressure", mean_arterial_pressure), ("cardiac_output", cardiac_output)):
        targets[name] = np.nan if v is None else _patient_array(name, v, allow_nan=True)
    if isinstance(refine, bool) or not isinstance(refine, (int, np.integer)) or refine < 0:
        raise InputError(f"personalise: refine {refine!r} must be an integer >= 0")
    if isinstance(beats, bool) or not isinstance(beats, (int, np.integer)) or beats < 2:
        raise InputError(f"personalise: beats {beats!r} must be an integer >= 2")
    if not (np.isfinite(size_exponent) and size_exponent >= 0):
        raise InputError(f"personalise: size_exponent {size_exponent!r} must be a finite number >= 0")
    inputs = {"heart_rate": hr, "body_surface_area": bsa, **{k: np.asarray(v, float) for k, v in targets.items()}}
    scalar = all(np.ndim(v) == 0 for v in inputs.values())
    try:
        arrays = np.broadcast_arrays(*[np.atleast_1d(v) for v in inputs.values()])
    except ValueError:
        shapes = {k: np.shape(v) for k, v in inputs.items()}
        raise InputError(f"personalise: the patient arrays have different lengths: {shapes}") from None
    hr, bsa, map_t, co_t = (np.array(a, dtype=float) for a in arrays)

    model = Smith2004() if model is None else model
    defaults = model.default_parameters()
    init0 = model.default_initial()
    # 1. heart rate -> driver
    period = 60.0 / hr
    params = {"period": period, "B": B_REF * PERIOD_REF / period, "C": C_REF * np.sqrt(period / PERIOD_REF)}
    # 2. body size -> similarity scaling of the reference model
    s = (bsa / BSA_REF) ** float(size_exponent)
    params.update({k: np.full_like(s, defaults[k]) for k in (*_SCALE_UP, *_SCALE_DOWN)})
    params, initial = scale_size(params, {k: np.full_like(s, v) for k, v in init0.items()}, s)
    # 3. targets, first order from the reference model at this heart rate
    has_map, has_co = np.isfinite(map_t), np.isfinite(co_t)
    model_map = np.interp(hr, REFERENCE_BY_HR["HR"], REFERENCE_BY_HR["MAP"])
    model_co = s * np.interp(hr, REFERENCE_BY_HR["HR"], REFERENCE_BY_HR["CO"])
    params, initial = _update(params, initial, has_map, has_co, map_t, co_t, model_map, model_co,
                              np.ones_like(s, dtype=bool))

    options = {"rtol": 1e-6, "atol": 1e-6, "precision": "float64", **simulate_options}
    times = beat_grid(period, int(beats))
    for _ in range(int(refine)):
        ds = simulate(model, params=params, initial=initial, times=times, **options)
        ok = np.asarray(ds["status"].values).reshape(-1) == 0
        mean_p, co, start = last_beat_means(ds, period)
        ok &= np.isfinite(mean_p) & np.isfinite(co) & (co > 0)
        start = {k: np.where(ok, start[k], initial[k]) for k in initial}
        params, initial = _update(params, start, has_map, has_co, map_t, co_t, np.where(ok, mean_p, 1.0),
                                  np.where(ok, co, 1.0), ok)
    if scalar:
        params = {k: np.asarray(v).reshape(()) for k, v in params.items()}
        initial = {k: np.asarray(v).reshape(()) for k, v in initial.items()}
    return params, initial


def _update(params, initial, has_map, has_co, map_t, co_t, model_map, model_co, ok):
    """One target step: the similarity scale f = CO_t / CO (where a CO target is given) and R_sys times
    (MAP_t / CO_t) / (MAP / CO), from the model's MAP and CO (per patient; patients not ``ok`` are left alone)."""
    f = np.where(ok & has_co, co_t / model_co, 1.0)
    want_map = np.where(has_map, map_t, model_map)
    want_co = np.where(has_co, co_t, model_co)
    r = np.where(ok, (want_map / want_co) / (model_map / model_co), 1.0)
    params, initial = scale_size(params, initial, f)
    params["R_sys"] = params["R_sys"] * f * r   # scale_size divided R_sys by f: R_sys_new = R_sys r
    return params, initial
