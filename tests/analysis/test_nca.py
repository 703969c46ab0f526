"""Non-compartmental analysis: hand-computed trapezoids, analytic one-compartment AUCs, lambda_z selection, flags,
table input, the Theophylline data set and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from vhtwin import InputError
from vhtwin.analysis import nca

DATA = Path(__file__).resolve().parents[1] / "data"


def profile(time, conc, conc_units="mg L-1"):
    """One patient's profile as a DataArray with dims ('time',)."""
    return xr.DataArray(
        np.asarray(conc, dtype=float), dims="time",
        coords={"time": ("time", np.asarray(time, dtype=float), {"units": "h"})}, attrs={"units": conc_units},
    )


def lin(t1, t2, c1, c2):
    return 0.5 * (t2 - t1) * (c1 + c2)


def log_down(t1, t2, c1, c2):
    return (t2 - t1) * (c1 - c2) / np.log(c1 / c2)


# (1) a hand-computed small example ------------------------------------------------------------------------------

T5 = [0.0, 1.0, 2.0, 4.0, 8.0, 12.0]
C5 = [0.0, 4.0, 6.0, 3.0, 1.0, 0.0]  # up, up, down, down, then zero (after Tlast)


def test_hand_computed_auclast_and_extremes():
    r = nca(profile(T5, C5), 100.0)
    expected = lin(0, 1, 0, 4) + lin(1, 2, 4, 6) + log_down(2, 4, 6, 3) + log_down(4, 8, 3, 1)
    assert r.auclast.item() == pytest.approx(expected, rel=1e-14)
    # AUMC: linear up on t*C, the log-down AUMC formula down
    def aumc_log(t1, t2, c1, c2):
        k = np.log(c1 / c2)
        return (t2 - t1) * (c1 * t1 - c2 * t2) / k + (t2 - t1) ** 2 * (c1 - c2) / k**2
    aumc = 0.5 * 1 * (0 + 4) + 0.5 * 1 * (4 * 1 + 6 * 2) + aumc_log(2, 4, 6, 3) + aumc_log(4, 8, 3, 1)
    assert r.aumclast.item() == pytest.approx(aumc, rel=1e-14)
    assert (r.cmax.item(), r.tmax.item(), r.clast.item(), r.tlast.item()) == (6.0, 2.0, 1.0, 8.0)
    assert r.cmin.item() == 0.0
    assert r.auclast.attrs["units"] == "mg L-1 h"
    assert r.cl_obs.attrs["units"] == "L h-1" and "CL/F" in r.cl_obs.attrs["description"]
    # only two positive points after Tmax: no terminal slope
    assert np.isnan(r.lambda_z.item()) and r.lambda_z_n_points.item() == 0


def test_dosing_interval_quantities():
    full = lin(0, 1, 0, 4) + lin(1, 2, 4, 6) + log_down(2, 4, 6, 3) + log_down(4, 8, 3, 1)
    r = nca(profile(T5, C5), 100.0, tau=8.0)
    assert r.ctrough.item() == 1.0 and r.cmin.item() == 0.0
    assert r.cavg.item() == pytest.approx(full / 8.0, rel=1e-14)
    assert r.fluctuation.item() == pytest.approx(100 * 6.0 / (full / 8.0), rel=1e-14)
    # tau inside a log-down interval: log interpolation of the concentration and of the area
    r3 = nca(profile(T5, C5), 100.0, tau=3.0)
    c3 = 6.0 * (3.0 / 6.0) ** 0.5
    expected = lin(0, 1, 0, 4) + lin(1, 2, 4, 6) + log_down(2, 3, 6, c3)
    assert r3.auctau.item() == pytest.approx(expected, rel=1e-13)
    assert np.isnan(r3.ctrough.item())  # no sample at exactly t = tau
    assert np.isnan(nca(profile(T5, C5)).ctrough.item())


# (2) IV bolus, mono-exponential ---------------------------------------------------------------------------------


def test_iv_bolus_monoexponential_exact():
    dose, volume, k = 100.0, 10.0, 0.2
    t = np.arange(0.0, 48.0 + 1e-9, 0.25)
    r = nca(profile(t, dose / volume * np.exp(-k * t)), dose, route="iv_bolus")
    assert abs(r.lambda_z.item() - k) < 1e-10
    assert r.lambda_z_n_points.item() == len(t) - 1  # every point after Tmax: exact ties → most points
    cl = k * volume
    assert r.aucinf_obs.item() == pytest.approx(dose / cl, rel=1e-3)
    assert r.aucinf_pred.item() == pytest.approx(dose / cl, rel=1e-3)
    assert r.cl_obs.item() == pytest.approx(cl, rel=1e-3)
    assert r.vz_obs.item() == pytest.approx(volume, rel=1e-3)
    assert r.mrt_obs.item() == pytest.approx(1.0 / k, rel=1e-3)
    assert r.vss_obs.item() == pytest.approx(volume, rel=1e-3)
    assert r.half_life.item() == pytest.approx(np.log(2) / k, rel=1e-10)
    assert not r.flag_lambda_z_r2 and not r.flag_span_ratio and not r.flag_aucpext


# (3) one-compartment oral (Bateman) -----------------------------------------------------------------------------


def test_oral_one_compartment_aucinf_within_one_percent():
    dose, f, ka, k, volume = 320.0, 1.0, 1.5, 0.1, 30.0
    t = np.array([0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 6, 8, 12, 24, 36, 48])
    c = f * dose * ka / (volume * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))
    r = nca(profile(t, c), dose)
    auc = f * dose / (k * volume)
    assert r.aucinf_obs.item() == pytest.approx(auc, rel=0.01)
    assert r.lambda_z.item() == pytest.approx(k, rel=2e-3)
    aumc = f * dose / volume * ka / (ka - k) * (1 / k**2 - 1 / ka**2)
    assert r.mrt_obs.item() == pytest.approx(aumc / auc, rel=0.02)  # 1/k + 1/ka


# (4) lambda_z point selection -----------------------------------------------------------------------------------


def test_lambda_z_picks_terminal_phase_of_biexponential():
    t = np.arange(0.0, 48.0 + 1e-9, 0.5)
    c = 10.0 * np.exp(-1.0 * t) + 1.0 * np.exp(-0.1 * t)
    r = nca(profile(t, c), 100.0, route="iv_bolus")
    # the 1e-4 adjusted-R² tolerance lets the fit reach back while the distribution phase is < 1 % of C
    assert r.lambda_z.item() == pytest.approx(0.1, rel=5e-3)
    first_used = t[-r.lambda_z_n_points.item()]
    assert 4.0 <= first_used <= 10.0  # the distribution phase (rate 1/h) is left out, the tail is used
    assert r.lambda_z_adj_r2.item() > 0.9999
    every_point = -np.polyfit(t[1:], np.log(c[1:]), 1)[0]
    assert every_point > 0.105  # a fit on every point after Tmax would be biased by the distribution phase


def _adj_r2(t, c):
    slope, intercept = np.polyfit(t, np.log(c), 1)
    resid = np.log(c) - (intercept + slope * t)
    r2 = 1 - resid @ resid / np.sum((np.log(c) - np.log(c).mean()) ** 2)
    n = len(t)
    return 1 - (1 - r2) * (n - 1) / (n - 2)


@pytest.mark.parametrize("eps, points", [(2e-3, 4), (5e-2, 3)])
def test_lambda_z_ties_go_to_more_points(eps, points):
    t = np.array([0.0, 1.0, 2.0, 4.0, 6.0, 8.0])
    c = np.array([0.0, 10.0, 8.0, 8.0 * np.exp(-0.2 * 2), 8.0 * np.exp(-0.2 * 4), 8.0 * np.exp(-0.2 * 6)])
    c[2] *= np.exp(eps)  # the 4th point from the end leaves the line a little
    gap = 1.0 - _adj_r2(t[2:], c[2:])  # the 3-point fit is exact (adjusted R² 1)
    assert (gap < 1e-4) == (points == 4)
    r = nca(profile(t, c), 1.0)
    assert r.lambda_z_n_points.item() == points
    assert r.lambda_z_span_ratio.item() == pytest.approx((8.0 - t[-points]) / r.half_life.item())


def test_lambda_z_excludes_tmax_unless_asked_and_needs_positive_slope():
    t = np.arange(0.0, 6.0)
    c = 10.0 * np.exp(-0.3 * t)
    assert nca(profile(t, c), 1.0).lambda_z_n_points.item() == 5
    included = nca(profile(t, c), 1.0, lambda_z_exclude_tmax=False)
    assert included.lambda_z_n_points.item() == 6 and bool(included.lambda_z_exclude_tmax) is False
    rising_tail = nca(profile([0, 1, 2, 3, 4], [0, 5, 1, 2, 3]), 1.0)
    assert np.isnan(rising_tail.lambda_z.item()) and np.isnan(rising_tail.aucinf_obs.item())


# (5) flags ------------------------------------------------------------------------------------------------------


def test_flags():
    k = 0.1
    short = nca(profile(np.arange(0.0, 5.0), 10 * np.exp(-k * np.arange(0.0, 5.0))), 1.0, route="iv_bolus")
    assert short.lambda_z.item() == pytest.approx(k)
    assert bool(short.flag_span_ratio) and bool(short.flag_aucpext) and not bool(short.flag_lambda_z_r2)
    few = nca(profile([0, 1, 2, 3], [0, 5, 4, 3]), 1.0)
    assert few.lambda_z_n_points.item() == 0
    assert bool(few.flag_lambda_z_r2) and bool(few.flag_span_ratio) and bool(few.flag_aucpext)
    noisy_t = np.array([0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 24.0])
    noisy = np.exp(-0.1 * noisy_t) * np.array([1, 1, 1, 1.6, 0.6, 1.5, 0.6, 1.5, 0.7, 1.4, 0.8])
    assert bool(nca(profile(noisy_t, noisy), 1.0, route="iv_bolus").flag_lambda_z_r2)


# (6) table input with unequal sampling == DataArray per patient -------------------------------------------------


def test_table_matches_dataarray_per_patient():
    rng = np.random.default_rng(1)
    times = {"a": np.array([0, 0.5, 1, 2, 4, 8, 12, 24.0]), "b": np.array([0.25, 1, 3, 6, 9, 24, 30.0])}
    concs = {i: 5 * (np.exp(-0.12 * t) - np.exp(-1.1 * t)) * np.exp(rng.normal(0, 0.05, t.size))
             for i, t in times.items()}
    table = pd.DataFrame({"id": np.repeat(list(times), [t.size for t in times.values()]),
                          "time": np.concatenate(list(times.values())), "conc": np.concatenate(list(concs.values()))})
    doses = {"a": 100.0, "b": 150.0}
    together = nca(table, pd.Series(doses), tau=24.0, conc_units="mg L-1")
    assert list(together.patient.values) == ["a", "b"]
    grid = np.union1d(times["a"], times["b"])
    padded = np.full((2, grid.size), np.nan)
    for row, i in enumerate(times):
        padded[row, np.searchsorted(grid, times[i])] = concs[i]
    array = xr.DataArray(padded, dims=("patient", "time"), coords={"patient": ["a", "b"], "time": grid},
                         attrs={"units": "mg L-1"})
    on_grid = nca(array, np.array([100.0, 150.0]), tau=24.0)
    for i in times:
        alone = nca(profile(times[i], concs[i]), doses[i], tau=24.0)
        for name in alone.data_vars:
            np.testing.assert_allclose(together[name].sel(patient=i).values, alone[name].values, rtol=1e-13,
                                       err_msg=name)
            np.testing.assert_allclose(on_grid[name].sel(patient=i).values, alone[name].values, rtol=1e-13,
                                       err_msg=name)
    mapping = {k: table[k].to_numpy() for k in ("id", "time", "conc")}
    from_mapping = nca(mapping, [100.0, 150.0], tau=24.0, conc_units="mg L-1")
    xr.testing.assert_allclose(from_mapping, together)


# (7) Theophylline ---------------------------------------------------------------------------------------------


def test_theophylline_subjects(capsys):
    data = pd.read_csv(DATA / "theoph.csv")
    table = pd.DataFrame({"id": data.subject, "time": data.time_h, "conc": data.conc_mg_per_L})
    subjects = data.groupby("subject", sort=False).first()
    dose_mg = (subjects.dose_mg_per_kg * subjects.weight_kg).to_numpy()
    r = nca(table, dose_mg, conc_units="mg L-1")
    assert r.sizes["patient"] == 12 and list(r.patient.values) == list(range(1, 13))
    for name in ("cmax", "tmax", "auclast"):
        assert np.all(np.isfinite(r[name].values)), name
    assert np.all(r.lambda_z.values > 0)
    assert np.all((r.half_life.values > 3) & (r.half_life.values < 15))
    cl_per_kg = r.cl_obs.values / subjects.weight_kg.to_numpy()  # L/h/kg
    assert 0.02 <= np.median(cl_per_kg) <= 0.08  # within 2-fold of the published typical 0.040 L/h/kg
    assert r.cl_obs.attrs["units"] == "L h-1"
    # subject 1, from an independent by-hand calculation with the same conventions (linear-up/log-down AUC;
    # lambda_z from the last 3 points, the best adjusted R²): AUClast 147.23 mg h/L, half-life 14.30 h
    assert r.auclast.sel(patient=1).item() == pytest.approx(147.23, abs=0.01)
    assert r.half_life.sel(patient=1).item() == pytest.approx(14.30, abs=0.01)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


# (8) bad input --------------------------------------------------------------------------------------------------


def _table(**change):
    columns = {"id": [1, 1, 1, 2, 2], "time": [0, 1, 2, 0, 1], "conc": [0, 2, 1, 0, 3]}
    columns.update(change)
    return columns


@pytest.mark.parametrize(
    "conc, dose, match",
    [
        (_table(time=[0, 2, 1, 0, 1]), 1.0, r"conc\.time.*strictly increasing.*patient 1"),
        (_table(time=[0, 1, 1, 0, 1]), 1.0, r"conc\.time.*strictly increasing"),
        (_table(conc=[0, 2, -1, 0, 3]), 1.0, r"conc.*>= 0.*patient 1.*-1"),
        (_table(), [1.0, 2.0, 3.0], r"dose.*\(3,\).*2 patient"),
        ({"id": [1], "time": [0]}, 1.0, r"missing column.*'conc'"),
        (pd.DataFrame({"subject": [1], "time": [0], "conc": [1]}), 1.0, r"missing column.*'id'"),
        (profile([0, 2, 1], [0, 1, 1]), 1.0, r"conc\.time.*strictly increasing"),
        (profile([0, 1, 2], [0, -1, 1]), 1.0, r"conc.*>= 0"),
        ([1, 2, 3], 1.0, r"conc: type list"),
        (_table(), pd.Series({1: 1.0}), r"dose.*patient id.*\[2\]"),
    ],
)
def test_bad_input(conc, dose, match):
    with pytest.raises(InputError, match=match):
        nca(conc, dose)


def test_bad_settings():
    with pytest.raises(InputError, match="route.*'oral'"):
        nca(profile(T5, C5), route="oral")
    with pytest.raises(InputError, match="lambda_z_min_points.*2"):
        nca(profile(T5, C5), lambda_z_min_points=2)
    with pytest.raises(InputError, match="tau.*-1"):
        nca(profile(T5, C5), tau=-1.0)
    with pytest.raises(InputError, match="no 'time' coordinate"):
        nca(xr.DataArray(np.ones((2, 3)), dims=("patient", "time")))


def test_lambda_z_selection_equals_a_fit_by_fit_reference():
    """The all-fits-at-once terminal slope equals fitting each candidate (last k points) one by one with polyfit
    and applying PKNCA's rule: best adjusted R^2 within 1e-4, then the most points."""
    rng = np.random.default_rng(11)
    t = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 36.0])
    n = 60
    k = rng.uniform(0.05, 0.3, n)[:, None]
    ka = rng.uniform(0.8, 3.0, n)[:, None]
    c = 10 * (np.exp(-k * t) - np.exp(-ka * t)) * np.exp(rng.normal(0.0, 0.08, (n, t.size)))
    c[:, 0] = 0.0
    res = nca(xr.DataArray(c, dims=("patient", "time"), coords={"time": t}), dose=100.0)
    for i in range(n):
        imax = int(np.argmax(c[i]))
        idx = [j for j in range(imax + 1, t.size) if c[i, j] > 0]
        fits = []
        for m in range(3, len(idx) + 1):
            sel = idx[-m:]
            x, y = t[sel], np.log(c[i, sel])
            slope, _ = np.polyfit(x, y, 1)
            r2 = np.corrcoef(x, y)[0, 1] ** 2
            fits.append((m, slope, 1 - (1 - r2) * (m - 1) / (m - 2)))
        best = max(f[2] for f in fits)
        ok = [f for f in fits if f[1] < 0 and f[2] > best - 1e-4]
        m, slope, _ = max(ok, key=lambda f: f[0])
        assert float(res["lambda_z"][i]) == pytest.approx(-slope, rel=1e-9)
        assert int(res["lambda_z_n_points"][i]) == m


# (9) an interval of a longer profile ------------------------------------------------------------------------------


def test_interval_of_a_profile_equals_the_interval_alone_except_the_terminal_phase():
    """``start``/``tau`` on the whole profile give the interval quantities of the interval cut out and shifted to
    start at 0 (as trial summaries cut it), while lambda_z comes from the whole profile's terminal phase."""
    dose_times = np.array([0.0, 12.0, 24.0])
    t = np.arange(0.0, 72.0 + 1e-9, 1.0)
    # superposed one-compartment oral doses (ka 1.2 /h, k 0.08 /h): a closed form, not vh.nca's
    since = t[:, None] - dose_times[None, :]
    c = np.where(since > 0, 8.0 * (np.exp(-0.08 * since) - np.exp(-1.2 * since)), 0.0).sum(axis=1)
    whole = nca(profile(t, c), 100.0, start=12.0, tau=12.0)
    cut = (t >= 12.0) & (t <= 24.0)
    alone = nca(profile(t[cut] - 12.0, c[cut]), 100.0, tau=12.0)
    for name in ("cmax", "tmax", "cmin", "ctrough", "auctau", "cavg", "fluctuation", "swing", "auclast", "aumclast"):
        assert whole[name].item() == pytest.approx(alone[name].item(), rel=1e-13), name
    assert whole.ctrough.item() == c[t == 24.0][0] and whole.tmax.item() == alone.tmax.item() <= 12.0
    assert whole.lambda_z.item() == pytest.approx(0.08, rel=2e-3)  # the 48 h tail after the last dose
    assert whole.lambda_z.item() == nca(profile(t, c), 100.0).lambda_z.item()
    assert abs(alone.lambda_z.item() / 0.08 - 1.0) > 5e-3  # 12 h inside a dosing interval: not yet terminal
