"""The Hill-equation block fit with MCMC uncertainty (``vhtwin.cipa.hill_fit``): recovery of a known IC50 and Hill
coefficient, samples that follow the exact posterior, determinism by seed, refusals, and the shipped samples of the 16
validation drugs (``src/vhtwin/cipa/data/hill_block_samples_validation.csv.gz``) -- numpy only, no cell simulation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vhtwin.cipa.hill_fit import LOWER, UPPER, HillFit, _geweke_passes, fit_hill
from vhtwin.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "src" / "vhtwin" / "cipa" / "data"
CURRENTS = ("ICaL", "IK1", "IKs", "INa", "INaL", "Ito")
PREFIX = {"ICaL": "CaL", "IK1": "IK1", "IKs": "IKs", "INa": "Peak_sodium", "INaL": "Late_sodium", "Ito": "Ito"}
VALIDATION = ("risperidone", "metoprolol", "ibutilide", "domperidone", "clarithromycin", "astemizole", "azimilide",
              "disopyramide", "droperidol", "pimozide", "vandetanib", "tamoxifen", "loratadine", "clozapine",
              "nifedipine", "nitrendipine")
TRUE_IC50, TRUE_H = 500.0, 1.2


def hill(conc, ic50, h):
    return 100.0 * (1.0 - 1.0 / (1.0 + (conc / ic50) ** h))


@pytest.fixture(scope="module")
def data():
    """The FDA panel's design: four concentrations a decade apart, three cells each, 3 % noise."""
    conc = np.repeat([10.0, 100.0, 1000.0, 10000.0], 3)
    block = hill(conc, TRUE_IC50, TRUE_H) + np.random.default_rng(7).normal(0.0, 3.0, conc.size)
    return conc, block


@pytest.fixture(scope="module")
def fitted(data):
    return fit_hill(*data)  # the FDA's settings: 2000 samples, burn-in 10000, thin 10, seed 100


def exact_quantiles(conc, block, ssr, qs=(0.025, 0.5, 0.975)):
    """Quantiles of the same posterior by quadrature: error variance integrated out, p ~ (n var0 + SS)^-n."""
    n = block.size
    lx = np.linspace(np.log(200.0), np.log(1200.0), 600)
    h = np.linspace(0.6, 2.2, 600)
    LX, H = np.meshgrid(lx, h, indexing="ij")
    ss = sum((y - hill(c, np.exp(LX), H)) ** 2 for c, y in zip(conc, block))
    logp = -n * np.log(ssr + ss)
    w = np.exp(logp - logp.max())
    out = []
    for marginal, grid in ((w.sum(axis=1), np.exp(lx)), (w.sum(axis=0), h)):
        cdf = np.cumsum(marginal) / marginal.sum()
        out.append(np.interp(qs, cdf, grid))
    return out


def test_the_fit_recovers_a_known_ic50_and_hill_coefficient(fitted):
    assert isinstance(fitted, HillFit)
    assert fitted.ic50 == pytest.approx(TRUE_IC50, rel=0.1)
    assert fitted.h == pytest.approx(TRUE_H, rel=0.1)
    assert fitted.converged and fitted.burnin == 10000
    assert fitted.ic50_samples.shape == fitted.h_samples.shape == (2000,)
    assert 0.2 < fitted.acceptance < 1.0
    # the posterior median sits on the least-squares optimum for data this informative
    assert np.median(fitted.ic50_samples) == pytest.approx(fitted.ic50, rel=0.05)
    assert np.median(fitted.h_samples) == pytest.approx(fitted.h, rel=0.05)


def test_the_95_percent_interval_covers_the_truth_about_95_percent_of_the_time():
    conc = np.repeat([10.0, 100.0, 1000.0, 10000.0], 3)
    covered = {"ic50": 0, "h": 0}
    for k in range(20):  # 20 data sets of the same design; shorter chains than the FDA's to keep this fast
        block = hill(conc, TRUE_IC50, TRUE_H) + np.random.default_rng(100 + k).normal(0.0, 3.0, conc.size)
        f = fit_hill(conc, block, samples=500, burnin=2000, thin=4)
        assert f.converged
        for key, samples, truth in (("ic50", f.ic50_samples, TRUE_IC50), ("h", f.h_samples, TRUE_H)):
            lo, hi = np.percentile(samples, [2.5, 97.5])
            covered[key] += bool(lo < truth < hi)
            assert hi / lo < 2.0  # not vacuous: a factor < 2 on IC50 and on h for data this good
        assert np.all((np.log(f.ic50_samples) >= LOWER[0]) & (np.log(f.ic50_samples) <= UPPER[0]))
        assert np.all((f.h_samples >= LOWER[1]) & (f.h_samples <= UPPER[1]))
    # 19 of 20 expected; measured 18 (IC50) and 19 (h)
    assert covered["ic50"] >= 17 and covered["h"] >= 17


def test_the_samples_follow_the_exact_posterior(data, fitted):
    conc, block = data
    ssr = float(np.sum((block - hill(conc, fitted.ic50, fitted.h)) ** 2))  # n var0: the prior weighs one data set
    q_ic50, q_h = exact_quantiles(conc, block, ssr)
    np.testing.assert_allclose(np.percentile(fitted.ic50_samples, [2.5, 50, 97.5]), q_ic50, rtol=0.04)
    np.testing.assert_allclose(np.percentile(fitted.h_samples, [2.5, 50, 97.5]), q_h, rtol=0.04)


def test_same_seed_same_samples_other_seed_other_samples(data):
    kw = dict(samples=200, burnin=1000, thin=2)
    a = fit_hill(*data, seed=3, **kw)
    b = fit_hill(*data, seed=3, **kw)
    c = fit_hill(*data, seed=4, **kw)
    np.testing.assert_array_equal(a.ic50_samples, b.ic50_samples)
    np.testing.assert_array_equal(a.h_samples, b.h_samples)
    assert (a.ic50, a.h, a.acceptance) == (b.ic50, b.h, b.acceptance)
    assert not np.array_equal(a.ic50_samples, c.ic50_samples)
    assert a.ic50 == c.ic50  # the least-squares fit does not depend on the seed


def test_the_result_is_immutable(fitted):
    with pytest.raises(dataclasses.FrozenInstanceError):
        fitted.ic50 = 1.0
    with pytest.raises(ValueError):
        fitted.ic50_samples[0] = 1.0


def test_geweke_passes_a_stationary_chain_and_fails_a_drifting_one():
    rng = np.random.default_rng(0)
    chain = rng.normal(size=(2000, 2))
    assert _geweke_passes(chain)
    drift = chain + np.linspace(0.0, 2.0, 2000)[:, None]
    assert not _geweke_passes(drift)


@pytest.mark.parametrize("conc, block, kw, match", [
    ([1.0, 10.0, 100.0], [5.0, 50.0], {}, r"conc has 3 values and block has 2"),
    ([1.0, -10.0, 100.0], [5.0, 50.0, 90.0], {}, r"conc -10\.0 \(value 1\) is not allowed: .* finite and >= 0 nM"),
    ([1.0, np.inf, 100.0], [5.0, 50.0, 90.0], {}, r"conc inf \(value 1\) is not allowed"),
    ([1.0, 10.0, 100.0], [5.0, np.nan, 90.0], {}, r"block nan \(value 1\) is not allowed: block must be a finite"),
    ([10.0, 10.0, 10.0], [5.0, 6.0, 7.0], {}, r"conc has 1 distinct value\(s\): .* at least 2 distinct"),
    ([[1.0, 10.0]], [5.0, 50.0], {}, r"conc has shape \(1, 2\): it must be a 1-D"),
    (["a", "b"], [5.0, 50.0], {}, r"conc \['a', 'b'\] must be numbers"),
    ([1.0, 10.0], [5.0, 50.0], {"samples": 0}, r"samples 0 must be a whole number >= 20"),
    ([1.0, 10.0], [5.0, 50.0], {"thin": 1.5}, r"thin 1\.5 must be a whole number >= 1"),
    ([1.0, 10.0], [5.0, 50.0], {"seed": -1}, r"seed -1 must be a whole number >= 0"),
])
def test_bad_input_is_refused_with_its_sentence(conc, block, kw, match):
    with pytest.raises(InputError, match=match):
        fit_hill(conc, block, **kw)


@pytest.fixture(scope="module")
def shipped():
    return pd.read_csv(DATA / "hill_block_samples_validation.csv.gz")


@pytest.fixture(scope="module")
def optimal():
    return pd.read_csv(DATA / "cipa_drugs.csv").set_index("drug")


def test_the_validation_samples_file_has_2000_samples_of_each_validation_drug(shipped):
    training = pd.read_csv(DATA / "hill_block_samples.csv.gz", nrows=1)
    assert list(shipped.columns) == list(training.columns)  # the same layout as the training drugs' file
    assert sorted(shipped["drug"].unique()) == sorted(VALIDATION)
    for drug, rows in shipped.groupby("drug"):
        assert list(rows["sample"]) == list(range(1, 2001)), drug
    values = shipped[[c for c in shipped.columns if c not in ("drug", "sample")]].to_numpy(float)
    finite = values[np.isfinite(values)]
    assert np.all(finite > 0)
    # 4 significant digits, as the FDA's samples
    np.testing.assert_array_equal(finite, [float(f"{v:.4g}") for v in finite])


def test_validation_samples_exist_where_cipa_drugs_has_block_and_their_medians_match_its_optimum(shipped, optimal):
    factors = {}
    for drug, rows in shipped.groupby("drug"):
        for current in CURRENTS:
            ic50 = rows[f"{current}_IC50"].to_numpy(float)
            h = rows[f"{current}_h"].to_numpy(float)
            opt_ic50 = float(optimal.loc[drug, f"{PREFIX[current]}IC50"])
            if opt_ic50 == 0:  # no block measured: left empty, as the FDA leaves it
                assert np.all(np.isnan(ic50)) and np.all(np.isnan(h)), (drug, current)
                continue
            assert np.all(np.isfinite(ic50)) and np.all(np.isfinite(h)), (drug, current)
            r = float(np.median(ic50)) / opt_ic50
            factors[drug, current] = max(r, 1 / r)
            assert 0 < np.median(h) < 10
            assert np.percentile(ic50, 2.5) < opt_ic50 * 1.5 and np.percentile(ic50, 97.5) > opt_ic50 / 1.5
    assert len(factors) == 40  # ICaL for all 16, INa for 15 (not droperidol), INaL for 9
    # Measured (benchmarks/results/cipa-hill-fit.json): every median within x84.8 of the optimum, the largest where
    # the data show barely any block (vandetanib INaL, optimum IC50 2.2e8 nM with h 0.29: a flat posterior); ICaL,
    # the best-measured current, within x1.094.
    assert max(factors.values()) < 85
    assert max(f for (d, c), f in factors.items() if c == "ICaL") < 1.1
    assert sum(f < 1.1 for f in factors.values()) >= 25
