"""ten Tusscher & Panfilov 2006 human ventricular myocyte (TP06): 19 states, endo-, epi- and mid-myocardial cells.

The 2006 update of the ten Tusscher--Noble--Noble--Panfilov 2004 model: twelve ionic currents (INa, IK1, Ito, IKr,
IKs, ICaL, INaCa, INaK, IpCa, IpK, ICab, INab), a dyadic subspace Ca compartment (Ca_ss) with a four-state
ryanodine receptor reduced to two variables (the open fraction is algebraic, R_prime is a state), f2 and fCass
inactivation of ICaL, and SR uptake/leak/release::

    dV/dt = -(I_ion + i_stim)                                   (Cm = 1 uF cm-2: currents in A F-1 = pA pF-1)
    I_ion = INa + IK1 + Ito + IKr + IKs + ICaL + INaCa + INaK + IpCa + IpK + ICab + INab

with time in ms, potentials in mV and concentrations in mM. The stimulus is negative (an inward current), as in the
authors' code and every published version: ``vh.Pacing`` drives ``i_stim`` at -52 A F-1 (``Input(stimulus=)``);
like the CellML and Myokit versions the stimulus is carried by K+ (it enters dK_i/dt), so that paced beats
conserve charge.

Cell types (the parameter ``celltype``, as in the authors' code and Myokit's ``cell.type``): 0 endocardial,
1 epicardial, 2 mid-myocardial (M). They differ in three places only:

- Ito conductance: 0.294 mS uF-1 in epi and M cells, 0.073 in endo cells;
- IKs conductance: 0.392 mS uF-1 in endo and epi cells, 0.098 in M cells;
- Ito's inactivation gate s: endo cells use s_inf = 1/(1+exp((V+28)/5)) and
  tau_s = 1000 exp(-(V+67)^2/1000) + 8; epi and M cells use s_inf = 1/(1+exp((V+20)/5)) and
  tau_s = 85 exp(-(V+45)^2/320) + 5/(1+exp((V-20)/5)) + 3.

``celltype`` is a float so that one batch can mix cell types: values below 0.5 are endo, above 1.5 are M, the rest
epi (give exactly 0, 1 or 2). The conductance parameters ``g_to`` and ``g_Ks`` are the *epicardial* values, and the
cell type scales them exactly as the source does: Ito in endo cells is ``g_to * 0.073/0.294``, IKs in M cells is
``g_Ks * 0.098/0.392 = g_Ks / 4``. Scaling ``g_to`` or ``g_Ks`` in a virtual cohort therefore scales every cell
type's conductance by the same factor.

Sources and what was checked
----------------------------
Paper: K. H. W. J. ten Tusscher, A. V. Panfilov. Alternans and spiral breakup in a human ventricular tissue model.
Am J Physiol Heart Circ Physiol 291 (2006) H1088--H1100, doi:10.1152/ajpheart.00109.2006 (equations of the 2004
model it builds on: ten Tusscher, Noble, Noble, Panfilov, Am J Physiol 286 (2004) H1573--H1589).

Equations and constants were transcribed from Myokit's ``c/tentusscher-2006.mmt`` (public repository
myokit/models, versions 20230202 and 20240904, M. Clerx; based on the CellML model repository's
tentusscher_panfilov_2006 workspace, https://models.physiomeproject.org/e/80d; the two versions have the same
equations, the later one only changes the file's own stimulus to 2 x -47 A F-1 for 0.5 ms). The constants were
spot-checked against the CellML epicardial variant (``tentusscher_model_2006_epi``, COR export) and public
C/MATLAB transcriptions of the authors' code (same values, same cell-type switches). The whole model was then checked
against Myokit 1.39.2 running that ``.mmt`` file with CVODE (stimulus -52 A F-1 for 1 ms): V(t) agrees to 0.011 mV
over a 1 Hz beat in each cell type. Discrepancies, and how they were resolved:

- Physical constants: the CellML version and the authors' code use R = 8314.472 mJ mol-1 K-1 and
  F = 96485.3415 C mol-1 (RT/F = 26.7138 mV at 310 K); Myokit rounds to R = 8.314 and F = 96.485
  (RT/F = 26.7118 mV). The CellML/authors' values are used here; the difference moves nothing by more than
  about 0.01 mV.
- Volumes and capacitance: Myokit writes Cm = 185 pF, V_c = 16404 um3, V_ss = 54.68 um3, V_sr = 1094 um3; the
  CellML file and the authors' code write 0.185 and 0.016404, 0.00005468, 0.001094 (inconsistent units, same
  numbers in every ratio). The conversion Cm/(V_c F) = 1.16885e-4 mM ms-1 per A F-1 is the same in both.
- ICaL: the source's (V-15)/(exp(2(V-15)F/RT)-1) is 0/0 at V = 15 mV. Here it is written with ``expm1`` and its
  limit 1/(2F/RT) on a 1e-6-wide band around the singular point (same values elsewhere, no NaN at 15 mV).
- Initial values: those of Myokit's file ("ordered as in the original code"; the values quoted for the Niederer et
  al. 2011 benchmark): V -85.23 mV, Ca_i 1.26e-4, Ca_SR 3.64, Ca_ss 3.6e-4, Na_i 8.604, K_i 136.89 mM. The same
  initial state is used for every cell type, as in Myokit (it is not each type's 1 Hz periodic state).

Behaviour (first beat from the initial state, 1 Hz, 1 ms stimulus of -52 A F-1 at t = 0; Rodas4 at rtol 1e-8;
``tests/models/test_tentusscher2006.py``): V overshoots to about +37 mV, returns to -85.48 mV (endo, epi) and
-85.46 mV (M) at the end of the beat; APD90 (from max dV/dt) 291.1 ms endo, 290.2 ms epi, 378.3 ms M -- Myokit gives
the same to 0.01 ms. Rush--Larsen at dt 0.01 ms gives APD90 within 0.1 ms of these.

Stiffness: the model is marked ``stiff`` (``solver="auto"`` -> Rodas4). Measured per 1 Hz beat: Tsit5 needs about
190,000 steps at rtol 1e-6 (an average step of about 0.005 ms), Rodas4 about 1,800
(3,500 at rtol 1e-8).
"""

import jax.numpy as jnp

from vhtwin import Input, Model, Observable, Parameter, State

# -- physical constants and cell geometry (CellML / authors' code) -------------------------------------------------
_R = 8314.472  # mJ mol-1 K-1
_F = 96485.3415  # C mol-1
_T = 310.0  # K
_RTF = _R * _T / _F  # mV
_FRT = 1.0 / _RTF  # mV-1
_CM_OVER_VC_F = 0.185 / (0.016404 * _F)  # Cm/(V_c F): mM ms-1 per A F-1 (Cm 185 pF, V_c 16404 um3)
_VSR_OVER_VC = 1094.0 / 16404.0
_VSR_OVER_VSS = 1094.0 / 54.68
_VC_OVER_VSS = 16404.0 / 54.68
_CM_OVER_2VSS_F = 0.185 / (2.0 * 0.00005468 * _F)  # Cm/(2 V_ss F): mM ms-1 per A F-1

# -- fixed constants not exposed as parameters (Myokit tentusscher-2006.mmt = CellML) --------------------------------
_P_KNA = 0.03  # relative Na permeability of IKs
_K_MK, _K_MNA = 1.0, 40.0  # mM, INaK
_KM_CA, _KM_NAI, _K_SAT, _ALPHA, _GAMMA = 1.38, 87.5, 0.1, 2.5, 0.35  # INaCa
_K_PCA = 0.0005  # mM
_BUF_C, _K_BUF_C = 0.2, 0.001  # mM
_BUF_SS, _K_BUF_SS = 0.4, 0.00025  # mM
_BUF_SR, _K_BUF_SR = 10.0, 0.3  # mM
_K_UP = 0.00025  # mM
_K1_PRIME, _K2_PRIME, _K3, _K4 = 0.15, 0.045, 0.06, 0.005  # mM-2 ms-1, mM-1 ms-1, ms-1, ms-1
_EC, _MAX_SR, _MIN_SR = 1.5, 2.5, 1.0

_G_TO_ENDO_OVER_EPI = 0.073 / 0.294
_G_KS_M_OVER_EPI = 0.098 / 0.392

_SRC = "ten Tusscher & Panfilov 2006; Myokit tentusscher-2006.mmt = CellML tentusscher_panfilov_2006"


def _gate(name, initial, description):
    return State(name, "1", initial, gate=True, description=description)


class TenTusscher2006(Model):
    """ten Tusscher & Panfilov 2006 human ventricular myocyte (TP06); time in ms, V in mV, concentrations in mM."""

    time_unit = "ms"
    stiff = True
    reference = (
        "ten Tusscher KHWJ, Panfilov AV. Alternans and spiral breakup in a human ventricular tissue model. "
        "Am J Physiol Heart Circ Physiol 291 (2006) H1088-H1100."
    )
    states = (
        State("V", "mV", -85.23, description="membrane potential"),
        State("Ca_i", "mM", 0.000126, description="free cytosolic Ca2+"),
        State("Ca_SR", "mM", 3.64, description="free sarcoplasmic reticulum Ca2+"),
        State("Ca_ss", "mM", 0.00036, description="free dyadic subspace Ca2+"),
        State("Na_i", "mM", 8.604, description="intracellular Na+"),
        State("K_i", "mM", 136.89, description="intracellular K+"),
        _gate("m", 0.00172, "INa activation"),
        _gate("h", 0.7444, "INa fast inactivation"),
        _gate("j", 0.7045, "INa slow inactivation"),
        _gate("Xr1", 0.00621, "IKr activation"),
        _gate("Xr2", 0.4712, "IKr inactivation"),
        _gate("Xs", 0.0095, "IKs activation"),
        _gate("r", 2.42e-8, "Ito activation"),
        _gate("s", 0.999998, "Ito inactivation (cell-type dependent kinetics)"),
        _gate("d", 3.373e-5, "ICaL activation"),
        _gate("f", 0.7888, "ICaL slow voltage inactivation"),
        _gate("f2", 0.9755, "ICaL fast voltage inactivation"),
        _gate("fCass", 0.9953, "ICaL subspace-Ca2+ inactivation"),
        State("R_prime", "1", 0.9073, description="fraction of ryanodine receptors not inactivated (R + O)"),
    )
    parameters = (
        Parameter("celltype", 1.0, "1", lower=0.0, upper=2.0,
                  description="0 endocardial, 1 epicardial, 2 mid-myocardial (give 0, 1 or 2)",
                  source="authors' code and Myokit cell.type"),
        Parameter("g_Na", 14.838, "mS uF-1", lower=0.0, description="INa maximal conductance", source=_SRC),
        Parameter("g_CaL", 3.98e-5, "cm3 uF-1 s-1", lower=0.0, description="ICaL maximal permeability-conductance",
                  source=_SRC),
        Parameter("g_Kr", 0.153, "mS uF-1", lower=0.0, description="IKr maximal conductance at K_o 5.4 mM",
                  source=_SRC),
        Parameter("g_Ks", 0.392, "mS uF-1", lower=0.0,
                  description="IKs maximal conductance of endo and epi cells (M cells: g_Ks * 0.098/0.392)",
                  source=_SRC),
        Parameter("g_K1", 5.405, "mS uF-1", lower=0.0, description="IK1 maximal conductance at K_o 5.4 mM",
                  source=_SRC),
        Parameter("g_to", 0.294, "mS uF-1", lower=0.0,
                  description="Ito maximal conductance of epi and M cells (endo cells: g_to * 0.073/0.294)",
                  source=_SRC),
        Parameter("K_NaCa", 1000.0, "A_per_F", lower=0.0, description="INaCa maximal current", source=_SRC),
        Parameter("P_NaK", 2.724, "A_per_F", lower=0.0, description="INaK maximal current", source=_SRC),
        Parameter("g_pCa", 0.1238, "A_per_F", lower=0.0, description="IpCa maximal current", source=_SRC),
        Parameter("g_pK", 0.0146, "mS uF-1", lower=0.0, description="IpK maximal conductance", source=_SRC),
        Parameter("g_bNa", 0.00029, "mS uF-1", lower=0.0, description="INab conductance", source=_SRC),
        Parameter("g_bCa", 0.000592, "mS uF-1", lower=0.0, description="ICab conductance", source=_SRC),
        Parameter("V_rel", 0.102, "ms-1", lower=0.0, description="maximal SR release rate (RyR)", source=_SRC),
        Parameter("Vmax_up", 0.006375, "mM ms-1", lower=0.0, description="maximal SERCA uptake rate", source=_SRC),
        Parameter("V_leak", 0.00036, "ms-1", lower=0.0, description="SR leak rate constant", source=_SRC),
        Parameter("V_xfer", 0.0038, "ms-1", lower=0.0, description="subspace-to-cytosol diffusion rate", source=_SRC),
        Parameter("K_o", 5.4, "mM", positive=True, description="extracellular K+", source=_SRC),
        Parameter("Na_o", 140.0, "mM", positive=True, description="extracellular Na+", source=_SRC),
        Parameter("Ca_o", 2.0, "mM", positive=True, description="extracellular Ca2+", source=_SRC),
    )
    inputs = (
        Input("i_stim", "A_per_F", 0.0, stimulus=-52.0,
              description="stimulus current (negative = depolarising); -52 A F-1 for 1 ms as in the source"),
    )
    observed = (
        Observable("Cai", "mM", "free cytosolic Ca2+ (the state Ca_i)"),
        Observable("I_ion", "A_per_F", "total ionic current (stimulus excluded)"),
        Observable("INa", "A_per_F", "fast Na+ current"),
        Observable("ICaL", "A_per_F", "L-type Ca2+ current"),
        Observable("IKr", "A_per_F", "rapid delayed rectifier K+ current"),
        Observable("IKs", "A_per_F", "slow delayed rectifier K+ current"),
    )

    # -- the currents, shared by rhs and observables -----------------------------------------------------------------
    @staticmethod
    def _currents(y, p):
        V = y.V
        endo = p.celltype < 0.5
        mid = p.celltype > 1.5

        E_Na = _RTF * jnp.log(p.Na_o / y.Na_i)
        E_K = _RTF * jnp.log(p.K_o / y.K_i)
        E_Ks = _RTF * jnp.log((p.K_o + _P_KNA * p.Na_o) / (y.K_i + _P_KNA * y.Na_i))
        E_Ca = 0.5 * _RTF * jnp.log(p.Ca_o / y.Ca_i)

        INa = p.g_Na * y.m**3 * y.h * y.j * (V - E_Na)

        a_K1 = 0.1 / (1.0 + jnp.exp(0.06 * (V - E_K - 200.0)))
        b_K1 = (3.0 * jnp.exp(0.0002 * (V - E_K + 100.0)) + jnp.exp(0.1 * (V - E_K - 10.0))) / (
            1.0 + jnp.exp(-0.5 * (V - E_K)))
        sqrt_ko = jnp.sqrt(p.K_o / 5.4)
        IK1 = p.g_K1 * sqrt_ko * a_K1 / (a_K1 + b_K1) * (V - E_K)

        g_to = p.g_to * jnp.where(endo, _G_TO_ENDO_OVER_EPI, 1.0)
        Ito = g_to * y.r * y.s * (V - E_K)
        IKr = p.g_Kr * sqrt_ko * y.Xr1 * y.Xr2 * (V - E_K)
        g_Ks = p.g_Ks * jnp.where(mid, _G_KS_M_OVER_EPI, 1.0)
        IKs = g_Ks * y.Xs**2 * (V - E_Ks)

        # ICaL = g 4 (V-15) F^2/(RT) (0.25 Ca_ss e^z - Ca_o)/(e^z - 1), z = 2 (V-15) F/(RT)
        #      = g 2 F [z / expm1(z)] (0.25 Ca_ss e^z - Ca_o); z/expm1(z) -> 1 - z/2 at z -> 0
        z = 2.0 * (V - 15.0) * _FRT
        small = jnp.abs(z) < 1e-6
        z_safe = jnp.where(small, 1.0, z)
        z_over = jnp.where(small, 1.0 - 0.5 * z, z_safe / jnp.expm1(z_safe))
        ICaL = p.g_CaL * y.d * y.f * y.f2 * y.fCass * 2.0 * _F * z_over * (0.25 * y.Ca_ss * jnp.exp(z) - p.Ca_o)

        INaK = (p.P_NaK * p.K_o / (p.K_o + _K_MK) * y.Na_i / (y.Na_i + _K_MNA)
                / (1.0 + 0.1245 * jnp.exp(-0.1 * V * _FRT) + 0.0353 * jnp.exp(-V * _FRT)))
        e_in = jnp.exp(_GAMMA * V * _FRT)
        e_out = jnp.exp((_GAMMA - 1.0) * V * _FRT)
        INaCa = (p.K_NaCa * (e_in * y.Na_i**3 * p.Ca_o - e_out * p.Na_o**3 * y.Ca_i * _ALPHA)
                 / ((_KM_NAI**3 + p.Na_o**3) * (_KM_CA + p.Ca_o) * (1.0 + _K_SAT * e_out)))
        IpCa = p.g_pCa * y.Ca_i / (y.Ca_i + _K_PCA)
        IpK = p.g_pK * (V - E_K) / (1.0 + jnp.exp((25.0 - V) / 5.98))
        ICab = p.g_bCa * (V - E_Ca)
        INab = p.g_bNa * (V - E_Na)
        return dict(INa=INa, IK1=IK1, Ito=Ito, IKr=IKr, IKs=IKs, ICaL=ICaL, INaK=INaK, INaCa=INaCa, IpCa=IpCa,
                    IpK=IpK, ICab=ICab, INab=INab)

    def rhs(self, t, y, p, u):
        V = y.V
        c = self._currents(y, p)
        I_ion = sum(c.values())
        endo = p.celltype < 0.5

        # -- gates: d g / dt = (g_inf - g) / tau_g --------------------------------------------------------------------
        m_inf = 1.0 / (1.0 + jnp.exp((-56.86 - V) / 9.03)) ** 2
        tau_m = (1.0 / (1.0 + jnp.exp((-60.0 - V) / 5.0))) * (
            0.1 / (1.0 + jnp.exp((V + 35.0) / 5.0)) + 0.1 / (1.0 + jnp.exp((V - 50.0) / 200.0)))

        hj_inf = 1.0 / (1.0 + jnp.exp((V + 71.55) / 7.43)) ** 2
        low = V < -40.0
        a_h = jnp.where(low, 0.057 * jnp.exp(-(V + 80.0) / 6.8), 0.0)
        b_h = jnp.where(low, 2.7 * jnp.exp(0.079 * V) + 3.1e5 * jnp.exp(0.3485 * V),
                        0.77 / (0.13 * (1.0 + jnp.exp((V + 10.66) / -11.1))))
        a_j = jnp.where(low, (-25428.0 * jnp.exp(0.2444 * V) - 6.948e-6 * jnp.exp(-0.04391 * V)) * (V + 37.78)
                        / (1.0 + jnp.exp(0.311 * (V + 79.23))), 0.0)
        b_j = jnp.where(low, 0.02424 * jnp.exp(-0.01052 * V) / (1.0 + jnp.exp(-0.1378 * (V + 40.14))),
                        0.6 * jnp.exp(0.057 * V) / (1.0 + jnp.exp(-0.1 * (V + 32.0))))
        tau_h = 1.0 / (a_h + b_h)
        tau_j = 1.0 / (a_j + b_j)

        xr1_inf = 1.0 / (1.0 + jnp.exp((-26.0 - V) / 7.0))
        tau_xr1 = (450.0 / (1.0 + jnp.exp((-45.0 - V) / 10.0))) * (6.0 / (1.0 + jnp.exp((V + 30.0) / 11.5)))
        xr2_inf = 1.0 / (1.0 + jnp.exp((V + 88.0) / 24.0))
        tau_xr2 = (3.0 / (1.0 + jnp.exp((-60.0 - V) / 20.0))) * (1.12 / (1.0 + jnp.exp((V - 60.0) / 20.0)))
        xs_inf = 1.0 / (1.0 + jnp.exp((-5.0 - V) / 14.0))
        tau_xs = (1400.0 / jnp.sqrt(1.0 + jnp.exp((5.0 - V) / 6.0))) * (1.0 / (1.0 + jnp.exp((V - 35.0) / 15.0))) + 80.0

        r_inf = 1.0 / (1.0 + jnp.exp((20.0 - V) / 6.0))
        tau_r = 9.5 * jnp.exp(-((V + 40.0) ** 2) / 1800.0) + 0.8
        s_inf = jnp.where(endo, 1.0 / (1.0 + jnp.exp((V + 28.0) / 5.0)), 1.0 / (1.0 + jnp.exp((V + 20.0) / 5.0)))
        tau_s = jnp.where(endo, 1000.0 * jnp.exp(-((V + 67.0) ** 2) / 1000.0) + 8.0,
                          85.0 * jnp.exp(-((V + 45.0) ** 2) / 320.0) + 5.0 / (1.0 + jnp.exp((V - 20.0) / 5.0)) + 3.0)

        d_inf = 1.0 / (1.0 + jnp.exp((-8.0 - V) / 7.5))
        tau_d = ((1.4 / (1.0 + jnp.exp((-35.0 - V) / 13.0)) + 0.25) * (1.4 / (1.0 + jnp.exp((V + 5.0) / 5.0)))
                 + 1.0 / (1.0 + jnp.exp((50.0 - V) / 20.0)))
        f_inf = 1.0 / (1.0 + jnp.exp((V + 20.0) / 7.0))
        tau_f = (1102.5 * jnp.exp(-((V + 27.0) ** 2) / 225.0) + 200.0 / (1.0 + jnp.exp((13.0 - V) / 10.0))
                 + 180.0 / (1.0 + jnp.exp((V + 30.0) / 10.0)) + 20.0)
        f2_inf = 0.67 / (1.0 + jnp.exp((V + 35.0) / 7.0)) + 0.33
        tau_f2 = (562.0 * jnp.exp(-((V + 27.0) ** 2) / 240.0) + 31.0 / (1.0 + jnp.exp((25.0 - V) / 10.0))
                  + 80.0 / (1.0 + jnp.exp((V + 30.0) / 10.0)))
        ca_ratio2 = (y.Ca_ss / 0.05) ** 2
        fcass_inf = 0.6 / (1.0 + ca_ratio2) + 0.4
        tau_fcass = 80.0 / (1.0 + ca_ratio2) + 2.0

        # -- calcium handling ---------------------------------------------------------------------------------------
        kcasr = _MAX_SR - (_MAX_SR - _MIN_SR) / (1.0 + (_EC / y.Ca_SR) ** 2)
        k1 = _K1_PRIME / kcasr
        k2 = _K2_PRIME * kcasr
        O = k1 * y.Ca_ss**2 * y.R_prime / (_K3 + k1 * y.Ca_ss**2)
        J_rel = p.V_rel * O * (y.Ca_SR - y.Ca_ss)
        J_up = p.Vmax_up / (1.0 + (_K_UP / y.Ca_i) ** 2)
        J_leak = p.V_leak * (y.Ca_SR - y.Ca_i)
        J_xfer = p.V_xfer * (y.Ca_ss - y.Ca_i)

        buf_i = 1.0 / (1.0 + _BUF_C * _K_BUF_C / (y.Ca_i + _K_BUF_C) ** 2)
        buf_ss = 1.0 / (1.0 + _BUF_SS * _K_BUF_SS / (y.Ca_ss + _K_BUF_SS) ** 2)
        buf_sr = 1.0 / (1.0 + _BUF_SR * _K_BUF_SR / (y.Ca_SR + _K_BUF_SR) ** 2)
        d_Ca_i = buf_i * ((J_leak - J_up) * _VSR_OVER_VC + J_xfer
                          - (c["ICab"] + c["IpCa"] - 2.0 * c["INaCa"]) * _CM_OVER_VC_F / 2.0)
        d_Ca_ss = buf_ss * (-c["ICaL"] * _CM_OVER_2VSS_F + J_rel * _VSR_OVER_VSS - J_xfer * _VC_OVER_VSS)
        d_Ca_SR = buf_sr * (J_up - (J_rel + J_leak))

        i_stim = u.i_stim
        return {
            "V": -(I_ion + i_stim),
            "Ca_i": d_Ca_i,
            "Ca_SR": d_Ca_SR,
            "Ca_ss": d_Ca_ss,
            "Na_i": -(c["INa"] + c["INab"] + 3.0 * c["INaK"] + 3.0 * c["INaCa"]) * _CM_OVER_VC_F,
            "K_i": -(c["IK1"] + c["Ito"] + c["IKr"] + c["IKs"] + c["IpK"] + i_stim - 2.0 * c["INaK"]) * _CM_OVER_VC_F,
            "m": (m_inf - y.m) / tau_m,
            "h": (hj_inf - y.h) / tau_h,
            "j": (hj_inf - y.j) / tau_j,
            "Xr1": (xr1_inf - y.Xr1) / tau_xr1,
            "Xr2": (xr2_inf - y.Xr2) / tau_xr2,
            "Xs": (xs_inf - y.Xs) / tau_xs,
            "r": (r_inf - y.r) / tau_r,
            "s": (s_inf - y.s) / tau_s,
            "d": (d_inf - y.d) / tau_d,
            "f": (f_inf - y.f) / tau_f,
            "f2": (f2_inf - y.f2) / tau_f2,
            "fCass": (fcass_inf - y.fCass) / tau_fcass,
            "R_prime": -k2 * y.Ca_ss * y.R_prime + _K4 * (1.0 - y.R_prime),
        }

    def observables(self, t, y, p):
        c = self._currents(y, p)
        return {"Cai": y.Ca_i, "I_ion": sum(c.values()), "INa": c["INa"], "ICaL": c["ICaL"], "IKr": c["IKr"],
                "IKs": c["IKs"]}
