"""Whole-body physiologically based pharmacokinetic (PBPK) model: perfusion-limited organs between arterial and
venous blood, the lung closing the loop, the portal organs draining through the liver.

Compartments (amounts in mg, volumes in L, flows in L/h) are those of :mod:`vhtwin.physiology`: arterial blood,
venous blood, lung, and the organs bone, brain, fat, gonads, heart, kidney, liver, muscle, pancreas, skin, small
intestine, large intestine, spleen, stomach and the rest of the body. Each tissue T is well stirred and in
equilibrium with the blood leaving it (perfusion-limited), so the blood leaving T has the concentration

    C_out,T = (A_T / V_T) * B:P / Kp_T                          (Kp_T: tissue:plasma partition coefficient)

and with C_a = A_arterial / V_arterial, C_v = A_venous / V_venous (blood concentrations):

    d A_T / dt        = Q_T (C_a - C_out,T)                     each systemic organ but liver and kidney,
                                                                 and each portal organ (stomach, small and large
                                                                 intestine, pancreas, spleen)
    d A_kidney / dt   = Q_kidney (C_a - C_out,kidney) - CL_renal C_out,kidney / B:P
    d A_liver / dt    = Q_hepatic_artery C_a + sum_portal Q_P C_out,P - Q_liver C_out,liver
                        - CLint fu C_out,liver / B:P            (well-stirred liver, Q_liver = Q_ha + sum_portal Q_P)
    d A_venous / dt   = sum_systemic Q_T C_out,T - CO C_v       (systemic: bone ... rest, liver included)
    d A_lung / dt     = CO (C_v - C_out,lung)
    d A_arterial / dt = CO (C_out,lung - C_a),                  CO = sum_systemic Q_T (the cardiac output)

Oral doses go into the gut lumen; first-order absorption ka moves the fraction Fa across the gut wall, of which the
fraction Fg escapes gut-wall metabolism into the small intestine tissue (and so through the portal vein to the liver):

    d A_lumen / dt    = -ka A_lumen
    absorbed          =  ka Fa Fg A_lumen          (into small_intestine)
    gut-wall loss     =  ka Fa (1 - Fg) A_lumen    (state metabolised_gut)
    not absorbed      =  ka (1 - Fa) A_lumen       (state unabsorbed)

Hepatic metabolism and renal excretion accumulate in the states ``metabolised_liver`` and ``excreted_urine``, so the
amounts in all states always add up to the doses (mass balance). Intravenous doses go into venous blood.

The observable ``Cp`` is the venous plasma concentration C_v / B:P (mg/L); ``Cb`` the venous blood concentration.
At steady state the plasma clearance is

    CL = B:P (Q_liver fu_b CLint / (Q_liver + fu_b CLint) + Q_kidney CLr_b / (Q_kidney + CLr_b)),
    fu_b = fu / B:P, CLr_b = CL_renal / B:P,

and the steady-state volume of distribution Vss = sum_T V_T Kp_T + B:P (V_arterial + V_venous). Both are returned by
:func:`clearance` and :func:`steady_state_volume`; :func:`nca_steady_state_volume` gives the Vss that a
non-compartmental analysis of the venous plasma curve after an intravenous bolus returns (smaller, because drug
eliminated in the liver and kidney never returns to the sampled blood).

The structure is the standard one of whole-body PBPK (e.g. the PK-Sim organ set; Kuepfer L et al. CPT
Pharmacometrics Syst Pharmacol 2016;5:516-531, without the permeability-limited sub-compartments). Partition
coefficients come from :func:`vhtwin.physiology.partition_coefficients` (times a drug file's ``kp_scale``, where it
fits one); individual organ volumes and flows from
:func:`vhtwin.physiology.individual` or :func:`vhtwin.physiology.population`. :func:`personalise` turns those and a
drug parameter set (:func:`load_drug`; files in ``drugs/``) into model parameters. The defaults below are the ICRP
2002 reference male (35 y, 73 kg, 176 cm) given midazolam.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import MappingProxyType

import numpy as np

from vhtwin import InputError, Model, Observable, Parameter, State
from vhtwin import physiology

#: Tissue compartments (each has a volume, a blood flow and a Kp), in the order of the states.
TISSUES = ("lung", "bone", "brain", "fat", "gonads", "heart", "kidney", "liver", "muscle", "pancreas", "skin",
           "small_intestine", "large_intestine", "spleen", "stomach", "rest")
#: Organs whose venous blood goes to the liver.
PORTAL = ("stomach", "small_intestine", "large_intestine", "pancreas", "spleen")
#: Organs whose venous blood returns to the venous blood pool (their flows add up to the cardiac output).
SYSTEMIC = ("bone", "brain", "fat", "gonads", "heart", "kidney", "liver", "muscle", "skin", "rest")
#: Organs with an arterial inflow of their own (the liver's is the hepatic artery).
PERFUSED = tuple(o for o in TISSUES if o not in ("lung", "liver"))
#: States that collect eliminated drug.
SINKS = ("metabolised_liver", "metabolised_gut", "excreted_urine", "unabsorbed")
#: Drug parameters of a drug file (``drugs/<name>.toml``), with units.
DRUG_FIELDS = {
    "molecular_weight": "g mol-1", "log_p": "1", "pka": "1", "fu": "1", "blood_plasma_ratio": "1",
    "intrinsic_clearance": "L h-1", "renal_clearance": "L h-1", "absorption_rate": "h-1",
    "fraction_absorbed": "1", "gut_availability": "1",
}
#: Optional drug parameters, with units and the value taken when a drug file leaves them out. ``kp_scale`` multiplies
#: every tissue's Kp (a single scalar on the predicted partition coefficients, as PBPK platforms offer it); it is 1
#: unless a drug file gives it with its status ("fitted", and what it was fitted to).
OPTIONAL_DRUG_FIELDS = {"kp_scale": ("1", 1.0)}
DRUG_DIR = Path(__file__).resolve().parent / "drugs"

_NICE = {o: o.replace("_", " ") for o in TISSUES}


# -- drug parameter sets ---------------------------------------------------------------------------------------------
def load_drug(name_or_path) -> MappingProxyType:
    """A drug parameter set: a library name (``"midazolam"``, ``"theophylline"``, ``"caffeine"``: files in
    ``drugs/``) or a path to a TOML file of the same form.

    Returns
    -------
    mapping (read-only)
        ``name``, ``kind`` (``"neutral"``, ``"acid"``, ``"base"``, ...), ``partition_method``, the numeric values of
        :data:`DRUG_FIELDS` (``pka`` may be absent for neutrals; units as there) and of
        :data:`OPTIONAL_DRUG_FIELDS` (their defaults where the file has none), and ``sources`` / ``entries``: the
        file's citations and each value's full entry (source, table, status, rule).

    Raises
    ------
    InputError
        An unknown name (the message lists the library), a missing file, a missing or non-numeric value.
    """
    key = str(name_or_path)
    path = Path(key)
    if not key.endswith(".toml"):
        path = DRUG_DIR / f"{key}.toml"
        if not path.is_file():
            known = sorted(p.stem for p in DRUG_DIR.glob("*.toml"))
            raise InputError(f"drug {key!r} is not in the library: known drugs are {known}, or give a path to a .toml file")
    elif not path.is_file():
        raise InputError(f"drug file {key!r} does not exist")
    with open(path, "rb") as f:  # data only: TOML runs no code
        doc = tomllib.load(f)
    entries = doc.get("parameters", {})
    out = {"name": str(doc.get("name", path.stem)), "kind": str(doc.get("kind", "neutral")),
           "partition_method": str(doc.get("partition_method", "rodgers_rowland"))}
    for field in DRUG_FIELDS:
        if field not in entries:
            if field == "pka" and out["kind"] == "neutral":
                continue
            raise InputError(f"drug file {path.name}: parameter {field!r} ({DRUG_FIELDS[field]}) is missing")
        value = entries[field]["value"] if isinstance(entries[field], dict) else entries[field]
        if isinstance(value, bool) or not isinstance(value, (int, float, list)):
            raise InputError(f"drug file {path.name}: parameter {field!r} must be a number, got {value!r}")
        out[field] = value
    for field, (unit, default) in OPTIONAL_DRUG_FIELDS.items():
        entry = entries.get(field, default)
        value = entry["value"] if isinstance(entry, dict) else entry
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InputError(f"drug file {path.name}: parameter {field!r} ({unit}) must be a number > 0, got {value!r}")
        out[field] = value
    out["sources"] = MappingProxyType(dict(doc.get("sources", {})))
    out["entries"] = MappingProxyType({k: MappingProxyType(dict(v)) if isinstance(v, dict) else v for k, v in entries.items()})
    return MappingProxyType(out)


# -- from physiology and drug to model parameters --------------------------------------------------------------------
def personalise(individual, drug, *, method: str | None = None, gfr=None) -> dict[str, np.ndarray]:
    """Model parameters of ``pharmacokinetics/pbpk_whole_body`` for individuals and a drug.

    Parameters
    ----------
    individual : xarray.Dataset
        From :func:`vhtwin.physiology.individual` or :func:`vhtwin.physiology.population` (one individual, or many
        along ``patient``): ``volume`` and ``blood_flow`` over ``organ``, ``hepatic_artery_flow``, ``haematocrit``
        and the tissue composition over ``tissue``.
    drug : mapping or str
        A drug parameter set (:func:`load_drug`), or a name or path :func:`load_drug` accepts. Its numeric values
        may also be arrays with one value per patient (e.g. fu or CLint drawn for each).
    method : str, optional
        Partition method (``"rodgers_rowland"``, ``"poulin_theil"``, ``"berezhkovskiy"``); default: the drug's
        ``partition_method``. The drug's ``kp_scale`` (1 unless its file gives one) multiplies the result.
    gfr : float or array, optional
        Glomerular filtration rate (L/h), one value or one per patient. When given, the renal clearance is filtration
        of unbound drug alone, CL_renal = fu x GFR (no secretion, no reabsorption), in place of the drug's
        ``renal_clearance``.

    Returns
    -------
    dict of numpy arrays
        Every model parameter: ``V_<organ>`` (L), ``Q_<organ>`` and ``Q_hepatic_artery`` (L/h), ``Kp_<organ>``, and
        the drug's ``BP``, ``fu``, ``CLint``, ``CL_renal``, ``ka``, ``Fa``, ``Fg``; one value per patient (0-d arrays
        for one individual). Usable as ``vh.simulate(model, params=...)``.

    Raises
    ------
    InputError
        An individual Dataset without the needed variables, or a drug parameter set the partition method refuses.
    """
    if isinstance(drug, (str, Path)):
        drug = load_drug(drug)
    need = ("volume", "blood_flow", "hepatic_artery_flow", "haematocrit", "water")
    missing = [k for k in need if k not in getattr(individual, "data_vars", {})]
    if missing:
        raise InputError(f"personalise: individual lacks {missing}; give a Dataset from vhtwin.physiology.individual "
                         "or vhtwin.physiology.population")
    one = "patient" not in individual.dims
    n = None if one else individual.sizes["patient"]
    shape = () if one else (n,)

    def per_patient(field):
        value = np.asarray(drug[field], float)
        try:
            return np.broadcast_to(value, shape).copy()
        except ValueError:
            raise InputError(f"personalise: drug {field} must be one value or one per patient ({n}), "
                             f"got shape {value.shape}") from None

    kp = physiology.partition_coefficients(
        individual, log_p=per_patient("log_p"), fu=per_patient("fu"), kind=drug["kind"],
        pka=drug.get("pka"), blood_plasma_ratio=per_patient("blood_plasma_ratio"),
        haematocrit=np.asarray(individual.haematocrit.values, float),
        method=method or drug.get("partition_method", "rodgers_rowland"),
    ) * float(drug.get("kp_scale", 1.0))
    volume = individual.volume.transpose(..., "organ")
    flow = individual.blood_flow.transpose(..., "organ")
    out: dict[str, np.ndarray] = {}
    for organ in ("arterial_blood", "venous_blood") + TISSUES:
        out[f"V_{organ}"] = np.asarray(volume.sel(organ=organ).values, float)
    for organ in PERFUSED:
        out[f"Q_{organ}"] = np.asarray(flow.sel(organ=organ).values, float)
    out["Q_hepatic_artery"] = np.asarray(individual.hepatic_artery_flow.values, float)
    for organ in TISSUES:
        out[f"Kp_{organ}"] = np.asarray(kp.sel(tissue=organ).values, float).reshape(shape)
    for name, field in (("BP", "blood_plasma_ratio"), ("fu", "fu"), ("CLint", "intrinsic_clearance"),
                        ("CL_renal", "renal_clearance"), ("ka", "absorption_rate"), ("Fa", "fraction_absorbed"),
                        ("Fg", "gut_availability")):
        out[name] = per_patient(field)
    if gfr is not None:
        g = np.asarray(gfr, float)
        if not np.all(np.isfinite(g) & (g >= 0)):
            raise InputError(f"personalise: gfr must be finite and >= 0 (L/h), got {gfr!r}")
        try:
            out["CL_renal"] = out["fu"] * np.broadcast_to(g, shape)
        except ValueError:
            raise InputError(f"personalise: gfr must be one value or one per patient ({n}), got shape {g.shape}") from None
    return out


def _reference_defaults() -> dict[str, float]:
    ref = physiology.individual(35.0, "male", 73.0, 176.0)
    return {k: float(v) for k, v in personalise(ref, load_drug("midazolam")).items()}


_DEFAULT = _reference_defaults()
_REF = ("ICRP 89 reference male via vhtwin.physiology.individual(35, 'male', 73, 176)")
_KP_REF = ("Rodgers & Rowland 2006 for midazolam in the reference male's tissues, times the drug file's fitted Kp scalar "
           "(drugs/midazolam.toml)")


def _parameters() -> tuple[Parameter, ...]:
    ps = [
        Parameter("V_arterial_blood", _DEFAULT["V_arterial_blood"], "L", positive=True,
                  description="arterial blood volume", source=_REF),
        Parameter("V_venous_blood", _DEFAULT["V_venous_blood"], "L", positive=True,
                  description="venous blood volume", source=_REF),
    ]
    ps += [Parameter(f"V_{o}", _DEFAULT[f"V_{o}"], "L", positive=True, description=f"{_NICE[o]} tissue volume",
                     source=_REF) for o in TISSUES]
    ps += [Parameter(f"Q_{o}", _DEFAULT[f"Q_{o}"], "L h-1", positive=True, description=f"{_NICE[o]} blood flow",
                     source=_REF) for o in PERFUSED]
    ps.append(Parameter("Q_hepatic_artery", _DEFAULT["Q_hepatic_artery"], "L h-1", positive=True,
                        description="hepatic artery blood flow (the liver also receives the portal organs' flows)",
                        source=_REF))
    ps += [Parameter(f"Kp_{o}", _DEFAULT[f"Kp_{o}"], "1", positive=True,
                     description=f"{_NICE[o]}:plasma partition coefficient", source=_KP_REF) for o in TISSUES]
    ps += [
        Parameter("BP", _DEFAULT["BP"], "1", positive=True, description="blood:plasma concentration ratio",
                  source="drugs/midazolam.toml (Allonen et al. 1981)"),
        Parameter("fu", _DEFAULT["fu"], "1", positive=True, upper=1.0, description="fraction unbound in plasma",
                  source="drugs/midazolam.toml (Rodgers & Rowland 2007)"),
        Parameter("CLint", _DEFAULT["CLint"], "L h-1", lower=0.0,
                  description="hepatic intrinsic clearance of unbound drug (well-stirred liver)",
                  source="drugs/midazolam.toml (from the intravenous clearances of four studies)"),
        Parameter("CL_renal", _DEFAULT["CL_renal"], "L h-1", lower=0.0,
                  description="renal clearance from the plasma leaving the kidney (e.g. fu x GFR for filtration)",
                  source="drugs/midazolam.toml (Smith et al. 1981: negligible)"),
        Parameter("ka", _DEFAULT["ka"], "h-1", positive=True, description="first-order absorption rate constant",
                  source="drugs/midazolam.toml (Allonen et al. 1981)"),
        Parameter("Fa", _DEFAULT["Fa"], "1", lower=0.0, upper=1.0, description="fraction of an oral dose absorbed",
                  source="drugs/midazolam.toml (Hohmann et al. 2015)"),
        Parameter("Fg", _DEFAULT["Fg"], "1", lower=0.0, upper=1.0,
                  description="fraction of absorbed drug escaping gut-wall metabolism",
                  source="drugs/midazolam.toml (Hohmann et al. 2015)"),
    ]
    return tuple(ps)


class PBPKWholeBody(Model):
    """Whole-body perfusion-limited PBPK model (amounts in mg, volumes in L, flows in L/h, time in h)."""

    name = "pharmacokinetics/pbpk_whole_body"
    time_unit = "h"
    linear = True  # every transfer and elimination is first order: solved exactly by solver="auto"
    # Lung and arterial blood turn over in seconds, fat in hours: where the exact path does not apply (dose times
    # that differ between patients), "auto" takes the L-stable Rosenbrock method rather than an explicit one.
    stiff = True
    reference = ("Whole-body perfusion-limited PBPK (PK-Sim organ set: Kuepfer L et al. CPT Pharmacometrics Syst "
                 "Pharmacol 2016;5:516-531); physiology ICRP Publication 89 (2002); Kp by Rodgers & Rowland, J Pharm "
                 "Sci 2005;94:1259 and 2006;95:1238.")
    states = (
        State("arterial_blood", "mg", 0.0, description="amount in arterial blood"),
        State("venous_blood", "mg", 0.0, dosable=True, description="amount in venous blood (intravenous doses)"),
        *(State(o, "mg", 0.0, description=f"amount in {_NICE[o]} tissue") for o in TISSUES),
        State("gut_lumen", "mg", 0.0, dosable=True, description="amount in the gut lumen (oral doses)"),
        State("metabolised_liver", "mg", 0.0, description="cumulative amount metabolised in the liver"),
        State("metabolised_gut", "mg", 0.0, description="cumulative amount metabolised in the gut wall"),
        State("excreted_urine", "mg", 0.0, description="cumulative amount excreted unchanged in urine"),
        State("unabsorbed", "mg", 0.0, description="cumulative amount of oral doses not absorbed"),
    )
    parameters = _parameters()
    observed = (
        Observable("Cp", "mg L-1", "venous plasma concentration"),
        Observable("Cb", "mg L-1", "venous blood concentration"),
    )

    def rhs(self, t, y, p):
        c_art = y.arterial_blood / p.V_arterial_blood
        c_ven = y.venous_blood / p.V_venous_blood
        out_conc = {o: y[o] / p[f"V_{o}"] * p.BP / p[f"Kp_{o}"] for o in TISSUES}  # blood leaving each tissue
        q = {o: p[f"Q_{o}"] for o in PERFUSED}
        q["liver"] = p.Q_hepatic_artery + sum(q[o] for o in PORTAL)
        cardiac_output = sum(q[o] for o in SYSTEMIC)

        hepatic = p.CLint * p.fu * out_conc["liver"] / p.BP
        renal = p.CL_renal * out_conc["kidney"] / p.BP
        release = p.ka * y.gut_lumen
        absorbed = release * p.Fa * p.Fg

        d = {o: q[o] * (c_art - out_conc[o]) for o in PERFUSED}
        d["kidney"] = d["kidney"] - renal
        d["small_intestine"] = d["small_intestine"] + absorbed
        d["liver"] = (p.Q_hepatic_artery * c_art + sum(q[o] * out_conc[o] for o in PORTAL)
                      - q["liver"] * out_conc["liver"] - hepatic)
        d["lung"] = cardiac_output * (c_ven - out_conc["lung"])
        return {
            "arterial_blood": cardiac_output * (out_conc["lung"] - c_art),
            "venous_blood": sum(q[o] * out_conc[o] for o in SYSTEMIC) - cardiac_output * c_ven,
            **d,
            "gut_lumen": -release,
            "metabolised_liver": hepatic,
            "metabolised_gut": release * p.Fa * (1.0 - p.Fg),
            "excreted_urine": renal,
            "unabsorbed": release * (1.0 - p.Fa),
        }

    def observables(self, t, y, p):
        c_ven = y.venous_blood / p.V_venous_blood
        return {"Cp": c_ven / p.BP, "Cb": c_ven}


# -- model-derived pharmacokinetic quantities (numpy; for validation and for users) ----------------------------------
def _get(params, name):
    if name in params:
        return np.asarray(params[name], float)
    return np.asarray(_DEFAULT[name])


def _liver_flow(params):
    return _get(params, "Q_hepatic_artery") + sum(_get(params, f"Q_{o}") for o in PORTAL)


def extraction_ratios(params) -> dict[str, np.ndarray]:
    """Hepatic and renal extraction ratios of the blood passing the liver and kidney at steady state."""
    bp = _get(params, "BP")
    q_h, q_k = _liver_flow(params), _get(params, "Q_kidney")
    cl_h = _get(params, "fu") * _get(params, "CLint") / bp   # blood basis
    cl_k = _get(params, "CL_renal") / bp
    return {"liver": cl_h / (q_h + cl_h), "kidney": cl_k / (q_k + cl_k)}


def clearance(params) -> np.ndarray:
    """Total plasma clearance (L/h) of the model: B:P (Q_liver E_liver + Q_kidney E_kidney).

    ``params``: a dict of parameter values (missing ones take the defaults); arrays broadcast.
    """
    e = extraction_ratios(params)
    return _get(params, "BP") * (_liver_flow(params) * e["liver"] + _get(params, "Q_kidney") * e["kidney"])


def steady_state_volume(params) -> np.ndarray:
    """Steady-state volume of distribution (L, referred to plasma): sum_T V_T Kp_T + B:P (V_arterial + V_venous),
    the amount in the body per plasma concentration when every tissue is in equilibrium with the plasma."""
    blood = _get(params, "V_arterial_blood") + _get(params, "V_venous_blood")
    return sum(_get(params, f"V_{o}") * _get(params, f"Kp_{o}") for o in TISSUES) + _get(params, "BP") * blood


def nca_steady_state_volume(params) -> np.ndarray:
    """The Vss (L) that non-compartmental analysis, CL x AUMC / AUC of the venous plasma curve after an intravenous
    bolus, returns for this model.

    Where elimination happens outside the sampled pool, the moments of the venous curve see less than the whole
    body: drug residing in an eliminating organ (or in an organ draining into it) is partly eliminated before it
    returns to venous blood, and drug in the lung and arterial blood has passed the sampling site. From the moment
    equations of the linear system (the first moments solve the steady-state equations with the zeroth moments as
    inputs), with v_T = V_T Kp_T / B:P (1 - E_T) the blood-referred volumes at the organs' outflow concentrations
    (E_T the extraction ratio; 0 for non-eliminating organs) and blood pools v = V:

        Vss_NCA = B:P [ sum v - E_liver (v_liver + sum_portal v_P) - E_kidney v_kidney
                        - (CL_b / CO) (v_lung + v_arterial) ]

    It tends to :func:`steady_state_volume` as the clearance goes to zero.
    """
    bp = _get(params, "BP")
    e = extraction_ratios(params)
    v = {o: _get(params, f"V_{o}") * _get(params, f"Kp_{o}") / bp for o in TISSUES}
    v["liver"] = v["liver"] * (1.0 - e["liver"])
    v["kidney"] = v["kidney"] * (1.0 - e["kidney"])
    v["arterial_blood"] = _get(params, "V_arterial_blood")
    v["venous_blood"] = _get(params, "V_venous_blood")
    cardiac_output = _liver_flow(params) + sum(_get(params, f"Q_{o}") for o in SYSTEMIC if o != "liver")
    cl_blood = clearance(params) / bp
    total = (sum(v.values()) - e["liver"] * (v["liver"] + sum(v[o] for o in PORTAL)) - e["kidney"] * v["kidney"]
             - cl_blood / cardiac_output * (v["lung"] + v["arterial_blood"]))
    return bp * total


def oral_bioavailability(params) -> np.ndarray:
    """Fraction of an oral dose reaching the systemic circulation: Fa Fg (1 - E_liver)."""
    return _get(params, "Fa") * _get(params, "Fg") * (1.0 - extraction_ratios(params)["liver"])


# -- virtual populations -----------------------------------------------------------------------------------------------
def population(drug, individuals=None, *, omega=None, residual=None, method: str | None = None):
    """A :class:`vhtwin.Population` of this model for a drug over virtual adults, for ``vh.simulate`` and trials.

    Each patient's organ volumes and blood flows are his own: the population's covariates are
    :class:`vhtwin.physiology.Individuals` (age, sex, size, organ volumes and flows drawn per ``(seed, i)``), and a
    covariate model ``V_<organ> = typical x VOL_<organ> / typical`` (a power model of exponent 1 whose reference is
    the typical value) sets every volume and flow to the individual's. The partition coefficients and the drug
    parameters are the typical values of the ICRP reference male (:func:`personalise`); the patients' haematocrit,
    which moves the Kp of strong bases slightly, is not carried into them. Between-subject variability of the drug
    (``omega``, e.g. ``{"CLint": 0.09}``) comes on top.

    Parameters
    ----------
    drug : mapping or str
        A drug parameter set or a name for :func:`load_drug` (``"midazolam"``, ``"theophylline"``, ``"caffeine"``).
    individuals : vhtwin.physiology.Individuals, optional
        Who the virtual patients are (default: adults 20-60 y, half female).
    omega : dict, optional
        Between-subject variances (log scale) of drug parameters.
    residual : vhtwin.Residual, optional
        Residual error of ``Cp``.
    method : str, optional
        Partition method (default: the drug's).

    Examples
    --------
    >>> pop = pbpk_whole_body.population("midazolam", vh.physiology.Individuals(age=(20, 60), weight=(50, 100)),
    ...                                  omega={"CLint": 0.09})
    >>> trial = vh.Trial(model=pop.model, population=pop, arms={"7.5 mg oral": vh.Regimen.bolus(7.5, into="gut_lumen")},
    ...                  n_per_arm=1000, times=np.arange(0.0, 24.25, 0.25), outputs=["Cp"], seed=1)
    """
    from vhtwin import Population, PowerCovariate

    individuals = individuals if individuals is not None else physiology.Individuals()
    if not isinstance(individuals, physiology.Individuals):
        raise InputError(f"population: individuals must be a vhtwin.physiology.Individuals, got {type(individuals).__name__}")
    reference = physiology.individual(35.0, "male", 73.0, 176.0)
    typical = {k: float(v) for k, v in personalise(reference, drug, method=method).items()}
    links = [(f"V_{o}", f"VOL_{o}") for o in ("arterial_blood", "venous_blood") + TISSUES]
    links += [(f"Q_{o}", f"FLOW_{o}") for o in PERFUSED] + [("Q_hepatic_artery", "FLOW_hepatic_artery")]
    covariate_models = [PowerCovariate(param=p, covariate=c, reference=typical[p], exponent=1.0) for p, c in links]
    return Population(PBPKWholeBody(), typical=typical, omega=omega or {}, covariates=individuals,
                      covariate_models=covariate_models, residual=residual)


# -- validation targets ------------------------------------------------------------------------------------------------
# tests/models/test_pbpk.py checks, for the ICRP reference male (73 kg) and the drug files in drugs/:
#   mass balance (every state, eliminated drug included, adds up to the doses) to 1e-10;
#   dose / AUC after an intravenous bolus = clearance() (1e-3), CL x AUMC / AUC = nca_steady_state_volume() (2e-3),
#   AUC_oral / AUC_iv = oral_bioavailability() (2e-3); the states against scipy's Radau (rtol 1e-6).
# tests/models/test_pbpk_observed.py checks every prediction against observed clinical values within 2-fold: Vss,
#   CL, terminal half-life (PKNCA's best-adjusted-R^2 rule over the sampling times), oral F, Cmax and AUC of
#   midazolam, theophylline and caffeine (the out-of-sample drug), each observed value with its study in
#   tests/data/pbpk_observed.toml; the table, regenerated by benchmarks/pbpk_validation.py, is docs/validation/pbpk.md.
#                   predicted (reference male)            observed (studies in that file)
#   midazolam       Vss 0.87 L/kg (Kp scalar fitted)      0.69, 1.1 L/kg
#                   CL 20.5 L/h (input)                   17.0-28.0 L/h
#                   t1/2 3.1 h                            1.77-2.9 h
#                   F 0.25                                0.21-0.44
#                   7.5 mg oral, reference female:        Cmax 31 ng/mL, AUC 60 ng h/mL
#                     Cmax 43 ng/mL, AUC 90 ng h/mL
#   theophylline    Vss 0.42 L/kg, t1/2 6.8 h, F 0.97     0.44-0.45 L/kg, 6.2-7.1 h, 0.99
#   caffeine        Vss 0.44 L/kg, t1/2 2.6 h, F 0.88,    0.71 L/kg, 4.1 h, 1.08, 10.0 mg/L
#                   Cmax 11.7 mg/L after 5 mg/kg oral
