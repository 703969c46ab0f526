"""The README's Python examples run as written: each on its own, as a reader would paste it into a fresh session
(in a scratch directory), except a block that says it continues the Quick start, which runs after it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
CONTINUES = "# continues the Quick start"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write cohort.zarr and Cc.png, and read examples/ as from the root
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def test_the_readme_has_python_examples_and_a_quick_start():
    assert len(BLOCKS) >= 5 and "import vhtwin as vh" in BLOCKS[0]


@pytest.mark.parametrize("k", range(len(BLOCKS)), ids=lambda k: f"block{k}")
def test_each_readme_example_runs_on_its_own(k, scratch):
    namespace: dict = {}
    block = BLOCKS[k]
    if block.startswith(CONTINUES):
        exec(compile(BLOCKS[0], f"{README}:block0", "exec"), namespace)
    exec(compile(block, f"{README}:block{k}", "exec"), namespace)
    if k == 0:
        assert namespace["ds"].sizes["patient"] == 1000
        assert (scratch / "cohort.zarr").is_dir() and (scratch / "Cc.png").is_file()
    if "write_dataset" in block:
        assert namespace["pred"].sizes["patient"] == 12 and (scratch / "theophylline_pred.csv").is_file()
