"""vh.simulate(model, params, data=ds): every record of every subject predicted in one batched call -- against exact
superposition, against each subject simulated alone, and with a population whose covariates come from the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh

from . import superposition as sp

pytestmark = pytest.mark.slow

ORAL1 = vh.load_model("pharmacokinetics/one_compartment_oral")
ORAL2 = vh.load_model("pharmacokinetics/two_compartment_oral")
COLUMNS = ["ID", "TIME", "AMT", "RATE", "DUR", "CMT", "II", "ADDL", "SS", "EVID", "DV"]
TIGHT = {"rtol": 1e-12, "atol": 1e-14}


def dose(i, t, amt, cmt, rate=0.0, dur=0.0, ii=0.0, addl=0, ss=0):
    return (i, t, amt, rate, dur, cmt, ii, addl, ss, 1, ".")


def obs(i, *times):
    return [(i, t, ".", ".", ".", 2, ".", ".", ".", 0, 1.0) for t in times]


# Five subjects, five designs: ADDL/II, a lag with bioavailability, infusions by RATE and by DUR, an oral
# steady state, and a steady-state infusion continued by ADDL.
DESIGN = [
    [dose(1, 0.0, 100, 1, ii=12, addl=3), *obs(1, 0.5, 2.0, 12.0, 13.0, 30.0, 36.0, 40.0)],
    [dose(2, 0.0, 250, 1), *obs(2, 0.25, 0.5, 0.75, 1.0, 3.0, 8.0)],
    [dose(3, 0.0, 200, 2, rate=50.0), *obs(3, 1.0, 4.0), dose(3, 6.0, 100, 2, dur=0.5), *obs(3, 6.25, 7.0, 24.0)],
    [dose(4, 0.0, 150, 1, ii=12, ss=1), *obs(4, 0.0, 1.0, 3.0, 6.0, 11.5)],
    [dose(5, 0.0, 500, 2, dur=2.0, ii=12, addl=1, ss=1), *obs(5, 0.0, 1.0, 2.0, 5.0, 12.0, 13.0, 20.0)],
]


def params_for(two: bool) -> dict:
    p = {"ka": np.array([1.1, 0.7, 1.3, 0.9, 1.0]), "CL": np.array([4.0, 3.0, 6.0, 5.0, 4.5]),
         "F": np.array([1.0, 0.8, 1.0, 0.9, 1.0]), "ALAG": np.array([0.0, 0.5, 0.0, 0.75, 0.0])}
    if two:
        p.update({"V1": np.array([40.0, 35.0, 50.0, 45.0, 38.0]), "Q": np.array([8.0, 6.0, 10.0, 9.0, 7.0]),
                  "V2": np.array([90.0, 70.0, 110.0, 80.0, 95.0])})
    else:
        p["V"] = np.array([40.0, 35.0, 50.0, 45.0, 38.0])
    return p


def reference(two: bool, b: int, t: np.ndarray, p: dict) -> np.ndarray:
    """Exact central concentration of subject ``b`` at ``t``, superposing every dose (a steady state: 400 earlier
    doses of its series, enough for the slowest exponential to vanish)."""
    q = {k: v[b] for k, v in p.items()}
    oral = sp.impulse("two_compartment" if two else "one_compartment", "depot", q)
    iv = sp.impulse("two_compartment" if two else "one_compartment", "central", q)
    F, lag = q["F"], q["ALAG"]
    if b == 0:
        return sp.regimen(t, *oral, [(12.0 * k + lag, 100 * F, 0.0) for k in range(4)])
    if b == 1:
        return sp.regimen(t, *oral, [(lag, 250 * F, 0.0)])
    if b == 2:
        return sp.regimen(t, *iv, [(0.0, 200, 4.0), (6.0, 100, 0.5)])
    if b == 3:
        return sp.regimen(t, *oral, [(-12.0 * k + lag, 150 * F, 0.0) for k in range(400)])
    return sp.regimen(t, *iv, [(-12.0 * k, 500, 2.0) for k in range(-1, 400)])


@pytest.fixture(scope="module")
def design():
    return pd.DataFrame([r for rows in DESIGN for r in rows], columns=COLUMNS)


@pytest.mark.parametrize("two", [False, True], ids=["one_compartment", "two_compartment"])
def test_predictions_equal_exact_superposition(design, two):
    model = ORAL2 if two else ORAL1
    ds = vh.read_dataset(design, model)
    p = params_for(two)
    out = vh.simulate(model, p, data=ds, precision="float64", **TIGHT)
    assert out.attrs["solver"] == "exact"
    assert out["Cc"].dims == ("patient", "record") and list(out["ID"].values) == [1, 2, 3, 4, 5]
    assert (out["status"].values == 0).all()
    for b in range(5):
        real = out["ROW"].values[b] > 0
        t = out["time"].values[b][real]
        want = reference(two, b, t, p)
        got = out["Cc"].values[b][real]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * want.max(), err_msg=f"subject {b + 1}")
        np.testing.assert_array_equal(out["IPRED"].values[b][real], got)
        # observation records are marked observed (they carry DV 1.0); dose records are not
        np.testing.assert_array_equal(out["observed"].values[b][real], out["EVID"].values[b][real] == 0)
    assert not out["observed"].values[out["ROW"].values < 0].any()


@pytest.mark.parametrize("solver", ["auto", "tsit5"])
def test_each_subject_equals_itself_simulated_alone_bit_for_bit(design, solver):
    """Mixed designs in one call: every subject's predictions are exactly those of a call with it alone."""
    ds = vh.read_dataset(design, ORAL2)
    p = params_for(True)
    out = vh.simulate(ORAL2, p, data=ds, solver=solver, precision="float64")
    times = ds.record_times()
    rows, position = ds.record_layout()
    for b in range(len(ds)):
        t = times[b][~np.isnan(times[b])]
        alone = vh.simulate(ORAL2, {k: v[b] for k, v in p.items()}, times=t, protocol=ds.regimens[b], solver=solver,
                            precision="float64")
        real = rows[b] >= 0
        np.testing.assert_array_equal(out["Cc"].values[b][real], alone["Cc"].values[position[b][real]])


def test_a_population_gives_each_subject_its_draw_with_covariates_from_the_data(tmp_path):
    """Theophylline in NONMEM layout: clearance scaled by each subject's weight column; PRED at the typical values,
    IPRED at draw i of the seed, both equal to plain simulations; write_dataset writes them back."""
    ds = vh.read_dataset("examples/datasets/theophylline.csv", ORAL1)
    pop = vh.Population(ORAL1, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018},
                        covariate_models=[vh.PowerCovariate("CL", "WT", 70, 0.75)])
    out = vh.simulate(ORAL1, pop, data=ds, seed=11)
    wt = ds.covariates["WT"].to_numpy()
    draw = pop.sample(len(ds), seed=11, covariates={"WT": wt})
    individual = vh.simulate(ORAL1, draw, data=ds)
    np.testing.assert_array_equal(out["IPRED"].values, individual["Cc"].values)
    typical = {"ka": 1.5, "CL": 2.8 * (wt / 70) ** 0.75, "V": 31.5}
    pred = vh.simulate(ORAL1, typical, data=ds)
    np.testing.assert_array_equal(out["PRED"].values, pred["Cc"].values)
    assert not np.array_equal(out["PRED"].values, out["IPRED"].values)
    path = vh.write_dataset(out, tmp_path / "pred.csv")
    back = pd.read_csv(path, na_values=".")
    assert list(back.columns[:10]) == ["ID", "TIME", "EVID", "AMT", "DV", "MDV", "DVID", "CENS", "PRED", "IPRED"]
    assert len(back) == 144
    source = pd.read_csv("examples/datasets/theophylline.csv", na_values=".")
    np.testing.assert_array_equal(back["TIME"], source["TIME"])
    np.testing.assert_allclose(back["IPRED"].to_numpy(), out["IPRED"].values[out["ROW"].values > 0][np.argsort(out["ROW"].values[out["ROW"].values > 0])], rtol=1e-9)
    with pytest.raises(vh.InputError, match="already exists; pass overwrite=True"):
        vh.write_dataset(out, path)


def test_a_covariate_that_changes_within_a_subject_changes_the_parameters_there():
    """Weight doubles at 24 h (carried forward from that record): clearance follows it from then on, which is the
    superposition of the dose's response with the old clearance up to 24 h and the new one after."""
    iv = vh.load_model("pharmacokinetics/one_compartment_iv")
    rows = [(1, 0.0, 1000.0, 1, 1, 70.0, "."), (1, 12.0, ".", 0, 1, ".", 1.0), (1, 24.0, ".", 0, 1, 140.0, 1.0),
            (1, 36.0, ".", 0, 1, ".", 1.0)]
    frame = pd.DataFrame(rows, columns=["ID", "TIME", "AMT", "EVID", "CMT", "WT", "DV"])
    ds = vh.read_dataset(frame, iv)
    assert ds.time_varying == ("WT",)
    np.testing.assert_array_equal(ds.records["WT"], [70.0, 70.0, 140.0, 140.0])
    pop = vh.Population(iv, typical={"CL": 5.0, "V": 50.0}, covariate_models=[vh.PowerCovariate("CL", "WT", 70, 1.0)])
    out = vh.simulate(iv, pop, data=ds, **TIGHT)
    c24 = 1000 / 50 * np.exp(-5.0 / 50 * 24)
    want = [0.0, 1000 / 50 * np.exp(-0.1 * 12), c24, c24 * np.exp(-10.0 / 50 * 12)]
    np.testing.assert_allclose(out["Cc"].values[0], want, rtol=1e-8)
    np.testing.assert_allclose(out["PRED"].values[0], want, rtol=1e-8)  # no etas: the individual is the typical


def test_ragged_subjects_are_batched_by_bucket_and_match_the_whole():
    """One subject with 300 records among subjects with 4: the short ones are batched apart (their own bucket), and
    every prediction still equals the subject alone."""
    rows = []
    for i in range(1, 6):
        n = 300 if i == 3 else 4
        rows += [dose(i, 0.0, 100.0 * i, 1)] + obs(i, *np.linspace(0.5, 48.0, n))
    ds = vh.read_dataset(pd.DataFrame(rows, columns=COLUMNS), ORAL1)
    p = {"ka": 1.0, "CL": np.linspace(3.0, 5.0, 5), "V": 40.0}
    out = vh.simulate(ORAL1, p, data=ds, solver="tsit5", precision="float64")
    assert out.sizes["record"] == 301
    alone = vh.simulate(ORAL1, {"ka": 1.0, "CL": 3.5, "V": 40.0}, times=np.linspace(0.5, 48.0, 4),
                        protocol=ds.regimens[1], solver="tsit5", precision="float64")
    np.testing.assert_array_equal(out["Cc"].values[1, 1:5], alone["Cc"].values)
    assert np.isnan(out["Cc"].values[1, 5:]).all() and np.isfinite(out["Cc"].values[2]).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(params={"CL": np.ones(3)}), r"parameter 'CL': expected a number or one value per subject \(5\)"),
        (dict(params={"CL": np.array([1.0, 2.0, -3.0, 1.0, 1.0])}), r"parameter 'CL' \(ID 3\): value -3 is outside"),
        (dict(params={"Cl": 1.0}), "unknown parameter 'Cl'"),
        (dict(params={}, times=np.arange(3.0)), r"times= cannot be given with data="),
        (dict(params={}, data="records.csv"), "data must be a vhtwin.Dataset"),
    ],
)
def test_bad_calls_are_refused_before_any_compute(design, kwargs, match):
    ds = vh.read_dataset(design, ORAL1)
    call = {"data": ds, **kwargs}
    params = call.pop("params")
    with pytest.raises(vh.InputError, match=match):
        vh.simulate(ORAL1, params, **call)


def test_a_dataset_read_for_another_model_or_a_population_missing_a_covariate_is_refused(design):
    ds = vh.read_dataset(design, ORAL1)
    with pytest.raises(vh.InputError, match="data was read for model pharmacokinetics/one_compartment_oral"):
        vh.simulate(ORAL2, {}, data=ds)
    pop = vh.Population(ORAL1, covariate_models=[vh.PowerCovariate("CL", "WT", 70, 0.75)])
    with pytest.raises(vh.InputError, match=r"covariate 'WT' is needed .* the dataset has no column 'WT'"):
        vh.simulate(ORAL1, pop, data=ds)
