"""vhtwin: virtual human twin simulation engine.

Organ and pharmacokinetic models written once as JAX code, solved by batch-first compiled ODE solvers, returned as
xarray Datasets with units.
"""

from ._version import __version__


def _use_every_cpu_core() -> None:
    """Expose each CPU core as a JAX CPU device, so that batches are split across cores.

    XLA runs one CPU device's program on one core; vhtwin splits a batch over all local devices. This must happen
    before JAX starts its backends, so it is done at import, unless the user already chose (``JAX_NUM_CPU_DEVICES``
    or ``XLA_FLAGS=--xla_force_host_platform_device_count``) or opted out with ``VHTWIN_CPU_DEVICES=1`` (any number
    sets the count). It changes nothing on a machine whose JAX backends are already running.
    """
    import os

    if os.environ.get("JAX_NUM_CPU_DEVICES") or "device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    try:
        count = int(os.environ.get("VHTWIN_CPU_DEVICES", "0")) or len(os.sched_getaffinity(0))
    except (ValueError, AttributeError):
        count = os.cpu_count() or 1
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", max(1, count))
    except Exception:  # backends already initialised by the caller: keep what they have
        pass


_use_every_cpu_core()

from .analysis import nca
from .calibration import Twin, calibrate, calibrate_circulation
from .compose import DirectEffect, link
from .protocols import Dose, Pacing, Regimen
from .dataset import Dataset, EventSet, read_dataset, read_events, write_dataset
from .engine import compilation_count
from .errors import InputError, ModelError, SolverError, StoreDamagedError, TrialError, VhtwinError
from .library import list_models, load_model
from .model import Input, Model, Observable, Parameter, State
from .periodic import periodic_steady_state
from .population import (
    IOV, Bernoulli, BodyMassIndex, CategoricalCovariate, CockcroftGault, CovariateTable, Covariates, Derived,
    ExponentialCovariate, LinearCovariate, LogNormal, Normal, Omega, Population, PowerCovariate, Residual, Uniform,
)
from .simulate import Simulator, default_precision, simulate
from .solvers import Status
from .trial import Trial, open_trial, verify_trial
from . import analysis, calibration, pde, physiology  # subpackages reachable as vh.analysis, vh.calibration, ...

__all__ = [
    "IOV", "Bernoulli", "BodyMassIndex", "CategoricalCovariate", "CockcroftGault", "CovariateTable", "Covariates",
    "Dataset", "Derived", "DirectEffect", "Dose", "EventSet", "ExponentialCovariate", "Input", "InputError", "LinearCovariate", "LogNormal",
    "Model", "ModelError", "Normal", "Observable", "Omega", "Pacing", "Parameter", "Population", "PowerCovariate", "Regimen",
    "Residual", "Simulator", "SolverError", "State", "Status", "StoreDamagedError", "Trial", "TrialError", "Twin", "Uniform", "VhtwinError",
    "calibrate", "calibrate_circulation", "compilation_count", "default_precision", "link", "list_models", "load_model", "nca", "open_trial", "periodic_steady_state", "read_dataset", "read_events", "simulate", "verify_trial", "write_dataset",
]
