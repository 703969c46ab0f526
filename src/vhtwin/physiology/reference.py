"""The ICRP 2002 adult reference male and female, read from ``icrp2002_adult.toml``.

The data file holds the published numbers with their sources (ICRP Publication 89 tables, Poulin & Theil 2002,
Rodgers & Rowland 2005/2006) and says for each whether it was checked against its source. This module turns them
into the compartments of a whole-body PBPK model (the PK-Sim organ set, plus ``rest``):

* organ masses: ICRP 89 Table 2.8 (tissue only for heart and lung; separable adipose for fat; the whole skeleton,
  marrow included, for bone), blood from its reference volume and density, split into arterial and venous blood
  29.5 : 70.5 (Table 2.13);
* ``rest``: the tissues not modelled as organs (GI contents, lymph nodes, thyroid, adrenals, ...), whose mass is what
  the reference body weight leaves after the organs, so that the reference masses add up to the body weight;
* blood flows: fractions of cardiac output from Table 2.40, with the rows of unmodelled tissues (bronchial tissue,
  thyroid, lymph nodes, adrenals, urinary bladder, all other tissues) perfusing ``rest``.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..errors import InputError

#: Compartments of the whole-body model, in the order of the ``organ`` dimension.
ORGANS: tuple[str, ...] = (
    "arterial_blood", "venous_blood", "lung", "bone", "brain", "fat", "gonads", "heart", "kidney", "liver", "muscle",
    "pancreas", "skin", "small_intestine", "large_intestine", "spleen", "stomach", "rest",
)
#: Organs whose venous blood goes to the liver through the portal vein.
PORTAL_ORGANS: tuple[str, ...] = ("stomach", "small_intestine", "large_intestine", "pancreas", "spleen")
#: Organs whose venous blood returns to the venous blood pool; their flows add up to the cardiac output.
SYSTEMIC_ORGANS: tuple[str, ...] = ("bone", "brain", "fat", "gonads", "heart", "kidney", "liver", "muscle", "skin", "rest")
#: Organs with a tissue mass in ICRP 89 Table 2.8 (the blood compartments and ``rest`` are built from other data).
TABLE_ORGANS: tuple[str, ...] = tuple(o for o in ORGANS if o not in ("arterial_blood", "venous_blood", "rest"))
#: The independent arterial inflows: each systemic organ but the liver, the hepatic artery and the portal organs.
FLOW_PATHS: tuple[str, ...] = tuple(o for o in SYSTEMIC_ORGANS if o != "liver") + ("hepatic_artery",) + PORTAL_ORGANS
#: Sexes the reference data cover.
SEXES: tuple[str, ...] = ("male", "female")


@functools.lru_cache(maxsize=1)
def data() -> Mapping:
    """The data file as a (read-only view of a) nested dict; every number carries its source there."""
    text = resources.files(__package__).joinpath("icrp2002_adult.toml").read_text(encoding="utf-8")
    return MappingProxyType(tomllib.loads(text))


@dataclass(frozen=True)
class Reference:
    """The reference individual of one sex, in model units.

    Attributes
    ----------
    sex : str
    age : float
        y (the ICRP adult reference covers 20-50 y; 35 y is its nominal age).
    body_weight, height, body_surface_area : float
        kg, cm, m^2 (ICRP 89 Table 2.9).
    mass : dict
        kg per compartment of :data:`ORGANS` (adds up to ``body_weight``).
    density : dict
        kg/L per compartment.
    cardiac_output : float
        L/h (ICRP 89 Table 2.39).
    flow_fraction : dict
        Fraction of cardiac output per path of :data:`FLOW_PATHS` (adds up to 1; Table 2.40).
    haematocrit : float
        Erythrocyte volume / blood volume (ICRP 89 Table 2.12).
    """

    sex: str
    age: float
    body_weight: float
    height: float
    body_surface_area: float
    mass: Mapping[str, float]
    density: Mapping[str, float]
    cardiac_output: float
    flow_fraction: Mapping[str, float]
    haematocrit: float

    @property
    def volume(self) -> dict[str, float]:
        """L per compartment: mass / density."""
        return {o: self.mass[o] / self.density[o] for o in ORGANS}

    @property
    def blood_flow(self) -> dict[str, float]:
        """L/h through each compartment (liver: hepatic artery plus portal vein; lung and blood: cardiac output)."""
        q = {p: f * self.cardiac_output for p, f in self.flow_fraction.items()}
        q["liver"] = q.pop("hepatic_artery") + sum(q[o] for o in PORTAL_ORGANS)
        for o in ("arterial_blood", "venous_blood", "lung"):
            q[o] = self.cardiac_output
        return {o: q[o] for o in ORGANS}


def check_sex(sex) -> str:
    """``"male"`` or ``"female"`` (case-insensitive; ``"m"``/``"f"`` accepted), else InputError."""
    s = str(sex).strip().lower() if isinstance(sex, str) else None
    s = {"m": "male", "f": "female"}.get(s, s)
    if s not in SEXES:
        raise InputError(f"sex {sex!r} is not known: use 'male' or 'female'")
    return s


def _density(d: Mapping, organ: str) -> float:
    table = d["density"]
    if organ in ("arterial_blood", "venous_blood"):
        return float(table["blood"]["value"])
    return float(table.get(organ, table["default"])["value"])


@functools.lru_cache(maxsize=2)
def reference(sex: str) -> Reference:
    """The ICRP 2002 reference adult of ``sex`` (``"male"`` or ``"female"``) as model compartments.

    Examples
    --------
    >>> ref = reference("male")
    >>> ref.mass["liver"], ref.cardiac_output   # kg, L/h
    (1.8, 390.0)
    """
    sex = check_sex(sex)
    d = data()
    anthro = d["anthropometry"]
    mass = {o: d["organ_mass"][o][sex] / 1000.0 for o in TABLE_ORGANS}  # g -> kg
    density = {o: _density(d, o) for o in ORGANS}
    blood = d["blood"]
    blood_volume = float(blood["volume"][sex])
    arterial = float(blood["arterial_fraction"]["value"])
    mass["arterial_blood"] = arterial * blood_volume * density["arterial_blood"]
    mass["venous_blood"] = (1.0 - arterial) * blood_volume * density["venous_blood"]
    body_weight = float(anthro["body_weight"][sex])
    # The rest of the body is what the organs leave of the reference weight: tissues without a compartment.
    mass["rest"] = body_weight - sum(mass.values())
    if mass["rest"] <= 0:  # a broken data file, not a user error
        raise ValueError(f"reference {sex}: organ masses exceed the body weight by {-mass['rest']:.3f} kg")

    rows = d["blood_flow_percent"]
    percent = {path: sum(float(rows[r][sex]) for r in entries) for path, entries in rows["compartments"].items()}
    total = sum(percent.values())
    if abs(total - 100.0) > 1e-6:
        raise ValueError(f"reference {sex}: ICRP 89 Table 2.40 flows mapped to compartments add up to {total} %, not 100 %")
    flow_fraction = {p: percent[p] / 100.0 for p in FLOW_PATHS}

    return Reference(
        sex=sex,
        age=float(anthro["age"][sex]),
        body_weight=body_weight,
        height=float(anthro["height"][sex]),
        body_surface_area=float(anthro["body_surface_area"][sex]),
        mass=MappingProxyType({o: mass[o] for o in ORGANS}),
        density=MappingProxyType(density),
        cardiac_output=float(d["cardiac_output"]["value"][sex]) * 60.0,  # L/min -> L/h
        flow_fraction=MappingProxyType(flow_fraction),
        haematocrit=float(blood["erythrocyte_volume"][sex]) / blood_volume,
    )


def as_arrays(ref: Reference) -> dict[str, np.ndarray]:
    """Masses, densities (over :data:`ORGANS`) and flow fractions (over :data:`FLOW_PATHS`) as numpy arrays."""
    return {
        "mass": np.array([ref.mass[o] for o in ORGANS]),
        "density": np.array([ref.density[o] for o in ORGANS]),
        "flow_fraction": np.array([ref.flow_fraction[p] for p in FLOW_PATHS]),
    }
