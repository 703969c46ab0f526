"""A small two-arm trial shared by the trial tests and the subprocess a kill test starts (importable from the
repository root as ``tests.trial.trial_fixture``)."""

from __future__ import annotations

import sys

import numpy as np

import vhtwin as vh


def make_trial(n_per_arm: int = 600, **overrides) -> vh.Trial:
    m = vh.load_model("pharmacokinetics/one_compartment_oral")
    pop = vh.Population(m, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018},
                        residual=vh.Residual(additive=0.7))
    spec = dict(
        model=m, population=pop, n_per_arm=n_per_arm, times=np.arange(0.0, 73.0, 2.0), outputs=["Cc"], seed=1,
        solver="tsit5",  # the ODE path: per-patient steps and statuses are stored too
        arms={"100 mg q12h": vh.Regimen.repeated(amount=100.0, interval=12.0, count=6, into="depot"),
              "200 mg q24h": vh.Regimen.repeated(amount=200.0, interval=24.0, count=3, into="depot")},
    )
    spec.update(overrides)
    return vh.Trial(**spec)


if __name__ == "__main__":  # python -m tests.trial.trial_fixture STORE BATCH_SIZE: a run a test may kill (and resume)
    make_trial().run(sys.argv[1], batch_size=int(sys.argv[2]), resume=True, progress=False, take_over=True)
