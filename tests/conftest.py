"""Test session settings: two CPU devices, so the multi-device path runs in every test session."""

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")

# No persistent compilation cache in the test session (tests/engine/test_compilation.py runs processes with one of
# their own): every count of compilations then means the same on any machine, whatever an earlier run left in the
# user's cache.
os.environ.setdefault("VHTWIN_CACHE_DIR", "off")

import pytest  # noqa: E402

# Every compiled XLA program keeps about three memory mappings of its machine code until JAX drops it, and Linux
# allows a process 65,530 mappings (vm.max_map_count): one pytest process compiling the whole suite's programs
# passes that and crashes inside the compiler. Between test modules, JAX's caches are dropped once the process holds
# more than a third of the allowance, so the suite never comes near it.
_MAPPINGS = "/proc/self/maps"
_MAX_MAPPINGS = 20_000


def _mappings() -> int:
    try:
        with open(_MAPPINGS) as f:
            return sum(1 for _ in f)
    except OSError:  # not Linux: no such limit to guard
        return 0


@pytest.fixture(autouse=True, scope="module")
def _bounded_compiled_programs():
    yield
    if _mappings() > _MAX_MAPPINGS:
        import jax

        jax.clear_caches()
