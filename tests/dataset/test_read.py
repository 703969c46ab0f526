"""vh.read_dataset: NONMEM-style records with DV, MDV, DVID, CENS and covariate columns into a vh.Dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh

ORAL = vh.load_model("pharmacokinetics/one_compartment_oral")
THEOPH = "examples/datasets/theophylline.csv"


def test_the_theophylline_dataset_in_nonmem_layout():
    ds = vh.read_dataset(THEOPH, ORAL)
    assert len(ds) == 12 and list(ds.ids) == list(range(1, 13))
    assert ds.covariate_names == ("WT", "DOSE") and ds.time_varying == ()
    source = pd.read_csv("tests/data/theoph.csv")
    first = source.groupby("subject").first()
    np.testing.assert_array_equal(ds.covariates["WT"].to_numpy(), first["weight_kg"].to_numpy())
    # one oral dose each, of mg/kg times weight, and the 11 samples with their DV
    assert [len(r.doses) for r in ds.regimens] == [1] * 12
    np.testing.assert_allclose([r.doses[0].amount for r in ds.regimens],
                               (first["dose_mg_per_kg"] * first["weight_kg"]).to_numpy(), rtol=1e-5)
    observed = ds.records[ds.records["EVID"] == 0]
    np.testing.assert_array_equal(observed["DV"].to_numpy(), source["conc_mg_per_L"].to_numpy())
    assert (observed["MDV"] == 0).all() and (ds.records.loc[ds.records["EVID"] == 1, "MDV"] == 1).all()
    # to_frame gives the records back in file order
    frame = ds.to_frame()
    assert len(frame) == 144 and list(frame["ID"][:2]) == [1, 1] and "ROW" not in frame.columns
    again = vh.read_dataset(frame, ORAL)
    assert again.regimens == ds.regimens
    np.testing.assert_array_equal(again.observation_times, ds.observation_times)


def test_mdv_missing_dv_dvid_cens_and_text_columns():
    pkpd = vh.link(vh.load_model("pharmacokinetics/one_compartment_iv"),
                   vh.load_model("pharmacokinetics/pd_direct_emax"), concentration="Cc")
    assert len(pkpd.observable_names) == 2
    frame = pd.DataFrame({
        "ID": [1, 1, 1, 1, 1], "TIME": [0, 1, 2, 3, 4], "AMT": [100, 0, 0, 0, 0], "EVID": [1, 0, 0, 0, 0],
        "DV": [".", 2.0, 5.0, ".", 0.1], "MDV": [1, 0, 1, 0, 0], "DVID": [".", 1, 1, 2, 1], "CENS": [0, 0, 0, 0, 1],
        "SITE": ["Oslo"] * 5, "CRCL": [90, ".", 80, ".", "."],
    })
    ds = vh.read_dataset(frame, pkpd)
    rec = ds.records
    np.testing.assert_array_equal(rec["MDV"], [1, 0, 1, 1, 0])  # MDV 1, or a missing DV: no measurement
    assert np.isnan(rec["DV"][2]) and rec["DVID"].tolist() == [1, 1, 1, 2, 1] and rec["CENS"].tolist() == [0, 0, 0, 0, 1]
    assert ds.text_columns == ("SITE",) and "SITE" not in rec.columns  # text never enters vhtwin's data
    np.testing.assert_array_equal(rec["CRCL"], [90, 90, 80, 80, 80])  # carried forward
    assert ds.time_varying == ("CRCL",)
    out = vh.simulate(pkpd, {"CL": 5.0, "V": 50.0}, data=ds)
    # IPRED is the observable each record measures (DVID 2: the effect)
    observables = list(pkpd.observable_names)
    np.testing.assert_array_equal(out["IPRED"].values[0, 3], out[observables[1]].values[0, 3])
    np.testing.assert_array_equal(out["IPRED"].values[0, 1], out[observables[0]].values[0, 1])
    np.testing.assert_array_equal(out["observed"].values[0], [False, True, False, False, True])


def test_a_covariate_missing_before_its_first_value_takes_that_value():
    frame = pd.DataFrame({"ID": [1, 1, 2, 2], "TIME": [0, 1, 0, 1], "AMT": [10, 0, 10, 0], "CMT": [1, 2, 1, 2],
                          "WT": [".", 60, 80, "."]})
    ds = vh.read_dataset(frame, ORAL)
    np.testing.assert_array_equal(ds.records["WT"], [60, 60, 80, 80])  # never borrowed from another ID


@pytest.mark.parametrize(
    "column, value, match",
    [
        ("DV", "high", r"record 2 \(ID 1\): DV 'high' is not a number"),
        ("DVID", 3, r"record 2 \(ID 1\): DVID 3 names no observable of pharmacokinetics/one_compartment_oral; allowed: 1 to 1"),
        ("MDV", 2, r"record 2 \(ID 1\): MDV 2 must be 0"),
        ("CENS", 5, r"record 2 \(ID 1\): CENS 5 must be 0"),
        ("ADDL", 1e9, r"record 2 \(ID 1\): ADDL 1e\+09 is more additional doses than vhtwin expands"),
        ("TIME", "inf", r"record 2 \(ID 1\): TIME 'inf' must be a finite number"),
    ],
)
def test_bad_records_are_refused_naming_row_id_and_column(column, value, match):
    frame = pd.DataFrame({"ID": [1, 1], "TIME": [0.0, 1.0], "AMT": [100.0, 0.0], "CMT": [1, 2], "EVID": [1, 0],
                          "DV": [".", 1.0], "II": [12, 12], "ADDL": [0, 0], "DVID": [1, 1], "MDV": [1, 0], "CENS": [0, 0]})
    frame[column] = frame[column].astype(object)
    frame.loc[1, column] = value
    if column == "ADDL":
        frame.loc[1, "EVID"], frame.loc[1, "AMT"], frame.loc[1, "CMT"] = 1, 100.0, 1
    with pytest.raises(vh.InputError, match=match):
        vh.read_dataset(frame, ORAL)


def test_unreadable_files_are_refused_plainly(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(vh.InputError, match="is empty"):
        vh.read_dataset(empty, ORAL)
    header = tmp_path / "header.csv"
    header.write_text("ID,TIME,AMT\n")
    with pytest.raises(vh.InputError, match="has no records"):
        vh.read_dataset(header, ORAL)
    with pytest.raises(vh.InputError, match="no such file"):
        vh.read_dataset(tmp_path / "absent.csv", ORAL)
    with pytest.raises(vh.InputError, match="must be a CSV path or a pandas DataFrame"):
        vh.read_dataset(42, ORAL)
