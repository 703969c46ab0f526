"""Per-arm trial summaries on a synthetic Zarr v3 store (2 arms x 3000 patients x 50 times, analytic profiles,
failed patients): exact percentiles (also in tiny time slabs), NCA summaries against vh.nca on the in-memory data,
target attainment against a hand count, failure counts and bad input; and one small simulated trial whose arms,
analysed over different dosing intervals, give each patient one half-life (the whole profile's)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import vhtwin as vh
from vhtwin import InputError
from vhtwin.analysis import failure_counts, nca, nca_per_patient, nca_summary, percentiles, target_attainment
from vhtwin.analysis import summary
from vhtwin.solvers.status import Status

ARMS = ["low", "high"]
N, T = 3000, 50
TIMES = np.linspace(0.0, 49.0, T)
DOSES = {"low": 100.0, "high": 300.0}


def make_trial(n=N) -> xr.Dataset:
    rng = np.random.default_rng(7)
    a = rng.lognormal(np.log([[5.0], [15.0]]), 0.3, size=(2, n))  # A_i (mg/L)
    k = rng.lognormal(np.log(0.1), 0.3, size=(2, n))  # k_i (1/h)
    conc = a[..., None] * np.exp(-k[..., None] * TIMES)
    status = np.zeros((2, n), dtype=np.int8)
    status[0, rng.choice(n, 37, replace=False)] = Status.NONFINITE
    status[1, rng.choice(n, 11, replace=False)] = Status.NONFINITE
    status[1, rng.choice(n, 5, replace=False)] = Status.MAX_STEPS
    conc[status != 0] = np.nan
    return xr.Dataset(
        {
            "Cc": (("arm", "patient", "time"), conc, {"units": "mg L-1"}),
            "k": (("arm", "patient"), k, {"units": "h-1"}),
            "status": (("arm", "patient"), status, Status.flag_attrs()),
            "n_steps": (("arm", "patient"), np.full((2, n), 10, dtype=np.int32)),
        },
        coords={"arm": ARMS, "patient": np.arange(n), "time": ("time", TIMES, {"units": "h"})},
    )


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    memory = make_trial()
    path = tmp_path_factory.mktemp("trial") / "trial.zarr"
    with warnings.catch_warnings():  # zarr: fixed-length strings (the arm names) have no v3 spec yet
        warnings.simplefilter("ignore")
        memory.chunk({"patient": 500}).to_zarr(path, zarr_format=3, consolidated=False)
    lazy = xr.open_zarr(path, zarr_format=3, consolidated=False)
    assert lazy["Cc"].chunks is not None  # dask-backed
    return memory, lazy


def ok_rows(memory, arm):
    return memory["Cc"].isel(arm=arm).values[memory["status"].isel(arm=arm).values == 0]


# -- percentiles ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [None, 8 * N * 3 + 7, 8])  # default, 3 times per slab, 1 time per slab
def test_percentiles_exact_against_nanpercentile(trial, budget):
    memory, lazy = trial
    q = (5, 25, 50, 95)
    got = percentiles(lazy, "Cc", q, memory_budget=budget)
    assert got.dims == ("arm", "percentile", "time")
    assert got["arm"].values.tolist() == ARMS
    assert got["percentile"].values.tolist() == list(q)
    assert got.attrs["units"] == "mg L-1"
    for i in range(2):
        expected = np.nanpercentile(ok_rows(memory, i), q, axis=0)
        np.testing.assert_array_equal(got.isel(arm=i).values, expected)
    assert got["n_failed"].values.tolist() == [37, 16]
    assert got["n_patients"].values.tolist() == [N - 37, N - 16]


def test_percentiles_slab_loop_reads_bounded_slabs(trial, monkeypatch):
    _, lazy = trial
    monkeypatch.setattr(summary, "MEMORY_BUDGET", 8 * N * 4)
    seen = []
    original = np.percentile

    def spy(a, *args, **kwargs):
        seen.append(np.shape(a))
        return original(a, *args, **kwargs)

    monkeypatch.setattr(summary.np, "percentile", spy)
    percentiles(lazy, "Cc")
    assert seen and max(s[1] for s in seen) <= 4
    assert sum(s[1] for s in seen) == 2 * T


def test_percentiles_nan_in_successful_patient_is_ignored(trial):
    memory, _ = trial
    ds = memory.copy(deep=True)
    ok = np.flatnonzero(ds["status"].values[0] == 0)
    ds["Cc"].values[0, ok[:3], 4] = np.nan
    got = percentiles(ds, "Cc", (50,), memory_budget=8 * N * 2)
    expected = np.nanpercentile(ok_rows(ds, 0), [50], axis=0)
    np.testing.assert_array_equal(got.isel(arm=0).values, expected)


def test_percentiles_without_arm_dim(trial):
    memory, _ = trial
    one = memory.isel(arm=1, drop=True)
    got = percentiles(one, "Cc", [10, 90], memory_budget=1000)
    assert got.dims == ("percentile", "time")
    np.testing.assert_array_equal(got.values, np.nanpercentile(ok_rows(memory, 1), [10, 90], axis=0))
    assert int(got["n_failed"]) == 16


# -- NCA ---------------------------------------------------------------------------------------------------------


def reference_nca(memory, arm, *, tau=None, start=0.0):
    """vh.nca on the whole in-memory profiles of an arm's successful patients, on their own times: the terminal
    phase from every sample, the rest over [start, start + tau]."""
    ok = memory["status"].isel(arm=arm).values == 0
    return nca(memory["Cc"].isel(arm=arm)[ok], DOSES[ARMS[arm]], start=start, tau=tau)


def test_nca_summary_matches_nca_on_full_data(trial):
    memory, lazy = trial
    q = (5, 50, 95)
    metrics = ("cmax", "auclast", "aucinf_obs", "half_life", "cl_obs", "tmax")
    got = nca_summary(lazy, "Cc", dose=DOSES, q=q, metrics=metrics, batch_size=700)
    assert got["cmax"].dims == ("arm", "quantile")
    assert got["quantile"].values.tolist() == list(q)
    assert got["n_analysed"].values.tolist() == [N - 37, N - 16]
    assert got["n_failed"].values.tolist() == [37, 16]
    assert got["auclast"].attrs["units"] == "mg L-1 h"
    assert "tmax_geomean" not in got and "cmax_geomean" in got
    for i in range(2):
        ref = reference_nca(memory, i)
        for m in metrics:
            v = ref[m].values
            v = v[np.isfinite(v)]
            np.testing.assert_allclose(got[m].isel(arm=i).values, np.percentile(v, q), rtol=1e-12)
            np.testing.assert_allclose(got[f"{m}_mean"].isel(arm=i).item(), v.mean(), rtol=1e-12)
            assert got[f"{m}_n"].isel(arm=i).item() == v.size
        np.testing.assert_allclose(got["cl_obs_geomean"].isel(arm=i).item(),
                                   np.exp(np.log(ref["cl_obs"].values).mean()), rtol=1e-12)
    # analytic check: the median half-life of a mono-exponential is ln2 / median k
    k_ok = memory["k"].isel(arm=0).values[memory["status"].isel(arm=0).values == 0]
    np.testing.assert_allclose(got["half_life"].sel(arm="low", quantile=50).item(), np.log(2) / np.median(k_ok),
                               rtol=1e-9)


def test_nca_summary_dosing_interval_shifted(trial):
    memory, lazy = trial
    got = nca_summary(lazy, dose=xr.DataArray([100.0, 300.0], dims="arm", coords={"arm": ARMS}),
                      tau=12.0, start=24.0, q=(50,), batch_size=1000)
    assert got.attrs["start"] == 24.0 and got.attrs["tau"] == 12.0
    for i in range(2):
        ref = reference_nca(memory, i, tau=12.0, start=24.0)
        for m in ("ctrough", "auctau", "cmin", "cavg", "cmax"):
            np.testing.assert_allclose(got[m].isel(arm=i, quantile=0).item(), np.nanmedian(ref[m].values),
                                       rtol=1e-12)
    # analytic: Ctrough is C at 36 h
    c36 = ok_rows(memory, 1)[:, np.flatnonzero(np.isclose(TIMES, 36.0))[0]]
    np.testing.assert_allclose(got["ctrough"].sel(arm="high", quantile=50).item(), np.median(c36), rtol=1e-12)


def test_nca_per_patient_and_per_patient_doses(trial):
    memory, lazy = trial
    dose = xr.DataArray(np.where(np.arange(N) % 2, 100.0, 200.0)[None, :].repeat(2, 0), dims=("arm", "patient"))
    per = nca_per_patient(lazy, dose=dose, metrics=("cl_obs", "aucinf_obs"), batch_size=900)
    assert per["cl_obs"].dims == ("arm", "patient")
    failed = memory["status"].values != 0
    assert np.isnan(per["cl_obs"].values[failed]).all()
    np.testing.assert_allclose(per["cl_obs"].values[~failed],
                               (dose.values / per["aucinf_obs"].values)[~failed], rtol=1e-12)


# Vancomycin in hospitalised adults, two-compartment model: typical CL 4.5 L/h (CrCL 120 mL/min, no dialysis),
# V1 58.4 L and V2 38.4 L (70 kg), Q 6.5 L/h; between-subject variability 39.8 % CV on CL, 81.6 % on V1, 57.1 % on
# V2, as log-normal variances ln(1 + CV^2). Goti V, Chaturvedula A, Fossler MJ, Mok S, Jacob JT. Ther Drug Monit
# 2018;40(2):212-221, Table 2 (final model). Terminal half-lives of the drawn patients span about 10-60 h.
VANCOMYCIN_TYPICAL = {"CL": 4.5, "V1": 58.4, "Q": 6.5, "V2": 38.4}
VANCOMYCIN_OMEGA = {"CL": float(np.log1p(0.398**2)), "V1": float(np.log1p(0.816**2)), "V2": float(np.log1p(0.571**2))}


def test_trial_arms_analysed_over_different_intervals_share_each_patients_half_life(tmp_path):
    """The same virtual patients (a paired trial) get 1000 mg or 1500 mg as one IV bolus: the profiles are
    proportional, so each patient's terminal phase is the same in both arms. The first arm is analysed over its
    first 12 h, the second over 48-72 h; the half-life is each patient's whole-profile one in both, while the
    interval metrics stay those of the interval."""
    model = vh.load_model("pharmacokinetics/two_compartment_iv")
    population = vh.Population(model, typical=VANCOMYCIN_TYPICAL, omega=VANCOMYCIN_OMEGA)
    times = np.arange(0.0, 169.0)  # hourly for a week
    arms = {"1000 mg": vh.Regimen.bolus(1000.0, into="central"), "1500 mg": vh.Regimen.bolus(1500.0, into="central")}
    trial = vh.Trial(model=model, population=population, arms=arms, n_per_arm=12, times=times, outputs=["Cc"], seed=5)
    ds = trial.run(tmp_path / "vancomycin.zarr", batch_size=12, progress=False)
    assert np.all(ds["status"].values == 0)
    early = nca_per_patient(ds.isel(arm=[0]), dose=1000.0, start=0.0, tau=12.0, route="iv_bolus",
                            metrics=("half_life", "auctau", "cmax"))
    late = nca_per_patient(ds.isel(arm=[1]), dose=1500.0, start=48.0, tau=24.0, route="iv_bolus",
                           metrics=("half_life", "auctau", "cmax"))
    assert early.attrs["lambda_z_scope"] == "whole profile" and early.attrs["route"] == "iv_bolus"
    half_life = early["half_life"].values[0]
    np.testing.assert_allclose(late["half_life"].values[0], half_life, rtol=1e-9)

    # It is the model's terminal half-life, ln 2 / beta (Gibaldi and Perrier, Pharmacokinetics, 2nd ed., 1982,
    # ch. 2), of each patient's drawn parameters.
    p = {name: ds[name].isel(arm=0).values for name in ("CL", "V1", "Q", "V2")}
    k10, k12, k21 = p["CL"] / p["V1"], p["Q"] / p["V1"], p["Q"] / p["V2"]
    beta = 0.5 * (k10 + k12 + k21 - np.sqrt((k10 + k12 + k21) ** 2 - 4.0 * k10 * k21))
    np.testing.assert_allclose(half_life, np.log(2.0) / beta, rtol=1e-2)

    # The rule this replaces -- each window cut out and fitted alone -- gives another half-life: inside the first
    # 12 h the distribution phase is still under way.
    cut = ds["Cc"].isel(arm=0).sel(time=slice(0.0, 12.0))
    alone = nca(cut, 1000.0, route="iv_bolus", tau=12.0)
    assert np.all(np.abs(alone["half_life"].values / half_life - 1.0) > 1e-3)
    assert np.median(np.abs(alone["half_life"].values / half_life - 1.0)) > 0.1
    # ... while the interval metrics are the window's, as before
    np.testing.assert_allclose(early["auctau"].values[0], alone["auctau"].values, rtol=1e-12)
    np.testing.assert_allclose(early["cmax"].values[0], alone["cmax"].values, rtol=1e-12)
    assert np.all(late["cmax"].values[0] < early["cmax"].values[0])


def test_nca_default_slab_holds_every_output_time_of_few_enough_patients(trial, monkeypatch):
    """Each nca call gets whole profiles (all T output times), so the default slab is sized by NCA_MEMORY; the
    results do not depend on the slab."""
    memory, lazy = trial
    monkeypatch.setattr(summary, "NCA_MEMORY", summary.NCA_FLOATS_PER_SAMPLE * 8 * T * 400)
    seen = []
    original = summary.nca

    def spy(conc, *args, **kwargs):
        seen.append(conc.shape)
        return original(conc, *args, **kwargs)

    monkeypatch.setattr(summary, "nca", spy)
    got = nca_per_patient(lazy, dose=DOSES, start=24.0, tau=12.0, metrics=("half_life", "auctau"))
    assert seen and all(n <= 400 and t == T for n, t in seen)
    whole = nca_per_patient(lazy, dose=DOSES, start=24.0, tau=12.0, metrics=("half_life", "auctau"), batch_size=N)
    for m in ("half_life", "auctau"):
        np.testing.assert_array_equal(got[m].values, whole[m].values)


def test_nca_summary_without_arm_dim(trial):
    memory, _ = trial
    got = nca_summary(memory.isel(arm=0, drop=True), dose=100.0, metrics=["cmax"], q=[50])
    assert got["cmax"].dims == ("quantile",)
    assert int(got["n_analysed"]) == N - 37
    np.testing.assert_allclose(got["cmax"].item(), np.median(ok_rows(memory, 0)[:, 0]), rtol=1e-12)


# -- target attainment, failures -----------------------------------------------------------------------------------


def test_target_attainment_at_time_hand_count(trial):
    memory, lazy = trial
    got = target_attainment(lazy, "Cc", threshold=2.0, at=49.0)
    assert got.dims == ("arm",)
    for i in range(2):
        rows = ok_rows(memory, i)
        assert got["n_attained"].values[i] == np.count_nonzero(rows[:, -1] >= 2.0)
        assert got.values[i] == np.count_nonzero(rows[:, -1] >= 2.0) / rows.shape[0]
        assert got["n_patients"].values[i] == rows.shape[0]
    assert got["n_failed"].values.tolist() == [37, 16]
    assert "Cc(t=49 h) >= 2 mg L-1" == got.attrs["criterion"]
    below = target_attainment(lazy, "Cc", threshold=2.0, at=49.0 + 1e-12, above=False)
    rows = ok_rows(memory, 0)
    assert below.values[0] == np.count_nonzero(rows[:, -1] <= 2.0) / rows.shape[0]


@pytest.mark.parametrize("statistic", ["min", "max", "mean"])
def test_target_attainment_over_window(trial, statistic):
    memory, lazy = trial
    got = target_attainment(lazy, "Cc", threshold=3.0, over=(10.0, 20.0), statistic=statistic)
    window = (TIMES >= 10.0) & (TIMES <= 20.0)
    for i in range(2):
        rows = ok_rows(memory, i)[:, window]
        value = getattr(np, statistic)(rows, axis=1)
        assert got.values[i] == np.count_nonzero(value >= 3.0) / rows.shape[0]
    assert got.attrs["statistic"] == statistic and got.attrs["over"] == [10.0, 20.0]


def test_failure_counts(trial):
    memory, lazy = trial
    got = failure_counts(lazy)
    assert got.dims == ("arm", "status")
    assert got.sel(arm="low", status="success").item() == N - 37
    assert got.sel(arm="low", status="nonfinite").item() == 37
    assert got.sel(arm="high", status="nonfinite").item() == 11
    assert got.sel(arm="high", status="max_steps").item() == 5
    assert got.sum("status").values.tolist() == [N, N]
    assert got["code"].sel(status="nonfinite").item() == int(Status.NONFINITE)
    single = failure_counts(memory.isel(arm=0, drop=True))
    assert single.dims == ("status",) and single.sel(status="nonfinite").item() == 37


# -- bad input ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ds: percentiles(ds, "Cx"), "'Cx'"),
        (lambda ds: percentiles(ds, "k"), "dims"),
        (lambda ds: percentiles(ds, "Cc", q=(5, 101)), r"\[101.0\] outside \[0, 100\]"),
        (lambda ds: percentiles(ds, "Cc", q=(-1,)), "outside"),
        (lambda ds: percentiles(ds, "Cc", q=("a",)), "q:"),
        (lambda ds: percentiles(ds, "Cc", memory_budget=0), "memory_budget"),
        (lambda ds: percentiles(ds.to_array(), "Cc"), "Dataset"),
        (lambda ds: nca_summary(ds, "Cc", dose={"low": 1.0}), "missing"),
        (lambda ds: nca_summary(ds, "Cc", dose=1.0, metrics=("cmaxx",)), "cmaxx"),
        (lambda ds: nca_summary(ds, "Cc", dose=1.0, tau=24.0, start=36.0), "ends after"),
        (lambda ds: nca_summary(ds, "Cc", dose=1.0, tau=-1.0), "tau"),
        (lambda ds: nca_summary(ds, "Cc", dose=1.0, start=3.3), "start"),
        (lambda ds: nca_summary(ds, "Cc", dose=1.0, q=(200,)), "q:"),
        (lambda ds: nca_summary(ds, "Cc", dose=np.ones(3)), "shape"),
        (lambda ds: nca_summary(ds, "Cc", dose=1.0, batch_size=0), "batch_size"),
        (lambda ds: target_attainment(ds, "Cc", threshold=1.0, at=48.5), "nearest is"),
        (lambda ds: target_attainment(ds, "Cc", threshold=1.0), "exactly one"),
        (lambda ds: target_attainment(ds, "Cc", threshold=1.0, at=1.0, over=(0, 2)), "exactly one"),
        (lambda ds: target_attainment(ds, "Cc", threshold=1.0, over=(0, 2), statistic="median"), "statistic"),
        (lambda ds: target_attainment(ds, "Cc", threshold=1.0, over=(0.1, 0.2)), "no output time"),
        (lambda ds: target_attainment(ds, "Cc", threshold=np.nan, at=1.0), "threshold"),
        (lambda ds: target_attainment(ds, "Cy", threshold=1.0, at=1.0), "'Cy'"),
        (lambda ds: failure_counts(ds.drop_vars("status")), "status"),
    ],
)
def test_bad_input_is_refused(trial, call, message):
    with pytest.raises(InputError, match=message):
        call(trial[1])
