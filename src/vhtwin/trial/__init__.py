"""In-silico trials: a spec (``Trial``, or a TOML file), a batch runner with local and Dask executors, and a Zarr
store that resumes after a kill and records its provenance.

Modules: :mod:`.core` (the spec and one batch's compute), :mod:`.runner` (batches, executors, failure threshold),
:mod:`.store` (layout, markers, provenance), :mod:`.reading` (``open_trial``), :mod:`.integrity`
(checksums, damage, ``verify_trial``), :mod:`.dask_executor`, :mod:`.spec_codec` (the spec
as JSON), :mod:`.toml_spec` (the spec as TOML), :mod:`.progress`.
"""

from .core import Trial
from .integrity import verify_trial
from .reading import open_trial

__all__ = ["Trial", "open_trial", "verify_trial"]
