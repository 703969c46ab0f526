"""Tissue composition per compartment, for tissue:plasma partition coefficients (Poulin & Theil, Rodgers & Rowland).

Human total water, neutral lipid and neutral phospholipid fractions come from Poulin & Theil (J Pharm Sci 2002).
Human tissues have no measured split of water into extracellular and intracellular water; it is taken from the rat
ratio of Rodgers & Rowland (J Pharm Sci 2006):

    extracellular_water = water * EW_rat / (EW_rat + IW_rat),    intracellular_water = water - extracellular_water

(the approach of Huisinga et al. 2012). Acidic phospholipids (mg/g tissue) and the albumin and lipoprotein
tissue:plasma ratios are rat values adopted for human, as Rodgers et al. (J Pharm Sci 2005) propose. ``protein`` is
the remainder of the tissue, 1 - water - neutral lipid - neutral phospholipid: in soft tissues that remainder is
mostly protein; in bone it also holds the mineral. Compartments without their own data take a proxy tissue's values
(the ``composition_source`` coordinate says which).
"""

from __future__ import annotations

import functools

import numpy as np
import xarray as xr

from .reference import ORGANS, data

#: Tissues in the ``tissue`` dimension: each organ compartment (not the blood pools) plus plasma and erythrocytes.
TISSUES: tuple[str, ...] = tuple(o for o in ORGANS if o not in ("arterial_blood", "venous_blood")) + ("plasma", "erythrocytes")

#: Composition variables and their units and meaning.
COMPOSITION_KEYS: dict[str, tuple[str, str]] = {
    "water": ("1", "total water, fraction of tissue volume"),
    "extracellular_water": ("1", "extracellular water, fraction of tissue volume"),
    "intracellular_water": ("1", "intracellular water, fraction of tissue volume"),
    "neutral_lipid": ("1", "neutral lipids, fraction of tissue volume"),
    "neutral_phospholipid": ("1", "neutral phospholipids, fraction of tissue volume"),
    "protein": ("1", "remainder 1 - water - lipids (protein; in bone also mineral), fraction of tissue volume"),
    "acidic_phospholipid": ("mg g-1", "acidic phospholipids, mg per g tissue (rat values adopted for human)"),
    "albumin_ratio": ("1", "tissue:plasma albumin concentration ratio (rat values adopted for human)"),
    "lipoprotein_ratio": ("1", "tissue:plasma lipoprotein concentration ratio (rat values adopted for human)"),
}


def _source_tissue(tissue: str) -> str:
    comp = data()["composition"]
    return tissue if tissue in comp["tissue"] else comp["proxy"][tissue]


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, np.ndarray]:
    comp = data()["composition"]
    rows = [comp["tissue"][_source_tissue(t)] for t in TISSUES]
    col = {k: np.array([float(r[k]) for r in rows]) for k in comp["keys"]}
    extracellular_share = col["rat_extracellular_water"] / (col["rat_extracellular_water"] + col["rat_intracellular_water"])
    out = {
        "water": col["water"],
        "extracellular_water": col["water"] * extracellular_share,
        "intracellular_water": col["water"] * (1.0 - extracellular_share),
        "neutral_lipid": col["neutral_lipid"],
        "neutral_phospholipid": col["neutral_phospholipid"],
        "protein": 1.0 - col["water"] - col["neutral_lipid"] - col["neutral_phospholipid"],
        "acidic_phospholipid": col["acidic_phospholipid"],
        "albumin_ratio": col["albumin_ratio"],
        "lipoprotein_ratio": col["lipoprotein_ratio"],
    }
    for a in out.values():
        a.flags.writeable = False
    return out


def composition() -> xr.Dataset:
    """Tissue composition over the ``tissue`` dimension (:data:`TISSUES`), one variable per :data:`COMPOSITION_KEYS`.

    Returns
    -------
    xarray.Dataset
        Variables ``water``, ``extracellular_water``, ``intracellular_water``, ``neutral_lipid``,
        ``neutral_phospholipid``, ``protein`` (fractions of tissue volume), ``acidic_phospholipid`` (mg/g),
        ``albumin_ratio`` and ``lipoprotein_ratio`` (tissue:plasma), each with ``units``; coordinate
        ``composition_source`` names the tissue whose data were used (a proxy where it differs).
    """
    table = _table()
    ds = xr.Dataset(
        {k: ("tissue", table[k].copy(), {"units": u, "long_name": d}) for k, (u, d) in COMPOSITION_KEYS.items()},
        coords={"tissue": list(TISSUES), "composition_source": ("tissue", [_source_tissue(t) for t in TISSUES])},
    )
    return ds
