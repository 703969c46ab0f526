"""The reference individuals reproduce the ICRP 89 values they were built from.

The expected numbers are typed here from ICRP Publication 89 (Tables 2.8, 2.9, 2.12, 2.39, 2.40), independently of
the data file, so a mistyped entry in either shows up.
"""

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.physiology import ORGANS, PORTAL_ORGANS, SYSTEMIC_ORGANS, reference

# ICRP 89 Table 2.8, g: (male, female)
TABLE_2_8 = {
    "lung": (500, 420), "bone": (10500, 7800), "brain": (1450, 1300), "fat": (14500, 19000), "gonads": (35, 11),
    "heart": (330, 250), "kidney": (310, 275), "liver": (1800, 1400), "muscle": (29000, 17500),
    "pancreas": (140, 120), "skin": (3300, 2300), "small_intestine": (650, 600),
    "large_intestine": (150 + 150 + 70, 145 + 145 + 70), "spleen": (150, 130), "stomach": (150, 140),
}
# Table 2.40, % of cardiac output, rows feeding each flow path
TABLE_2_40 = {
    "fat": (5.0, 8.5), "brain": (12, 12), "stomach": (1, 1), "small_intestine": (10, 11), "large_intestine": (4, 5),
    "heart": (4, 5), "kidney": (19, 17), "hepatic_artery": (6.5, 6.5), "muscle": (17, 12), "pancreas": (1, 1),
    "bone": (5, 5), "skin": (5, 5), "spleen": (3, 3), "gonads": (0.05, 0.02),
    # bronchial 2.5, thyroid 1.5, lymph nodes 1.7, adrenals 0.3, urinary bladder 0.06, all other 1.39 / 1.92
    "rest": (2.5 + 1.5 + 1.7 + 0.3 + 0.06 + 1.39, 2.5 + 1.5 + 1.7 + 0.3 + 0.06 + 1.92),
}
ANTHROPOMETRY = {"male": (73.0, 176.0, 1.90), "female": (60.0, 163.0, 1.66)}  # Table 2.9: kg, cm, m2
CARDIAC_OUTPUT = {"male": 6.5, "female": 5.9}  # Table 2.39, L/min
BLOOD = {"male": (5.3, 2.3), "female": (3.9, 1.5)}  # total blood and erythrocyte volume, L (Table 2.12)
SEX = {"male": 0, "female": 1}


@pytest.mark.parametrize("sex", ["male", "female"])
def test_reference_compartments_are_the_icrp_values(sex):
    ref = reference(sex)
    s = SEX[sex]
    for organ, grams in TABLE_2_8.items():
        assert ref.mass[organ] == pytest.approx(grams[s] / 1000.0, rel=1e-12), organ
    assert ref.body_weight == ANTHROPOMETRY[sex][0] and ref.height == ANTHROPOMETRY[sex][1]
    assert ref.cardiac_output == pytest.approx(CARDIAC_OUTPUT[sex] * 60.0, rel=1e-12)
    blood, erythrocytes = BLOOD[sex]
    assert ref.volume["arterial_blood"] + ref.volume["venous_blood"] == pytest.approx(blood, rel=1e-12)
    assert ref.volume["arterial_blood"] / blood == pytest.approx(0.295, rel=1e-12)  # Table 2.13
    assert ref.haematocrit == pytest.approx(erythrocytes / blood, rel=1e-12)
    for path, percent in TABLE_2_40.items():
        assert ref.flow_fraction[path] == pytest.approx(percent[s] / 100.0, rel=1e-12), path
    assert sum(ref.mass.values()) == pytest.approx(ref.body_weight, rel=1e-12)
    assert sum(ref.flow_fraction.values()) == pytest.approx(1.0, rel=1e-12)
    # what the organs leave of the body weight: tissues without a compartment (GI contents, lymph nodes, ...)
    assert 3.5 < ref.mass["rest"] < 5.0


@pytest.mark.parametrize("sex", ["male", "female"])
def test_individual_at_reference_size_is_the_reference(sex):
    ref = reference(sex)
    weight, height, bsa = ANTHROPOMETRY[sex]
    ds = vh.physiology.individual(35.0, sex, weight, height)
    assert "patient" not in ds.dims
    np.testing.assert_allclose(ds.mass.values, [ref.mass[o] for o in ORGANS], rtol=1e-12)
    np.testing.assert_allclose(ds.volume.values, [ref.volume[o] for o in ORGANS], rtol=1e-12)
    np.testing.assert_allclose(ds.blood_flow.values, [ref.blood_flow[o] for o in ORGANS], rtol=1e-12)
    assert float(ds.volume.sel(organ="liver")) == pytest.approx(TABLE_2_8["liver"][SEX[sex]] / 1000.0, rel=1e-12)
    assert float(ds.volume.sel(organ="fat")) == pytest.approx(TABLE_2_8["fat"][SEX[sex]] / 1000.0 / 0.92, rel=1e-12)
    assert float(ds.volume.sel(organ="bone")) == pytest.approx(TABLE_2_8["bone"][SEX[sex]] / 1000.0 / 1.3, rel=1e-12)
    assert float(ds.cardiac_output) == pytest.approx(CARDIAC_OUTPUT[sex] * 60.0, rel=1e-12)
    assert float(ds.haematocrit) == pytest.approx(BLOOD[sex][1] / BLOOD[sex][0], rel=1e-12)
    # Gehan & George reproduces the ICRP reference body surface areas to the 0.01 m2 they are given in
    assert float(ds.body_surface_area) == pytest.approx(bsa, abs=0.005)
    assert ds.volume.attrs["units"] == "L" and ds.blood_flow.attrs["units"] == "L h-1"


def test_female_liver_flow_adds_up_from_its_parts():
    # Table 2.40 gives the female total liver flow as 27 %; its hepatic artery and portal organs add up to 27.5 %,
    # which is what a consistent circulation has to use.
    ref = reference("female")
    liver = ref.blood_flow["liver"] / ref.cardiac_output
    assert liver == pytest.approx(0.275, rel=1e-12)
    assert reference("male").blood_flow["liver"] / reference("male").cardiac_output == pytest.approx(0.255, rel=1e-12)


def test_compartment_sets():
    assert set(SYSTEMIC_ORGANS) | set(PORTAL_ORGANS) | {"lung", "arterial_blood", "venous_blood"} == set(ORGANS)
    assert not set(SYSTEMIC_ORGANS) & set(PORTAL_ORGANS)


def test_every_data_entry_states_its_source_and_status():
    d = vh.physiology.data()
    for organ, entry in d["organ_mass"].items():
        if isinstance(entry, dict):
            assert entry["status"] in ("confirmed", "derived", "unconfirmed") and entry["entries"], organ
    assert d["organ_mass"]["source"] == "icrp89" and d["blood_flow_percent"]["table"] == "2.40"
    sources = d["sources"]
    for section in (d["anthropometry"], d["organ_mass"], d["cardiac_output"], d["blood_flow_percent"]):
        assert section["source"] in sources
    assert d["cardiac_output"]["age_slope"]["status"] == "unconfirmed"  # flagged, not hidden
    assert d["population"]["height"]["loss_rate"]["status"] == "unconfirmed"
