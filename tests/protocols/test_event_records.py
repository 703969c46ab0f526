"""NONMEM-style event records (vhtwin.protocols.event_records.read_events) -> regimens, output times and simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh
from vhtwin.protocols.event_records import read_events
from vhtwin.testing.pharmacokinetics import one_compartment_iv_central as iv_central
from vhtwin.testing.pharmacokinetics import one_compartment_oral_central as oral_central

pytestmark = pytest.mark.slow

ORAL = vh.load_model("pharmacokinetics/one_compartment_oral")
IV = vh.load_model("pharmacokinetics/one_compartment_iv")
P_ORAL = {"ka": 1.2, "CL": 4.0, "V": 40.0}
P_IV = {"CL": 5.0, "V": 50.0}
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def records(rows, columns=("ID", "TIME", "AMT", "RATE", "DUR", "CMT", "II", "ADDL", "EVID")):
    return pd.DataFrame(rows, columns=list(columns))


def obs(pid, *times):
    return [(pid, t, 0, 0, 0, 2, 0, 0, 0) for t in times]


def dose_times(regimen):
    return [d.time for d in regimen.doses]


# -- (1) one oral bolus ------------------------------------------------------------------------------------------------
def test_oral_bolus_matches_closed_form():
    times = (0.5, 1.0, 2.0, 4.0, 8.0, 12.0)
    ev = read_events(records([(7, 0.0, 100, 0, 0, 1, 0, 0, 1), *obs(7, *times)]), ORAL)
    assert list(ev.ids) == [7] and len(ev) == 1
    assert ev.regimens[0].doses == (vh.Dose(0.0, 100.0, "depot"),)
    np.testing.assert_array_equal(ev.observation_times, [times])
    out = ev.simulate(ORAL, P_ORAL, **TIGHT)
    assert list(out["patient"].values) == [7]
    expected = oral_central(np.array(times), [0.0], [100.0], **P_ORAL)
    np.testing.assert_allclose(out["central"].sel(patient=7), expected, rtol=1e-6)
    np.testing.assert_allclose(out["Cc"].sel(patient=7), expected / P_ORAL["V"], rtol=1e-6)


# -- (2) ADDL / II -----------------------------------------------------------------------------------------------------
def test_addl_expands_and_matches_superposition():
    times = (1.0, 6.0, 13.0, 25.0, 37.0, 48.0)
    ev = read_events(records([(1, 0.0, 100, 0, 0, 1, 12, 3, 1), *obs(1, *times)]), ORAL)
    reg = ev.regimens[0]
    assert dose_times(reg) == [0.0, 12.0, 24.0, 36.0]
    assert [d.amount for d in reg.doses] == [100.0] * 4
    assert {d.into for d in reg.doses} == {"depot"} and {d.duration for d in reg.doses} == {0.0}
    out = ev.simulate(ORAL, P_ORAL, **TIGHT)
    expected = oral_central(np.array(times), [0.0, 12.0, 24.0, 36.0], [100.0] * 4, **P_ORAL)
    np.testing.assert_allclose(out["central"].values[0], expected, rtol=1e-6)


def test_ii_without_addl_is_ignored_and_evid_defaults_from_amt():
    frame = pd.DataFrame({"id": [1, 1, 1], "time": [0.0, 1.0, 2.0], "amt": [50.0, 0.0, 0.0], "ii": [24.0, 0, 0], "cmt": [1, ".", "."]})
    ev = read_events(frame, ORAL)  # lower-case names, no EVID column: dose where AMT > 0
    assert dose_times(ev.regimens[0]) == [0.0]
    np.testing.assert_array_equal(ev.observation_times, [[1.0, 2.0]])


# -- (3) infusions by RATE and by DUR (CSV path input) ---------------------------------------------------------------
def test_rate_and_dur_infusions_match_closed_form(tmp_path):
    times = (1.0, 2.0, 5.0, 12.25, 13.0, 24.0)
    frame = records([
        (1, 0.0, 200, 100, 0, 1, 0, 0, 1),  # 200 at 100/h: 2 h
        *[(1, t, ".", ".", ".", ".", ".", ".", 0) for t in times[:3]],
        (1, 12.0, 100, 0, 0.5, 1, 0, 0, 1),  # 100 over 0.5 h
        *[(1, t, ".", ".", ".", ".", ".", ".", 0) for t in times[3:]],
    ])
    path = tmp_path / "iv.csv"
    frame.to_csv(path, index=False)
    ev = read_events(path, IV)
    assert [(d.time, d.amount, d.into, d.duration) for d in ev.regimens[0].doses] == [(0.0, 200.0, "central", 2.0), (12.0, 100.0, "central", 0.5)]
    out = ev.simulate(IV, P_IV, **TIGHT)
    expected = iv_central(np.array(times), [], [], infusions=[(0.0, 2.0, 200.0), (12.0, 0.5, 100.0)], **P_IV)
    np.testing.assert_allclose(out["central"].values[0], expected, rtol=1e-6)


# -- (4) CMT by number, by name, and the compartments= override ----------------------------------------------------
def test_cmt_by_number_name_and_override(tmp_path):
    rows = [(1, 0.0, 10, 0, 0, 1, 0, 0, 1), (1, 1.0, 20, 0, 0, 2, 0, 0, 1), (1, 2.0, 30, 0, 0, "central", 0, 0, 1), (1, 3.0, 40, 0, 0, "depot", 0, 0, 1)]
    ev = read_events(records(rows), ORAL)
    assert [d.into for d in ev.regimens[0].doses] == ["depot", "central", "central", "depot"]
    path = tmp_path / "cmt.csv"
    records(rows).to_csv(path, index=False)  # a CSV mixes numbers and names in one column: read as text
    assert read_events(path, ORAL).regimens == ev.regimens
    swapped = read_events(records(rows), ORAL, compartments={1: "central", 2: "depot"})
    assert [d.into for d in swapped.regimens[0].doses] == ["central", "depot", "central", "depot"]
    with pytest.raises(vh.InputError, match=r"record 2 \(ID 1\): CMT 2 is out of range \(valid numbers \[1\]\)"):
        read_events(records(rows), ORAL, compartments={1: "central"})
    with pytest.raises(vh.InputError, match=r"compartments: 1 -> 'gut' is not a dosable state.*\['depot', 'central'\]"):
        read_events(records(rows), ORAL, compartments={1: "gut"})
    # a model with one dosable state takes doses without CMT
    assert read_events(pd.DataFrame({"ID": [1], "TIME": [0.0], "AMT": [5.0]}), IV).regimens[0].doses[0].into == "central"


# -- (5) two IDs, different schedules, one simulate call -------------------------------------------------------------
def test_two_ids_in_one_simulate_call():
    t1, t2 = (0.5, 2.0, 6.0, 12.0), (1.0, 6.0, 13.0, 25.0, 37.0, 48.0)
    frame = records([
        (101, 0.0, 100, 0, 0, 1, 0, 0, 1), *obs(101, *t1),
        (202, 0.0, 50, 0, 0, 1, 12, 3, 1), *obs(202, *t2[:3]),
        (202, 13.0, 0, 0, 0, 2, 0, 0, 2),  # EVID 2: accepted, no effect
        (202, 13.0, 0, 0, 0, 2, 0, 0, 0),  # duplicate observation time: kept once
        *obs(202, *t2[3:]),
    ])
    ev = read_events(frame, ORAL)
    assert list(ev.ids) == [101, 202]
    assert dose_times(ev.regimens[0]) == [0.0] and dose_times(ev.regimens[1]) == [0.0, 12.0, 24.0, 36.0]
    assert ev.observation_times.shape == (2, 6)
    np.testing.assert_array_equal(ev.observation_times[0, 4:], [np.nan, np.nan])
    np.testing.assert_array_equal(ev.observation_times[1], t2)
    assert ev.observation_rows[1][2] == [9, 11]  # rows 9 and 11 share t = 13 (row 10 is the EVID 2)
    params = {"ka": np.array([1.2, 0.8]), "CL": np.array([4.0, 6.0]), "V": np.array([40.0, 60.0])}
    out = ev.simulate(ORAL, params, **TIGHT)
    assert list(out["patient"].values) == [101, 202]
    e1 = oral_central(np.array(t1), [0.0], [100.0], 1.2, 4.0, 40.0)
    e2 = oral_central(np.array(t2), [0.0, 12.0, 24.0, 36.0], [50.0] * 4, 0.8, 6.0, 60.0)
    np.testing.assert_allclose(out["central"].sel(patient=101).values[:4], e1, rtol=1e-6)
    assert np.all(np.isnan(out["central"].sel(patient=101).values[4:]))
    np.testing.assert_allclose(out["central"].sel(patient=202).values, e2, rtol=1e-6)


def test_id_without_observations_needs_times():
    ev = read_events(records([(1, 0.0, 100, 0, 0, 1, 0, 0, 1), *obs(1, 1.0), (2, 0.0, 100, 0, 0, 1, 0, 0, 1)]), ORAL)
    assert ev.observation_times.shape == (2, 1) and np.isnan(ev.observation_times[1, 0])
    with pytest.raises(vh.InputError, match=r"ID 2 has no observation records"):
        ev.simulate(ORAL, P_ORAL)


# -- (6) errors name the record and the ID -----------------------------------------------------------------------------
D = (1, 0.0, 100, 0, 0, 1, 0, 0, 1)  # a valid first record


@pytest.mark.parametrize(
    "bad, match",
    [
        ((1, 1.0, -5, 0, 0, 1, 0, 0, 1), r"record 2 \(ID 1\): AMT -5 must be >= 0"),
        ((1, 1.0, 0, 10, 0, 1, 0, 0, 1), r"record 2 \(ID 1\): RATE 10 with AMT 0 is an infusion of zero duration"),
        ((1, 1.0, 10, 5, 2, 1, 0, 0, 1), r"record 2 \(ID 1\): RATE 5 and DUR 2 are both given"),
        ((1, 1.0, 10, -3, 0, 1, 0, 0, 1), r"record 2 \(ID 1\): RATE -3 must be >= 0"),
        ((1, 1.0, 10, 0, -1, 1, 0, 0, 1), r"record 2 \(ID 1\): DUR -1 must be >= 0"),
        ((1, 1.0, 10, 0, 0, 3, 0, 0, 1), r"record 2 \(ID 1\): CMT 3 is out of range .*dosable states are \['depot', 'central'\]"),
        ((1, 1.0, 10, 0, 0, "gut", 0, 0, 1), r"record 2 \(ID 1\): CMT 'gut' is not a state .*dosable states are \['depot', 'central'\]"),
        ((1, 1.0, 10, 0, 0, 1.5, 0, 0, 1), r"record 2 \(ID 1\): CMT 1.5 must be a whole compartment number"),
        ((1, 1.0, 10, 0, 0, 1, 0, 2, 1), r"record 2 \(ID 1\): ADDL 2 needs an interval II > 0"),
        ((1, 1.0, 10, 0, 0, 1, 12, 1.5, 1), r"record 2 \(ID 1\): ADDL 1.5 must be a whole number"),
        ((1, -1.0, 0, 0, 0, 1, 0, 0, 0), r"record 2 \(ID 1\): TIME -1 is before the previous record's TIME 0"),
        ((1, 1.0, "ten", 0, 0, 1, 0, 0, 1), r"record 2 \(ID 1\): AMT 'ten' is not a number"),
        ((1, "x", 0, 0, 0, 1, 0, 0, 0), r"record 2 \(ID 1\): TIME 'x' is not a number"),
        ((1, None, 0, 0, 0, 1, 0, 0, 0), r"record 2 \(ID 1\): TIME is missing"),
        ((1, 1.0, 5, 0, 0, 2, 0, 0, 0), r"record 2 \(ID 1\): an observation record \(EVID 0\) cannot carry AMT 5"),
        ((1, 1.0, 0, 0, 0, 1, 0, 0, 7), r"record 2 \(ID 1\): EVID 7 is not a valid event type"),
        ((None, 1.0, 0, 0, 0, 1, 0, 0, 0), r"record 2: ID is missing"),
    ],
)
def test_invalid_records_are_refused(bad, match):
    with pytest.raises(vh.InputError, match=match):
        read_events(records([D, bad]), ORAL)


def test_non_dosable_state_and_structure_errors():
    class Gut(vh.Model):
        time_unit = "h"
        states = (vh.State("lumen", "mg", dosable=True), vh.State("blood", "mg"))
        parameters = (vh.Parameter("k", 1.0, "h-1", positive=True),)

        def rhs(self, t, y, p):
            return {"lumen": -p.k * y.lumen, "blood": p.k * y.lumen}

    gut = Gut()
    for cmt, match in ((2, r"record 1 \(ID 3\): CMT 2 is state 'blood', which is not dosable; the dosable states are \['lumen'\]"),
                       ("blood", r"record 1 \(ID 3\): CMT 'blood' is a state that is not dosable .*\['lumen'\]")):
        with pytest.raises(vh.InputError, match=match):
            read_events(records([(3, 0.0, 10, 0, 0, cmt, 0, 0, 1)]), gut)
    with pytest.raises(vh.InputError, match=r"record 1 \(ID 1\): CMT is missing for a dose .*several dosable states"):
        read_events(pd.DataFrame({"ID": [1], "TIME": [0.0], "AMT": [5.0]}), ORAL)
    with pytest.raises(vh.InputError, match=r"record 3 \(ID 1\): ID 1 appears again after other IDs"):
        read_events(records([D, (2, 0.0, 100, 0, 0, 1, 0, 0, 1), D]), ORAL)
    with pytest.raises(vh.InputError, match=r"required column TIME is missing"):
        read_events(pd.DataFrame({"ID": [1], "AMT": [1.0]}), ORAL)
    with pytest.raises(vh.InputError, match=r"column AMT appears more than once"):
        read_events(pd.DataFrame([[1, 0.0, 1.0, 2.0]], columns=["ID", "TIME", "AMT", "amt"]), ORAL)


# -- (7) steady state, resets, modelled infusions, and what is refused --------------------------------------------
def oral_steady_state(t, amount, tau, ka, CL, V, F=1.0, lag=0.0):
    """Hand-derived: a one-compartment oral dose repeated every tau for ever, at time t after one dose (t in [0, tau)).

    Each dose contributes A (exp(-k s) - exp(-ka s)) at s after its (lagged) arrival, A = F D ka / (V (ka - k));
    summing the geometric series over all earlier doses gives the two 1 / (1 - exp(-x tau)) factors.
    """
    k = CL / V
    s = np.mod(t - lag, tau)  # time since the last dose that has arrived (lag may exceed tau)
    A = F * amount * ka / (V * (ka - k))
    return A * (np.exp(-k * s) / (1 - np.exp(-k * tau)) - np.exp(-ka * s) / (1 - np.exp(-ka * tau)))


def iv_infusion_steady_state(t, amount, tau, duration, CL, V):
    """Hand-derived: an infusion of ``amount`` over ``duration`` (<= tau) every tau for ever, at t in [0, tau)."""
    k, R = CL / V, amount / duration
    plateau = R / (k * V) * (1 - np.exp(-k * duration))  # concentration at the end of one infusion from zero
    earlier = plateau * np.exp(-k * (t - duration + tau)) / (1 - np.exp(-k * tau))  # the doses before this one
    now = np.where(t <= duration, R / (k * V) * (1 - np.exp(-k * t)), plateau * np.exp(-k * (t - duration)))
    return now + earlier


SS_COLUMNS = ("ID", "TIME", "AMT", "RATE", "DUR", "CMT", "II", "ADDL", "SS", "EVID")


@pytest.mark.parametrize("lag", [0.0, 0.75, 13.0])  # no lag, a lag, a lag longer than the interval
def test_steady_state_oral_dose_matches_hand_derived_closed_form(lag):
    times = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 11.5])
    rows = [(1, 0.0, 150, 0, 0, 1, 12, 0, 1, 1)] + [(1, t, 0, 0, 0, 2, 0, 0, 0, 0) for t in times]
    ev = read_events(records(rows, SS_COLUMNS), ORAL)
    p = {**P_ORAL, "F": 0.7, "ALAG": lag}
    for solver in ("auto", "tsit5"):
        out = ev.simulate(ORAL, p, solver=solver, **TIGHT)
        want = oral_steady_state(times, 150.0, 12.0, F=0.7, lag=lag, **P_ORAL)
        # the output at the steady-state dose time is the pre-dose steady state (the trough)
        np.testing.assert_allclose(out["Cc"].values[0], want, rtol=1e-7, err_msg=solver)


@pytest.mark.parametrize("duration", [2.0, 12.0])
def test_steady_state_infusion_matches_hand_derived_closed_form(duration):
    times = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 11.0])
    rows = [(1, 0.0, 500, 0, duration, 1, 12, 0, 1, 1)] + [(1, t, 0, 0, 0, 1, 0, 0, 0, 0) for t in times]
    out = read_events(records(rows, SS_COLUMNS), IV).simulate(IV, P_IV, **TIGHT)
    want = iv_infusion_steady_state(times, 500.0, 12.0, duration, **P_IV)
    np.testing.assert_allclose(out["Cc"].values[0], want, rtol=1e-7)


def test_steady_state_with_overlapping_infusions_equals_a_long_regimen():
    """Infusions of 30 h every 12 h overlap: at steady state 2-3 run at once. Reference: 60 doses from zero."""
    times = np.array([0.0, 1.0, 5.0, 11.0])
    rows = [(1, 0.0, 500, 0, 30, 1, 12, 2, 1, 1)] + [(1, t, 0, 0, 0, 1, 0, 0, 0, 0) for t in times]
    out = read_events(records(rows, SS_COLUMNS), IV).simulate(IV, P_IV, **TIGHT)
    long = [(1, -12.0 * k, 500, 0, 30, 1, 0, 0, 0, 1) for k in range(60, 0, -1)]
    rows_long = long + [(1, 0.0, 500, 0, 30, 1, 12, 2, 0, 1)] + [(1, t, 0, 0, 0, 1, 0, 0, 0, 0) for t in times]
    ref = read_events(records(rows_long, SS_COLUMNS), IV).simulate(IV, P_IV, **TIGHT)
    np.testing.assert_allclose(out["Cc"].values[0, 1:], ref["Cc"].values[0, 1:], rtol=1e-8)


def test_steady_state_record_with_addl_continues_the_regimen():
    """SS=1 with ADDL=2: the steady state at 0, then two more doses at 12 and 24 -- still at steady state."""
    times = np.array([0.0, 3.0, 12.0, 15.0, 24.0, 27.0])
    rows = [(1, 0.0, 150, 0, 0, 1, 12, 2, 1, 1)] + [(1, t, 0, 0, 0, 2, 0, 0, 0, 0) for t in times]
    out = read_events(records(rows, SS_COLUMNS), ORAL).simulate(ORAL, P_ORAL, **TIGHT)
    want = oral_steady_state(np.mod(times, 12.0), 150.0, 12.0, **P_ORAL)
    np.testing.assert_allclose(out["Cc"].values[0], want, rtol=1e-7)


def test_reset_returns_to_initial_state_and_stops_infusions():
    """EVID 3 at 6 h: the infusion running since 0 stops and the body is empty; EVID 4 at 10 h: reset + bolus."""
    rows = [
        (1, 0.0, 1000, 0, 12, 1, 0, 0, 0, 1),  # infusion over 12 h
        (1, 4.0, 0, 0, 0, 1, 0, 0, 0, 0),
        (1, 6.0, 0, 0, 0, 1, 0, 0, 0, 3),  # reset
        (1, 7.0, 0, 0, 0, 1, 0, 0, 0, 0),
        (1, 10.0, 200, 0, 0, 1, 0, 0, 0, 4),  # reset and dose
        (1, 10.0, 0, 0, 0, 1, 0, 0, 0, 0),
        (1, 13.0, 0, 0, 0, 1, 0, 0, 0, 0),
    ]
    ev = read_events(records(rows, SS_COLUMNS), IV)
    assert [r.time for r in ev.regimens[0].resets] == [6.0, 10.0]
    out = ev.simulate(IV, P_IV, **TIGHT)["Cc"].values[0]
    k, R = 5.0 / 50.0, 1000.0 / 12.0
    assert out[0] == pytest.approx(R / (k * 50.0) * (1 - np.exp(-k * 4.0)), rel=1e-8)
    assert out[1] == 0.0  # after the reset: nothing left and nothing infused
    assert out[2] == pytest.approx(0.0, abs=1e-12)  # the left limit at 10 h: still empty
    assert out[3] == pytest.approx(200.0 / 50.0 * np.exp(-k * 3.0), rel=1e-8)


def test_reset_returns_to_parameter_dependent_initial_value():
    """An indirect-response model starts at kin/kout; after a reset it is back there, whatever the drug did."""
    pkpd = vh.link(IV, vh.load_model("pharmacokinetics/pd_indirect_response_1"), concentration="Cc")
    names = pkpd.state_names
    response = [s for s in names if s not in ("central",)][0]
    p = {"kin": 10.0, "kout": 0.5, "IC50": 1.0, "Imax": 0.9}
    rows = [(1, 0.0, 500, 0, 0, 1, 0, 0, 0, 1), (1, 5.0, 0, 0, 0, 1, 0, 0, 0, 3), (1, 5.0, 0, 0, 0, 1, 0, 0, 0, 0),
            (1, 5.5, 0, 0, 0, 1, 0, 0, 0, 0)]
    out = read_events(records(rows, SS_COLUMNS), pkpd).simulate(pkpd, {**P_IV, **p}, **TIGHT)
    assert out[response].values[0, 0] < 19.0  # the drug has lowered the response below its baseline 20 by 5 h
    assert out[response].values[0, 1] == pytest.approx(20.0, rel=1e-9)  # reset to kin/kout, held with no drug


def test_modelled_rate_and_duration_follow_nonmem_semantics():
    """RATE -2: duration from the model's D1; RATE -1: rate from R1, so duration = F * AMT / R1."""

    class IVWithModelledInfusion(vh.Model):
        time_unit = "h"
        states = (vh.State("central", "mg", dosable=True, bioavailability="F1", rate="R1", duration="D1"),)
        parameters = (
            vh.Parameter("CL", 5.0, "L h-1", positive=True), vh.Parameter("V", 50.0, "L", positive=True),
            vh.Parameter("F1", 1.0, "1", lower=0.0), vh.Parameter("R1", 100.0, "mg h-1", positive=True),
            vh.Parameter("D1", 2.0, "h", positive=True),
        )
        observed = (vh.Observable("Cc", "mg L-1"),)

        def rhs(self, t, y, p):
            return {"central": -p.CL / p.V * y.central}

        def observables(self, t, y, p):
            return {"Cc": y.central / p.V}

    m = IVWithModelledInfusion()
    times = np.array([1.0, 3.0, 5.0, 9.0])
    for rate, p, duration in ((-2, {"D1": np.array([2.0, 4.0])}, [2.0, 4.0]),
                              (-1, {"R1": np.array([100.0, 50.0]), "F1": 0.8}, [0.8 * 400 / 100.0, 0.8 * 400 / 50.0])):
        rows = [r for i in (1, 2) for r in ([(i, 0.0, 400, rate, 0, 1, 0, 0, 0, 1)] + [(i, t, 0, 0, 0, 1, 0, 0, 0, 0) for t in times])]
        out = read_events(records(rows, SS_COLUMNS), m).simulate(m, p, **TIGHT)
        F = p.get("F1", 1.0)
        for b in range(2):
            want = iv_central(times, [], [], 5.0, 50.0, infusions=[(0.0, duration[b], 400.0 * F)]) / 50.0
            np.testing.assert_allclose(out["Cc"].values[b], want, rtol=1e-8, err_msg=f"RATE {rate}, patient {b}")
    with pytest.raises(vh.InputError, match=r"record 1 \(ID 1\): RATE -2 takes the infusion duration from the model, but state 'central' of .* declares no duration parameter"):
        read_events(records([(1, 0.0, 400, -2, 0, 1, 0, 0, 0, 1)], SS_COLUMNS), IV)


@pytest.mark.parametrize(
    "column, value, match",
    [
        ("SS", 2, r"record 2 \(ID 1\): SS 2 \(steady state added to the current state\) is not supported yet"),
        ("SS", 3, r"record 2 \(ID 1\): SS 3 is not valid"),
        ("EVID", 5, r"record 2 \(ID 1\): EVID 5 is not a valid event type"),
        ("RATE", -3, r"record 2 \(ID 1\): RATE -3 must be >= 0, or -1"),
    ],
)
def test_invalid_or_unsupported_records_are_refused(column, value, match):
    frame = pd.DataFrame({"ID": [1, 1], "TIME": [0.0, 12.0], "AMT": [100.0, 100.0], "CMT": [1, 1], "SS": [0, 0]})
    frame.loc[1, column] = value
    with pytest.raises(vh.InputError, match=match):
        read_events(frame, ORAL)


def test_steady_state_without_interval_is_refused():
    frame = pd.DataFrame({"ID": [1], "TIME": [0.0], "AMT": [100.0], "CMT": [1], "SS": [1], "II": [0]})
    with pytest.raises(vh.InputError, match=r"record 1 \(ID 1\): SS 1 needs an interval II > 0"):
        read_events(frame, ORAL)
