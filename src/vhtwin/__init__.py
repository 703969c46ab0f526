"""vhtwin: virtual human twin simulation engine.

Organ and pharmacokinetic models written once as JAX code, solved by batch-first compiled ODE solvers, returned as
xarray Datasets with units.
"""

__version__ = "0.1.0"

from .dosing import Dose, Regimen
from .errors import InputError, ModelError, SolverError, VhtwinError
from .library import list_models, load_model
from .model import Input, Model, Observable, Parameter, State
from .simulate import Simulator, default_precision, simulate
from .solvers import Status

__all__ = [
    "Dose", "Input", "InputError", "Model", "ModelError", "Observable", "Parameter", "Regimen", "SolverError",
    "Simulator", "State", "Status", "VhtwinError", "default_precision", "list_models", "load_model", "simulate",
]
