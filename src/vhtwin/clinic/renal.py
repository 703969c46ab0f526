"""Renal function from a patient's record: creatinine clearance by Cockcroft-Gault."""

from __future__ import annotations

from ..errors import InputError


def cockcroft_gault(age: float, weight: float, creatinine: float, sex: str) -> float:
    """Creatinine clearance (mL/min) by Cockcroft & Gault (Nephron 1976;16:31-41).

    ``CrCL = (140 - age) x weight / (72 x SCr)``, times 0.85 for women.

    Parameters
    ----------
    age : float
        Years (18 or more: the formula was derived in adults).
    weight : float
        Body weight, kg (the prior says which weight its model was built with).
    creatinine : float
        Serum creatinine, mg/dL.
    sex : {"male", "female"}
    """
    age, weight, creatinine = float(age), float(weight), float(creatinine)
    if not 18.0 <= age <= 120.0:
        raise InputError(f"Cockcroft-Gault: age {age:g} years is outside 18-120 years (the formula is for adults)")
    if not 0.0 < weight <= 500.0:
        raise InputError(f"Cockcroft-Gault: weight {weight:g} kg must be in (0, 500] kg")
    if not 0.0 < creatinine <= 30.0:
        raise InputError(f"Cockcroft-Gault: serum creatinine {creatinine:g} mg/dL must be in (0, 30] mg/dL")
    if sex not in ("male", "female"):
        raise InputError(f"Cockcroft-Gault: sex {sex!r} must be 'male' or 'female'")
    clearance = (140.0 - age) * weight / (72.0 * creatinine)
    return clearance * (0.85 if sex == "female" else 1.0)
