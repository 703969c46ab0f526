"""One adult (or an array of adults) of given age, sex, weight and height: organ volumes, blood flows, composition.

Organ masses are the ICRP 2002 reference masses of the same sex, scaled as Huisinga et al. (2012) do (see
:mod:`vhtwin.physiology.scaling`):

* brain: the reference mass (adult brain mass does not follow body size);
* skin: reference x BSA / BSA_ref;
* every other compartment except fat (blood, lung, bone, muscle, viscera, rest): reference x s, where s makes the
  non-fat mass equal to the reference non-fat mass x LBW / LBW_ref (lean body weight by Janmahasatian et al. 2005);
* fat: body weight minus all other compartments. An adult whose lean compartments would outweigh the body weight is
  impossible and refused.

Cardiac output is BSA x cardiac index (falling with age); blood flows are the ICRP 89 Table 2.40 fractions of it.
The lung receives the whole cardiac output; the portal organs (stomach, intestines, pancreas, spleen) drain through
the liver, whose flow is hepatic artery plus portal vein; the systemic organs' flows add up to the cardiac output.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InputError
from . import scaling
from .composition import composition
from .reference import FLOW_PATHS, ORGANS, PORTAL_ORGANS, SEXES, SYSTEMIC_ORGANS, as_arrays, check_sex, reference

_FAT = ORGANS.index("fat")
_BRAIN = ORGANS.index("brain")
_SKIN = ORGANS.index("skin")
_NON_FAT = np.array([o != "fat" for o in ORGANS])
_HEPATIC = FLOW_PATHS.index("hepatic_artery")
_PORTAL = [FLOW_PATHS.index(o) for o in PORTAL_ORGANS]

#: What drains each compartment's venous blood (the ``drains_into`` coordinate).
DRAINS_INTO: dict[str, str] = {
    **{o: "venous_blood" for o in SYSTEMIC_ORGANS},
    **{o: "liver" for o in PORTAL_ORGANS},
    "venous_blood": "lung",
    "lung": "arterial_blood",
    "arterial_blood": "systemic_organs",
}


def _by_sex(female: np.ndarray, key: str) -> np.ndarray:
    """A per-sex reference quantity for each individual: scalar attributes -> (n,), arrays -> (n, k)."""
    male, fem = reference("male"), reference("female")
    if key in ("mass", "density", "flow_fraction"):
        a, b = as_arrays(male)[key], as_arrays(fem)[key]
        return np.where(female[:, None], b, a)
    return np.where(female, getattr(fem, key), getattr(male, key))


def _masses(female, weight, height, volume_factor=None):
    """Organ masses (n, organ) in kg and the lean body weight (n,) in kg. Fat may come out negative: callers check."""
    ref_mass = _by_sex(female, "mass")
    ref_weight, ref_height = _by_sex(female, "body_weight"), _by_sex(female, "height")
    ref_lean = ref_weight - ref_mass[:, _FAT]
    lbw = scaling.lean_body_weight(weight, height, female)
    lean = ref_lean * lbw / scaling.lean_body_weight(ref_weight, ref_height, female)
    skin = ref_mass[:, _SKIN] * scaling.body_surface_area(weight, height) / scaling.body_surface_area(ref_weight, ref_height)
    brain = ref_mass[:, _BRAIN]
    others = (lean - brain - skin) / (ref_lean - ref_mass[:, _BRAIN] - ref_mass[:, _SKIN])
    mass = ref_mass * others[:, None]
    mass[:, _BRAIN], mass[:, _SKIN] = brain, skin
    if volume_factor is not None:
        mass = np.where(_NON_FAT, mass * volume_factor, mass)
    mass[:, _FAT] = 0.0
    mass[:, _FAT] = weight - mass.sum(axis=1)
    return mass, lbw


def _flows(female, age, weight, height, flow_factor=None):
    """Cardiac output (n,) and flow through each organ (n, organ), both L/h, plus hepatic artery and portal flows."""
    male, fem = reference("male"), reference("female")
    co = np.where(female, scaling.cardiac_output(age, weight, height, fem), scaling.cardiac_output(age, weight, height, male))
    fraction = _by_sex(female, "flow_fraction")
    if flow_factor is not None:
        fraction = fraction * flow_factor
        fraction = fraction / fraction.sum(axis=1, keepdims=True)
    path = fraction * co[:, None]
    portal = path[:, _PORTAL].sum(axis=1)
    flow = np.empty((co.size, len(ORGANS)))
    for k, o in enumerate(ORGANS):
        if o in ("arterial_blood", "venous_blood", "lung"):
            flow[:, k] = co
        elif o == "liver":
            flow[:, k] = path[:, _HEPATIC] + portal
        else:
            flow[:, k] = path[:, FLOW_PATHS.index(o)]
    return co, flow, path[:, _HEPATIC], portal


def physiology_arrays(age, female, weight, height, volume_factor=None, flow_factor=None) -> dict[str, np.ndarray]:
    """Every per-individual quantity as numpy arrays over individuals (1-D inputs of one length); no checks."""
    mass, lbw = _masses(female, weight, height, volume_factor)
    co, flow, hepatic, portal = _flows(female, age, weight, height, flow_factor)
    return {
        "age": age, "sex": female.astype(np.int64), "body_weight": weight, "height": height,
        "body_mass_index": scaling.body_mass_index(weight, height),
        "body_surface_area": scaling.body_surface_area(weight, height),
        "lean_body_weight": lbw,
        "mass": mass, "volume": mass / _by_sex(female, "density"),
        "cardiac_output": co, "blood_flow": flow, "hepatic_artery_flow": hepatic, "portal_vein_flow": portal,
        "haematocrit": _by_sex(female, "haematocrit"),
    }


_UNITS = {
    "age": ("y", "age"), "sex": ("1", "sex (0 male, 1 female)"), "body_weight": ("kg", "body weight"),
    "height": ("cm", "height"), "body_mass_index": ("kg m-2", "body mass index"),
    "body_surface_area": ("m2", "body surface area (Gehan & George 1970)"),
    "lean_body_weight": ("kg", "lean body weight (Janmahasatian et al. 2005)"),
    "mass": ("kg", "compartment mass"), "volume": ("L", "compartment volume"),
    "cardiac_output": ("L h-1", "resting cardiac output"),
    "blood_flow": ("L h-1", "blood flow through the compartment"),
    "hepatic_artery_flow": ("L h-1", "hepatic artery blood flow"),
    "portal_vein_flow": ("L h-1", "portal vein blood flow (sum of the portal organs' flows)"),
    "haematocrit": ("1", "haematocrit (erythrocyte volume / blood volume, ICRP 89 Table 2.12)"),
}


def to_dataset(arrays: dict[str, np.ndarray], patient=None) -> xr.Dataset:
    """Arrays from :func:`physiology_arrays` as a Dataset over ``patient`` (or none, for ``patient=None`` and n = 1),
    ``organ`` and ``tissue`` (composition)."""
    squeeze = patient is None
    dims = () if squeeze else ("patient",)
    data = {}
    for name, a in arrays.items():
        unit, long_name = _UNITS[name]
        a = np.asarray(a)
        if squeeze:
            a = a[0]
        var_dims = dims + (("organ",) if a.ndim > len(dims) else ())
        data[name] = (var_dims, a, {"units": unit, "long_name": long_name})
    data["sex"][2]["flag_values"], data["sex"][2]["flag_meanings"] = [0, 1], "male female"
    coords = {"organ": list(ORGANS), "drains_into": ("organ", [DRAINS_INTO[o] for o in ORGANS])}
    if not squeeze:
        coords["patient"] = np.asarray(patient, dtype=np.int64)
    ds = xr.Dataset(data, coords=coords).merge(composition())
    ds.attrs.update({
        "title": "adult physiology scaled from the ICRP 2002 reference individuals",
        "sources": "ICRP Publication 89 (2002) Tables 2.8, 2.9, 2.12-2.14, 2.39, 2.40; Poulin & Theil 2002; "
                   "Rodgers, Leahy & Rowland 2005; Rodgers & Rowland 2006; Huisinga et al. 2012; Janmahasatian et al. "
                   "2005; Gehan & George 1970",
    })
    return ds


# -- input checks ---------------------------------------------------------------------------------------------------
def _female_codes(sex, n: int) -> np.ndarray:
    """Sex as booleans (True = female): strings 'male'/'female' (or 'm'/'f'), or codes 0 (male) / 1 (female)."""
    a = np.asarray(sex)
    if a.dtype.kind in "iub":
        bad = ~np.isin(a, (0, 1))
        if bad.any():
            raise InputError(f"sex code {a[bad].flat[0].item()!r} is not known: use 0 (male) or 1 (female), or 'male'/'female'")
        out = a.astype(bool)
    else:
        out = np.vectorize(lambda s: check_sex(s) == "female", otypes=[bool])(a) if a.size else a.astype(bool)
    return np.broadcast_to(out, (n,)) if out.ndim == 0 else out


def _numbers(name: str, value, unit: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number or an array of numbers ({unit}), got {value!r:.80}") from None
    if a.ndim > 1:
        raise InputError(f"{name} must be a scalar or a 1-D array, got shape {a.shape}")
    return a


def check_ages(age: np.ndarray) -> None:
    lo, hi = scaling.ADULT_AGE_RANGE
    bad = ~((age >= lo) & (age <= hi))
    if bad.any():
        raise InputError(f"age {float(age[bad].flat[0]):g} y is outside the adult range of the reference data, {lo:g} to {hi:g} y")


def check_impossible(arrays: dict[str, np.ndarray]) -> None:
    """Refuse individuals whose lean compartments outweigh their body weight (fat would be negative)."""
    fat = arrays["mass"][:, _FAT]
    bad = np.flatnonzero(~(fat > 0))
    if bad.size:
        i = int(bad[0])
        sex = SEXES[int(arrays["sex"][i])]
        raise InputError(
            f"impossible individual (index {i}): age {arrays['age'][i]:g} y, sex {sex}, weight {arrays['body_weight'][i]:g} kg, "
            f"height {arrays['height'][i]:g} cm: the lean compartments scaled to this height and weight need "
            f"{arrays['body_weight'][i] - fat[i]:.3g} kg, so fat would be {fat[i]:.3g} kg; give a larger weight or a "
            f"smaller height (body mass index {arrays['body_mass_index'][i]:.3g} kg m-2 is too low)"
            + (f" ({bad.size} individuals in all)" if bad.size > 1 else "")
        )


def individual(age, sex, weight, height) -> xr.Dataset:
    """Physiology of adults of given age, sex, weight and height, scaled from the ICRP 2002 reference of that sex.

    Parameters
    ----------
    age : float or array
        Age in years, 18 to 80.
    sex : str or array
        ``"male"`` / ``"female"`` (or codes 0 = male, 1 = female).
    weight : float or array
        Body weight in kg, > 0.
    height : float or array
        Height in cm, > 0.

    Scalars describe one individual (no ``patient`` dimension); arrays (broadcast together, 1-D) describe one
    individual per entry, along ``patient`` (numbered from 0).

    Returns
    -------
    xarray.Dataset
        Per individual: ``age`` (y), ``sex``, ``body_weight`` (kg), ``height`` (cm), ``body_mass_index`` (kg m-2),
        ``body_surface_area`` (m2), ``lean_body_weight`` (kg), ``cardiac_output`` (L h-1), ``hepatic_artery_flow`` and
        ``portal_vein_flow`` (L h-1), ``haematocrit``; per individual and ``organ``: ``mass`` (kg), ``volume`` (L),
        ``blood_flow`` (L h-1); coordinate ``drains_into`` (where each compartment's venous blood goes); per
        ``tissue``: the composition of :func:`vhtwin.physiology.composition`.

    Raises
    ------
    InputError
        Age outside 18-80 y, unknown sex, non-positive or non-finite weight or height, arrays of different lengths, or
        an impossible individual (lean compartments heavier than the body weight: fat would be negative).

    Examples
    --------
    >>> import vhtwin as vh
    >>> ds = vh.physiology.individual(35, "male", 73.0, 176.0)    # the ICRP reference male
    >>> float(ds.volume.sel(organ="liver")), float(ds.cardiac_output)
    (1.8, 390.0)
    """
    a, w, h = _numbers("age", age, "y"), _numbers("weight", weight, "kg"), _numbers("height", height, "cm")
    scalar = a.ndim == 0 and w.ndim == 0 and h.ndim == 0 and np.ndim(sex) == 0
    try:
        a, w, h, _ = np.broadcast_arrays(np.atleast_1d(a), np.atleast_1d(w), np.atleast_1d(h), np.atleast_1d(np.asarray(sex)))
    except ValueError:
        raise InputError(
            f"age, sex, weight and height must be scalars or arrays of one length, got lengths "
            f"{[np.size(x) for x in (age, sex, weight, height)]}"
        ) from None
    female = _female_codes(np.atleast_1d(np.asarray(sex)), a.size)
    female = np.broadcast_to(female, a.shape)
    for name, x, unit in (("weight", w, "kg"), ("height", h, "cm")):
        bad = ~(np.isfinite(x) & (x > 0))
        if bad.any():
            raise InputError(f"{name} {float(x[bad].flat[0]):g} {unit} must be a finite number > 0")
    check_ages(a)
    arrays = physiology_arrays(a.astype(float), female, w.astype(float), h.astype(float))
    check_impossible(arrays)
    return to_dataset(arrays, patient=None if scalar else np.arange(a.size))
