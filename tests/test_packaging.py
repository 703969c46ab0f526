"""Packaging: the wheel ships the engine and the model library (as vhtwin.models) and works outside the repo."""

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

import vhtwin

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
MODEL = "pharmacokinetics/two_compartment_oral"


def test_editable_install_exposes_the_model_library():
    import vhtwin.models.pharmacokinetics.two_compartment_oral as module

    assert hasattr(module, "TwoCompartmentOral")
    assert MODEL in vhtwin.list_models()
    assert vhtwin.load_model(MODEL).name == MODEL


def _expected_wheel_files() -> set[str]:
    """Every module of the engine and of the model library (in a package: ``__init__.py`` all the way up), as its
    path inside the wheel."""
    expected = set()
    for root, prefix in ((REPO / "src" / "vhtwin", "vhtwin"), (REPO / "models", "vhtwin/models")):
        for path in root.rglob("*.py"):
            if "__pycache__" not in path.parts and _in_package(path.parent, root):
                expected.add(f"{prefix}/{path.relative_to(root).as_posix()}")
    return expected


def _in_package(folder: Path, root: Path) -> bool:
    while (folder / "__init__.py").exists():
        if folder == root:
            return True
        folder = folder.parent
    return False


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a clean copy of the source tree (no stale build/ folder can leak into it)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(
        REPO, source,
        ignore=shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "out", "__pycache__", "*.zarr",
                                      ".pytest_cache", ".hypothesis"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(source)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    (built,) = (tmp / "dist").glob("vhtwin-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contains_engine_and_models(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "vhtwin/models/pharmacokinetics/two_compartment_oral.py" in names
    missing = _expected_wheel_files() - names
    assert not missing, f"modules missing from the wheel (add their packages to pyproject.toml): {sorted(missing)}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "vhtwin = vhtwin.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_wheel_installs_and_simulates_outside_the_repo(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "-q", str(wheel)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    fresh_site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip())
    # Third-party packages (jax, xarray, ...) come from the test venv: a .pth line appends its site-packages to
    # sys.path, and .pth files inside an appended directory are not processed, so the editable vhtwin stays off.
    (fresh_site / "test_venv_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = textwrap.dedent(
        f"""
        import numpy as np
        import vhtwin
        m = vhtwin.load_model({MODEL!r})
        reg = vhtwin.Regimen.repeated(amount=100.0, interval=12.0, count=2, into="depot")
        ds = vhtwin.simulate(m, times=np.arange(25.0), protocol=reg)
        assert int(ds["status"]) == 0 and float(ds["Cc"].max()) > 0
        import vhtwin.models.pharmacokinetics.two_compartment_oral as mod
        print(vhtwin.__file__)
        print(mod.__file__)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    engine_file, model_file = (Path(line).resolve() for line in result.stdout.split())
    assert fresh_site.resolve() in engine_file.parents, engine_file
    assert fresh_site.resolve() in model_file.parents, model_file
    assert REPO not in engine_file.parents
    command = subprocess.run([str(bin_dir / "vhtwin"), "models"], env=env, capture_output=True, text=True, timeout=600)
    assert command.returncode == 0 and MODEL in command.stdout.splitlines(), command.stderr[-3000:]
