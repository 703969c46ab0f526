"""The README's Python examples run as written (in a scratch directory, one namespace, in order)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_examples_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has Python examples"
    monkeypatch.chdir(tmp_path)  # the examples write cohort.zarr and Cc.png, and read examples/ as from the root
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert namespace["ds"].sizes["patient"] == 1000
    assert (tmp_path / "cohort.zarr").is_dir() and (tmp_path / "Cc.png").is_file()
    assert namespace["pred"].sizes["patient"] == 12 and (tmp_path / "theophylline_pred.csv").is_file()
