"""vhtwin: virtual human twin simulation engine.

Organ and pharmacokinetic models written once as JAX code, solved by batch-first compiled ODE solvers, returned as
xarray Datasets with units.
"""

import sys
import types

from ._version import __version__

# What ``vh.<name>`` gives, and the module it comes from. Loaded on first use, so that ``import vhtwin`` (and the
# command line's start) costs milliseconds, not the seconds of importing JAX.
_EXPORTS = {
    ".analysis": ["nca"],
    ".calibration": ["Twin", "calibrate", "calibrate_circulation"],
    ".compose": ["DirectEffect", "link"],
    ".cpu": ["use_cpu_cores"],
    ".protocols": ["Dose", "Pacing", "Regimen"],
    ".dataset": ["Dataset", "EventSet", "read_dataset", "read_events", "write_dataset"],
    ".engine": ["compilation_count"],
    ".estimation": ["PopulationFit", "estimate"],
    ".exchange": ["export_sbml", "import_cellml", "import_sbml"],
    ".errors": ["InputError", "ModelError", "SolverError", "StoreDamagedError", "TrialError", "VhtwinError"],
    ".library": ["list_models", "load_model"],
    ".model": ["Event", "Input", "Model", "Observable", "Parameter", "State"],
    ".periodic": ["periodic_steady_state"],
    ".population": ["IOV", "Bernoulli", "BodyMassIndex", "CategoricalCovariate", "CockcroftGault", "CovariateTable",
                    "Covariates", "Derived", "ExponentialCovariate", "LinearCovariate", "LogNormal", "Normal",
                    "Omega", "Population", "PowerCovariate", "Residual", "Uniform"],
    ".simulate": ["Simulator", "default_precision", "simulate"],
    ".solvers": ["Status"],
    ".trial": ["Trial", "export_trial", "open_trial", "verify_trial"],
}
_SOURCE = {name: module for module, names in _EXPORTS.items() for name in names}
#: Subpackages reachable as ``vh.analysis``, ``vh.calibration``, ... (``vh.clinic`` needs the clinic extra)
_SUBPACKAGES = ("analysis", "calibration", "cipa", "clinic", "estimation", "pde", "physiology")
#: Modules reachable under a short name: ``vh.fhir.read_bundle`` (the clinic's FHIR reader).
_ALIASES = {"fhir": ".clinic.fhir"}

__all__ = sorted(_SOURCE)


def __getattr__(name: str):
    import importlib

    if name in _SOURCE:
        value = getattr(importlib.import_module(_SOURCE[name], __name__), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _ALIASES:
        value = importlib.import_module(_ALIASES[name], __name__)
    else:
        raise AttributeError(f"module 'vhtwin' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBPACKAGES) | set(_ALIASES))


class _Package(types.ModuleType):
    """The package's module type: importing a submodule named like an export (``vhtwin.simulate``, the module)
    does not replace the export (``vh.simulate``, the function) -- as when every export was imported at once."""

    def __setattr__(self, name, value):
        if name in _SOURCE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
