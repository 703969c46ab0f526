"""The CiPA drugs as data (the FDA's files, src/vhtwin/cipa/data), the per-beat metrics on traces whose answers are
known, and the risk score and classes -- no cell simulation here (tests/cipa/test_assay.py runs the cells)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import vhtwin as vh
from vhtwin import cipa
from vhtwin.cipa.beats import beat_metrics, keep_worst_beat

def test_the_28_drugs_with_their_published_classes_and_training_set():
    names = cipa.drugs()
    assert len(names) == 28 and len(set(names)) == 28 and "flecainide" not in names
    classes = pd.Series({n: cipa.drug(n).risk for n in names}).value_counts().to_dict()
    assert classes == {"high": 8, "intermediate": 11, "low": 9}
    training = [n for n in names if cipa.drug(n).training]
    assert sorted(training) == sorted(["quinidine", "bepridil", "dofetilide", "sotalol", "chlorpromazine", "cisapride",
                                       "terfenadine", "ondansetron", "diltiazem", "mexiletine", "ranolazine",
                                       "verapamil"])
    assert names[:12] == training  # training drugs first
    assert vh.cipa.drugs() == names  # reachable as vh.cipa


def test_a_drug_is_its_rows_of_the_fda_files():
    d = cipa.drug("Dofetilide")
    assert (d.cmax, d.risk, d.training) == (2.0, "high", True)
    # newCiPA.csv: CaL 1.16/260.32, Ito 0.77/18.82, IK1 0.77/394.26, IKs none, Late_sodium 0.26/753160.41,
    # Peak_sodium 0.89/380.5; pars.txt: Kmax 35.1, Ku 1.816e-05, n 1.08, halfmax 216.6, Vhalf -1
    assert d.hill == {"ICaL": (260.32, 1.16), "Ito": (18.82, 0.77), "IK1": (394.26, 0.77), "INaL": (753160.41, 0.26),
                      "INa": (380.5, 0.89)}
    assert d.herg == {"Kmax": 35.1, "Ku": 1.816e-05, "n": 1.08, "halfmax": 216.6, "Vhalf": -1.0}
    p = d.parameters([2.0, 8.0], [0, 1])
    np.testing.assert_array_equal(p["D"], [2.0, 8.0])
    assert p["Kmax"][0] == 35.1 and p["IC50_IKs"][0] == 1e30
    # sample 1: the first row of boot_pars.csv (33.18, 1.46e-05, 1.057, 181.9, -1.13) and of IC50_samples.csv
    assert (p["Kmax"][1], p["Ku"][1], p["n"][1], p["halfmax"][1], p["Vhalf"][1]) == (33.18, 1.46e-05, 1.057, 181.9, -1.13)
    assert (p["IC50_ICaL"][1], p["h_ICaL"][1]) == (29060000.0, 0.5139)
    assert p["IC50_IKs"][1] == 1e30  # NA in the MCMC file: no block
    assert all(cipa.drug(n).hill_uncertainty for n in cipa.drugs())
    # a validation drug: sample 7 is row 7 of vhtwin's MCMC of its Hill block (data/hill_block_samples_validation.csv.gz)
    ibutilide = cipa.drug("ibutilide").parameters(100.0, [0, 7])
    assert ibutilide["IC50_ICaL"][0] == 38663.0  # the optimal fit
    assert (ibutilide["IC50_ICaL"][1], ibutilide["h_ICaL"][1]) == (48700.0, 0.7097)
    assert ibutilide["IC50_Ito"][1] == 1e30  # no block measured: no block in every sample
    assert ibutilide["Kmax"][0] != ibutilide["Kmax"][1]


@pytest.mark.parametrize("call, message", [
    (lambda: cipa.drug("aspirin"), "drug 'aspirin' is not one of the 28 CiPA drugs"),
    (lambda: cipa.drug("dofetilide").parameters(1.0, 2001), "sample 2001 must be whole numbers from 0"),
    (lambda: cipa.drug("dofetilide").parameters(-1.0), "concentration -1.0 must be finite and >= 0 nM"),
    (lambda: cipa.torsade_metric("dofetilide", samples=2001), "samples 2001 must be from 0 to 2000"),
    (lambda: cipa.torsade_metric("dofetilide", cmax_multiples=(-1,)), "cmax_multiples (-1,) must be"),
    (lambda: cipa.run_assay({"D": 1.0}, beats=5, analysed=6), "analysed 6 must be at most beats (5)"),
    (lambda: cipa.run_assay({"Dose": 1.0}, beats=5, analysed=1), "params ['Dose'] are not parameters"),
    (lambda: cipa.fit_thresholds([0.05, 0.06], ["high", "medium"]), "classes ['medium'] are not risk classes"),
])
def test_bad_input_is_refused_before_any_compute(call, message):
    with pytest.raises(vh.InputError) as err:
        call()
    assert message in str(err.value)


def _action_potential(t, apd=300.0, rest=-88.0, peak=40.0, ead_at=None):
    """A trace with a known shape: an upstroke from 1 to 2 ms steepest at its end, a plateau falling 20 mV, and a
    linear repolarisation from ``apd - 100`` to ``apd + 10`` ms."""
    v = np.full_like(t, rest)
    up = (t >= 1.0) & (t < 2.0)
    v[up] = rest + (peak - rest) * (t[up] - 1.0) ** 2
    plateau = (t >= 2.0) & (t < apd - 100.0)
    v[plateau] = peak - 20.0 * (t[plateau] - 2.0) / (apd - 102.0)
    fall = (t >= apd - 100.0) & (t < apd + 10.0)
    v[fall] = (peak - 20.0) + (rest - peak + 20.0) * (t[fall] - apd + 100.0) / 110.0
    if ead_at is not None:  # a 5 mV rise during repolarisation
        bump = (t >= ead_at) & (t < ead_at + 10.0)
        v[bump] += 5.0 * np.sin(np.pi * (t[bump] - ead_at) / 10.0)
    return v


def test_beat_metrics_on_traces_with_known_answers():
    t = np.concatenate([np.arange(0.0, 10.0, 0.1), np.arange(10.0, 2000.0, 1.0), [2000.0]])
    plain = _action_potential(t)
    ead = _action_potential(t, ead_at=260.0)
    flat = np.full_like(t, -88.0)
    v = np.stack([plain, ead, flat])
    q = np.stack([np.linspace(0.0, 0.07, t.size)] * 3)
    m = beat_metrics(t, v, q)
    # 90 % repolarisation of the 128 mV amplitude is -75.2 mV, on the final fall from 20 mV (t = 200) to -88 mV
    # (t = 310); the upstroke is the midpoint of the steepest interval, 1.9-2.0 ms
    t90 = 200.0 + 110.0 * (20.0 - (-88.0 + 0.1 * 128.0)) / 108.0
    assert m["APD90"][0] == pytest.approx(t90 - 1.95, abs=1e-9)
    t50 = 200.0 + 110.0 * (20.0 - (-88.0 + 0.5 * 128.0)) / 108.0
    assert m["APD50"][0] == pytest.approx(t50 - 1.95, abs=1e-9)
    assert m["depolarised"].tolist() == [True, True, False]
    assert m["EAD"].tolist() == [False, True, False]
    assert m["repolarised"].tolist() == [True, True, False]
    np.testing.assert_allclose(m["qNet"], 0.07)
    kept = keep_worst_beat({k: x[None, :] for k, x in m.items()})
    assert kept["n_EAD"][0] == 1 and kept["EAD"][0] and kept["n_not_depolarised"][0] == 1
    assert kept["APD90"][0] == m["APD90"][1]  # the EAD beat is the one kept


def _result(qnet, ead=None, multiples=(1, 2, 3, 4)):
    qnet = np.asarray(qnet, float)
    ead = np.zeros(qnet.shape, bool) if ead is None else np.asarray(ead)
    return xr.Dataset({"qNet": ("concentration", qnet), "EAD": ("concentration", ead)},
                      coords={"cmax_multiple": ("concentration", np.asarray(multiples, float))})


def test_the_torsade_metric_score_and_the_classes():
    assert float(cipa.torsade_metric_score(_result([0.07, 0.068, 0.066, 0.064]))) == pytest.approx(0.067)
    assert str(cipa.classify(_result([0.08, 0.08, 0.07, 0.07])).values) == "low"
    assert str(cipa.classify(_result([0.065, 0.064, 0.063, 0.062])).values) == "intermediate"
    assert str(cipa.classify(_result([0.05, 0.05, 0.05, 0.05])).values) == "high"
    # an EAD at one of the four concentrations: high, and the TMS leaves that concentration out
    with_ead = _result([0.08, 0.08, 0.08, 0.01], ead=[False, False, False, True])
    assert str(cipa.classify(with_ead).values) == "high"
    assert float(cipa.torsade_metric_score(with_ead)) == pytest.approx(0.08)
    with pytest.raises(vh.InputError, match=r"needs cmax_multiples 1, 2, 3 and 4; \[4.0\] are missing"):
        cipa.torsade_metric_score(_result([0.07, 0.07, 0.07], multiples=(1, 2, 3)))


def test_ordinal_logistic_regression_recovers_the_thresholds_it_was_drawn_from():
    rng = np.random.default_rng(1)
    tms = rng.uniform(0.04, 0.09, 6000)
    high, low, slope = 0.058, 0.069, -900.0  # per uC/uF
    p_at_least_intermediate = 1.0 / (1.0 + np.exp(-slope * (tms - low)))
    p_high = 1.0 / (1.0 + np.exp(-slope * (tms - high)))
    u = rng.uniform(size=tms.size)
    classes = np.where(u < p_high, "high", np.where(u < p_at_least_intermediate, "intermediate", "low"))
    fitted = cipa.fit_thresholds(tms, classes)
    assert fitted["high"] == pytest.approx(high, abs=5e-4) and fitted["low"] == pytest.approx(low, abs=5e-4)
