"""The engine: a request checked (:mod:`.request`) into a problem (:mod:`.problem`; steady-state doses solved by
:mod:`.steady_state`), laid out as padded arrays for a backend (:mod:`.backend`: the
integration loop in :mod:`.ode`, matrix exponentials in :mod:`.exact`), compiled once per key (:mod:`.compilation`,
:mod:`.buckets`) and run (:mod:`.run`).

Nothing here knows a particular model.
"""

from .compilation import cache_directory, cache_loads, compilation_count, compilation_seconds, counted, counting
from .problem import Problem
from .request import prepare
from .run import BACKENDS, Compiled, execute, host_design, layout, run

__all__ = [
    "BACKENDS", "Compiled", "Problem", "cache_directory", "cache_loads", "compilation_count", "compilation_seconds", "counted",
    "counting", "execute", "host_design", "layout", "prepare", "run",
]
