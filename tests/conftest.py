"""Test session settings: two CPU devices, so the multi-device path runs in every test session."""

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")

# A persistent compilation cache of the session's own (fresh each run), so that every count of compilations in the
# tests means the same on any machine, whatever an earlier run left in the user's cache.
if "VHTWIN_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["VHTWIN_CACHE_DIR"] = tempfile.mkdtemp(prefix="vhtwin-test-cache-")
