"""A trial stores, beside each prediction, an observation drawn from the population's residual error model, so that
bands compared with data (a VPC) include the measurement noise; deterministic in (seed, patient)."""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh

from .trial_fixture import make_trial

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def additive(tmp_path_factory):
    path = tmp_path_factory.mktemp("obs") / "t.zarr"
    return make_trial(n_per_arm=1000).run(path, batch_size=250, progress=False)  # residual: additive 0.7 mg/L


def test_observations_carry_the_residual_error_of_the_population(additive):
    cc, obs = additive["Cc"].values, additive["Cc_obs"].values
    assert additive["Cc_obs"].attrs["units"] == additive["Cc"].attrs["units"] == "mg L-1"
    eps = (obs - cc).ravel()
    assert abs(eps.mean()) < 0.01 and np.std(eps) == pytest.approx(0.7, rel=0.02)  # N(0, 0.7^2)
    # Noise independent of the prediction, and of time
    assert abs(np.corrcoef(eps, cc.ravel())[0, 1]) < 0.02


def test_observations_depend_on_seed_and_patient_only(additive, tmp_path):
    again = make_trial(n_per_arm=1000).run(tmp_path / "t.zarr", batch_size=300, progress=False)
    np.testing.assert_array_equal(again["Cc_obs"].values, additive["Cc_obs"].values)
    other = make_trial(n_per_arm=1000, seed=2).run(tmp_path / "s.zarr", batch_size=250, progress=False)
    assert not np.allclose(other["Cc_obs"].values - other["Cc"].values, additive["Cc_obs"].values - additive["Cc"].values)


def test_a_proportional_error_scales_with_the_prediction(tmp_path):
    m = vh.load_model("pharmacokinetics/one_compartment_oral")
    pop = vh.Population(m, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"CL": 0.073},
                        residual=vh.Residual(proportional=0.2))
    trial = make_trial(n_per_arm=500, population=pop)
    ds = trial.run(tmp_path / "p.zarr", batch_size=500, progress=False)
    cc, obs = ds["Cc"].values, ds["Cc_obs"].values
    positive = cc > 0.1
    ratio = obs[positive] / cc[positive] - 1.0
    assert np.std(ratio) == pytest.approx(0.2, rel=0.03)
    assert np.array_equal(obs[cc == 0.0], cc[cc == 0.0])  # no signal, no proportional noise


def test_without_a_residual_model_there_is_no_observation_variable(tmp_path):
    m = vh.load_model("pharmacokinetics/one_compartment_oral")
    trial = make_trial(n_per_arm=20, population=vh.Population(m, omega={"CL": 0.1}))
    ds = trial.run(tmp_path / "n.zarr", batch_size=20, progress=False)
    assert "Cc_obs" not in ds and "Cc" in ds


def test_bands_of_observations_are_wider_than_bands_of_predictions(additive):
    pred = vh.analysis.percentiles(additive, "Cc", q=(5, 95))
    obs = vh.analysis.percentiles(additive, "Cc_obs", q=(5, 95))
    width = lambda p: (p.sel(percentile=95) - p.sel(percentile=5)).values  # noqa: E731
    assert (width(obs)[:, 1:] > width(pred)[:, 1:]).all()


def test_the_observation_bands_are_plotted_from_the_command_line(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    path = tmp_path / "small.zarr"
    make_trial(n_per_arm=50).run(path, batch_size=50, progress=False)
    done = subprocess.run([sys.executable, "-m", "vhtwin", "plot", str(path), "--variable", "Cc_obs", "--out",
                           str(tmp_path / "fig")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root / "src")})
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["small_Cc_obs_bands.png"]
