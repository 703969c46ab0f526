"""ORd-CiPA v1 (2017): the O'Hara--Rudy ventricular myocyte with a dynamic hERG (IKr) Markov model that binds and
traps drug, and with the CiPA conductance scalings -- the cell model of the CiPA in-silico proarrhythmia assay.

Li Z, Dutta S, Sheng J, Tran PN, Wu W, Chang K, Mdluli T, Strauss DG, Colatsky T. Improving the in silico assessment
of proarrhythmia risk by combining hERG (human ether-a-go-go-related gene) channel-drug binding kinetics and
multichannel pharmacology. Circ Arrhythm Electrophysiol 10 (2017) e004628, doi:10.1161/CIRCEP.116.004628.
Dutta S, Chang KC, Beattie KA, et al. Optimization of an in silico cardiac cell model for proarrhythmia risk
assessment. Front Physiol 8 (2017) 616, doi:10.3389/fphys.2017.00616 (the conductance scalings).

Everything but IKr is :mod:`ohara_rudy2011` (O'Hara et al. 2011), with five conductances scaled as optimised by Dutta
et al. 2017: GKr x 1.114/1.1 (the FDA code's manual 1.1 and optimised 1/1.114 on a divisor), GNaL x 2.661, GKs x
1.870, GK1 x 1.698, PCa x 1.007 -- the defaults below are the scaled values.

**IKr** = GKr sqrt(Ko/5.4) O (V - EK): the Li et al. 2017 Markov model of hERG gating (closed C1, C2, open O,
inactivated IC1, IC2, IO) with every rate ``A exp(B V) q^((T - 20)/10)`` at T = 37 C, and drug binding: the open
(O) and open-inactivated (IO) channel binds drug with rate ``Kmax Ku D^n / (D^n + halfmax)`` into Obound/IObound and
unbinds with ``Ku`` (from IObound scaled so that the bound O<->IO transitions keep detailed balance); a bound channel
closes around the drug (Cbound, "trapping") with rate ``Kt / (1 + exp(-(V - Vhalf)/6.789))`` and reopens with
``Kt``. The seven gating states and the three bound states sum to one. Per-drug binding parameters (Kmax, Ku, n,
halfmax, Vhalf) are those fitted by the FDA to Milnes-protocol data; ``Kt`` is 3.5e-5 /ms for every drug.

**Block of the other six currents** by the Hill equation on their conductance: ``G / (1 + (D/IC50)^h)`` for INa,
INaL, ICaL (and, with it, ICaNa and ICaK: one permeability), Ito, IKs and IK1. An IC50 of 1e30 nM (the default) is
no block.

**qNet**: the state ``qNet`` integrates INaL + ICaL + Ito + IKr + IKs + IK1 (uA/uF, i.e. A/F) over time in uC/uF
(1 A/F x 1 ms = 1e-3 uC/uF), as Dutta et al. 2017 define the metric; the charge of one beat is the difference of
``qNet`` over the beat (it accumulates; it feeds back on nothing).

Sources of the numbers (facts only; the code is written anew): the FDA CiPA repository (github.com/FDA/CiPA, branch
``Model-Validation-2018``, ``AP_simulation/models/newordherg_qNet.c``, ``newordherg_pars.txt`` and
``AP_simulation/funs/get_pars.R``), checked against the Chaste CellML encoding ``ohara_rudy_cipa_v1_2017.cellml``
(github.com/Chaste/cellml), which vhtwin imports: the same model, validated against it in
``tests/models/test_ohara_rudy_cipa2017.py``. The initial state is the FDA's control steady state at a 2000 ms cycle
length (``AP_simulation/models/newordherg_states_CL2000.txt``). The FDA code stimulates with -80 uA/uF for 0.5 ms:
``vh.Pacing(period=2000.0, duration=0.5, count=n)``.

Time in ms, potential in mV, concentrations in mM (drug in nM), currents in uA/uF.
"""

import jax.numpy as jnp

from vhtwin import Observable, Parameter, State
from vhtwin.models.cardio.ohara_rudy2011 import OHaraRudy2011

_LI = "Li et al. 2017 (Circ Arrhythm Electrophysiol 10:e004628); FDA CiPA newordherg_pars.txt"
_DUTTA = "Dutta et al. 2017 (Front Physiol 8:616), as applied in the FDA CiPA get_pars.R"
_TEMPERATURE = 37.0  # C, the temperature the hERG rates are evaluated at

# Li et al. 2017 hERG gating rates A exp(B V) q^((T - 20)/10): (A in 1/ms, B in 1/mV, q); name -> (A, B, q)
_RATES = {
    "1": (0.0264, 4.631e-05, 4.843), "2": (4.986e-06, -0.004226, 4.23),
    "3": (0.001214, 0.008516, 4.962), "4": (1.854e-05, -0.04641, 3.769),
    "11": (0.0007868, 1.535e-08, 4.942), "21": (5.455e-06, -0.1688, 4.156),
    "31": (0.005509, 7.771e-09, 4.22), "41": (0.001416, -0.02877, 1.459),
    "51": (0.4492, 0.008595, 5.0), "52": (0.3181, 3.613e-08, 4.663), "53": (0.149, 0.004668, 2.412),
    "61": (0.01241, 0.1725, 5.568), "62": (0.3226, -0.0006575, 5.0), "63": (0.008978, -0.02215, 5.682),
}
_HILL_CURRENTS = ("INa", "INaL", "ICaL", "Ito", "IKs", "IK1")
#: IC50 (nM) that means "no block measured"
NO_BLOCK_IC50 = 1e30

# the FDA's control steady state at CL 2000 ms (newordherg_states_CL2000.txt)
_STEADY_STATE_CL2000 = dict(
    V=-88.0145, nai=6.46961, nass=6.46967, ki=145.501, kss=145.501, cai=7.45321e-05, cass=7.30454e-05,
    cansr=1.37897, cajsr=1.37944, m=0.00733485, hf=0.698542, hs=0.698542, j=0.698542, hsp=0.455526, jp=0.698541,
    mL=0.000187813, hL=0.513396, hLp=0.307923, a=0.00100025, iF=0.999555, iS=0.871715, ap=0.000509652,
    iFp=0.999555, iSp=0.905466, d=2.33382e-09, ff=1.0, fs=0.971897, fcaf=1.0, fcas=1.0, jca=1.0, nca=0.0015391,
    ffp=1.0, fcafp=1.0, xs1=0.130941, xs2=0.000192517, xk1=0.996756, Jrelnp=1.46507e-07, Jrelp=1.83132e-07,
    CaMKt=0.00325232, IC1=0.999637, IC2=6.83208e-05, C1=1.80145e-08, C2=8.26619e-05, O=0.00015551,
    IO=5.67623e-05, IObound=0.0, Obound=0.0, Cbound=0.0,
)
_MARKOV = (
    ("IC1", "closed-inactivated 1"), ("IC2", "closed-inactivated 2"), ("C1", "closed 1"), ("C2", "closed 2"),
    ("O", "open"), ("IO", "open-inactivated"), ("IObound", "open-inactivated with drug bound"),
    ("Obound", "open with drug bound"), ("Cbound", "closed with drug trapped"),
)


def _rate(name, v):
    a, b, q = _RATES[name]
    return a * jnp.exp(b * v) * q ** ((_TEMPERATURE - 20.0) / 10.0)


def _power(x, e):
    """x**e for x >= 0 with a zero (and a finite derivative in e) at x = 0."""
    positive = x > 0.0
    return jnp.where(positive, jnp.exp(e * jnp.log(jnp.where(positive, x, 1.0))), 0.0)


def _states():
    base = {s.name: s for s in OHaraRudy2011.states if s.name not in ("xrf", "xrs")}
    out = [State(s.name, s.unit, _STEADY_STATE_CL2000[s.name], gate=s.gate, description=s.description)
           for s in base.values()]
    out += [State(name, "1", _STEADY_STATE_CL2000[name], description=f"hERG Markov state: {text}")
            for name, text in _MARKOV]
    out.append(State("qNet", "uC uF-1", 0.0,
                     description="charge carried by INaL + ICaL + Ito + IKr + IKs + IK1 since t = 0 (the qNet of a "
                                 "beat is its difference over the beat)"))
    return tuple(out)


_SCALED = {"GNaL": 0.0075 * 2.661, "PCa": 1.0e-4 * 1.007, "GKr": 0.046 * 1.114 / 1.1, "GKs": 0.0034 * 1.870,
           "GK1": 0.1908 * 1.698}


def _parameters():
    out = []
    for p in OHaraRudy2011.parameters:
        if p.name in _SCALED:
            p = Parameter(p.name, _SCALED[p.name], p.unit, lower=p.lower,
                          description=p.description + "; CiPA-scaled", source=_DUTTA)
        out.append(p)
    out += [
        Parameter("D", 0.0, "nM", lower=0.0, description="free drug concentration", source=_LI),
        Parameter("Kmax", 0.0, "1", lower=0.0, description="hERG: maximal drug binding rate relative to Ku",
                  source=_LI),
        Parameter("Ku", 0.0, "ms-1", lower=0.0, description="hERG: drug unbinding rate", source=_LI),
        Parameter("n", 1.0, "1", positive=True, description="hERG: Hill coefficient of drug binding", source=_LI),
        Parameter("halfmax", 1.0, "1", positive=True,
                  description="hERG: D^n (nM^n) at which binding is half its maximal rate", source=_LI),
        Parameter("Vhalf", 1.0, "mV", description="hERG: half-activation potential of the trapping rate",
                  source=_LI),
        Parameter("Kt", 3.5e-5, "ms-1", lower=0.0, description="hERG: trapping (and release) rate of a bound channel",
                  source=_LI),
    ]
    for current in _HILL_CURRENTS:
        out += [
            Parameter(f"IC50_{current}", NO_BLOCK_IC50, "nM", positive=True,
                      description=f"{current}: concentration of half block (1e30: no block)", source=_LI),
            Parameter(f"h_{current}", 1.0, "1", positive=True, description=f"{current}: Hill coefficient of block",
                      source=_LI),
        ]
    return tuple(out)


class OHaraRudyCiPA2017(OHaraRudy2011):
    """ORd-CiPA v1 (Li et al. 2017): ORd with the dynamic hERG binding model, Hill block of six currents and the
    Dutta et al. 2017 scalings; ``qNet`` accumulates the CiPA charge. ms, mV, mM, nM (drug), uA/uF."""

    reference = (
        "Li Z, Dutta S, Sheng J, et al. Improving the in silico assessment of proarrhythmia risk by combining hERG "
        "channel-drug binding kinetics and multichannel pharmacology. Circ Arrhythm Electrophysiol 10 (2017) "
        "e004628; Dutta S, et al. Front Physiol 8 (2017) 616."
    )
    states = _states()
    parameters = _parameters()
    observed = (*OHaraRudy2011.observed, Observable("INa", "A_per_F", "fast Na+ current"))

    def _conductances(self, p):
        g = super()._conductances(p)
        for current, name in (("INa", "GNa"), ("INaL", "GNaL"), ("ICaL", "PCa"), ("Ito", "Gto"), ("IKs", "GKs"),
                              ("IK1", "GK1")):
            ratio = p.D / getattr(p, f"IC50_{current}")
            g[name] = g[name] / (1.0 + _power(ratio, getattr(p, f"h_{current}")))
        return g

    def _ikr(self, y, p, v, ek, d):
        k = {name: _rate(name, v) for name in _RATES}
        bind = p.Kmax * p.Ku * _power(p.D, p.n) / (_power(p.D, p.n) + p.halfmax)
        trap = p.Kt / (1.0 + jnp.exp(-(v - p.Vhalf) / 6.789))
        # net fluxes between states
        ic1_ic2 = k["11"] * y.IC1 - k["21"] * y.IC2
        c1_ic1 = k["51"] * y.C1 - k["61"] * y.IC1
        c1_c2 = k["1"] * y.C1 - k["2"] * y.C2
        c2_o = k["31"] * y.C2 - k["41"] * y.O
        c2_ic2 = k["52"] * y.C2 - k["62"] * y.IC2
        ic2_io = k["3"] * y.IC2 - k["4"] * y.IO
        o_io = k["53"] * y.O - k["63"] * y.IO
        o_bind = bind * y.O - p.Ku * y.Obound
        # unbinding from IObound scaled by k53/k63 so that the bound cycle keeps detailed balance
        io_bind = bind * y.IO - p.Ku * k["53"] / k["63"] * y.IObound
        trap_io = trap * y.Cbound - p.Kt * y.IObound
        trap_o = trap * y.Cbound - p.Kt * y.Obound
        d["IC1"] = -ic1_ic2 + c1_ic1
        d["IC2"] = ic1_ic2 - ic2_io + c2_ic2
        d["C1"] = -c1_c2 - c1_ic1
        d["C2"] = c1_c2 - c2_o - c2_ic2
        d["O"] = c2_o - o_io - o_bind
        d["IO"] = ic2_io + o_io - io_bind
        d["IObound"] = io_bind + trap_io
        d["Obound"] = o_bind + trap_o
        d["Cbound"] = -trap_o - trap_io
        gkr = p.GKr * jnp.where(p.celltype < 0.5, 1.0, jnp.where(p.celltype < 1.5, 1.3, 0.8))
        return gkr * jnp.sqrt(p.ko / 5.4) * y.O * (v - ek)

    def rhs(self, t, y, p, u):
        c, j, d = self._fluxes(y, p)
        d = self._balances(c, j, d, y, p, u)
        d["qNet"] = 1e-3 * (c["INaL"] + c["ICaL"] + c["Ito"] + c["IKr"] + c["IKs"] + c["IK1"])
        return d

    def observables(self, t, y, p):
        out = super().observables(t, y, p)
        c, _, _ = self._fluxes(y, p)
        out["INa"] = c["INa"]
        return out
