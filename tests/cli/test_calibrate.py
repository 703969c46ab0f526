"""``vhtwin calibrate``: twins from a CSV of measurements, a prior TOML and a protocol TOML."""

from pathlib import Path

import pandas as pd
import pytest

from vhtwin.cli import main

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "twin"
ARGS = ["calibrate", "--model", "pharmacokinetics/one_compartment_oral", "--prior", str(EXAMPLES / "prior.toml"),
        "--protocol", str(EXAMPLES / "regimen.toml")]


def test_calibrate_prints_the_twins_with_intervals_and_draws_their_forecasts(tmp_path, capsys):
    out = tmp_path / "fc.png"
    assert main(ARGS + ["--data", str(EXAMPLES / "theoph_obs.csv"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 patients, etas on ka, CL, V; 4/4 converged" in text
    rows = [line.split() for line in text.splitlines() if line.split()[:1] in (["1"], ["2"], ["3"], ["4"])]
    assert len(rows) == 12  # 4 patients x 3 parameters
    for row in rows:
        value, low, high = (float(x) for x in row[2:5])
        assert low < value < high
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_dose_column_scales_each_subject_dose(tmp_path, capsys):
    """Subject 1 alone, without an id column: the DOSE covariate (mg) gives the dose; twice the dose, twice the
    volume (the same concentrations)."""
    data = pd.read_csv(EXAMPLES / "theoph_obs.csv")
    one = data[data["id"] == 1].drop(columns="id")
    one.to_csv(tmp_path / "a.csv", index=False)
    one.assign(DOSE=2 * one["DOSE"]).to_csv(tmp_path / "b.csv", index=False)
    values = {}
    for name in ("a", "b"):
        assert main(ARGS + ["--data", str(tmp_path / f"{name}.csv"), "--out", str(tmp_path / f"{name}.png")]) == 0
        text = capsys.readouterr().out
        values[name] = {line.split()[1]: float(line.split()[2]) for line in text.splitlines() if line.split()[:1] == ["0"]}
    # The prior on V pulls the estimate toward 31.5 L, so the ratio is not exactly 2; it is far from 1.
    assert 1.5 < values["b"]["V"] / values["a"]["V"] < 2.1


def test_bad_calibrate_input_exits_2_with_the_reason(tmp_path, capsys):
    data = pd.read_csv(EXAMPLES / "theoph_obs.csv")
    data.loc[0, "WT"] = 1.0
    data.to_csv(tmp_path / "bad.csv", index=False)
    assert main(ARGS + ["--data", str(tmp_path / "bad.csv")]) == 2
    assert "covariate column 'WT' changes within patient id 1" in capsys.readouterr().err
    assert main(ARGS + ["--data", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "reg.toml").write_text('doses = []\ninfusions = 1\n')
    args = ARGS[:-1] + [str(tmp_path / "reg.toml"), "--data", str(EXAMPLES / "theoph_obs.csv")]
    assert main(args) == 2
    assert "infusions = 1: unknown key; allowed here: ['doses', 'resets']" in capsys.readouterr().err
