"""The CiPA assay run: ORd-CiPA cells paced at 2000 ms with a drug's block (one lane per concentration and sample).

The FDA protocol is 1000 beats from the control steady state; these tests pace fewer (the drug's block then builds
for fewer beats) and check what must hold at any length. The full protocol for the 28 drugs is benchmarks/cipa.py --table.
"""

from __future__ import annotations

import numpy as np
import pytest

import vhtwin as vh
from vhtwin import cipa

pytestmark = pytest.mark.slow


def test_block_prolongs_the_action_potential_and_quinidine_triggers_eads_at_3_and_4_x_cmax():
    """One batch of two drugs, 40 beats from the control steady state, the last 2 analysed. Dofetilide (0-25 x
    Cmax): APD90 grows and qNet falls with concentration, no EAD (in the full protocol it has none up to 300 x:
    its ICaL block grows with concentration too; benchmarks/results/cipa-table.json and the guide). Quinidine: the
    same trend at 1-3 x, and EADs at 3 and 4 x, where the full protocol has them too."""
    dofetilide, quinidine = cipa.drug("dofetilide"), cipa.drug("quinidine")
    d_multiples, q_multiples = np.array([0.0, 1.0, 4.0, 10.0, 25.0]), np.array([1.0, 2.0, 3.0, 4.0])
    lanes = [dofetilide.parameters(d_multiples * dofetilide.cmax), quinidine.parameters(q_multiples * quinidine.cmax)]
    params = {k: np.concatenate([p[k] for p in lanes]) for k in lanes[0]}
    out = cipa.run_assay(params, beats=40, analysed=2, batch=9)
    assert (out["status"].values == 0).all()
    d, q = out.isel(lane=slice(0, 5)), out.isel(lane=slice(5, 9))
    assert float(d["APD90"][0]) == pytest.approx(289.2, abs=0.5)  # the control lane: the model's steady state
    assert np.all(np.diff(d["APD90"].values) > 1.0), d["APD90"].values
    assert np.all(np.diff(d["qNet"].values) < 0.0)
    assert not d["EAD"].values.any()
    assert np.all(np.diff(q["APD90"].values[:3]) > 1.0)
    assert q["EAD"].values.tolist() == [False, False, True, True]
    assert (q["n_EAD"].values[2:] >= 1).all()


def test_a_sample_s_result_depends_on_the_drug_concentration_and_sample_only():
    """The same lanes in different slices of a nine-lane batch (beside padding copies, or beside other lanes): the
    same numbers (to the last bits the compiled vector code may change); another drug compiles nothing. Two beats,
    both analysed, in batches of nine: the program of the test above."""
    sotalol = cipa.drug("sotalol")
    samples = np.arange(1, 13)
    params = sotalol.parameters(np.where(samples % 2, 1.0, 2.0) * sotalol.cmax, samples)
    first = cipa.run_assay(params, beats=2, analysed=2, batch=9)  # slices (1 .. 9) and (10 .. 12, 6 padding)
    order = np.roll(np.arange(12), 5)  # 8 .. 12 with 1 .. 4, then 5 .. 7 with padding
    second = cipa.run_assay({k: v[order] for k, v in params.items()}, beats=2, analysed=2, batch=9)
    for name in ("qNet", "APD90", "APD50"):
        np.testing.assert_allclose(second[name].values, first[name].values[order], rtol=1e-12, atol=0.0, err_msg=name)
    # the samples differ from each other (they are the FDA's different bootstrap and MCMC rows)
    assert len(set(first["APD90"].values.round(6))) == 12
    # a sample through torsade_metric is the same lane
    one = cipa.torsade_metric("sotalol", cmax_multiples=(2.0, 1.0), samples=[2, 3, 4, 5, 6], beats=2, analysed=2,
                              batch=9)  # ten lanes: slices of nine, as above (fewer lanes would be a narrower program)
    assert float(one["qNet"].sel(sample=4).isel(concentration=0)) == pytest.approx(float(first["qNet"][3]), rel=1e-12)
    # another drug, sample and concentration is data: nothing compiles again
    before = vh.compilation_count()
    other = cipa.torsade_metric("dofetilide", cmax_multiples=(4.0, 1.0), samples=[7, 8, 9, 10, 11], beats=2,
                                analysed=2, batch=9)
    assert vh.compilation_count() == before and int(other["status"].values.max()) == 0
