"""Run every benchmark script and collect the results into one JSON file.

Every ``benchmarks/*.py`` other than this file and files whose name starts with ``_`` is a benchmark script. The
convention each script follows:

* ``--json``: print JSON lines on stdout (one object per measurement, usually a final ``"type": "summary"`` line);
  progress and diagnostics go to stderr;
* ``--quick``: a small, fast configuration for smoke runs;
* exit status 0 on success.

Usage::

    python benchmarks/run.py                      # full runs -> benchmarks/results/<hostname>-<date>.json
    python benchmarks/run.py --quick              # smoke runs
    python benchmarks/run.py --only pk_cohort --out /tmp/r.json -- --n 1000 --repeats 5

Options this runner does not know (and everything after ``--``) are passed through to every script that lists them
in its ``--help``; ``--quick`` too. The file is written even when a script fails (the error is recorded among its
records), and the exit status is then 1.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _say(msg: str, end: str = "\n") -> None:
    """Progress to stderr; never fatal (stderr may be a closed pipe)."""
    try:
        print(msg, end=end, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def discover(only: list[str] | None = None) -> list[Path]:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in ("run.py", "compare.py") and not p.name.startswith("_"))
    if only:
        unknown = set(only) - {p.stem for p in scripts}
        if unknown:
            raise SystemExit(f"unknown benchmark(s) {sorted(unknown)}; have {[p.stem for p in scripts]}")
        scripts = [p for p in scripts if p.stem in only]
    return scripts


# -- machine -----------------------------------------------------------------------------------------------------------
def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: ")) and ":" in line:
                value = line.split(":", 1)[1].strip()
                if value and not value.isdigit():
                    return value
    except OSError:
        pass
    return platform.processor() or None


def _memory_gb() -> float | None:
    try:
        m = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        return round(int(m.group(1)) / 2**20, 2) if m else None
    except OSError:
        pass
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 2)
    except (ValueError, OSError, AttributeError):
        return None


def _gpus() -> list[dict] | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return [{"error": f"nvidia-smi failed: {e}"}]
    if out.returncode != 0:
        return [{"error": f"nvidia-smi exit {out.returncode}: {out.stderr.strip()[:200]}"}]
    gpus = []
    for line in out.stdout.strip().splitlines():
        parts = [x.strip() for x in line.split(",")]
        gpus.append(dict(zip(("name", "memory_total", "driver_version"), parts)))
    return gpus


def _jax_info(python: str) -> dict:
    """jax version, backend and devices, asked of the interpreter that runs the benchmarks."""
    code = ("import json, jax; print(json.dumps({'jax_version': jax.__version__, 'jax_backend': jax.default_backend(),"
            " 'jax_devices': [str(d) for d in jax.devices()], 'device_kind': jax.devices()[0].device_kind}))")
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:  # noqa: BLE001 - machine info is best effort
        return {"jax_error": f"{type(e).__name__}: {e}"}


def machine_info(python: str) -> dict:
    info = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": python,
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
    }
    try:
        info["cpu_affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    info.update(_jax_info(python))
    gpus = _gpus()
    info["gpu"] = gpus[0].get("name") if gpus else None
    info["gpus"] = gpus
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                            cwd=ROOT, timeout=10).stdout.strip() or None
        info["git_dirty"] = bool(subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                                                cwd=ROOT, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


# -- running a script --------------------------------------------------------------------------------------------------
def _supported(python: str, script: Path, options: list[str]) -> tuple[list[str], list[str]]:
    """Split pass-through args into those the script's --help mentions and those it does not."""
    if not options:
        return [], []
    try:
        help_text = subprocess.run([python, str(script), "--help"], capture_output=True, text=True, timeout=120,
                                   cwd=ROOT).stdout
    except (OSError, subprocess.SubprocessError):
        help_text = ""
    keep, drop, i = [], [], 0
    while i < len(options):
        opt = options[i]
        value = []
        if opt.startswith("-") and "=" not in opt and i + 1 < len(options) and not options[i + 1].startswith("-"):
            value = [options[i + 1]]
        flag = opt.split("=", 1)[0]
        if not flag.startswith("-") or re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text):
            keep += [opt] + value
        else:
            drop += [opt] + value
        i += 1 + len(value)
    return keep, drop


def run_script(python: str, script: Path, extra: list[str], timeout: float | None) -> tuple[list[dict], dict]:
    keep, drop = _supported(python, script, extra)
    cmd = [python, str(script), "--json", *keep]
    name = script.stem
    _say(f"== {name}: {' '.join(cmd[1:])}")
    if drop:
        _say(f"   ({name} does not take {drop}; not passed)")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    tail: collections.deque[str] = collections.deque(maxlen=60)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)

    def pump_stderr():
        for line in proc.stderr:
            tail.append(line.rstrip("\n"))
            _say(f"   {name}: {line}", end="")

    th = threading.Thread(target=pump_stderr, daemon=True)
    th.start()
    records, junk = [], []
    killed = threading.Event()

    def kill():
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    try:
        for line in proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                junk.append(line)
                continue
            records.append(rec if isinstance(rec, dict) else {"value": rec})
        rc = proc.wait()
    finally:
        if timer:
            timer.cancel()
    timed_out = killed.is_set()
    th.join(timeout=10)
    wall = time.perf_counter() - t0
    run = {"command": cmd[1:], "returncode": rc, "wall_s": round(wall, 3), "n_records": len(records)}
    if drop:
        run["not_passed"] = drop
    if junk:
        run["non_json_stdout"] = junk[-20:]
    if rc != 0:
        error = {"type": "error", "benchmark": name, "returncode": rc,
                 "message": ("timed out after %.0f s" % timeout) if timed_out else f"exit status {rc}",
                 "stderr_tail": list(tail)[-30:]}
        records.append(error)
        _say(f"!! {name} failed ({error['message']})")
    else:
        _say(f"== {name}: {len(records)} records in {wall:.1f} s")
    return records, run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run all benchmarks/*.py scripts and write one JSON file.")
    ap.add_argument("--out", type=Path, help="output file (default benchmarks/results/<hostname>-<date-time>.json)")
    ap.add_argument("--quick", action="store_true", help="pass --quick to every script (smoke run)")
    ap.add_argument("--only", help="comma-separated benchmark names (script stems) to run")
    ap.add_argument("--timeout", type=float, default=None, help="seconds after which a script is killed")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the scripts (default: this one)")
    a, extra = ap.parse_known_args(argv)
    extra = [x for x in extra if x != "--"]
    if a.quick:
        extra = ["--quick", *extra]

    started = dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    scripts = discover([x.strip() for x in a.only.split(",")] if a.only else None)
    machine = machine_info(a.python)
    out = a.out or HERE / "results" / f"{machine['hostname']}-{started:%Y-%m-%d-%H%M%S}.json"

    benchmarks, runs, failed = {}, {}, []
    for script in scripts:
        try:
            records, run = run_script(a.python, script, extra, a.timeout)
        except Exception as e:  # noqa: BLE001 - record and carry on with the others
            records = [{"type": "error", "benchmark": script.stem, "message": f"{type(e).__name__}: {e}"}]
            run = {"returncode": None}
        benchmarks[script.stem] = records
        runs[script.stem] = run
        if run.get("returncode") != 0:
            failed.append(script.stem)

    result = {
        "machine": machine,
        "benchmarks": benchmarks,
        "runs": runs,
        "args": {"quick": a.quick, "extra": extra, "only": a.only},
        "started": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - t0, 3),
        "failed": failed,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}" + (f" ({len(failed)} failed: {', '.join(failed)})" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
