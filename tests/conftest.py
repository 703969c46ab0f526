"""Test session settings: two CPU devices, so the multi-device path runs in every test session."""

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "2")
