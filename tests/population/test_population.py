"""Populations: determinism per (seed, patient), random-effect moments, covariates, covariate models, residual error,
and the errors for bad input."""

import numpy as np
import pytest
import xarray as xr

import vhtwin as vh
from vhtwin.errors import InputError
from vhtwin.population import (
    IOV, Bernoulli, BodyMassIndex, CategoricalCovariate, CockcroftGault, CovariateTable, Covariates,
    ExponentialCovariate, LinearCovariate, LogNormal, Normal, Omega, Population, PowerCovariate, Residual, Uniform,
)
from vhtwin.population import streams

MODEL = "pharmacokinetics/one_compartment_oral"


@pytest.fixture(scope="module")
def model():
    return vh.load_model(MODEL)


@pytest.fixture(scope="module")
def documented_population(model):
    return Population(model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
                      omega={"ka": 0.42, "CL": 0.073, "V": 0.018}, residual=Residual(additive=0.7))


def adults(**extra):
    return Covariates(
        WT=LogNormal(median=75, cv=0.2, lower=40, upper=150, unit="kg"),
        HT=LogNormal(median=172, sd_log=0.05, unit="cm"),
        AGE=Uniform(18, 80, unit="y"),
        SEX=Bernoulli(0.5),
        SCR=LogNormal(median=0.9, sd_log=0.25, lower=0.4, upper=3.0, unit="mg dL-1"),
        CRCL=CockcroftGault(),
        BMI=BodyMassIndex(),
        correlation={("WT", "HT"): 0.6},
        **extra,
    )


@pytest.fixture(scope="module")
def full_population(model):
    """Every random stream at once: covariates, a block omega, IOV."""
    return Population(
        model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
        omega=Omega({"ka": 0.42}, blocks=[(("CL", "V"), [[0.073, 0.02], [0.02, 0.018]])]),
        covariates=adults(),
        covariate_models=[PowerCovariate("CL", "WT", 70, 0.75), PowerCovariate("V", "WT", 70, 1.0),
                          CategoricalCovariate("CL", "SEX", {0: 1.0, 1: 0.85})],
        iov=IOV({"CL": 0.01}, n_occasions=3),
    )


# -- the random numbers ----------------------------------------------------------------------------------------------
def test_threefry_matches_jax_bit_for_bit():
    import jax.numpy as jnp
    from jax.extend.random import threefry_2x32

    rng = np.random.default_rng(1)
    key = rng.integers(0, 2**32, size=2, dtype=np.uint64).astype(np.uint32)
    counts = rng.integers(0, 2**32, size=(2, 64), dtype=np.uint64).astype(np.uint32)
    ours = streams.threefry2x32(key[0], key[1], counts[0], counts[1])
    theirs = np.asarray(threefry_2x32(jnp.asarray(key), jnp.asarray(counts.reshape(-1)))).reshape(2, 64)
    np.testing.assert_array_equal(np.stack(ours), theirs)
    # Random123's known answer
    assert [int(x) for x in streams.threefry2x32(0x13198A2E, 0x03707344, 0x243F6A88, 0x85A308D3)] == [0xC4923A9C, 0x483DF7A0]


# -- the documented construction (docs/guides/populations.md) ----------------------------------------------------------------------
def test_documented_population_samples_and_simulates(model, documented_population, request):
    draw = documented_population.sample(n=1000, seed=0)
    assert draw.sizes == {"patient": 1000}
    np.testing.assert_array_equal(draw["patient"].values, np.arange(1000))
    for name in ("ka", "CL", "V"):
        assert draw[name].attrs["units"] == model.unit_of(name)
        np.testing.assert_allclose(np.log(draw[name] / documented_population.typical[name]), draw[f"eta_{name}"], rtol=1e-12, atol=1e-14)
    result = vh.simulate(model, params=draw, times=np.arange(0.5, 12.5), protocol=vh.Regimen.bolus(320.0, into="depot"))
    assert result["Cc"].shape == (1000, 12) and np.all(result["status"] == 0)
    observed = documented_population.residual.apply(result["Cc"], seed=0, patient_ids=draw["patient"].values)
    assert observed.dims == ("patient", "time") and observed.attrs["units"] == "mg L-1"
    assert 0.65 < float((observed - result["Cc"]).std()) < 0.75
    # a draw with covariates (ignored by simulate) and IOV simulates the same way
    full = request.getfixturevalue("full_population").sample(n=1000, seed=0)
    again = vh.simulate(model, params=full, times=np.arange(0.5, 12.5), protocol=vh.Regimen.bolus(320.0, into="depot"))
    assert np.all(again["status"] == 0)


# -- determinism ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["documented_population", "full_population"])
def test_patient_depends_only_on_seed_and_id(which, request):
    pop = request.getfixturevalue(which)
    whole = pop.sample(n=1000, seed=0)
    chunks = xr.concat([pop.sample(n=min(7, 1000 - k), seed=0, first_patient=k) for k in range(0, 1000, 7)], dim="patient")
    xr.testing.assert_identical(whole, chunks)
    for i in (0, 1, 500, 999):
        xr.testing.assert_identical(pop.sample(n=1, seed=0, first_patient=i), whole.isel(patient=[i]))
    assert not np.array_equal(pop.sample(n=50, seed=1)["CL"], whole["CL"][:50])


# -- random effects --------------------------------------------------------------------------------------------------
def test_omega_moments_and_block_covariance(model, full_population):
    n = 20000
    pop = Population(model, typical={"ka": 1.5, "CL": 2.8, "V": 31.5},
                     omega=Omega({"ka": 0.42}, blocks=[(("CL", "V"), [[0.073, 0.02], [0.02, 0.018]])]))
    draw = pop.sample(n=n, seed=3)
    log_cl = np.log(draw["CL"].values / 2.8)
    assert np.var(log_cl, ddof=1) == pytest.approx(0.073, rel=0.05)
    assert np.var(np.log(draw["ka"].values / 1.5), ddof=1) == pytest.approx(0.42, rel=0.05)
    cov = np.cov(draw["eta_CL"].values, draw["eta_V"].values)
    assert cov[0, 1] == pytest.approx(0.02, rel=0.05)
    assert cov[1, 1] == pytest.approx(0.018, rel=0.05)
    assert abs(np.corrcoef(draw["eta_ka"], draw["eta_CL"])[0, 1]) < 0.03
    assert abs(float(np.mean(log_cl))) < 0.01


def test_normal_and_lognormal(model):
    pop = Population(model, typical={"CL": 2.8, "V": 31.5}, omega={"CL": 0.073, "V": 4.0},
                     distribution={"V": "normal"})
    draw = pop.sample(n=20000, seed=5)
    np.testing.assert_allclose(draw["V"] - 31.5, draw["eta_V"], atol=1e-12)
    assert np.var(draw["V"].values, ddof=1) == pytest.approx(4.0, rel=0.05)
    assert np.mean(draw["V"].values) == pytest.approx(31.5, abs=0.05)
    np.testing.assert_allclose(draw["CL"], 2.8 * np.exp(draw["eta_CL"]), rtol=1e-14)
    # log-normal: median at the typical value, mean above it
    assert np.median(draw["CL"]) == pytest.approx(2.8, rel=0.01)
    assert np.mean(draw["CL"]) == pytest.approx(2.8 * np.exp(0.073 / 2), rel=0.01)
    np.testing.assert_array_equal(draw["ka"], 1.0)  # no omega, model default, no eta variable
    assert "eta_ka" not in draw


def test_logit_stays_within_bounds(model):
    pop = Population(model, typical={"ka": 0.3}, omega={"ka": 4.0}, distribution={"ka": ("logit", 0.0, 1.0)})
    ka = pop.sample(n=2000, seed=1)["ka"].values
    assert ka.min() > 0 and ka.max() < 1 and np.median(ka) == pytest.approx(0.3, rel=0.1)


def test_inter_occasion_variability(model, full_population):
    draw = full_population.sample(n=5000, seed=2)
    assert draw["kappa_CL"].dims == ("patient", "occasion") and draw.sizes["occasion"] == 3
    assert np.var(draw["kappa_CL"].values, ddof=1) == pytest.approx(0.01, rel=0.05)
    np.testing.assert_allclose(draw["CL"], draw["CL_by_occasion"].isel(occasion=0, drop=True))
    second = full_population.at_occasion(draw, 1)
    np.testing.assert_allclose(second["CL"], draw["CL_by_occasion"].isel(occasion=1, drop=True))
    ratio = np.log(draw["CL_by_occasion"][:, 1] / draw["CL_by_occasion"][:, 0])
    np.testing.assert_allclose(ratio, draw["kappa_CL"][:, 1] - draw["kappa_CL"][:, 0], atol=1e-12)


# -- covariates and covariate models ------------------------------------------------------------------------------------
def test_covariate_models_by_hand(model):
    table = {"WT": [70.0, 140.0, 35.0], "AGE": [40.0, 60.0, 20.0], "SEX": [0, 1, 1]}
    pop = Population(
        model, typical={"CL": 2.8, "V": 31.5},
        covariates=CovariateTable(table, units={"WT": "kg", "AGE": "y"}),
        covariate_models=[PowerCovariate("CL", "WT", 70, 0.75), PowerCovariate("V", "WT", 70, 1.0),
                          LinearCovariate("CL", "AGE", 40, -0.01), CategoricalCovariate("CL", "SEX", {0: 1.0, 1: 0.8}),
                          ExponentialCovariate("ka", "AGE", 40, 0.02)],
    )
    draw = pop.sample(n=3, seed=0)
    expected_cl = [2.8, 2.8 * 2**0.75 * (1 - 0.01 * 20) * 0.8, 2.8 * 0.5**0.75 * (1 + 0.01 * 20) * 0.8]
    np.testing.assert_allclose(draw["CL"], expected_cl, rtol=1e-14)
    np.testing.assert_allclose(draw["V"], [31.5, 63.0, 15.75], rtol=1e-14)
    np.testing.assert_allclose(draw["ka"], [1.0, np.exp(0.4), np.exp(-0.4)], rtol=1e-14)
    assert draw["WT"].attrs["units"] == "kg" and "units" not in draw["SEX"].attrs
    # allometric clearance: a patient of twice the reference weight has 2**0.75 = 1.68 times the clearance
    assert draw["CL"][1] / (2.8 * 0.8 * 0.8) == pytest.approx(2**0.75)


def test_cockcroft_gault_by_hand():
    table = {"AGE": [40.0, 40.0, 85.0], "WT": [70.0, 70.0, 50.0], "SEX": [0, 1, 1], "SCR": [1.0, 1.0, 1.4]}
    values = CovariateTable(table, derived={"CRCL": CockcroftGault()}).sample(0, np.arange(3, dtype=np.uint64))
    # (140 - 40) * 70 / 72 = 97.22 mL/min for a man; x 0.85 for a woman; (55 * 50) / (72 * 1.4) * 0.85 = 23.19
    np.testing.assert_allclose(values["CRCL"], [97.2222222222, 82.6388888889, 23.1894841270], rtol=1e-10)


def test_drawn_covariates(model):
    cov = adults()
    pop = Population(model, covariates=cov, covariate_models=[PowerCovariate("CL", "WT", 70, 0.75)])
    draw = pop.sample(n=20000, seed=11)
    assert np.corrcoef(np.log(draw["WT"]), np.log(draw["HT"]))[0, 1] == pytest.approx(0.6, abs=0.02)
    assert abs(np.corrcoef(draw["WT"], draw["AGE"])[0, 1]) < 0.03
    assert draw["WT"].min() >= 40 and draw["WT"].max() <= 150 and draw["WT"].attrs["units"] == "kg"
    assert np.median(draw["WT"]) == pytest.approx(75, rel=0.02)
    assert 18 <= draw["AGE"].min() and draw["AGE"].max() <= 80 and np.mean(draw["AGE"]) == pytest.approx(49, abs=0.5)
    assert set(np.unique(draw["SEX"])) == {0, 1} and np.mean(draw["SEX"]) == pytest.approx(0.5, abs=0.02)
    assert draw["CRCL"].attrs["units"] == "mL min-1"
    crcl = (140 - draw["AGE"]) * draw["WT"] / (72 * draw["SCR"]) * np.where(draw["SEX"] == 1, 0.85, 1.0)
    np.testing.assert_allclose(draw["CRCL"], crcl, rtol=1e-12)
    np.testing.assert_allclose(draw["BMI"], draw["WT"] / (draw["HT"] / 100) ** 2, rtol=1e-12)
    np.testing.assert_allclose(draw["CL"], 5.0 * (draw["WT"] / 70) ** 0.75, rtol=1e-12)
    age = Normal(45, 15, lower=18, upper=80, unit="y").from_normal(np.linspace(-6, 6, 101))
    assert age.min() >= 18 and age.max() <= 80 and np.all(np.diff(age) >= 0)


def test_table_resampling_and_row_mapping(model):
    table = {"WT": np.arange(50.0, 60.0)}
    pop = Population(model, covariates=CovariateTable(table, resample=True))
    draw = pop.sample(n=400, seed=1)
    assert set(np.unique(draw["WT"])) == set(table["WT"])
    xr.testing.assert_identical(pop.sample(n=5, seed=1, first_patient=100), draw.isel(patient=slice(100, 105)))
    fixed = Population(model, covariates=table).sample(n=4, seed=0, first_patient=6)
    np.testing.assert_array_equal(fixed["WT"], [56.0, 57.0, 58.0, 59.0])


# -- residual error ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "residual, sd_of",
    [
        (Residual(additive=0.7), lambda f, y: np.std(y - f)),
        (Residual(proportional=0.15), lambda f, y: np.std((y - f) / f)),
        (Residual(additive=0.5, proportional=0.1), lambda f, y: np.std(y - f)),
        (Residual(exponential=0.2), lambda f, y: np.std(np.log(y / f))),
    ],
)
def test_residual_sd(residual, sd_of):
    f = np.full((2000, 10), 8.0)
    y = residual.apply(f, seed=4)
    if residual.exponential is not None:
        expected = residual.exponential
    elif residual.additive is None:
        expected = residual.proportional
    else:
        expected = np.hypot(residual.additive, (residual.proportional or 0.0) * 8.0)
    assert sd_of(f, y) == pytest.approx(expected, rel=0.03)


def test_residual_noise_depends_on_seed_patient_and_time_index():
    res = Residual(additive=0.5, proportional=0.1)
    f = np.linspace(1, 10, 60).reshape(6, 10)
    ids = np.arange(100, 106)
    whole = res.apply(f, seed=9, patient_ids=ids)
    np.testing.assert_array_equal(res.apply(f[2:4], seed=9, patient_ids=ids[2:4]), whole[2:4])
    np.testing.assert_array_equal(res.apply(f[:, :4], seed=9, patient_ids=ids), whole[:, :4])
    np.testing.assert_array_equal(res.apply(f[3], seed=9, patient_ids=ids[3]), whole[3])
    assert not np.array_equal(res.apply(f, seed=10, patient_ids=ids), whole)
    assert not np.array_equal(res.apply(f, seed=9, patient_ids=ids, name="other"), whole)
    da = xr.DataArray(f.T, dims=("time", "patient"), coords={"patient": ids, "time": np.arange(10.0)}, attrs={"units": "mg L-1"})
    out = res.apply(da, seed=9)
    assert out.dims == ("time", "patient") and out.attrs == da.attrs
    np.testing.assert_array_equal(out.values.T, whole)
    assert np.isnan(res.apply(np.array([[np.nan, 1.0]]), seed=0)[0, 0])


# -- bad input ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(typical={"Cl": 2.8}), "unknown parameter 'Cl'"),
        (dict(omega={"Q": 0.1}), "unknown parameter 'Q'"),
        (dict(omega={"CL": -0.1}), "variance of 'CL' is -0.1"),
        (dict(typical={"CL": -1.0}), "typical value of 'CL' is -1"),
        (dict(covariates={"WT": [70.0]}, covariate_models=[PowerCovariate("CL", "BW", 70, 0.75)]), "covariate 'BW'"),
        (dict(covariates={"WT": [70.0, 80.0], "AGE": [40.0]}), "different lengths"),
        (dict(distribution={"CL": "gamma"}), "distribution of 'CL'"),
        (dict(distribution="logit", omega={"CL": 0.1}), "logit needs bounds"),
    ],
)
def test_bad_population_input(model, kwargs, match):
    with pytest.raises(InputError, match=match):
        Population(model, **kwargs)


def test_covariates_without_a_source_come_with_each_draw(model):
    """A covariate model with no covariate source reads the covariates given to sample (a dataset's columns); a
    draw without them is refused by name."""
    pop = Population(model, typical={"CL": 2.8}, omega={"CL": 0.1}, covariate_models=[PowerCovariate("CL", "WT", 70, 0.75)])
    assert pop.covariates_needed == ("WT",)
    with pytest.raises(InputError, match="covariate 'WT' is needed"):
        pop.sample(3, seed=0)
    with pytest.raises(InputError, match=r"covariate 'WT' of patient 1 is nan"):
        pop.sample(2, seed=0, covariates={"WT": [70.0, np.nan]})
    draw = pop.sample(2, seed=0, covariates={"WT": [70.0, 140.0]})
    tv = 2.8 * (np.array([70.0, 140.0]) / 70) ** 0.75
    np.testing.assert_allclose(draw["CL"].values, tv * np.exp(draw["eta_CL"].values), rtol=1e-12)
    np.testing.assert_array_equal(draw["WT"].values, [70.0, 140.0])


@pytest.mark.parametrize(
    "diagonal, blocks, match",
    [
        ({}, [(("CL", "V"), [[0.073, 0.2], [0.2, 0.018]])], r"omega block 0 \('CL', 'V'\).*not positive semi-definite"),
        ({"ka": 0.1}, [(("CL", "V"), [[0.073, 0.02], [0.01, 0.018]])], "omega block 0 .*not symmetric"),
        ({"CL": 0.1}, [(("CL", "V"), [[0.1, 0.0], [0.0, 0.1]])], "'CL' appears more than once"),
        ({}, [(("CL", "V"), [[0.1, 0.0], [0.0, -0.1]])], "variance of 'V' is -0.1"),
        ({}, [(("CL", "V"), [[0.1]])], "must be 2 x 2"),
    ],
)
def test_bad_omega(diagonal, blocks, match):
    with pytest.raises(InputError, match=match):
        Omega(diagonal, blocks=blocks)


def test_bad_sampling_and_covariate_input(model):
    pop = Population(model, covariates={"WT": [70.0, 80.0, 90.0]}, covariate_models=[PowerCovariate("CL", "WT", 70, 0.75)])
    with pytest.raises(InputError, match="3 rows but patient 4 needs row 4"):
        pop.sample(n=5, seed=0)
    for bad in (dict(n=0, seed=0), dict(n=3, seed=-1), dict(n=3, seed=0, first_patient=-2)):
        with pytest.raises(InputError):
            pop.sample(**bad)
    with pytest.raises(InputError, match="level 2"):
        Population(model, covariates={"SEX": [0, 2]}, covariate_models=[CategoricalCovariate("CL", "SEX", {0: 1.0, 1: 0.8})]).sample(2, 0)
    with pytest.raises(InputError, match="not a drawn covariate"):
        Covariates(WT=LogNormal(70, cv=0.2), correlation={("WT", "HT"): 0.5})
    with pytest.raises(InputError, match="positive semi-definite"):
        Covariates(A=Uniform(0, 1), B=Uniform(0, 1), C=Uniform(0, 1), correlation={("A", "B"): 0.9, ("A", "C"): 0.9, ("B", "C"): -0.9})
    with pytest.raises(InputError, match="needs 'SCR'"):
        Covariates(WT=LogNormal(70, cv=0.2), AGE=Uniform(18, 80), SEX=Bernoulli(0.5), CRCL=CockcroftGault())
    with pytest.raises(InputError, match="additive -0.7"):
        Residual(additive=-0.7)
    with pytest.raises(InputError, match="cannot be combined"):
        Residual(additive=0.1, exponential=0.2)
    with pytest.raises(InputError, match="n_occasions"):
        IOV({"CL": 0.1}, n_occasions=0)


def test_an_omega_that_looks_like_a_cv_percent_is_refused_and_cv_is_accepted():
    m = vh.load_model("pharmacokinetics/one_compartment_oral")
    with pytest.raises(vh.InputError, match=r"omega of 'CL' is 30, the variance .* Give cv=\{'CL': 0.3\} for a CV of 30 %"):
        vh.Population(m, omega={"CL": 30})
    with pytest.raises(vh.InputError, match=r"omega of 'V' is 9"):
        vh.Population(m, omega=vh.Omega(blocks=[(("CL", "V"), [[0.1, 0.0], [0.0, 9.0]])]))
    with pytest.raises(vh.InputError, match=r"cv of 'CL' is 30: a CV is given as a fraction"):
        vh.Population(m, cv={"CL": 30})
    with pytest.raises(vh.InputError, match="has both an omega and a cv"):
        vh.Population(m, omega={"CL": 0.1}, cv={"CL": 0.3})
    pop = vh.Population(m, typical={"CL": 2.0}, cv={"CL": 0.3, "V": 0.2}, distribution={"V": "normal"})
    assert pop.omega.diagonal["CL"] == pytest.approx(np.log1p(0.09))
    assert pop.omega.diagonal["V"] == pytest.approx((0.2 * m.default_parameters()["V"]) ** 2)
    draw = pop.sample(n=200_000, seed=3)
    cl = draw["CL"].values
    assert np.std(cl) / np.mean(cl) == pytest.approx(0.3, rel=0.02)  # the CV asked for, on the natural scale
    assert vh.Population(m, omega={"CL": 16.0}, distribution={"CL": "normal"}).omega.diagonal["CL"] == 16.0  # a natural-scale variance
