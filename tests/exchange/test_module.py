"""``vhtwin import``: an SBML file written as a readable model module that computes what ``vh.import_sbml`` does."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vhtwin as vh
from vhtwin.cli import main
from vhtwin.exchange.module import module_source

CASES = Path(__file__).resolve().parents[1] / "data" / "sbml" / "semantic"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, vh.Model)
                and v is not vh.Model)()


@pytest.mark.parametrize("number", ["00025", "00027", "00036", "00060", "00975", "00026", "00934", "00936"])
def test_the_written_module_computes_what_the_import_does(number, tmp_path, capsys):
    source = next((CASES / number).glob("*-sbml-*.xml"))
    out = tmp_path / f"case_{number}.py"
    assert main(["import", str(source), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    written, imported = load(out), vh.import_sbml(source)
    assert written.state_names == imported.state_names and written.parameter_names == imported.parameter_names
    assert written.observable_names == imported.observable_names
    t = np.linspace(0.0, 5.0, 26)
    a = vh.simulate(imported, times=t, rtol=1e-10, atol=1e-14, precision="float64")
    b = vh.simulate(written, times=t, rtol=1e-10, atol=1e-14, precision="float64")
    for name in imported.state_names + imported.observable_names:
        np.testing.assert_allclose(b[name].values, a[name].values, rtol=1e-13, atol=0, err_msg=name)
    compile(out.read_text(), str(out), "exec")  # plain Python a reviewer can read: no code from the file


def test_the_command_refuses_in_one_line_and_keeps_what_exists(tmp_path):
    out = tmp_path / "kept.py"
    out.write_text("# someone's work\n")
    source = CASES / "00001" / "00001-sbml-l3v2.xml"
    run = lambda *args: subprocess.run([sys.executable, "-m", "vhtwin", "import", *args], capture_output=True, text=True)
    done = run(str(source), "--out", str(out))
    assert done.returncode == 2 and "exists; pass --overwrite" in done.stderr and out.read_text() == "# someone's work\n"
    done = run(str(source), "--out", str(tmp_path / "model.txt"))
    assert done.returncode == 2 and "ending in .py" in done.stderr
    done = run(str(CASES / "00039" / "00039-sbml-l3v2.xml"), "--out", str(tmp_path / "algebraic.py"))
    assert done.returncode == 2 and "algebraic rule" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "algebraic.py").exists()


def test_text_from_the_file_cannot_become_code_in_the_module(tmp_path, monkeypatch):
    """A model's name is the file's text: in the module it is words in a docstring, never code."""
    monkeypatch.chdir(tmp_path)
    source = (CASES / "00001" / "00001-sbml-l3v2.xml").read_text()
    hostile = "&quot;&quot;&quot;&#10;import os; os.system(&apos;touch PWNED&apos;)&#10;&quot;&quot;&quot;"
    model = vh.import_sbml(source.replace('name="case00001"', f'name="{hostile}"'))
    assert '"""' in model.spec.reference and "os.system('touch PWNED')" in model.spec.reference
    out = tmp_path / "named.py"
    out.write_text(module_source(model))
    written = load(out)  # runs the module
    assert written.state_names == model.state_names
    assert not (tmp_path / "PWNED").exists() and "\nimport os" not in out.read_text()
