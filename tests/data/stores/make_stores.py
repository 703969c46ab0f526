"""Write the small trial stores of this folder (the stored spec of format ``vhtwin-trial/1``).

Run from the repository root: ``python tests/data/stores/make_stores.py``. Each store is a trial from
``examples/`` cut down to a few patients and times, so that a later version can be checked to read it.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import vhtwin as vh
from vhtwin.trial.core import Trial

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[2] / "examples"

#: store name -> (example file, changes to its top-level keys)
STORES = {
    "two_arm_pk.store": ("two_arm_trial.toml", {"n_per_arm": 3, "times": {"start": 0.0, "stop": 24.0, "step": 6.0}}),
    "covariates_pk.store": ("covariate_trial.toml", {"n_per_arm": 3, "times": {"start": 0.0, "stop": 24.0, "step": 12.0}}),
    "paced_cells.store": ("paced_cells.toml", {"n_per_arm": 2, "times": {"start": 0.0, "stop": 990.0, "step": 330.0},
                                              "arms": [{"name": "1 Hz", "pacing": {"period": 1000.0, "duration": 1.0,
                                                                                   "count": 1}}]}),
}


def spec_of(name: str) -> dict:
    """The TOML document of store ``name``, as parsed (a dict)."""
    example, changes = STORES[name]
    with open(EXAMPLES / example, "rb") as f:
        return {**tomllib.load(f), **changes}


def main() -> None:
    from vhtwin.trial.toml_spec import parse_trial_toml

    for name in STORES:
        trial = Trial(**parse_trial_toml(spec_of(name), EXAMPLES))
        shutil.rmtree(HERE / name, ignore_errors=True)
        trial.run(HERE / name, batch_size=trial.n_per_arm, progress=False)
        print(name, vh.__version__)


if __name__ == "__main__":
    main()
