"""``import vhtwin`` leaves JAX's configuration alone; ``vh.use_cpu_cores`` makes the choice explicit (each in a
fresh interpreter, since the device count is fixed once JAX starts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import vhtwin as vh


def _run(code: str, **env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("JAX_NUM_CPU_DEVICES", "XLA_FLAGS")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**clean, "JAX_PLATFORMS": "cpu", **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_changes_nothing_in_jax_or_the_environment():
    out = _run("import json, os, vhtwin as vh, jax\n"
               "env = os.environ.get('JAX_NUM_CPU_DEVICES')\n"
               "print(json.dumps({'env': env, 'devices': len(jax.local_devices())}))")
    assert out == {"env": None, "devices": 1}


def test_use_cpu_cores_before_jax_starts_sets_the_device_count():
    out = _run("import json, vhtwin as vh\n"
               "n = vh.use_cpu_cores(3)\n"
               "import jax\n"
               "print(json.dumps({'returned': n, 'devices': len(jax.local_devices())}))")
    assert out == {"returned": 3, "devices": 3}


def test_use_cpu_cores_defaults_to_the_environment_then_every_core():
    out = _run("import json, os, vhtwin as vh\n"
               "n = vh.use_cpu_cores()\n"
               "import jax\n"
               "print(json.dumps({'returned': n, 'devices': len(jax.local_devices()), "
               "'cores': len(os.sched_getaffinity(0))}))")
    assert out["returned"] == out["devices"] == out["cores"]
    preset = _run("import json, vhtwin as vh\n"
                  "n = vh.use_cpu_cores()\n"
                  "import jax\n"
                  "print(json.dumps({'returned': n, 'devices': len(jax.local_devices())}))", JAX_NUM_CPU_DEVICES="2")
    assert preset == {"returned": 2, "devices": 2}


def test_a_different_count_once_jax_runs_is_refused_and_the_same_is_kept():
    out = _run("import json, vhtwin as vh, jax\n"
               "jax.numpy.zeros(1).block_until_ready()\n"   # JAX is running with one CPU device
               "kept = vh.use_cpu_cores()\n"
               "same = vh.use_cpu_cores(1)\n"
               "try:\n"
               "    vh.use_cpu_cores(4)\n"
               "    said = None\n"
               "except vh.InputError as e:\n"
               "    said = str(e)\n"
               "print(json.dumps({'kept': kept, 'same': same, 'said': said}))")
    assert out["kept"] == 1 and out["same"] == 1
    assert out["said"].startswith("use_cpu_cores: count 4 cannot be applied, JAX is already running with 1 CPU")


@pytest.mark.parametrize("count", [0, -2, 1.5, True, "4"])
def test_a_count_that_is_not_a_positive_integer_is_refused(count):
    with pytest.raises(vh.InputError, match=r"use_cpu_cores: count .* must be a positive integer"):
        vh.use_cpu_cores(count)
