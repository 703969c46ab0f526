"""O'Hara--Rudy 2011 (ORd) model of the undiseased human ventricular myocyte: 41 states, endo/epi/M cells.

O'Hara T, Virag L, Varro A, Rudy Y. Simulation of the undiseased human cardiac ventricular action potential: model
formulation and experimental validation. PLoS Comput Biol 7 (2011) e1002061, doi:10.1371/journal.pcbi.1002061.

Fifteen membrane currents (INa, INaL, Ito, ICaL with its Na+ and K+ components, IKr, IKs, IK1, INaCa in the
cytosol and in the dyadic subspace, INaK, INab, ICab, IKb, IpCa), four Ca2+ compartments (cytosol ``cai``, dyadic
subspace ``cass``, network and junctional SR ``cansr``/``cajsr``), Na+ and K+ in the cytosol and the subspace, the
RyR release flux as two relaxing states (``Jrelnp``, ``Jrelp``) and CaMKII trapping (``CaMKt``); the fraction of
CaMKII-phosphorylated channels switches INa, INaL, Ito, ICaL, Jrel and Jup between two sets of gates/rates.

Sources checked, equation by equation (the facts only; the code here is written anew):

- Myokit's ``ohara-2011.mmt`` (public ``myokit/models`` repository, file ``c/ohara-2011.mmt``, version 20230208,
  M. Clerx), itself a transcription of the authors' Matlab code checked against it by comparing derivatives;
  ``cell.mode`` 0 endo, 1 epi, 2 M there is ``celltype`` here.
- The authors' Matlab/C++ code (Rudy lab, ``ORd.m``/``ORd.cpp``), as carried by several public ports (Cardioid's
  ``OHaraRudy.c``, the Python port by A. McCarthy): the initial state below is the code's ``initial conditions``,
  the endocardial quasi steady state at 1 Hz (V -87.84 mV, Nai 7.23 mM, Ki 143.79 mM, Cai 8.54e-5 mM, ...).

Discrepancies resolved (the authors' code wins over the supplement, as in Myokit and CellML):

- slow INa inactivation rate constant 0.009794 (code) rather than 0.009764 (supplement); slow Ito inactivation
  constant 1.780e-8 (code) rather than 1.7808e-8; Ito activation constants 18.4099 and 29.3814 (code) rather than
  18.41 and 29.38;
- cell volume and area with pi = 3.14, as in the code (``vcell = 1000 * 3.14 * r^2 * L``);
- the Goldman--Hodgkin--Katz factors (ICaL, ICaNa, ICaK, INab, ICab) are written with ``expm1`` and their exact
  limit at V = 0 (the Myokit file substitutes a value that is not the limit, only at V exactly 0; the code has no
  guard at all); identical elsewhere;
- ``nca`` is not declared a gate for Rush--Larsen even though its equation is linear in itself: its rate depends
  on the gate ``jca`` (km2n = jca / ms), which breaks the one-JVP assumption of :mod:`vhtwin.solvers.rush_larsen`.
  ``Jrelnp``/``Jrelp`` relax to a target that depends on ICaL (hence on gates), so they are not gates either.

Cell types (``celltype`` 0 endo, 1 epi, 2 M; a float read with ``jnp.where`` so one batch may mix types: < 0.5
endo, < 1.5 epi, else M) scale, as in the code: GNaL x0.6 epi; Gto x4 epi and M, with the epi slowing factor
``delta_epi`` on Ito inactivation; PCa x1.2 epi, x2.5 M; GKr x1.3 epi, x0.8 M; GKs x1.4 epi; GK1 x1.2 epi, x1.3 M;
Gncx x1.1 epi, x1.4 M; Pnak x0.9 epi, x0.7 M; GKb x0.6 epi; Jrel x1.7 M; Jup x1.3 epi; cmdnmax x1.3 epi. The
conductance parameters below are the endocardial base values that these factors multiply.

Stimulus: the input ``i_stim`` (uA/uF, here ``A_per_F``) enters dV/dt = -(I_ion + i_stim) and, as in the code,
the K+ balance (so the charge it carries is K+ and the model conserves charge). The code paces with -80 uA/uF for
0.5 ms: ``vh.Pacing(period=1000.0, duration=0.5, count=n)``.

Time in ms, potential in mV, concentrations in mM, currents in uA/uF.
"""

import jax.numpy as jnp

from vhtwin import Input, Model, Observable, Parameter, State

_PAPER = "O'Hara et al. 2011 (PLoS Comput Biol 7:e1002061) and the authors' code; Myokit ohara-2011.mmt"

# physical constants and geometry (authors' code)
_R, _T, _F = 8314.0, 310.0, 96485.0  # J kmol-1 K-1, K, C mol-1
_RTF = _R * _T / _F  # mV
_FRT = 1.0 / _RTF  # mV-1
_L, _RAD = 0.01, 0.0011  # cm
_VCELL = 1000.0 * 3.14 * _RAD * _RAD * _L  # uL
_AGEO = 2.0 * 3.14 * _RAD * _RAD + 2.0 * 3.14 * _RAD * _L  # cm2
_ACAP = 2.0 * _AGEO  # cm2
_VMYO, _VNSR, _VJSR, _VSS = 0.68 * _VCELL, 0.0552 * _VCELL, 0.0048 * _VCELL, 0.02 * _VCELL  # uL
_PKNA = 0.01833  # IKs K+/Na+ permeability ratio


def _celltype(ct, endo, epi, mid):
    """Value by cell type: endo (ct < 0.5), epi (ct < 1.5), M otherwise; traced, so a batch can mix types."""
    return jnp.where(ct < 0.5, endo, jnp.where(ct < 1.5, epi, mid))


def _ghk(z, vfrt, ci, co):
    """z^2 V F^2/(RT) (ci exp(z V F/RT) - co) / (exp(z V F/RT) - 1), in C/mol * mM, smooth through V = 0."""
    x = z * vfrt
    small = jnp.abs(x) < 1e-7
    x_safe = jnp.where(small, 1.0, x)
    x_over_expm1 = jnp.where(small, 1.0 - 0.5 * x, x_safe / jnp.expm1(x_safe))
    return z * _F * x_over_expm1 * (ci * jnp.exp(x) - co)


def _inaca(v, na, ca, nao, cao):
    """Na+/Ca2+ exchanger turnover (JncxNa + 2 JncxCa, in 1/s) times the allosteric factor, for one compartment."""
    kna1, kna2, kna3, kasymm = 15.0, 5.0, 88.12, 12.5
    wna, wca, wnaca = 6.0e4, 6.0e4, 5.0e3
    kcaon, kcaoff, qna, qca = 1.5e6, 5.0e3, 0.5224, 0.1670
    kmcaact = 150.0e-6
    hca = jnp.exp(qca * v * _FRT)
    hna = jnp.exp(qna * v * _FRT)
    h1 = 1.0 + na / kna3 * (1.0 + hna)
    h2 = na * hna / (kna3 * h1)
    h3 = 1.0 / h1
    h4 = 1.0 + na / kna1 * (1.0 + na / kna2)
    h5 = na * na / (h4 * kna1 * kna2)
    h6 = 1.0 / h4
    h7 = 1.0 + nao / kna3 * (1.0 + 1.0 / hna)
    h8 = nao / (kna3 * hna * h7)
    h9 = 1.0 / h7
    h10 = kasymm + 1.0 + nao / kna1 * (1.0 + nao / kna2)
    h11 = nao * nao / (h10 * kna1 * kna2)
    h12 = 1.0 / h10
    k1 = h12 * cao * kcaon
    k2 = kcaoff
    k3p, k3pp = h9 * wca, h8 * wnaca
    k3 = k3p + k3pp
    k4p, k4pp = h3 * wca / hca, h2 * wnaca
    k4 = k4p + k4pp
    k5 = kcaoff
    k6 = h6 * ca * kcaon
    k7 = h5 * h2 * wna
    k8 = h8 * h11 * wna
    x1 = k2 * k4 * (k7 + k6) + k5 * k7 * (k2 + k3)
    x2 = k1 * k7 * (k4 + k5) + k4 * k6 * (k1 + k8)
    x3 = k1 * k3 * (k7 + k6) + k8 * k6 * (k2 + k3)
    x4 = k2 * k8 * (k4 + k5) + k3 * k5 * (k1 + k8)
    total = x1 + x2 + x3 + x4
    e1, e2, e3, e4 = x1 / total, x2 / total, x3 / total, x4 / total
    allo = 1.0 / (1.0 + (kmcaact / ca) ** 2)
    jncx_na = 3.0 * (e4 * k7 - e1 * k8) + e3 * k4pp - e2 * k3pp
    jncx_ca = e2 * k2 - e1 * k1
    return allo * (jncx_na + 2.0 * jncx_ca)


def _inak_flux(v, nai, ki, nao, ko):
    """Na+/K+ pump turnover JnakNa + JnakK (1/s), Smith & Crampin 2004 as parameterised by ORd."""
    k1p, k1m, k2p, k2m = 949.5, 182.4, 687.2, 39.4
    k3p, k3m, k4p, k4m = 1899.0, 79300.0, 639.0, 40.0
    knai0, knao0, delta = 9.073, 27.78, -0.1550
    kki, kko, mgadp, mgatp = 0.5, 0.3582, 0.05, 9.8
    kmgatp, h, ep, khp, knap, kxkur = 1.698e-7, 1.0e-7, 4.2, 1.698e-7, 224.0, 292.0
    knai = knai0 * jnp.exp(delta * v * _FRT / 3.0)
    knao = knao0 * jnp.exp((1.0 - delta) * v * _FRT / 3.0)
    pp = ep / (1.0 + h / khp + nai / knap + ki / kxkur)
    den_i = (1.0 + nai / knai) ** 3 + (1.0 + ki / kki) ** 2 - 1.0
    den_o = (1.0 + nao / knao) ** 3 + (1.0 + ko / kko) ** 2 - 1.0
    a1 = k1p * (nai / knai) ** 3 / den_i
    b1 = k1m * mgadp
    a2 = k2p
    b2 = k2m * (nao / knao) ** 3 / den_o
    a3 = k3p * (ko / kko) ** 2 / den_o
    b3 = k3m * pp * h / (1.0 + mgatp / kmgatp)
    a4 = k4p * mgatp / kmgatp / (1.0 + mgatp / kmgatp)
    b4 = k4m * (ki / kki) ** 2 / den_i
    x1 = a4 * a1 * a2 + b2 * b4 * b3 + a2 * b4 * b3 + b3 * a1 * a2
    x2 = b2 * b1 * b4 + a1 * a2 * a3 + a3 * b1 * b4 + a2 * a3 * b4
    x3 = a2 * a3 * a4 + b3 * b2 * b1 + b2 * b1 * a4 + a3 * a4 * b1
    x4 = b4 * b3 * b2 + a3 * a4 * a1 + b2 * a4 * a1 + b3 * b2 * a1
    total = x1 + x2 + x3 + x4
    e1, e2, e3, e4 = x1 / total, x2 / total, x3 / total, x4 / total
    return 3.0 * (e1 * a3 - e2 * b3) + 2.0 * (e4 * b1 - e3 * a1)


def _gate(name, initial, description):
    return State(name, "1", initial, gate=True, description=description)


class OHaraRudy2011(Model):
    """O'Hara--Rudy 2011 human ventricular myocyte (ORd), endo/epi/M by ``celltype``; ms, mV, mM, uA/uF."""

    time_unit = "ms"
    stiff = True
    reference = (
        "O'Hara T, Virag L, Varro A, Rudy Y. Simulation of the undiseased human cardiac ventricular action potential: "
        "model formulation and experimental validation. PLoS Comput Biol 7 (2011) e1002061."
    )
    # initial state: the authors' code (endocardial cell near steady state at 1 Hz); order as in the code
    states = (
        State("V", "mV", -87.84, description="membrane potential"),
        State("nai", "mM", 7.23, description="cytosolic Na+"),
        State("nass", "mM", 7.23, description="Na+ in the dyadic subspace"),
        State("ki", "mM", 143.79, description="cytosolic K+"),
        State("kss", "mM", 143.79, description="K+ in the dyadic subspace"),
        State("cai", "mM", 8.54e-5, description="cytosolic free Ca2+"),
        State("cass", "mM", 8.43e-5, description="free Ca2+ in the dyadic subspace"),
        State("cansr", "mM", 1.61, description="Ca2+ in the network SR"),
        State("cajsr", "mM", 1.56, description="Ca2+ in the junctional SR"),
        _gate("m", 0.0074621, "INa activation"),
        _gate("hf", 0.692591, "INa fast inactivation"),
        _gate("hs", 0.692574, "INa slow inactivation"),
        _gate("j", 0.692477, "INa recovery from inactivation"),
        _gate("hsp", 0.448501, "INa slow inactivation, CaMK-phosphorylated"),
        _gate("jp", 0.692413, "INa recovery from inactivation, CaMK-phosphorylated"),
        _gate("mL", 0.000194015, "INaL activation"),
        _gate("hL", 0.496116, "INaL inactivation"),
        _gate("hLp", 0.265885, "INaL inactivation, CaMK-phosphorylated"),
        _gate("a", 0.00101185, "Ito activation"),
        _gate("iF", 0.999542, "Ito fast inactivation"),
        _gate("iS", 0.589579, "Ito slow inactivation"),
        _gate("ap", 0.000515567, "Ito activation, CaMK-phosphorylated"),
        _gate("iFp", 0.999542, "Ito fast inactivation, CaMK-phosphorylated"),
        _gate("iSp", 0.641861, "Ito slow inactivation, CaMK-phosphorylated"),
        _gate("d", 2.43015e-9, "ICaL activation"),
        _gate("ff", 1.0, "ICaL fast voltage-dependent inactivation"),
        _gate("fs", 0.910671, "ICaL slow voltage-dependent inactivation"),
        _gate("fcaf", 1.0, "ICaL fast Ca-dependent inactivation"),
        _gate("fcas", 0.99982, "ICaL slow Ca-dependent inactivation"),
        _gate("jca", 0.999977, "ICaL recovery from Ca-dependent inactivation"),
        State("nca", "1", 0.00267171, description="fraction of ICaL channels in Ca-dependent inactivation mode"),
        _gate("ffp", 1.0, "ICaL fast inactivation, CaMK-phosphorylated"),
        _gate("fcafp", 1.0, "ICaL fast Ca-dependent inactivation, CaMK-phosphorylated"),
        _gate("xrf", 8.26608e-6, "IKr fast activation"),
        _gate("xrs", 0.453268, "IKr slow activation"),
        _gate("xs1", 0.270492, "IKs activation 1"),
        _gate("xs2", 0.0001963, "IKs activation 2"),
        _gate("xk1", 0.996801, "IK1 activation"),
        State("Jrelnp", "mM ms-1", 2.53943e-5, description="RyR release flux, non-phosphorylated"),
        State("Jrelp", "mM ms-1", 3.17262e-7, description="RyR release flux, CaMK-phosphorylated"),
        State("CaMKt", "1", 0.0124065, description="fraction of CaMKII subunits trapped active"),
    )
    parameters = (
        Parameter("celltype", 0.0, "1", lower=0.0, upper=2.0,
                  description="cell type: 0 endocardial, 1 epicardial, 2 midmyocardial (M)",
                  source="O'Hara et al. 2011; Myokit cell.mode"),
        Parameter("GNa", 75.0, "mS uF-1", lower=0.0, description="maximal INa conductance", source=_PAPER),
        Parameter("GNaL", 0.0075, "mS uF-1", lower=0.0, description="maximal INaL conductance (endo; x0.6 epi)",
                  source=_PAPER),
        Parameter("Gto", 0.02, "mS uF-1", lower=0.0, description="maximal Ito conductance (endo; x4 epi and M)",
                  source=_PAPER),
        Parameter("PCa", 1.0e-4, "cm s-1", lower=0.0,
                  description="ICaL Ca2+ permeability (endo; x1.2 epi, x2.5 M); PCaNa, PCaK and the phosphorylated "
                              "permeabilities scale with it", source=_PAPER),
        Parameter("GKr", 0.046, "mS uF-1", lower=0.0, description="maximal IKr conductance (endo; x1.3 epi, x0.8 M)",
                  source=_PAPER),
        Parameter("GKs", 0.0034, "mS uF-1", lower=0.0, description="maximal IKs conductance (endo; x1.4 epi)",
                  source=_PAPER),
        Parameter("GK1", 0.1908, "mS uF-1", lower=0.0,
                  description="IK1 conductance per sqrt(mM) of Ko (endo; x1.2 epi, x1.3 M)", source=_PAPER),
        Parameter("Gncx", 0.0008, "A_per_F", lower=0.0, description="INaCa scaling (endo; x1.1 epi, x1.4 M)",
                  source=_PAPER),
        Parameter("Pnak", 30.0, "A_per_F", lower=0.0, description="INaK scaling (endo; x0.9 epi, x0.7 M)",
                  source=_PAPER),
        Parameter("GKb", 0.003, "mS uF-1", lower=0.0, description="IKb conductance (endo; x0.6 epi)", source=_PAPER),
        Parameter("PNab", 3.75e-10, "cm s-1", lower=0.0, description="INab Na+ permeability", source=_PAPER),
        Parameter("PCab", 2.5e-8, "cm s-1", lower=0.0, description="ICab Ca2+ permeability", source=_PAPER),
        Parameter("GpCa", 0.0005, "A_per_F", lower=0.0, description="maximal sarcolemmal Ca2+ pump current",
                  source=_PAPER),
        Parameter("nao", 140.0, "mM", positive=True, description="extracellular Na+", source=_PAPER),
        Parameter("cao", 1.8, "mM", positive=True, description="extracellular Ca2+", source=_PAPER),
        Parameter("ko", 5.4, "mM", positive=True, description="extracellular K+", source=_PAPER),
    )
    inputs = (
        Input("i_stim", "A_per_F", 0.0, description="stimulus current (uA/uF); the authors pace with -80 for 0.5 ms",
              stimulus=-80.0),
    )
    observed = (
        Observable("Cai", "mM", "cytosolic free Ca2+"),
        Observable("Cass", "mM", "free Ca2+ in the dyadic subspace"),
        Observable("I_ion", "A_per_F", "total ionic membrane current (stimulus excluded)"),
        Observable("INaL", "A_per_F", "late Na+ current"),
        Observable("ICaL", "A_per_F", "L-type Ca2+ current, Ca2+ component"),
        Observable("Ito", "A_per_F", "transient outward K+ current"),
        Observable("IKr", "A_per_F", "rapid delayed rectifier K+ current"),
        Observable("IKs", "A_per_F", "slow delayed rectifier K+ current"),
        Observable("IK1", "A_per_F", "inward rectifier K+ current"),
    )

    # -- equations ----------------------------------------------------------------------------------------------
    def _fluxes(self, y, p):
        """Currents (uA/uF), fluxes (mM/ms) and gate derivatives, shared by ``rhs`` and ``observables``."""
        ct = p.celltype
        v = y.V
        vfrt = v * _FRT
        ena = _RTF * jnp.log(p.nao / y.nai)
        ek = _RTF * jnp.log(p.ko / y.ki)
        eks = _RTF * jnp.log((p.ko + _PKNA * p.nao) / (y.ki + _PKNA * y.nai))
        d = {}

        # CaMKII: bound and trapped active subunits, fraction of phosphorylated targets
        camkb = 0.05 * (1.0 - y.CaMKt) / (1.0 + 0.0015 / y.cass)
        camka = camkb + y.CaMKt
        d["CaMKt"] = 0.05 * camkb * camka - 0.00068 * y.CaMKt
        fcamk = 1.0 / (1.0 + 0.15 / camka)

        # INa
        mss = 1.0 / (1.0 + jnp.exp(-(v + 39.57) / 9.871))
        tm = 1.0 / (6.765 * jnp.exp((v + 11.64) / 34.77) + 8.552 * jnp.exp(-(v + 77.42) / 5.955))
        hss = 1.0 / (1.0 + jnp.exp((v + 82.90) / 6.086))
        thf = 1.0 / (1.432e-5 * jnp.exp(-(v + 1.196) / 6.285) + 6.149 * jnp.exp((v + 0.5096) / 20.27))
        ths = 1.0 / (0.009794 * jnp.exp(-(v + 17.95) / 28.05) + 0.3343 * jnp.exp((v + 5.730) / 56.66))
        tj = 2.038 + 1.0 / (0.02136 * jnp.exp(-(v + 100.6) / 8.281) + 0.3052 * jnp.exp((v + 0.9941) / 38.45))
        hssp = 1.0 / (1.0 + jnp.exp((v + 89.1) / 6.086))
        d["m"] = (mss - y.m) / tm
        d["hf"] = (hss - y.hf) / thf
        d["hs"] = (hss - y.hs) / ths
        d["j"] = (hss - y.j) / tj
        d["hsp"] = (hssp - y.hsp) / (3.0 * ths)
        d["jp"] = (hss - y.jp) / (1.46 * tj)
        h = 0.99 * y.hf + 0.01 * y.hs
        hp = 0.99 * y.hf + 0.01 * y.hsp
        g = self._conductances(p)
        ina = g["GNa"] * (v - ena) * y.m ** 3 * ((1.0 - fcamk) * h * y.j + fcamk * hp * y.jp)

        # INaL
        mlss = 1.0 / (1.0 + jnp.exp(-(v + 42.85) / 5.264))
        hlss = 1.0 / (1.0 + jnp.exp((v + 87.61) / 7.488))
        hlssp = 1.0 / (1.0 + jnp.exp((v + 93.81) / 7.488))
        d["mL"] = (mlss - y.mL) / tm
        d["hL"] = (hlss - y.hL) / 200.0
        d["hLp"] = (hlssp - y.hLp) / 600.0
        gnal = g["GNaL"] * _celltype(ct, 1.0, 0.6, 1.0)
        inal = gnal * (v - ena) * y.mL * ((1.0 - fcamk) * y.hL + fcamk * y.hLp)

        # Ito
        ass = 1.0 / (1.0 + jnp.exp(-(v - 14.34) / 14.82))
        ta = 1.0515 / (1.0 / (1.2089 * (1.0 + jnp.exp(-(v - 18.4099) / 29.3814)))
                       + 3.5 / (1.0 + jnp.exp((v + 100.0) / 29.3814)))
        iss = 1.0 / (1.0 + jnp.exp((v + 43.94) / 5.711))
        delta_epi = _celltype(ct, 1.0, 1.0 - 0.95 / (1.0 + jnp.exp((v + 70.0) / 5.0)), 1.0)
        tif = (4.562 + 1.0 / (0.3933 * jnp.exp(-(v + 100.0) / 100.0) + 0.08004 * jnp.exp((v + 50.0) / 16.59))) * delta_epi
        tis = (23.62 + 1.0 / (0.001416 * jnp.exp(-(v + 96.52) / 59.05) + 1.780e-8 * jnp.exp((v + 114.1) / 8.079))) * delta_epi
        aif = 1.0 / (1.0 + jnp.exp((v - 213.6) / 151.2))
        assp = 1.0 / (1.0 + jnp.exp(-(v - 24.34) / 14.82))
        dti_develop = 1.354 + 1.0e-4 / (jnp.exp((v - 167.4) / 15.89) + jnp.exp(-(v - 12.23) / 0.2154))
        dti_recover = 1.0 - 0.5 / (1.0 + jnp.exp((v + 70.0) / 20.0))
        d["a"] = (ass - y.a) / ta
        d["iF"] = (iss - y.iF) / tif
        d["iS"] = (iss - y.iS) / tis
        d["ap"] = (assp - y.ap) / ta
        d["iFp"] = (iss - y.iFp) / (dti_develop * dti_recover * tif)
        d["iSp"] = (iss - y.iSp) / (dti_develop * dti_recover * tis)
        i_inact = aif * y.iF + (1.0 - aif) * y.iS
        ip_inact = aif * y.iFp + (1.0 - aif) * y.iSp
        gto = g["Gto"] * _celltype(ct, 1.0, 4.0, 4.0)
        ito = gto * (v - ek) * ((1.0 - fcamk) * y.a * i_inact + fcamk * y.ap * ip_inact)

        # ICaL, ICaNa, ICaK
        dss = 1.0 / (1.0 + jnp.exp(-(v + 3.940) / 4.230))
        td = 0.6 + 1.0 / (jnp.exp(-0.05 * (v + 6.0)) + jnp.exp(0.09 * (v + 14.0)))
        fss = 1.0 / (1.0 + jnp.exp((v + 19.58) / 3.696))
        tff = 7.0 + 1.0 / (0.0045 * jnp.exp(-(v + 20.0) / 10.0) + 0.0045 * jnp.exp((v + 20.0) / 10.0))
        tfs = 1000.0 + 1.0 / (0.000035 * jnp.exp(-(v + 5.0) / 4.0) + 0.000035 * jnp.exp((v + 5.0) / 6.0))
        tfcaf = 7.0 + 1.0 / (0.04 * jnp.exp(-(v - 4.0) / 7.0) + 0.04 * jnp.exp((v - 4.0) / 7.0))
        tfcas = 100.0 + 1.0 / (0.00012 * jnp.exp(-v / 3.0) + 0.00012 * jnp.exp(v / 7.0))
        afcaf = 0.3 + 0.6 / (1.0 + jnp.exp((v - 10.0) / 10.0))
        d["d"] = (dss - y.d) / td
        d["ff"] = (fss - y.ff) / tff
        d["fs"] = (fss - y.fs) / tfs
        d["fcaf"] = (fss - y.fcaf) / tfcaf
        d["fcas"] = (fss - y.fcas) / tfcas
        d["jca"] = (fss - y.jca) / 75.0
        d["ffp"] = (fss - y.ffp) / (2.5 * tff)
        d["fcafp"] = (fss - y.fcafp) / (2.5 * tfcaf)
        km2n = y.jca * 1.0
        anca = 1.0 / (1000.0 / km2n + (1.0 + 0.002 / y.cass) ** 4)
        d["nca"] = anca * 1000.0 - y.nca * km2n
        f = 0.6 * y.ff + 0.4 * y.fs
        fca = afcaf * y.fcaf + (1.0 - afcaf) * y.fcas
        fp = 0.6 * y.ffp + 0.4 * y.fs
        fcap = afcaf * y.fcafp + (1.0 - afcaf) * y.fcas
        phi_cal = _ghk(2.0, vfrt, y.cass, 0.341 * p.cao)
        phi_cana = _ghk(1.0, vfrt, 0.75 * y.nass, 0.75 * p.nao)
        phi_cak = _ghk(1.0, vfrt, 0.75 * y.kss, 0.75 * p.ko)
        pca = g["PCa"] * _celltype(ct, 1.0, 1.2, 2.5)
        # (1 - fcamk) * P * g + fcamk * 1.1 P * gp, the same open probability for the three ions
        open_ = y.d * ((1.0 - fcamk) * (f * (1.0 - y.nca) + y.jca * fca * y.nca)
                       + fcamk * 1.1 * (fp * (1.0 - y.nca) + y.jca * fcap * y.nca))
        ical = pca * phi_cal * open_
        icana = 0.00125 * pca * phi_cana * open_
        icak = 3.574e-4 * pca * phi_cak * open_

        ikr = self._ikr(y, p, v, ek, d)

        # IKs
        xs1ss = 1.0 / (1.0 + jnp.exp(-(v + 11.60) / 8.932))
        txs1 = 817.3 + 1.0 / (2.326e-4 * jnp.exp((v + 48.28) / 17.80) + 0.001292 * jnp.exp(-(v + 210.0) / 230.0))
        txs2 = 1.0 / (0.01 * jnp.exp((v - 50.0) / 20.0) + 0.0193 * jnp.exp(-(v + 66.54) / 31.0))
        d["xs1"] = (xs1ss - y.xs1) / txs1
        d["xs2"] = (xs1ss - y.xs2) / txs2
        ksca = 1.0 + 0.6 / (1.0 + (3.8e-5 / y.cai) ** 1.4)
        gks = g["GKs"] * _celltype(ct, 1.0, 1.4, 1.0)
        iks = gks * ksca * y.xs1 * y.xs2 * (v - eks)

        # IK1
        xk1ss = 1.0 / (1.0 + jnp.exp(-(v + 2.5538 * p.ko + 144.59) / (1.5692 * p.ko + 3.8115)))
        txk1 = 122.2 / (jnp.exp(-(v + 127.2) / 20.36) + jnp.exp((v + 236.8) / 69.33))
        d["xk1"] = (xk1ss - y.xk1) / txk1
        rk1 = 1.0 / (1.0 + jnp.exp((v + 105.8 - 2.6 * p.ko) / 9.493))
        gk1 = g["GK1"] * _celltype(ct, 1.0, 1.2, 1.3)
        ik1 = gk1 * jnp.sqrt(p.ko) * rk1 * y.xk1 * (v - ek)

        # INaCa (80 % cytosol, 20 % subspace), INaK, background currents, Ca2+ pump
        gncx = p.Gncx * _celltype(ct, 1.0, 1.1, 1.4)
        inaca_i = 0.8 * gncx * _inaca(v, y.nai, y.cai, p.nao, p.cao)
        inaca_ss = 0.2 * gncx * _inaca(v, y.nass, y.cass, p.nao, p.cao)
        inak = p.Pnak * _celltype(ct, 1.0, 0.9, 0.7) * _inak_flux(v, y.nai, y.ki, p.nao, p.ko)
        xkb = 1.0 / (1.0 + jnp.exp(-(v - 14.48) / 18.34))
        ikb = p.GKb * _celltype(ct, 1.0, 0.6, 1.0) * xkb * (v - ek)
        inab = p.PNab * _ghk(1.0, vfrt, y.nai, p.nao)
        icab = p.PCab * _ghk(2.0, vfrt, y.cai, 0.341 * p.cao)
        ipca = p.GpCa * y.cai / (0.0005 + y.cai)

        # RyR release: relaxation towards a target driven by ICaL and JSR load (the code's Jrel_inf, tau_rel)
        jrel_scale = _celltype(ct, 1.0, 1.0, 1.7)
        bt = 4.75
        load = 1.0 / (1.0 + (1.5 / y.cajsr) ** 8)
        tau_rel = jnp.maximum(bt / (1.0 + 0.0123 / y.cajsr), 0.001)
        tau_relp = jnp.maximum(1.25 * bt / (1.0 + 0.0123 / y.cajsr), 0.001)
        d["Jrelnp"] = (jrel_scale * 0.5 * bt * (-ical) * load - y.Jrelnp) / tau_rel
        d["Jrelp"] = (jrel_scale * 0.5 * 1.25 * bt * (-ical) * load - y.Jrelp) / tau_relp
        jrel = (1.0 - fcamk) * y.Jrelnp + fcamk * y.Jrelp

        # SERCA uptake, leak, NSR -> JSR transfer, diffusion out of the subspace
        jup_scale = _celltype(ct, 1.0, 1.3, 1.0)
        jupnp = jup_scale * 0.004375 * y.cai / (y.cai + 0.00092)
        jupp = jup_scale * 2.75 * 0.004375 * y.cai / (y.cai + 0.00092 - 0.00017)
        jleak = 0.0039375 * y.cansr / 15.0
        jup = (1.0 - fcamk) * jupnp + fcamk * jupp - jleak
        jtr = (y.cansr - y.cajsr) / 100.0
        jdiffna = (y.nass - y.nai) / 2.0
        jdiffk = (y.kss - y.ki) / 2.0
        jdiff = (y.cass - y.cai) / 0.2

        currents = dict(INa=ina, INaL=inal, Ito=ito, ICaL=ical, ICaNa=icana, ICaK=icak, IKr=ikr, IKs=iks, IK1=ik1,
                        INaCa_i=inaca_i, INaCa_ss=inaca_ss, INaK=inak, INab=inab, ICab=icab, IKb=ikb, IpCa=ipca)
        fluxes = dict(Jrel=jrel, Jup=jup, Jtr=jtr, JdiffNa=jdiffna, JdiffK=jdiffk, Jdiff=jdiff)
        return currents, fluxes, d


    def _conductances(self, p):
        """The maximal conductances and ICaL permeability (endocardial) that the currents use: the parameters here;
        a model with drug block (ORd-CiPA) scales them."""
        return {"GNa": p.GNa, "GNaL": p.GNaL, "Gto": p.Gto, "PCa": p.PCa, "GKs": p.GKs, "GK1": p.GK1}

    def _ikr(self, y, p, v, ek, d):
        """IKr (uA/uF) by ORd's two Hodgkin--Huxley activation gates and instantaneous inactivation; writes the gate
        derivatives into ``d``."""
        ct = p.celltype
        xrss = 1.0 / (1.0 + jnp.exp(-(v + 8.337) / 6.789))
        txrf = 12.98 + 1.0 / (0.3652 * jnp.exp((v - 31.66) / 3.869) + 4.123e-5 * jnp.exp(-(v - 47.78) / 20.38))
        txrs = 1.865 + 1.0 / (0.06629 * jnp.exp((v - 34.70) / 7.355) + 1.128e-5 * jnp.exp(-(v - 29.74) / 25.94))
        axrf = 1.0 / (1.0 + jnp.exp((v + 54.81) / 38.21))
        d["xrf"] = (xrss - y.xrf) / txrf
        d["xrs"] = (xrss - y.xrs) / txrs
        xr = axrf * y.xrf + (1.0 - axrf) * y.xrs
        rkr = 1.0 / (1.0 + jnp.exp((v + 55.0) / 75.0)) / (1.0 + jnp.exp((v - 10.0) / 30.0))
        gkr = p.GKr * _celltype(ct, 1.0, 1.3, 0.8)
        return gkr * jnp.sqrt(p.ko / 5.4) * xr * rkr * (v - ek)

    @staticmethod
    def _i_ion(c):
        return (c["INa"] + c["INaL"] + c["Ito"] + c["ICaL"] + c["ICaNa"] + c["ICaK"] + c["IKr"] + c["IKs"] + c["IK1"]
                + c["INaCa_i"] + c["INaCa_ss"] + c["INaK"] + c["INab"] + c["IKb"] + c["IpCa"] + c["ICab"])

    def rhs(self, t, y, p, u):
        c, j, d = self._fluxes(y, p)
        return self._balances(c, j, d, y, p, u)

    def _balances(self, c, j, d, y, p, u):
        """Add dV/dt and the ion concentration derivatives to the gate derivatives ``d``."""
        istim = u.i_stim
        d["V"] = -(self._i_ion(c) + istim)

        # ion concentrations (authors' code: cm = 1 uF/cm2, Acap in cm2, volumes in uL)
        a_myo = _ACAP / (_F * _VMYO)
        a_ss = _ACAP / (_F * _VSS)
        d["nai"] = (-(c["INa"] + c["INaL"] + 3.0 * c["INaCa_i"] + 3.0 * c["INaK"] + c["INab"]) * a_myo
                    + j["JdiffNa"] * _VSS / _VMYO)
        d["nass"] = -(c["ICaNa"] + 3.0 * c["INaCa_ss"]) * a_ss - j["JdiffNa"]
        d["ki"] = (-(c["Ito"] + c["IKr"] + c["IKs"] + c["IK1"] + c["IKb"] + istim - 2.0 * c["INaK"]) * a_myo
                   + j["JdiffK"] * _VSS / _VMYO)
        d["kss"] = -c["ICaK"] * a_ss - j["JdiffK"]

        ct = p.celltype
        cmdnmax = 0.05 * _celltype(ct, 1.0, 1.3, 1.0)
        trpnmax, kmcmdn, kmtrpn = 0.07, 0.00238, 0.0005
        bsrmax, kmbsr, bslmax, kmbsl = 0.047, 0.00087, 1.124, 0.0087
        csqnmax, kmcsqn = 10.0, 0.8
        bcai = 1.0 / (1.0 + cmdnmax * kmcmdn / (kmcmdn + y.cai) ** 2 + trpnmax * kmtrpn / (kmtrpn + y.cai) ** 2)
        d["cai"] = bcai * (-(c["IpCa"] + c["ICab"] - 2.0 * c["INaCa_i"]) * a_myo / 2.0
                           - j["Jup"] * _VNSR / _VMYO + j["Jdiff"] * _VSS / _VMYO)
        bcass = 1.0 / (1.0 + bsrmax * kmbsr / (kmbsr + y.cass) ** 2 + bslmax * kmbsl / (kmbsl + y.cass) ** 2)
        d["cass"] = bcass * (-(c["ICaL"] - 2.0 * c["INaCa_ss"]) * a_ss / 2.0 + j["Jrel"] * _VJSR / _VSS - j["Jdiff"])
        d["cansr"] = j["Jup"] - j["Jtr"] * _VJSR / _VNSR
        bcajsr = 1.0 / (1.0 + csqnmax * kmcsqn / (kmcsqn + y.cajsr) ** 2)
        d["cajsr"] = bcajsr * (j["Jtr"] - j["Jrel"])
        return d

    def observables(self, t, y, p):
        c, _, _ = self._fluxes(y, p)
        return {"Cai": y.cai, "Cass": y.cass, "I_ion": self._i_ion(c), "INaL": c["INaL"], "ICaL": c["ICaL"],
                "Ito": c["Ito"], "IKr": c["IKr"], "IKs": c["IKs"], "IK1": c["IK1"]}
