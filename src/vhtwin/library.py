"""The model library by name, and user model files by path.

Library models live in ``vhtwin.models.<area>.<name>`` (the top-level ``models/`` folder of the repository); each
module defines exactly one :class:`~vhtwin.Model` subclass. A user's ``.py`` file is *code*: loading it runs it,
exactly like an import -- load only files you trust.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import sys
from pathlib import Path

from .errors import InputError, ModelError
from .model import Model

_AREAS = ("pharmacokinetics", "cardio")
_CACHE: dict[str, Model] = {}


def list_models() -> list[str]:
    """Names of the library models, e.g. ``["cardio/...", "pharmacokinetics/two_compartment_oral", ...]``."""
    names = []
    for area in _AREAS:
        package = importlib.import_module(f"vhtwin.models.{area}")
        for info in pkgutil.iter_modules(package.__path__):
            if not info.name.startswith("_"):
                names.append(f"{area}/{info.name}")
    return sorted(names)


def load_model(name_or_path: str | Path):
    """A model instance from the library (``"pharmacokinetics/two_compartment_oral"``), a ``.py`` file, an SBML
    file (``.xml`` or ``.sbml``, imported by :func:`vhtwin.import_sbml`) or a CellML file (``.cellml``, imported by
    :func:`vhtwin.import_cellml`).

    Returns a :class:`~vhtwin.Model`, or a :class:`~vhtwin.DirectEffect` for a stateless pharmacodynamic component
    (which is used through :func:`vhtwin.link`).

    The same name always returns the same instance, so compiled solves are reused.

    Raises
    ------
    InputError
        If the name is not in the library (the message lists what is) or the file does not exist.
    ModelError
        If the module defines no Model subclass, or more than one.
    """
    key = str(name_or_path)
    path = Path(key)
    if key.lower().endswith((".xml", ".sbml", ".cellml")):
        return _imported_model(path)
    if key in _CACHE:
        return _CACHE[key]
    if key.endswith(".py"):
        if not path.is_file():
            raise InputError(f"model file {key!r} does not exist")
        module = _import_file(path)
        label = path.stem
    else:
        if key not in list_models():
            raise InputError(f"unknown model {key!r}; the library has {list_models()} (or give a path to a .py file)")
        area, stem = key.split("/")
        module = importlib.import_module(f"vhtwin.models.{area}.{stem}")
        label = key
    model = _single_model(module, key)
    if key.endswith(".py") is False:
        type(model).name = label
    _CACHE[key] = model
    return model


def _imported_model(path: Path):
    """An SBML or CellML file's model (:func:`vhtwin.import_sbml`, :func:`vhtwin.import_cellml`), one instance per
    file content (a changed file is a new model, never a stale one)."""
    import hashlib

    if not path.is_file():
        raise InputError(f"model file {str(path)!r} does not exist")
    key = ("imported", str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest())
    if key not in _CACHE:
        from .exchange import import_cellml, import_sbml

        _CACHE[key] = (import_cellml if path.suffix.lower() == ".cellml" else import_sbml)(path)
    return _CACHE[key]


def _import_file(path: Path):
    name = f"vhtwin_user_model_{path.stem}_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _single_model(module, key: str):
    from .compose import DirectEffect  # stateless pharmacodynamic components live in the library too

    classes = [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, (Model, DirectEffect)) and obj not in (Model, DirectEffect)
        and obj.__module__ == module.__name__
    ]
    if len(classes) != 1:
        found = [c.__name__ for c in classes]
        raise ModelError(f"{key}: expected exactly one Model subclass, found {found or 'none'}")
    return classes[0]()
