"""Compile once: new doses, sample times, patients, datasets and twins within a bucket compile nothing
(vh.compilation_count), a new bucket does, and a second process loads the programs from the persistent cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh
from vhtwin.engine import buckets

pytestmark = pytest.mark.slow

ORAL = vh.load_model("pharmacokinetics/two_compartment_oral")
P = {"ka": np.array([1.0, 0.8, 1.3]), "CL": np.array([5.0, 4.0, 6.0]), "V1": 50.0, "Q": 10.0, "V2": 100.0}


def compiles(call) -> int:
    before = vh.compilation_count()
    call()
    return vh.compilation_count() - before


@pytest.mark.parametrize("solver", ["tsit5", "exact"])
def test_new_doses_times_and_patients_within_a_bucket_compile_nothing(solver):
    """Designs of 1 to 16 doses and 1 to 16 samples share a bucket."""
    vh.simulate(ORAL, P, times=np.arange(0.0, 25.0, 2.0), solver=solver,
                protocol=vh.Regimen.repeated(100.0, 12.0, 2, into="depot"))
    designs = [
        (np.arange(0.0, 31.0, 2.0), vh.Regimen.repeated(250.0, 8.0, 4, into="depot")),  # other amounts, times, counts
        (np.array([0.5, 1.0, 2.0, 7.5, 19.0]), vh.Regimen.bolus(80.0, into="depot", at=0.25)),  # sparse sampling
        (np.tile(np.arange(0.0, 20.0, 2.0), (3, 1)) + np.array([[0.0], [0.1], [0.3]]),  # each patient its own times
         vh.Regimen.repeated(100.0, 12.0, 2, into="depot")),
    ]
    for times, protocol in designs:
        params = {k: v * 1.1 if np.ndim(v) else v for k, v in P.items()}  # new patients too
        if times.ndim == 2:  # per-patient times are another layout: its first call compiles, its next do not
            vh.simulate(ORAL, P, times=times, protocol=protocol, solver=solver)
            times = times + 0.05
        assert compiles(lambda: vh.simulate(ORAL, params, times=times, protocol=protocol, solver=solver)) == 0, times


def test_a_new_bucket_compiles_once_and_only_once():
    times = np.arange(0.0, 600.0)  # 600 outputs: a bucket no other test uses
    reg = vh.Regimen.bolus(100.0, into="depot")
    assert compiles(lambda: vh.simulate(ORAL, P, times=times, protocol=reg, solver="tsit5")) == 1
    assert compiles(lambda: vh.simulate(ORAL, P, times=times[:590] * 1.5, protocol=reg, solver="tsit5")) == 0


def test_datasets_of_the_same_buckets_compile_nothing():
    def dataset(seed: int, n: int) -> vh.Dataset:
        rng = np.random.default_rng(seed)
        rows = []
        for i in range(1, n + 1):
            rows.append((i, 0.0, rng.uniform(50, 150), 1, 1))
            rows += [(i, t, 0.0, 0, 2) for t in np.sort(rng.uniform(0.25, 24.0, rng.integers(3, 9)))]
        return vh.read_dataset(pd.DataFrame(rows, columns=["ID", "TIME", "AMT", "EVID", "CMT"]), ORAL)

    p = lambda n: {"ka": 1.0, "CL": np.linspace(3, 6, n), "V1": 50.0, "Q": 10.0, "V2": 100.0}
    vh.simulate(ORAL, p(30), data=dataset(0, 30))
    for seed, n in ((1, 30), (2, 29), (3, 32)):  # other subjects, designs and sizes: the same buckets (29-32)
        assert compiles(lambda: vh.simulate(ORAL, p(n), data=dataset(seed, n))) == 0, (seed, n)


def test_a_new_theophylline_twin_compiles_nothing(tmp_path):
    oral = vh.load_model("pharmacokinetics/one_compartment_oral")
    pop = vh.Population(oral, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018},
                        residual=vh.Residual(additive=0.7))
    data = pd.read_csv("tests/data/theoph.csv")
    twins = []
    for subject in (1, 2, 3):
        s = data[data["subject"] == subject]
        samples = s if subject != 3 else s.iloc[::2]  # another sampling design
        dose = float(s["dose_mg_per_kg"].iloc[0] * s["weight_kg"].iloc[0])
        reg = vh.Regimen.bolus(dose, into="depot") if subject != 2 else vh.Regimen.repeated(dose / 2, 1.0, 2, into="depot")
        n = compiles(lambda: twins.append(vh.calibrate(oral, {"time": samples["time_h"], "value": samples["conc_mg_per_L"], "unit": "mg/L"},
                                                       prior=pop, protocol=reg)))
        if subject > 1:
            assert n == 0, subject
    assert all(t.converged for t in twins)
    assert len({round(float(t.params["CL"]), 6) for t in twins}) == 3  # each fitted to its own data


def test_bucket_sizes():
    assert [buckets.lane_bucket(n) for n in (1, 2, 3, 16, 17, 100, 1000)] == [1, 2, 4, 16, 20, 112, 1040]
    # per-device widths that are multiples of 256 are staggered (cache aliasing), others kept
    assert buckets.lane_bucket(10000, 2) == 2 * 5136 and buckets.lane_bucket(700) == 784 and buckets.lane_bucket(600) == 640
    assert [buckets.event_rows(n) for n in (1, 16, 17)] == [16, 16, 32]
    assert [buckets.output_times(n) for n in (1, 16, 17, 169)] == [16, 16, 20, 192]
    assert buckets.step_lengths(2) == 16 and buckets.step_lengths(17) == 32


SCRIPT = textwrap.dedent("""
    import json, numpy as np, vhtwin as vh
    m = vh.load_model("pharmacokinetics/two_compartment_oral")
    vh.simulate(m, {"CL": np.linspace(3, 6, 50)}, times=np.arange(0.0, 49.0), solver="tsit5",
                protocol=vh.Regimen.repeated(100.0, 12.0, 4, into="depot"))
    from vhtwin.engine import cache_loads, compilation_seconds
    print(json.dumps({"compiled": vh.compilation_count(), "loaded": cache_loads(), "seconds": compilation_seconds()}))
""")


def run_script(env) -> dict:
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_its_programs_from_the_persistent_cache(tmp_path):
    env = {**os.environ, "VHTWIN_CACHE_DIR": str(tmp_path / "cache"), "JAX_NUM_CPU_DEVICES": "1"}
    first = run_script(env)
    assert first["compiled"] >= 1 and first["loaded"] == 0 and any((tmp_path / "cache").iterdir())
    second = run_script(env)
    # the solve comes from the cache; only programs too quick to be worth caching (under 0.2 s each) compile again
    assert second["loaded"] >= 1 and second["compiled"] == first["compiled"] - second["loaded"]
    assert second["seconds"] < 0.2 * max(second["compiled"], 1) < first["seconds"]
    off = run_script({**env, "VHTWIN_CACHE_DIR": "off"})
    assert off["compiled"] == first["compiled"] and off["loaded"] == 0
