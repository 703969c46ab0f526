"""Tissue:plasma partition coefficients (Kp) from physicochemistry and tissue composition.

Two families of mechanistic equations, both for steady state, perfusion-limited distribution:

**Rodgers & Rowland** (``method="rodgers_rowland"``). A tissue holds drug dissolved in its extracellular and
intracellular water, partitioned into neutral lipids and neutral phospholipids, and bound either to acidic
phospholipids (ionised moderate-to-strong bases) or to extracellular proteins (the rest). With X and Y the
ionisation terms of the Henderson-Hasselbalch equation in intracellular water (pH 7.0) and plasma (pH 7.4), e.g.
X = 1 + 10^(pKa - pH_IW), Y = 1 + 10^(pKa - pH_p) for a monoprotic base, and P the n-octanol:water partition
coefficient of the unionised drug (vegetable oil:water in adipose, log P_vo:w = 1.115 log P - 1.35):

* moderate-to-strong bases (a basic pKa >= 7) and zwitterions with such a basic group -- Rodgers, Leahy & Rowland,
  J Pharm Sci 2005;94:1259-1276, Eq. 19 (Eq. 10 of the 2006 paper for zwitterions)::

      Kpu = f_EW + X/Y f_IW + Ka_AP [AP-]_T (X - 1)/Y + (P f_NL + (0.3 P + 0.7) f_NP)/Y

  with the association constant for acidic phospholipids Ka_AP from the erythrocytes (Eq. 20), whose unbound
  partition coefficient is Kpu_BC = (Hct - 1 + B:P) / (Hct fu);

* acids, very weak bases, neutrals and the other zwitterions -- Rodgers & Rowland, J Pharm Sci 2006;95:1238-1257,
  Eq. 14::

      Kpu = f_EW + X/Y f_IW + (P f_NL + (0.3 P + 0.7) f_NP)/Y
            + [1/fu - 1 - (P f_NL,p + (0.3 P + 0.7) f_NP,p)/Y] [PR]_T/[PR]_p

  where [PR]_T/[PR]_p is the tissue:plasma ratio of albumin (acids, very weak bases, zwitterions) or lipoproteins
  (neutrals).

Both give Kpu, the tissue:unbound plasma ratio; Kp = fu Kpu. A binding term that comes out negative (fu or B:P
inconsistent with the drug's lipophilicity) is set to zero, as Rodgers & Rowland do.

**Poulin & Theil** (``method="poulin_theil"``; J Pharm Sci 2002;91:129-156 and 91:1358-1370). Partitioning into
water, neutral lipids and phospholipids of tissue and plasma, with binding scaled by the unbound fractions::

      Kp = [P (V_NL,t + 0.3 V_NP,t) + (V_W,t + 0.7 V_NP,t)] / [P (V_NL,p + 0.3 V_NP,p) + (V_W,p + 0.7 V_NP,p)] fu/fu_t

with fu_t = 1 / (1 + 0.5 (1 - fu)/fu) (interstitial albumin half that of plasma). In adipose P is the vegetable
oil:water distribution coefficient D*_vo:w of the unionised and ionised drug at pH 7.4, and fu_t = 1.
**Berezhkovskiy** (``method="berezhkovskiy"``; J Pharm Sci 2004;93:1628-1640) corrects the Poulin & Theil equation
so that the water terms carry the unbound fractions (which Poulin & Theil's derivation lost)::

      Kp = [P (V_NL,t + 0.3 V_NP,t) + (V_W,t/fu_t + 0.7 V_NP,t)] / [P (V_NL,p + 0.3 V_NP,p) + (V_W,p/fu + 0.7 V_NP,p)]

The tissue composition is that of :func:`vhtwin.physiology.composition` (or any mapping with the same keys over
tissues that include ``plasma`` and ``erythrocytes``).
"""

from __future__ import annotations

import numbers
from typing import Mapping

import numpy as np
import xarray as xr

from ..errors import InputError

#: Methods :func:`partition_coefficients` knows.
METHODS: tuple[str, ...] = ("rodgers_rowland", "poulin_theil", "berezhkovskiy")
#: Kinds of drug by ionisation; ``pKa`` is one value, or (acidic, basic) for a zwitterion, or two values for a
#: diprotic acid or base.
KINDS: tuple[str, ...] = ("neutral", "acid", "base", "diprotic_acid", "diprotic_base", "zwitterion")

#: pH of plasma, intracellular water and erythrocytes (Rodgers, Leahy & Rowland 2005, "Tissue Input Parameters").
PH_PLASMA = 7.4
PH_INTRACELLULAR = 7.0
PH_ERYTHROCYTE = 7.22
#: Tissues whose lipids are modelled with the vegetable oil:water rather than the n-octanol:water coefficient.
ADIPOSE = ("fat", "adipose")
#: Interstitial:plasma albumin ratio that Poulin & Theil 2002 use for the unbound fraction in tissue.
POULIN_THEIL_INTERSTITIAL_ALBUMIN = 0.5
#: Basic pKa at and above which a base is "moderate-to-strong" (Rodgers, Leahy & Rowland 2005).
STRONG_BASE_PKA = 7.0

_TISSUE_KEYS = ("extracellular_water", "intracellular_water", "water", "neutral_lipid", "neutral_phospholipid",
                "acidic_phospholipid", "albumin_ratio", "lipoprotein_ratio")


def vegetable_oil_log_p(log_p):
    """log10 of the vegetable oil:water partition coefficient from the n-octanol:water one.

    log P_vo:w = 1.115 log P_o:w - 1.35 (Leo, Hansch & Elkins, Chem Rev 1971;71:525; as used by Poulin & Theil
    2002 and Rodgers & Rowland 2005/2006 for adipose).
    """
    return 1.115 * np.asarray(log_p, float) - 1.35


def _number(name: str, value, *, low=None, high=None, low_open=False, allow_none=False):
    if value is None and allow_none:
        return None
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or an array of numbers, got {value!r:.80}") from None
    bad = ~np.isfinite(a)
    if low is not None:
        bad |= (a <= low) if low_open else (a < low)
    if high is not None:
        bad |= a > high
    if bad.any():
        allowed = "a finite number"
        if low is not None:
            allowed += f" {'>' if low_open else '>='} {low:g}"
        if high is not None:
            allowed += f" and <= {high:g}"
        raise InputError(f"{name} {float(a[bad].flat[0])!r} is not allowed: {name} must be {allowed}")
    return a


def _ionisation(kind: str, pka: np.ndarray, ph: float) -> np.ndarray:
    """Henderson-Hasselbalch term (total / unionised concentration) at ``ph``; pka has the pKa values on its last
    axis: one for acids and bases, two for diprotic drugs and zwitterions (acidic first)."""
    if kind == "neutral":
        return np.ones(pka.shape[:-1])
    if kind == "acid":
        return 1.0 + 10.0 ** (ph - pka[..., 0])
    if kind == "base":
        return 1.0 + 10.0 ** (pka[..., 0] - ph)
    if kind == "diprotic_acid":
        lo, hi = np.minimum(pka[..., 0], pka[..., 1]), np.maximum(pka[..., 0], pka[..., 1])
        return 1.0 + 10.0 ** (ph - lo) + 10.0 ** (2 * ph - lo - hi)
    if kind == "diprotic_base":
        lo, hi = np.minimum(pka[..., 0], pka[..., 1]), np.maximum(pka[..., 0], pka[..., 1])
        return 1.0 + 10.0 ** (hi - ph) + 10.0 ** (lo + hi - 2 * ph)
    # zwitterion: (acidic pKa, basic pKa)
    return 1.0 + 10.0 ** (pka[..., 1] - ph) + 10.0 ** (ph - pka[..., 0])


def _check_kind(kind, pka):
    if kind not in KINDS:
        raise InputError(f"kind {kind!r} is not known: use one of {list(KINDS)}")
    if kind == "neutral":
        return np.zeros((1,))
    if pka is None:
        raise InputError(f"pKa is missing: a drug of kind {kind!r} needs its pKa")
    a = _number("pKa", pka, low=-5.0, high=20.0)
    need = 2 if kind in ("diprotic_acid", "diprotic_base", "zwitterion") else 1
    if need == 1:
        return a[..., None]
    if a.shape[-1:] != (2,):
        raise InputError(f"pKa must hold two values (last axis) for a drug of kind {kind!r}, got shape {a.shape}")
    return a


def _composition(composition) -> tuple[list[str], dict[str, np.ndarray], dict[str, float], dict[str, float]]:
    """Tissue names, tissue columns (over tissues without plasma and erythrocytes), plasma and erythrocyte rows."""
    if isinstance(composition, xr.Dataset):
        if "tissue" not in composition.dims:
            raise InputError("composition must have a 'tissue' dimension (see vhtwin.physiology.composition())")
        names = [str(t) for t in composition["tissue"].values]
        table = {k: np.asarray(composition[k].values, float) for k in composition.data_vars if "tissue" in composition[k].dims}
    elif isinstance(composition, Mapping) and "tissue" in composition:
        names = [str(t) for t in composition["tissue"]]
        table = {k: np.asarray(v, float) for k, v in composition.items() if k != "tissue"}
    else:
        raise InputError("composition must be an xarray.Dataset over 'tissue' (vhtwin.physiology.composition()) or a "
                         "mapping with a 'tissue' list and one array per composition key")
    for row in ("plasma", "erythrocytes"):
        if row not in names:
            raise InputError(f"composition has no {row!r} tissue: the plasma and erythrocyte composition are needed")
    missing = [k for k in _TISSUE_KEYS if k not in table]
    if missing:
        raise InputError(f"composition lacks {missing}: it needs {list(_TISSUE_KEYS)} over 'tissue'")
    for k in _TISSUE_KEYS:
        if table[k].shape != (len(names),):
            raise InputError(f"composition {k!r} must have one value per tissue ({len(names)}), got shape {table[k].shape}")
        if not np.all(np.isfinite(table[k]) & (table[k] >= 0)):
            raise InputError(f"composition {k!r} must be finite and >= 0")
    plasma = {k: float(table[k][names.index("plasma")]) for k in _TISSUE_KEYS}
    red = {k: float(table[k][names.index("erythrocytes")]) for k in _TISSUE_KEYS}
    keep = [i for i, t in enumerate(names) if t not in ("plasma", "erythrocytes")]
    return [names[i] for i in keep], {k: table[k][keep] for k in _TISSUE_KEYS}, plasma, red


def partition_coefficients(composition, *, log_p, fu, kind="neutral", pka=None, blood_plasma_ratio=None,
                           haematocrit=None, method="rodgers_rowland", unbound=False):
    """Tissue:plasma partition coefficients Kp for each tissue of ``composition``.

    Parameters
    ----------
    composition : xarray.Dataset or mapping
        Tissue composition over ``tissue`` (:func:`vhtwin.physiology.composition`, or the ``tissue`` variables of an
        individual or population Dataset), including the ``plasma`` and ``erythrocytes`` rows.
    log_p : float or array
        log10 n-octanol:water partition coefficient of the unionised drug (log P, not log D at pH 7.4).
    fu : float or array
        Fraction unbound in plasma, in (0, 1].
    kind : str
        ``"neutral"``, ``"acid"``, ``"base"``, ``"diprotic_acid"``, ``"diprotic_base"`` or ``"zwitterion"``.
    pka : float or array, optional
        pKa (not for neutrals); two values on the last axis for diprotic drugs, and (acidic, basic) for zwitterions.
    blood_plasma_ratio : float or array, optional
        Blood:plasma concentration ratio B:P. Needed by Rodgers & Rowland for moderate-to-strong bases (the
        acidic-phospholipid affinity comes from the erythrocytes).
    haematocrit : float or array, optional
        Erythrocyte volume fraction of blood, in (0, 1); needed with ``blood_plasma_ratio``.
    method : str
        ``"rodgers_rowland"`` (default), ``"poulin_theil"`` or ``"berezhkovskiy"``.
    unbound : bool
        Return Kpu = Kp / fu (tissue:unbound plasma) instead of Kp.

    Returns
    -------
    xarray.DataArray
        Kp (or Kpu), dimensionless, over the drug inputs' shape (dims ``drug_0``, ... ; none for scalars) and
        ``tissue`` (the composition's tissues without plasma and erythrocytes), with a ``method`` attribute.

    Raises
    ------
    InputError
        Naming the field: an unknown method or kind, a missing pKa, fu outside (0, 1], a haematocrit outside
        (0, 1), B:P <= 0 or so low that fewer than no drug would be in the erythrocytes, non-finite values, or a
        composition without the needed keys or rows.

    Notes
    -----
    Drug inputs broadcast together (e.g. arrays of shape (n,) for n drugs or n patients); the tissues are the last
    axis of the result.

    Examples
    --------
    >>> import vhtwin as vh
    >>> comp = vh.physiology.composition()
    >>> kp = vh.physiology.partition_coefficients(comp, log_p=3.65, pka=9.45, kind="base", fu=0.11,
    ...                                           blood_plasma_ratio=0.8, haematocrit=0.45)
    >>> float(kp.sel(tissue="muscle")) > 1
    True
    """
    if method not in METHODS:
        raise InputError(f"method {method!r} is not known: use one of {list(METHODS)}")
    pka_a = _check_kind(kind, pka)
    log_p_a = _number("log_p", log_p, low=-10.0, high=15.0)
    fu_a = _number("fu", fu, low=0.0, high=1.0, low_open=True)
    names, t, plasma, red = _composition(composition)
    shape = np.broadcast_shapes(log_p_a.shape, fu_a.shape, pka_a.shape[:-1])
    if blood_plasma_ratio is not None:
        bp = _number("blood_plasma_ratio", blood_plasma_ratio, low=0.0, low_open=True)
        shape = np.broadcast_shapes(shape, bp.shape)
    else:
        bp = None
    if haematocrit is not None:
        hct = _number("haematocrit", haematocrit, low=0.0, low_open=True, high=0.99)
        shape = np.broadcast_shapes(shape, hct.shape)
    else:
        hct = None
    # drug quantities as (..., 1) against tissues on the last axis
    col = lambda a: np.broadcast_to(a, shape)[..., None]
    P = col(10.0 ** log_p_a)
    P_vo = col(10.0 ** vegetable_oil_log_p(log_p_a))
    fu_c = col(fu_a)
    pka_b = np.broadcast_to(pka_a, shape + pka_a.shape[-1:])
    adipose = np.array([n in ADIPOSE for n in names])
    P_tissue = np.where(adipose, P_vo, P)

    if method == "rodgers_rowland":
        kpu = _rodgers_rowland(kind, pka_b, P, P_tissue, fu_c, bp, hct, shape, t, plasma, red)
        kp = kpu * fu_c
    else:
        kp = _poulin_theil(kind, pka_b, P, P_vo, fu_c, adipose, t, plasma, berezhkovskiy=method == "berezhkovskiy")
        kpu = kp / fu_c
    out = kpu if unbound else kp
    dims = tuple(f"drug_{i}" for i in range(len(shape))) + ("tissue",)
    return xr.DataArray(out, dims=dims, coords={"tissue": names},
                        attrs={"units": "1", "method": method,
                               "long_name": "tissue:unbound plasma partition coefficient Kpu" if unbound
                               else "tissue:plasma partition coefficient Kp"})


def _rodgers_rowland(kind, pka, P, P_tissue, fu, bp, hct, shape, t, plasma, red):
    X = _ionisation(kind, pka, PH_INTRACELLULAR)[..., None]
    Y = _ionisation(kind, pka, PH_PLASMA)[..., None]
    lipids = (P_tissue * t["neutral_lipid"] + (0.3 * P_tissue + 0.7) * t["neutral_phospholipid"]) / Y
    water = t["extracellular_water"] + X / Y * t["intracellular_water"]
    basic = {"base": lambda: pka[..., 0], "diprotic_base": lambda: np.maximum(pka[..., 0], pka[..., 1]),
             "zwitterion": lambda: pka[..., 1]}.get(kind, lambda: None)()
    strong = np.zeros(shape, bool) if basic is None else basic >= STRONG_BASE_PKA
    kpu = water + lipids
    if strong.any():
        if bp is None or hct is None:
            raise InputError("blood_plasma_ratio and haematocrit are missing: Rodgers & Rowland need them for a "
                             "moderate-to-strong base (basic pKa >= 7), whose affinity for acidic phospholipids comes "
                             "from the erythrocytes")
        bp_c, hct_c = np.broadcast_to(bp, shape)[..., None], np.broadcast_to(hct, shape)[..., None]
        kpu_bc = (hct_c - 1.0 + bp_c) / (hct_c * fu)
        if np.any(kpu_bc < 0):
            raise InputError("blood_plasma_ratio is below 1 - haematocrit: the erythrocytes would hold a negative "
                             "amount of drug")
        X_bc = _ionisation(kind, pka, PH_ERYTHROCYTE)[..., None]
        P_ = P
        rest = kpu_bc - X_bc / Y * red["intracellular_water"] - (
            P_ * red["neutral_lipid"] + (0.3 * P_ + 0.7) * red["neutral_phospholipid"]) / Y
        ka_ap = np.maximum(rest, 0.0) * Y / (red["acidic_phospholipid"] * (X_bc - 1.0))
        electrostatic = ka_ap * t["acidic_phospholipid"] * (X - 1.0) / Y
        kpu = np.where(strong[..., None], kpu + electrostatic, kpu)
    if not strong.all():
        protein = t["lipoprotein_ratio"] if kind == "neutral" else t["albumin_ratio"]
        plasma_lipids = (P * plasma["neutral_lipid"] + (0.3 * P + 0.7) * plasma["neutral_phospholipid"]) / Y
        binding = np.maximum(1.0 / fu - 1.0 - plasma_lipids, 0.0) * protein
        kpu = np.where(strong[..., None], kpu, kpu + binding)
    return kpu


def _poulin_theil(kind, pka, P, P_vo, fu, adipose, t, plasma, *, berezhkovskiy):
    # Adipose: vegetable oil:water distribution coefficient of the drug at plasma pH (ionised drug stays in water).
    D_vo = P_vo / _ionisation(kind, pka, PH_PLASMA)[..., None]
    P_t = np.where(adipose, D_vo, P)
    fu_t = np.where(adipose, 1.0, 1.0 / (1.0 + POULIN_THEIL_INTERSTITIAL_ALBUMIN * (1.0 - fu) / fu))
    nl_t, np_t, w_t = t["neutral_lipid"], t["neutral_phospholipid"], t["water"]
    nl_p, np_p, w_p = plasma["neutral_lipid"], plasma["neutral_phospholipid"], plasma["water"]
    if berezhkovskiy:
        return (P_t * (nl_t + 0.3 * np_t) + (w_t / fu_t + 0.7 * np_t)) / (P_t * (nl_p + 0.3 * np_p) + (w_p / fu + 0.7 * np_p))
    return (P_t * (nl_t + 0.3 * np_t) + (w_t + 0.7 * np_t)) / (P_t * (nl_p + 0.3 * np_p) + (w_p + 0.7 * np_p)) * fu / fu_t
