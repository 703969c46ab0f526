"""The integration loop against its own earlier results (``tests/data/loop_reference.npz``, see the README there):
a restructured loop must take the same steps and give the same values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "loop_reference.npz"


@pytest.mark.parametrize("precision, solver", [("float64", "tsit5"), ("float64", "rodas4"), ("float32", "tsit5")])
def test_same_steps_and_values_as_before(precision, solver):
    ref = np.load(REFERENCE)
    rng = np.random.default_rng(0)
    typical = dict(ka=1.0, CL=5.0, V1=50.0, Q=10.0, V2=100.0)
    params = {k: (v * np.exp(rng.normal(0.0, 0.3, 500)))[:64] for k, v in typical.items()}
    reg = vh.Regimen.repeated(amount=100.0, interval=12.0, count=14, into="depot")
    m = vh.load_model("pharmacokinetics/two_compartment_oral")
    ds = vh.simulate(m, params, times=np.arange(169.0), protocol=reg, solver=solver, precision=precision)
    key = f"{precision}_{solver}"
    for name in ("n_steps", "n_rejected", "status"):
        np.testing.assert_array_equal(ds[name].values, ref[f"{key}_{name}"], err_msg=name)
    rtol = 1e-12 if precision == "float64" else 1e-6
    np.testing.assert_allclose(ds["Cc"].values, ref[f"{key}_Cc"], rtol=rtol, atol=0)
