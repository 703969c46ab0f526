"""What the layout promises, checked on the source: no package reaches into another's private names.

A package of ``vhtwin`` (``vhtwin.trial``, ``vhtwin.analysis``, ...) or of the model library (``models.cardio``,
``models.pharmacokinetics``) may use its own ``_private`` names and modules; what another package needs is public
and documented. ``vhtwin._version`` (the version string) belongs to the root package and is shared by all.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = {"vhtwin._version"}


def _module_name(path: Path, base: Path, prefix: tuple[str, ...]) -> tuple[str, bool]:
    parts = prefix + path.relative_to(base).with_suffix("").parts
    package = path.name == "__init__.py"
    return ".".join(parts[:-1] if package else parts), package


def _package(module: str) -> str:
    """The first-level package a module belongs to (``vhtwin.trial.core`` -> ``vhtwin.trial``)."""
    return ".".join(module.split(".")[:2])


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imports(path: Path, module: str, package: bool):
    """(line, imported module, imported name or None) of every absolute and relative import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                here = module.split(".") if package else module.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                target = ".".join(here + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                yield node.lineno, target, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None


def _violations():
    trees = [(ROOT / "src" / "vhtwin", ("vhtwin",)), (ROOT / "models", ("models",))]
    found = []
    for base, prefix in trees:
        for path in sorted(base.rglob("*.py")):
            module, package = _module_name(path, base, prefix)
            for line, target, name in _imports(path, module, package):
                if not target.startswith(("vhtwin", "models")) or target in SHARED:
                    continue
                # the library's models are also importable as vhtwin.models.<group>
                owner = _package(target.replace("vhtwin.models.", "models.", 1))
                if owner == _package(module):
                    continue
                private_module = any(_private(part) for part in target.split("."))
                if private_module or (name is not None and _private(name)):
                    found.append(f"{path.relative_to(ROOT)}:{line} imports {target}{'.' + name if name else ''}")
    return found


def test_no_package_imports_another_packages_private_names():
    assert _violations() == []


def test_the_check_sees_a_private_import_across_packages(tmp_path, monkeypatch):
    """The check is not vacuous: a module of one package importing another's private name is reported."""
    src = tmp_path / "src" / "vhtwin"
    (src / "trial").mkdir(parents=True)
    (src / "analysis").mkdir()
    (src / "trial" / "core.py").write_text("from ..analysis.summary import _hidden\nfrom .store import _own\n")
    (tmp_path / "models").mkdir()
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _violations() == ["src/vhtwin/trial/core.py:1 imports vhtwin.analysis.summary._hidden"]
