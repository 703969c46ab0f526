"""The notebooks run end to end as plain scripts, at small sizes, and save their figures."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each notebook is a fresh process that compiles its models

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(notebook, tmp_path):
    env = dict(os.environ, VHTWIN_NOTEBOOK_SMALL="1", VHTWIN_NOTEBOOK_OUT=str(tmp_path), MPLBACKEND="Agg")
    result = subprocess.run(
        [sys.executable, str(notebook)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{notebook.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    assert "Traceback" not in result.stderr
    pngs = list(tmp_path.glob("*.png"))
    assert pngs, f"{notebook.name} saved no figure in VHTWIN_NOTEBOOK_OUT"
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
