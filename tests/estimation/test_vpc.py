"""vhtwin.estimation.vpc: every bin statistic against an independent computation written here (explicit loops over
strata, bins and replicates with np.percentile), for quantile bins, given edges, strata, pcVPC and BLQ data; a model
that matches the data and one that does not; and one test per bad input."""

import re

import numpy as np
import pandas as pd
import pytest

from vhtwin.errors import InputError
from vhtwin.estimation.vpc import observed_points, vpc_statistics

Q = (5.0, 50.0, 95.0)
NOMINAL = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 12.0])


def concentration(t, ka, k, scale):
    return scale * (np.exp(-k * t) - np.exp(-ka * t))


def dataset(n_subjects=30, n_replicates=60, seed=0, times=NOMINAL, jitter=0.0, shift=1.0):
    """A one-compartment-like dataset: log-normal individual curves with proportional error; the simulated
    replicates come from the same distribution scaled by ``shift``; PRED is the typical curve."""
    rng = np.random.default_rng(seed)
    t = np.tile(times, n_subjects) + jitter * rng.uniform(-1, 1, times.size * n_subjects)
    t = np.maximum(t, 0.05)
    ids = np.repeat(np.arange(1, n_subjects + 1), times.size)
    dose = np.where(ids % 2 == 0, 200.0, 100.0)

    def draw(size):
        ka = 1.5 * np.exp(0.3 * rng.standard_normal(size + (n_subjects,)))
        first_dose = dose.reshape(n_subjects, times.size)[:, 0]
        scale = first_dose * 0.1 * np.exp(0.2 * rng.standard_normal(size + (n_subjects,)))
        c = concentration(t, np.repeat(ka, times.size, axis=-1), 0.15, np.repeat(scale, times.size, axis=-1))
        return c * np.exp(0.1 * rng.standard_normal(c.shape))

    dv = draw(())
    sim = shift * draw((n_replicates,))
    pred = concentration(t, 1.5, 0.15, dose * 0.1)
    obs = pd.DataFrame({"ID": ids, "TIME": t, "DV": dv, "PRED": pred, "DOSE": dose})
    return obs, sim


def reference(obs_values, sim_values, groups, ci=0.95):
    """Per group (a list of row indices): observed percentiles, and per percentile the median and ci interval over
    replicates of the replicate's percentile -- one replicate at a time."""
    out = []
    for rows in groups:
        observed = np.percentile(obs_values[rows], Q)
        per_rep = np.array([np.percentile(sim_values[r][rows], Q) for r in range(sim_values.shape[0])])
        low = [np.percentile(per_rep[:, j], 50 * (1 - ci)) for j in range(len(Q))]
        med = [np.median(per_rep[:, j]) for j in range(len(Q))]
        high = [np.percentile(per_rep[:, j], 50 * (1 + ci)) for j in range(len(Q))]
        out.append((observed, np.array(low), np.array(med), np.array(high)))
    return out


def assert_matches(ds, stratum, expected):
    for b, (observed, low, med, high) in enumerate(expected):
        got = ds.sel(stratum=stratum).isel(bin=b)
        np.testing.assert_allclose(got["observed"].values, observed, rtol=1e-12)
        np.testing.assert_allclose(got["simulated_low"].values, low, rtol=1e-12)
        np.testing.assert_allclose(got["simulated_median"].values, med, rtol=1e-12)
        np.testing.assert_allclose(got["simulated_high"].values, high, rtol=1e-12)


def test_quantile_bins_on_nominal_times_are_the_times():
    obs, sim = dataset()
    ds = vpc_statistics(obs, sim)
    assert ds.sizes == {"stratum": 1, "bin": NOMINAL.size, "percentile": 3}
    assert ds.attrs["binning"] == "quantiles" and ds.attrs["n_replicates"] == sim.shape[0]
    groups = [np.flatnonzero(obs["TIME"].to_numpy() == t) for t in NOMINAL]
    assert_matches(ds, "all", reference(obs["DV"].to_numpy(), sim, groups))
    np.testing.assert_array_equal(ds["time"].sel(stratum="all").values, NOMINAL)
    np.testing.assert_array_equal(ds["n_observations"].values[0], [30] * NOMINAL.size)
    assert "observed_blq_fraction" not in ds and not ds["observed_censored"].any()


def test_quantile_bins_hold_equal_numbers_of_observations():
    obs, sim = dataset(n_subjects=20, times=np.linspace(0.5, 12.0, 6), jitter=0.2, seed=3)
    ds = vpc_statistics(obs, sim, n_bins=4)
    order = np.argsort(obs["TIME"].to_numpy())
    groups = np.array_split(order, 4)  # distinct times: the bins are the sorted quarters
    np.testing.assert_array_equal(ds["n_observations"].values[0], [30, 30, 30, 30])
    assert_matches(ds, "all", reference(obs["DV"].to_numpy(), sim, groups))
    for b, rows in enumerate(groups):
        assert ds["time"].values[0, b] == np.median(obs["TIME"].to_numpy()[rows])
        assert ds["time_low"].values[b] <= obs["TIME"].to_numpy()[rows].min()
        assert ds["time_high"].values[b] >= obs["TIME"].to_numpy()[rows].max()


def test_given_edges_left_closed_last_bin_right_closed():
    obs, sim = dataset(seed=1)
    edges = [0.5, 2.0, 8.0, 12.0]
    ds = vpc_statistics(obs, sim, edges=edges, ci=0.8)
    t = obs["TIME"].to_numpy()
    groups = [np.flatnonzero((t >= 0.5) & (t < 2.0)), np.flatnonzero((t >= 2.0) & (t < 8.0)),
              np.flatnonzero((t >= 8.0) & (t <= 12.0))]
    assert [g.size for g in groups] == [60, 60, 60]
    assert ds.attrs["binning"] == "edges" and ds.attrs["ci"] == 0.8
    np.testing.assert_array_equal(ds["time_low"].values, edges[:-1])
    np.testing.assert_array_equal(ds["time_high"].values, edges[1:])
    assert_matches(ds, "all", reference(obs["DV"].to_numpy(), sim, groups, ci=0.8))


def test_stratified_statistics_per_stratum():
    obs, sim = dataset(seed=2)
    ds = vpc_statistics(obs, sim, stratify="DOSE")
    assert list(ds["stratum"].values) == [100.0, 200.0]
    t = obs["TIME"].to_numpy()
    for dose in (100.0, 200.0):
        groups = [np.flatnonzero((t == time) & (obs["DOSE"].to_numpy() == dose)) for time in NOMINAL]
        assert_matches(ds, dose, reference(obs["DV"].to_numpy(), sim, groups))
        np.testing.assert_array_equal(ds["n_observations"].sel(stratum=dose).values, [15] * NOMINAL.size)


def test_two_stratification_columns_label_their_combinations():
    obs, sim = dataset(seed=2)
    obs["SEX"] = np.where(obs["ID"] <= 10, "F", "M")
    ds = vpc_statistics(obs, sim, stratify=["DOSE", "SEX"])
    assert list(ds["stratum"].values) == ["DOSE=100.0, SEX=F", "DOSE=100.0, SEX=M", "DOSE=200.0, SEX=F",
                                          "DOSE=200.0, SEX=M"]
    assert ds["n_observations"].sum() == len(obs)
    rows = np.flatnonzero((obs["DOSE"] == 200.0) & (obs["SEX"] == "F") & (obs["TIME"] == 4.0))
    got = ds["observed"].sel(stratum="DOSE=200.0, SEX=F").isel(bin=3).values
    np.testing.assert_allclose(got, np.percentile(obs["DV"].to_numpy()[rows], Q))


def test_prediction_corrected_statistics():
    obs, sim = dataset(n_subjects=24, seed=4, jitter=0.3)
    lb = 0.0
    ds = vpc_statistics(obs, sim, n_bins=5, prediction_corrected=True, lower_bound=lb)
    assert ds.attrs["prediction_corrected"]
    edges = np.append(ds["time_low"].values, ds["time_high"].values[-1])
    t, pred = obs["TIME"].to_numpy(), obs["PRED"].to_numpy()
    corrected_obs = np.empty(len(obs))
    corrected_sim = np.empty_like(sim)
    groups = []
    for b in range(5):
        last = b == 4
        rows = np.flatnonzero((t >= edges[b]) & ((t <= edges[b + 1]) if last else (t < edges[b + 1])))
        groups.append(rows)
        pred_bin = np.median(pred[rows])
        for i in rows:
            factor = (pred_bin - lb) / (pred[i] - lb)
            corrected_obs[i] = lb + (obs["DV"].to_numpy()[i] - lb) * factor
            for r in range(sim.shape[0]):
                corrected_sim[r, i] = lb + (sim[r, i] - lb) * factor
    assert sum(g.size for g in groups) == len(obs)
    assert_matches(ds, "all", reference(corrected_obs, corrected_sim, groups))
    points = observed_points(obs, ds)
    np.testing.assert_allclose(points["DV"].to_numpy(), corrected_obs, rtol=1e-12)
    # the correction changes the statistics: a plain VPC on the same bins differs
    plain = vpc_statistics(obs, sim, edges=edges)
    assert not np.allclose(plain["observed"].values, ds["observed"].values)


def test_prediction_correction_with_per_replicate_pred():
    obs, sim = dataset(n_replicates=5, seed=5)
    sim_pred = np.tile(obs["PRED"].to_numpy(), (5, 1)) * np.arange(1.0, 6.0)[:, None]
    ds = vpc_statistics(obs, sim, prediction_corrected=True, simulated_pred=sim_pred)
    # scaling a replicate's PRED by c leaves PRED_bin / PRED as it was: the same as the default
    same = vpc_statistics(obs, sim, prediction_corrected=True)
    np.testing.assert_allclose(ds["simulated_median"].values, same["simulated_median"].values, rtol=1e-12)


def test_censored_observations_count_below_every_percentile():
    obs, sim = dataset(seed=6)
    lloq = 2.0
    obs["CENS"] = obs["DV"] < lloq
    obs["LIMIT"] = np.where(obs["CENS"], lloq, np.nan)
    obs.loc[obs["CENS"], "DV"] = np.nan
    assert 0 < obs["CENS"].sum() < len(obs)
    ds = vpc_statistics(obs, sim)
    t = obs["TIME"].to_numpy()
    dv = np.where(obs["CENS"], -1e300, obs["DV"].fillna(0.0))  # a huge negative stand-in for "below everything"
    for b, time in enumerate(NOMINAL):
        rows = np.flatnonzero(t == time)
        expected = np.percentile(dv[rows], Q)
        censored = expected < -1e280
        got = ds.isel(stratum=0, bin=b)
        np.testing.assert_array_equal(got["observed_censored"].values, censored)
        np.testing.assert_array_equal(np.isnan(got["observed"].values), censored)
        np.testing.assert_allclose(got["observed"].values[~censored], expected[~censored], rtol=1e-12)
        assert got["observed_blq_fraction"] == obs["CENS"].to_numpy()[rows].mean()
        fractions = [np.count_nonzero(sim[r, rows] < lloq) / rows.size for r in range(sim.shape[0])]
        assert got["simulated_blq_median"] == np.median(fractions)
        assert got["simulated_blq_low"] == pytest.approx(np.percentile(fractions, 2.5), rel=1e-12)
        assert got["simulated_blq_high"] == pytest.approx(np.percentile(fractions, 97.5), rel=1e-12)
    assert ds["observed_censored"].any()  # the late low percentiles
    # the simulated percentiles are those of the simulated values, censoring or not
    groups = [np.flatnonzero(t == time) for time in NOMINAL]
    expected = reference(np.zeros(len(obs)), sim, groups)
    for b, (_, low, med, high) in enumerate(expected):
        np.testing.assert_allclose(ds["simulated_median"].values[0, b], med, rtol=1e-12)


def test_censored_dv_as_limit_and_quantified_rows_take_the_lowest_limit():
    obs, sim = dataset(seed=7)
    obs["CENS"] = (obs["DV"] < 2.0).astype(int)
    obs.loc[obs["CENS"] == 1, "DV"] = 2.0  # the limit written in DV, no LIMIT column
    assert obs["CENS"].sum() > 0
    ds = vpc_statistics(obs, sim)
    for b, time in enumerate(NOMINAL):  # censored or not, every record's simulated value is compared with 2.0
        rows = np.flatnonzero(obs["TIME"].to_numpy() == time)
        fractions = [(sim[r, rows] < 2.0).mean() for r in range(sim.shape[0])]
        assert ds["simulated_blq_median"].values[0, b] == np.median(fractions)
    assert ds["simulated_blq_median"].values[0, -1] > 0


def test_missing_simulated_values_are_left_out_of_their_replicate():
    obs, sim = dataset(n_replicates=20, seed=8)
    sim[3, :40] = np.nan  # a replicate whose first subjects failed
    sim[7, :] = np.nan  # a replicate that failed entirely
    ds = vpc_statistics(obs, sim)
    t = obs["TIME"].to_numpy()
    for b, time in enumerate(NOMINAL):
        rows = np.flatnonzero(t == time)
        per_rep = np.array([np.percentile(sim[r, rows][~np.isnan(sim[r, rows])], Q) for r in range(20) if r != 7])
        np.testing.assert_allclose(ds["simulated_median"].values[0, b], np.median(per_rep, axis=0), rtol=1e-12)
        np.testing.assert_allclose(ds["simulated_high"].values[0, b], np.percentile(per_rep, 97.5, axis=0),
                                   rtol=1e-12)


def test_an_empty_bin_of_a_stratum_has_nan_statistics():
    obs, sim = dataset(seed=9)
    keep = ~((obs["DOSE"] == 200.0) & (obs["TIME"] == 12.0)).to_numpy()
    ds = vpc_statistics(obs[keep], sim[:, keep], stratify="DOSE")
    empty = ds.sel(stratum=200.0).isel(bin=-1)
    assert empty["n_observations"] == 0
    assert np.isnan(empty["observed"]).all() and np.isnan(empty["simulated_median"]).all()
    assert np.isfinite(ds.sel(stratum=100.0).isel(bin=-1)["observed"]).all()


def test_matching_model_covers_the_observed_percentiles_and_a_shifted_one_does_not():
    obs, sim = dataset(n_subjects=60, n_replicates=200, seed=10)
    ds = vpc_statistics(obs, sim)
    inside = (ds["observed"] >= ds["simulated_low"]) & (ds["observed"] <= ds["simulated_high"])
    assert inside.mean() >= 0.8
    _, shifted = dataset(n_subjects=60, n_replicates=200, seed=10, shift=2.0)
    bad = vpc_statistics(obs, shifted)
    inside = (bad["observed"] >= bad["simulated_low"]) & (bad["observed"] <= bad["simulated_high"])
    assert inside.sel(percentile=50).sum() == 0
    assert inside.mean() < 0.2


# -- bad input: one sentence naming the argument, the value and what is allowed --------------------------------------
def raises(match, *args, **kwargs):
    with pytest.raises(InputError, match=match) as info:
        vpc_statistics(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_simulated_of_the_wrong_shape():
    obs, sim = dataset(n_replicates=4)
    raises(re.escape(f"simulated has shape (4, {len(obs) - 1}); it must be (n_replicates >= 1, {len(obs)})"),
           obs, sim[:, 1:])


def test_simulated_one_dimensional():
    obs, sim = dataset(n_replicates=4)
    raises(r"simulated has shape \(180,\)", obs, sim[0])


def test_percentiles_outside_0_100():
    obs, sim = dataset(n_replicates=4)
    raises(r"percentiles = \(0, 50, 100\): must be one or more numbers strictly between 0 and 100", obs, sim,
           percentiles=(0, 50, 100))


def test_percentiles_not_increasing():
    obs, sim = dataset(n_replicates=4)
    raises(r"percentiles = \(50, 5\): must be strictly increasing", obs, sim, percentiles=(50, 5))


def test_ci_outside_0_1():
    obs, sim = dataset(n_replicates=4)
    raises(r"ci = 95: must be a number strictly between 0 and 1", obs, sim, ci=95)


def test_pcvpc_without_pred():
    obs, sim = dataset(n_replicates=4)
    raises(r"prediction_corrected = True needs a column 'PRED' in observed", obs.drop(columns="PRED"), sim,
           prediction_corrected=True)


def test_pcvpc_with_pred_at_the_lower_bound():
    obs, sim = dataset(n_replicates=4)
    obs.loc[3, "PRED"] = 0.0
    raises(r"observed\['PRED'\] is 0 at row 3; a prediction-corrected VPC needs PRED > lower_bound 0", obs, sim,
           prediction_corrected=True)


def test_n_bins_below_one():
    obs, sim = dataset(n_replicates=4)
    raises(r"n_bins = 0: must be an integer >= 1", obs, sim, n_bins=0)


def test_n_bins_and_edges_together():
    obs, sim = dataset(n_replicates=4)
    raises(r"n_bins = 3 with edges given: give n_bins \(quantile bins\) or edges, not both", obs, sim, n_bins=3,
           edges=[0, 12])


def test_edges_leaving_out_an_observation():
    obs, sim = dataset(n_replicates=4)
    raises(r"edges = \[1, 12\] leave out the observed TIME 0.5; every observed time must lie within \[1, 12\]", obs,
           sim, edges=[1, 12])


def test_edges_not_increasing():
    obs, sim = dataset(n_replicates=4)
    raises(r"edges = \[0, 5, 5, 12\]: must be two or more finite, strictly increasing numbers", obs, sim,
           edges=[0, 5, 5, 12])


def test_unknown_bins():
    obs, sim = dataset(n_replicates=4)
    raises(r"bins = 'equal': must be 'quantiles' or 'edges'", obs, sim, bins="equal")


def test_unknown_stratify_column():
    obs, sim = dataset(n_replicates=4)
    raises(r"stratify = \['DOSE', 'ARM'\]: 'ARM' is not a column of observed", obs, sim, stratify=["DOSE", "ARM"])


def test_stratify_column_with_a_missing_value():
    obs, sim = dataset(n_replicates=4)
    obs.loc[7, "DOSE"] = np.nan
    raises(r"observed\['DOSE'\] is missing at row 7; a stratification column needs a value in every row", obs, sim,
           stratify="DOSE")


def test_observed_without_dv():
    obs, sim = dataset(n_replicates=4)
    raises(r"observed has no column\(s\) \['DV'\]; it needs ID, TIME and DV", obs.drop(columns="DV"), sim)


def test_missing_dv_that_is_not_censored():
    obs, sim = dataset(n_replicates=4)
    obs.loc[5, "DV"] = np.nan
    raises(r"observed\['DV'\] is nan at row 5, which is not censored", obs, sim)


def test_cens_not_zero_or_one():
    obs, sim = dataset(n_replicates=4)
    obs["CENS"] = 0
    obs.loc[2, "CENS"] = 2
    raises(r"observed\['CENS'\] has the value 2; it must be 0/1 or a bool", obs, sim)


def test_simulated_pred_of_the_wrong_shape():
    obs, sim = dataset(n_replicates=4)
    raises(r"simulated_pred has shape \(3,\); it must be \(180,\) or \(4, 180\)", obs, sim,
           prediction_corrected=True, simulated_pred=[1.0, 2.0, 3.0])


def test_lower_bound_not_finite():
    obs, sim = dataset(n_replicates=4)
    raises(r"lower_bound = inf: must be a finite number", obs, sim, lower_bound=np.inf)
