"""Test session settings: two CPU devices, so the multi-device path runs in every test session."""

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")

# No persistent compilation cache in the test session (tests/engine/test_compilation.py runs processes with one of
# their own): every count of compilations then means the same on any machine, whatever an earlier run left in the
# user's cache.
os.environ.setdefault("VHTWIN_CACHE_DIR", "off")
