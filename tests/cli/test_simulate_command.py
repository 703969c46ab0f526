"""``vhtwin simulate``: a library model, a model module or an SBML file simulated from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vhtwin as vh
from vhtwin.cli import main

SBML = Path(__file__).resolve().parents[1] / "data" / "sbml" / "semantic" / "00026" / "00026-sbml-l3v2.xml"


def test_an_sbml_file_is_simulated_as_its_import_is(tmp_path, capsys):
    out = tmp_path / "events.csv"
    assert main(["simulate", str(SBML), "--times", "0:5:51", "--param", "k1=0.8", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "status ok" in printed and f"wrote {out}" in printed
    table = pd.read_csv(out, index_col="time")
    ds = vh.simulate(vh.import_sbml(SBML), {"k1": 0.8}, times=np.linspace(0.0, 5.0, 51))
    np.testing.assert_allclose(table["S1"].to_numpy(), ds["S1"].values.reshape(-1), rtol=1e-12)
    assert list(table.columns) == list(vh.import_sbml(SBML).observable_names)


def test_a_library_model_with_a_bolus(tmp_path, capsys):
    assert main(["simulate", "pharmacokinetics/two_compartment_oral", "--times", "0:24:25",
                 "--bolus", "100:depot@1", "--out", str(tmp_path / "pk.zarr")]) == 0
    from vhtwin.io import open_zarr

    stored = open_zarr(tmp_path / "pk.zarr")
    model = vh.load_model("pharmacokinetics/two_compartment_oral")
    ds = vh.simulate(model, times=np.linspace(0, 24, 25), protocol=vh.Regimen.bolus(100.0, into="depot", at=1.0))
    np.testing.assert_allclose(stored["Cc"].values.reshape(-1), ds["Cc"].values.reshape(-1), rtol=1e-12)
    assert int(stored["status"].values.reshape(-1)[0]) == 0


@pytest.mark.parametrize("args, message", [
    (["--times", "0:5"], "--times '0:5': give START:STOP:N"),
    (["--times", "0:5:11", "--param", "k1"], "--param 'k1': give NAME=VALUE"),
    (["--times", "0:5:11", "--bolus", "ten:S1"], "--bolus 'ten:S1'"),
    (["--times", "0:5:11", "--out", "x.txt"], "write FILE.csv or FILE.zarr"),
])
def test_bad_input_is_one_sentence(args, message, capsys):
    assert main(["simulate", str(SBML), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_existing_file_is_never_replaced(tmp_path, capsys):
    out = tmp_path / "kept.csv"
    out.write_text("someone's table\n")
    assert main(["simulate", str(SBML), "--times", "0:5:11", "--out", str(out)]) == 2
    assert out.read_text() == "someone's table\n" and "exists" in capsys.readouterr().err
