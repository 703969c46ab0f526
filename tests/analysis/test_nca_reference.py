"""NCA against published reference results: Phoenix WinNonlin on R's Indometh (IV bolus, IV infusion) and Theoph
(extravascular) data sets, PKNCA's C0 back-extrapolation cases, and by-hand formulas for the IV-bolus areas.

Provenance of every file and number: tests/data/pknca_README.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vhtwin import InputError
from vhtwin.analysis import nca

DATA = Path(__file__).resolve().parents[1] / "data"

# WinNonlin column -> vh.nca variable, for the columns both report.
WINNONLIN = {
    "C0": "c0", "Cmax": "cmax", "Tmax": "tmax", "Clast": "clast", "Tlast": "tlast", "AUClast": "auclast",
    "AUCINF_obs": "aucinf_obs", "AUCINF_pred": "aucinf_pred", "AUC_%Extrap_obs": "aucpext_obs",
    "AUMClast": "aumclast", "AUMCINF_obs": "aumcinf_obs", "MRTINF_obs": "mrt_obs", "Cl_obs": "cl_obs",
    "Cl_F_obs": "cl_obs", "Vz_obs": "vz_obs", "Vz_F_obs": "vz_obs", "Vss_obs": "vss_obs", "Lambda_z": "lambda_z",
    "No_points_lambda_z": "lambda_z_n_points", "Rsq": "lambda_z_r2", "Rsq_adjusted": "lambda_z_adj_r2",
    "HL_Lambda_z": "half_life",
}


def profile(time, conc):
    """One patient's profile as a DataArray with dims ('time',), in h and mg/L."""
    return xr.DataArray(np.asarray(conc, dtype=float), dims="time",
                        coords={"time": ("time", np.asarray(time, dtype=float), {"units": "h"})},
                        attrs={"units": "mg L-1"})


def indometh() -> pd.DataFrame:
    data = pd.read_csv(DATA / "pknca_indometh.csv")
    return pd.DataFrame({"id": data.subject, "time": data.time_h, "conc": data.conc_mg_per_L})


def assert_matches(result: xr.Dataset, reference: pd.DataFrame, rtol: float) -> int:
    """Every WinNonlin column that vh.nca also reports agrees for every subject; returns how many were compared."""
    assert list(result.patient.values) == reference.Subject.tolist()
    compared = 0
    for column, name in WINNONLIN.items():
        if column in reference:
            np.testing.assert_allclose(result[name].values, reference[column].to_numpy(dtype=float), rtol=rtol,
                                       err_msg=column)
            compared += 1
    return compared


# (1) Phoenix WinNonlin ---------------------------------------------------------------------------------------------


def test_indometh_iv_bolus_matches_winnonlin():
    """25 mg IV bolus at t = 0, no sample at the dose time: C0 by log-linear back-extrapolation from the 0.25 and
    0.5 h samples, AUC/AUMC from (0, C0); WinNonlin lets the terminal fit of a bolus start at Tmax. The CSV holds
    WinNonlin's doubles, so agreement is to rounding (rtol 1e-12)."""
    reference = pd.read_csv(DATA / "pknca_winnonlin_indometh_iv_bolus.csv")
    result = nca(indometh(), 25.0, route="iv_bolus", lambda_z_exclude_tmax=False, conc_units="mg L-1")
    assert assert_matches(result, reference, rtol=1e-12) == 20
    assert result.cl_obs.attrs["units"] == "L h-1" and result.vss_obs.attrs["units"] == "L"
    # without C0 (an extravascular reading of the same data) AUClast misses the back-extrapolated area (18-24 %)
    wrong = nca(indometh(), 25.0, lambda_z_exclude_tmax=False)
    assert np.all(wrong.auclast.values < 0.85 * reference.AUClast.to_numpy())
    assert np.all(np.isnan(wrong.vss_obs.values)) and np.all(np.isnan(wrong.c0.values))


def test_indometh_iv_infusion_matches_winnonlin():
    """25 mg over 0.25 h from t = 0: MRT = AUMC/AUC - 0.125 h. WinNonlin takes C = 0 at the start of a single
    infusion; vh.nca integrates from the first sample it is given, so that pre-dose sample is added here."""
    reference = pd.read_csv(DATA / "pknca_winnonlin_indometh_iv_infusion.csv")
    pre_dose = pd.DataFrame({"id": range(1, 7), "time": 0.0, "conc": 0.0})
    table = pd.concat([pre_dose, indometh()]).sort_values(["id", "time"], kind="stable")
    result = nca(table, 25.0, route="iv_infusion", duration=0.25)
    assert assert_matches(result, reference, rtol=1e-12) == 19
    assert np.all(np.isnan(result.c0.values))


def test_theophylline_extravascular_matches_winnonlin():
    """320 mg oral at t = 0 (the dose WinNonlin was given for every subject); the CSV is rounded to 8-10 significant
    digits, hence rtol 1e-7."""
    reference = pd.read_csv(DATA / "pknca_winnonlin_theoph_extravascular.csv")
    data = pd.read_csv(DATA / "theoph.csv")
    table = pd.DataFrame({"id": data.subject, "time": data.time_h, "conc": data.conc_mg_per_L})
    result = nca(table, 320.0)
    assert assert_matches(result, reference, rtol=1e-7) == 18
    assert np.all(np.isnan(result.vss_obs.values))  # no Vss after an extravascular dose


# (2) PKNCA's C0 rule (cases of PKNCA's tests/testthat/test-pk.calc.c0.R) --------------------------------------------


@pytest.mark.parametrize(
    "time, conc, start, c0",
    [
        ([0, 1, 2, 3], [0, 2, 1, 0.5], None, 4.0),            # logslope through (1, 2) and (2, 1)
        ([0, 1, 2, 3], [0, 2, np.nan, 0.5], None, 4.0),       # a missing sample is skipped
        ([3, 4, 5], [2, np.nan, 0.5], 2.0, 4.0),              # dose at t = 2, not an observed time
        ([0, 1, 2, 3], [0, 2, 0, 0], None, 2.0),              # C2 = 0: falls back to C1
        ([0, 1, 2, 3], [0, 2, 0, 0.5], None, 2.0),            # C2 = 0, even with a positive C3
        ([0, 1, 2, 3], [0, 1, 2, 1], None, 1.0),              # rising: C1
    ],
)
def test_c0_rule(time, conc, start, c0):
    assert nca(profile(time, conc), 1.0, route="iv_bolus", start=start).c0.item() == pytest.approx(c0, rel=1e-14)


def test_concentration_at_the_dose_time_is_never_c0():
    """The value at the dose time is the pre-dose one (0 before a first dose, the trough before a later one):
    C0 comes from the samples after the dose, where PKNCA's first method would take a nonzero value at the dose."""
    later_dose = nca(profile([0, 1, 2, 3], [5.0, 2, 1, 0.5]), 1.0, route="iv_bolus")
    assert later_dose.c0.item() == pytest.approx(4.0, rel=1e-14)
    assert later_dose.cmin.item() == 0.5 and later_dose.cmax.item() == 5.0  # observed values stay observed
    second_dose = nca(profile([0, 12, 13, 14, 15], [0, 1.0, 2, 1, 0.5]), 1.0, route="iv_bolus", start=12.0)
    assert second_dose.c0.item() == pytest.approx(4.0, rel=1e-14)


# (3) IV-bolus areas by hand -----------------------------------------------------------------------------------------


def log_down(t1, t2, c1, c2):
    return (t2 - t1) * (c1 - c2) / np.log(c1 / c2)


def aumc_log_down(t1, t2, c1, c2):
    k = np.log(c1 / c2)
    return (t2 - t1) * (c1 * t1 - c2 * t2) / k + (t2 - t1) ** 2 * (c1 - c2) / k**2


def test_iv_bolus_areas_start_at_c0_by_hand():
    """AUC/AUMC from (0, C0) by the log-down trapezoid formulas, computed here from the samples, not by vh.nca."""
    t = np.array([0.0, 1.0, 2.0, 4.0, 6.0, 8.0])
    c = np.array([0.0, 6.0, 4.0, 2.0, 1.2, 0.7])
    dose = 50.0
    r = nca(profile(t, c), dose, route="iv_bolus")
    c0 = 6.0 * (6.0 / 4.0)  # log-linear back to t = 0 through (1, 6) and (2, 4)
    assert r.c0.item() == pytest.approx(c0, rel=1e-14)
    knots_t, knots_c = np.r_[0.0, t[1:]], np.r_[c0, c[1:]]
    auclast = sum(log_down(*knots_t[i:i + 2], *knots_c[i:i + 2]) for i in range(5))
    aumclast = sum(aumc_log_down(*knots_t[i:i + 2], *knots_c[i:i + 2]) for i in range(5))
    assert r.auclast.item() == pytest.approx(auclast, rel=1e-13)
    assert r.aumclast.item() == pytest.approx(aumclast, rel=1e-13)
    slope, _ = np.polyfit(t[-3:], np.log(c[-3:]), 1)  # Tmax = 1 h excluded; the 3 last points fit best here
    lam = -slope
    assert r.lambda_z.item() == pytest.approx(lam, rel=1e-10)
    aucinf = auclast + 0.7 / lam
    aumcinf = aumclast + 0.7 * 8.0 / lam + 0.7 / lam**2
    assert r.cl_obs.item() == pytest.approx(dose / aucinf, rel=1e-10)
    assert r.mrt_obs.item() == pytest.approx(aumcinf / aucinf, rel=1e-10)
    assert r.vss_obs.item() == pytest.approx(dose / aucinf * aumcinf / aucinf, rel=1e-10)
    assert r.vz_obs.item() == pytest.approx(dose / (lam * aucinf), rel=1e-10)


# (4) the route and its settings are refused when wrong --------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"route": "oral"},
         r"^route: 'oral' is not allowed; use one of \['extravascular', 'iv_bolus', 'iv_infusion'\]$"),
        ({"route": "IV bolus"}, r"^route: 'IV bolus' is not allowed"),
        ({"route": "iv_infusion"}, r"^duration: None is not allowed with route='iv_infusion'"),
        ({"route": "iv_infusion", "duration": -1.0}, r"^duration: -1.0 is not allowed"),
        ({"route": "iv_bolus", "duration": 0.5}, r"^duration: 0.5 is only used with route='iv_infusion'"),
        ({"start": float("nan")}, r"^start: nan is not allowed"),
        ({"start": "0"}, r"^start: '0' is not allowed"),
    ],
)
def test_bad_route_and_settings_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        nca(profile([0, 1, 2, 3], [0, 2, 1, 0.5]), 1.0, **kwargs)
