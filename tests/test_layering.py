"""What the layout promises, checked on the source: no package reaches into another's private names, and model
modules hold models, not their test oracles.

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


# Names a test oracle goes by (closed forms, reference solves, exact solutions): they live in vhtwin.testing.
# (A private helper such as pbpk_whole_body._reference_defaults, the reference individual's values, is model data.)
ORACLE_PREFIXES = ("closed_form", "reference", "exact")
ORACLE_WORDS = ("closed_form", "reference", "exact")


def _oracles_in_models(root: Path):
    """``path:line name`` of every top-level function or module under ``models/`` named like a test oracle."""
    found = []
    for path in sorted((root / "models").rglob("*.py")):
        if any(word in path.stem for word in ORACLE_WORDS):
            found.append(f"{path.relative_to(root)}")
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(ORACLE_PREFIXES):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


def test_model_modules_hold_no_test_oracles():
    """Closed forms and reference solutions live in vhtwin.testing, not beside the model they check."""
    assert _oracles_in_models(ROOT) == []


def test_the_oracle_check_sees_one(tmp_path):
    (tmp_path / "models" / "cardio").mkdir(parents=True)
    (tmp_path / "models" / "cardio" / "heart.py").write_text("def rhs():\n    pass\n\n\ndef exact_pressure(t):\n    pass\n")
    (tmp_path / "models" / "cardio" / "_radau_reference.py").write_text("")
    assert _oracles_in_models(tmp_path) == ["models/cardio/_radau_reference.py", "models/cardio/heart.py:5 exact_pressure"]


def _imports_of(package: str) -> set[str]:
    """Every vhtwin module that the modules of ``src/vhtwin/<package>`` import (absolute names)."""
    base = ROOT / "src" / "vhtwin"
    found = set()
    for path in sorted((base / package).rglob("*.py")):
        module, is_package = _module_name(path, base, ("vhtwin",))
        found.update(target for _, target, _ in _imports(path, module, is_package) if target.startswith("vhtwin"))
    return found


def test_steady_states_are_solved_below_simulate_without_a_function_passed_in():
    """The engine solves a steady-state dose's repeated dose itself; the protocols know neither engine nor simulate."""
    assert not any(t.startswith(("vhtwin.simulate", "vhtwin.engine")) for t in _imports_of("protocols"))
    assert not any(t.startswith("vhtwin.simulate") for t in _imports_of("engine"))


def test_nothing_below_the_clinic_imports_it():
    """The clinician's service sits on top of calibration: no other package of vhtwin but the command line, and no
    model, depends on it (it needs an optional extra)."""
    found = []
    for base, prefix in [(ROOT / "src" / "vhtwin", ("vhtwin",)), (ROOT / "models", ("models",))]:
        for path in sorted(base.rglob("*.py")):
            module, package = _module_name(path, base, prefix)
            if _package(module) in ("vhtwin.clinic", "vhtwin.cli"):
                continue
            found += [f"{path.relative_to(ROOT)}:{line}" for line, target, name in _imports(path, module, package)
                      if target.startswith("vhtwin.clinic") or (target == "vhtwin" and name == "clinic")]
    assert found == []
