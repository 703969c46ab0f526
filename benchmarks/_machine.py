"""What a benchmark record says of the machine it ran on (shared by the benchmark scripts; not a benchmark itself)."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine_info(**extra) -> dict:
    """Platform, CPU (model, count, affinity), JAX (version, backend, devices), vhtwin (version, file), scipy, the
    git commit and whether the tree was dirty; ``extra`` entries are added as given."""
    import jax

    import vhtwin

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "jax_version": jax.__version__, "jax_backend": jax.default_backend(),
            "jax_devices": [str(d) for d in jax.devices()], "vhtwin_version": vhtwin.__version__,
            "vhtwin_file": vhtwin.__file__, **extra}
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import scipy

        info["scipy_version"] = scipy.__version__
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                                            timeout=10).stdout.strip() or None
        info["git_dirty"] = bool(subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                                                cwd=ROOT, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info
