"""In-silico trials: a spec (``Trial``, or a TOML file), a batch runner with local and Dask executors, and a Zarr
store that resumes after a kill and records its provenance.

Modules: :mod:`.core` (the spec and one batch's compute), :mod:`.runner` (batches, executors, failure threshold),
:mod:`.store` (layout, markers, provenance), :mod:`.reading` (``open_trial``), :mod:`.integrity` (checksums,
damage, ``verify_trial``), :mod:`.lock` (one writer per store), :mod:`.paths` (a store's companions),
:mod:`.tables` (results as DataFrames), :mod:`.export` (CSV, Parquet), :mod:`.dask_executor`,
:mod:`.spec_schema` (the spec declared once: checks, messages, JSON Schema), :mod:`.spec_codec` (the spec as JSON),
:mod:`.toml_spec` (the spec as TOML), :mod:`.progress`.

The names below load on first use: the command line imports the light modules (:mod:`.paths`, :mod:`.lock`)
without JAX.
"""

_SOURCE = {"Trial": ".core", "open_trial": ".reading", "verify_trial": ".integrity", "export_trial": ".export",
           "iter_dataframes": ".tables"}

__all__ = ["Trial", "export_trial", "iter_dataframes", "open_trial", "verify_trial"]


def __getattr__(name: str):
    import importlib

    if name not in _SOURCE:
        raise AttributeError(f"module 'vhtwin.trial' has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCE[name], __name__), name)
    globals()[name] = value
    return value
