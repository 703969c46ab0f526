"""Body-size formulas that scale the reference individual to a given adult.

The scaling follows Huisinga et al. (CPT Pharmacometrics Syst Pharmacol 2012;1:e5): brain mass does not change with
body size in adults, skin scales with body surface area, and the other lean organs share what the lean body weight
leaves after brain and skin. Here fat takes up the rest of the body weight (rather than a "rest of body"
compartment), as in the PK-Sim individual algorithm (Willmann et al., J Pharmacokinet Pharmacodyn 2007;34:401-431),
so that organ masses always add up to the body weight. Every ratio is taken against the same formula evaluated for
the reference individual, so the reference individual is reproduced exactly.
"""

from __future__ import annotations

import numpy as np

from .reference import data

#: Adult ages (y) the reference data may be scaled to. ICRP 89 describes adults of 20-50 y; the cardiac index trend
#: (Kuikka & Lansimies 1982) was measured up to 78 y.
ADULT_AGE_RANGE: tuple[float, float] = (18.0, 80.0)


def body_surface_area(weight, height):
    """Body surface area (m^2) by Gehan & George (Cancer Chemother Rep 1970;54:225-235):

        BSA = 0.0235 * height[cm]**0.42246 * weight[kg]**0.51456

    It reproduces the ICRP 89 reference values (1.90 m^2 male, 1.66 m^2 female; Table 2.9) to 0.01 m^2.
    """
    return 0.0235 * np.asarray(height, float) ** 0.42246 * np.asarray(weight, float) ** 0.51456


def body_mass_index(weight, height):
    """BMI (kg/m^2) from weight (kg) and height (cm)."""
    return np.asarray(weight, float) / (np.asarray(height, float) / 100.0) ** 2


def lean_body_weight(weight, height, female):
    """Lean body weight (kg) by Janmahasatian et al. (Clin Pharmacokinet 2005;44:1051-1065):

        male:   9270 * W / (6680 + 216 * BMI)
        female: 9270 * W / (8780 + 244 * BMI)

    with W in kg and BMI in kg/m^2; ``female`` is a boolean array.
    """
    w = np.asarray(weight, float)
    bmi = body_mass_index(w, height)
    female = np.asarray(female, bool)
    return 9270.0 * w / np.where(female, 8780.0 + 244.0 * bmi, 6680.0 + 216.0 * bmi)


def cardiac_index(age, reference_index):
    """Resting cardiac index (L/min/m^2) at ``age`` (y), falling linearly with age from the reference value at 35 y.

    ``cardiac_index = reference_index - slope * (age - 35)`` with slope 0.022 L/min/m^2 per year (Kuikka & Lansimies,
    Acta Physiol Scand 1982;114:339, radiocardiography in 148 healthy subjects 6-78 y; marked unconfirmed in the data
    file). ``reference_index`` is the ICRP reference cardiac output (Table 2.39) over the reference body surface area.
    """
    slope = float(data()["cardiac_output"]["age_slope"]["value"])
    return np.asarray(reference_index, float) - slope * (np.asarray(age, float) - 35.0)


def cardiac_output(age, weight, height, reference):
    """Resting cardiac output (L/h) = body surface area x cardiac index (age) x 60 min/h.

    At the reference age, weight and height it equals the ICRP reference cardiac output of that sex exactly.
    """
    ref_bsa = body_surface_area(reference.body_weight, reference.height)
    ref_index = reference.cardiac_output / 60.0 / ref_bsa
    return body_surface_area(weight, height) * cardiac_index(age, ref_index) * 60.0
