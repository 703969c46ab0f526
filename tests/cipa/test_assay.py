"""The CiPA assay run: ORd-CiPA cells paced at 2000 ms with a drug's block (one lane per concentration and sample).

The FDA protocol is 1000 beats from the control steady state; these tests pace fewer (the drug's block then builds
for fewer beats: dofetilide's hERG block is near its steady state after about 100 beats at these concentrations)
and check what must hold at any length. The full protocol for the 28 drugs is benchmarks/cipa.py --table.
"""

from __future__ import annotations

import numpy as np
import pytest

from vhtwin import cipa

pytestmark = pytest.mark.slow


def test_dofetilide_prolongs_the_action_potential_with_concentration_and_triggers_eads_at_high_multiples():
    ds = cipa.torsade_metric("dofetilide", cmax_multiples=(0, 1, 4, 10, 40), beats=150, analysed=10, batch=5)
    assert (ds["status"].values == 0).all()
    apd = ds["APD90"].values
    low = ds["cmax_multiple"].values <= 10
    # APD90 grows with concentration while the cell still repolarises normally
    assert np.all(np.diff(apd[low]) > 0.0), apd
    assert apd[0] == pytest.approx(289.2, abs=0.5)  # the control lane: the model's steady state
    # qNet falls (less outward charge) as block grows
    assert np.all(np.diff(ds["qNet"].values[low]) < 0.0)
    assert not ds["EAD"].values[:3].any()
    assert ds["EAD"].values[-1] and ds["n_EAD"].values[-1] >= 1


def test_a_sample_s_result_depends_on_the_drug_concentration_and_sample_only():
    """Sample 3 alone, and sample 3 in a batch with others (and other padding): the same numbers."""
    alone = cipa.torsade_metric("sotalol", cmax_multiples=(2,), samples=[3], beats=3, analysed=1, batch=4)
    batch = cipa.torsade_metric("sotalol", cmax_multiples=(1, 2), samples=[1, 3, 5], beats=3, analysed=1, batch=4)
    assert alone["qNet"].dims == ("concentration", "sample")
    for name in ("qNet", "APD90", "APD50"):
        a = float(alone[name].sel(sample=3).isel(concentration=0))
        b = float(batch[name].sel(sample=3).isel(concentration=1))
        assert a == b, name
    # and the samples differ from each other (they are the FDA's different bootstrap rows)
    assert len(set(batch["APD90"].isel(concentration=1).values.round(6))) == 3
