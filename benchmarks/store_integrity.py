"""What trustworthy stores cost: chunk checksums on the write, a full verification, and exporting a large store in
bounded memory.

Three measurements on one cohort -- ``pharmacokinetics/one_compartment_oral``, typical ka = 1.5 /h, CL = 2.8 L/h,
V = 31.5 L, omega 0.42 / 0.073 / 0.018 (diagonal), 100 mg into ``depot``, Cc at 0, 1, ..., 24 h, the exact linear
solver, float64:

1. **checksums**: the same trial (``--n`` patients in one arm, ``--batch-size``) written with the store's codecs
   (Blosc LZ4 + CRC-32C) and, alternately, with Blosc alone (the layout before checksums), ``--repeats`` times
   each in one process after a warm-up; ``with_over_without`` is the ratio of the medians of the run times;
2. **verify**: ``vh.verify_trial`` (every chunk read and checked) on the checksummed store, and ``open_trial``
   reading Cc whole, for comparison;
3. **export**: a store of ``--export-n`` patients (two arms of half each) exported by ``vhtwin export`` to CSV and
   to Parquet, each in a fresh process whose peak resident memory (``VmHWM``) is recorded next to that of a process
   that only opens the store (the baseline), the store's size on disk, and the size in memory of the whole long
   table (what a non-streaming export would hold).

Usage::

    python benchmarks/store_integrity.py --json                      # n = 20000, export-n = 1000000
    python benchmarks/store_integrity.py --quick                     # n = 2000, export-n = 20000

Output: JSON lines on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import vhtwin as vh

vh.use_cpu_cores()  # every core a JAX device, as the command line has it (before JAX starts)

BENCHMARK = "store_integrity"
ROOT = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load() -> float:
    return os.getloadavg()[0]


def make_trial(n_per_arm: int, arms: int = 1):
    import vhtwin as vh

    m = vh.load_model("pharmacokinetics/one_compartment_oral")
    pop = vh.Population(m, typical={"ka": 1.5, "CL": 2.8, "V": 31.5}, omega={"ka": 0.42, "CL": 0.073, "V": 0.018})
    regimens = {"100 mg": vh.Regimen.bolus(100.0, into="depot"), "200 mg": vh.Regimen.bolus(200.0, into="depot")}
    return vh.Trial(model=m, population=pop, n_per_arm=n_per_arm, times=np.arange(0.0, 25.0), outputs=["Cc"],
                    seed=1, solver="exact", arms=dict(list(regimens.items())[:arms]))


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def checksums(n: int, batch: int, repeats: int, root: Path) -> dict:
    from zarr.codecs import BloscCodec

    from vhtwin.trial import store as st

    trial = make_trial(n)
    with_crc = st.compressors

    def without_crc():
        return [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")]

    def run(codecs) -> float:
        st.compressors = codecs
        try:
            path = root / "c.zarr"
            shutil.rmtree(path, ignore_errors=True)
            t0 = time.perf_counter()
            trial.run(path, batch_size=batch, progress=False)
            return time.perf_counter() - t0
        finally:
            st.compressors = with_crc

    run(with_crc)  # compile
    times = {"with": [], "without": []}
    before = load()
    for _ in range(repeats):
        times["with"].append(run(with_crc))
        times["without"].append(run(without_crc))
    run(with_crc)
    size = dir_bytes(root / "c.zarr")
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"type": "measurement", "benchmark": BENCHMARK, "what": "checksums", "n": n, "batch_size": batch,
            "run_s_with_checksums": times["with"], "run_s_without": times["without"],
            "median_with_s": med["with"], "median_without_s": med["without"],
            "with_over_without": med["with"] / med["without"], "store_bytes": size,
            "loadavg_1min": [before, load()]}


def verify(root: Path) -> dict:
    import vhtwin as vh

    path = root / "c.zarr"
    t0 = time.perf_counter()
    report = vh.verify_trial(path)
    verify_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    vh.open_trial(path)["Cc"].values
    read_s = time.perf_counter() - t0
    return {"type": "measurement", "benchmark": BENCHMARK, "what": "verify", "state": report.state,
            "chunks": report.checked, "store_bytes": dir_bytes(path), "verify_s": verify_s,
            "read_output_s": read_s, "verify_over_read_output": verify_s / read_s}


PEAK = ("import sys, vhtwin as vh; ds = vh.open_trial(sys.argv[1]); "
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])")


def peak_kib(args: list[str]) -> tuple[int, float, str]:
    """Run ``python -c`` or the vhtwin command in a fresh process; its peak RSS (KiB) from /proc, wall seconds."""
    script = ("import sys, runpy, resource; sys.argv = ['vhtwin'] + sys.argv[1:]; "
              "from vhtwin.cli import main; rc = main(sys.argv[1:]); "
              "print('VmHWM', [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]); "
              "sys.exit(rc)")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    kib = int(next(line for line in done.stdout.splitlines() if line.startswith("VmHWM")).split()[1])
    return kib, wall, done.stdout


def export(n: int, batch: int, root: Path) -> list[dict]:
    path = root / "big.zarr"
    log(f"export: writing a store of {n:,} patients")
    t0 = time.perf_counter()
    make_trial(n // 2, arms=2).run(path, batch_size=batch, progress=False)
    log(f"  written in {time.perf_counter() - t0:.1f} s")
    base = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    baseline = int(base.stdout.strip())
    rows = n * 25
    # The whole long table in memory: arm (object), patient_id, patient, time, Cc, status (int8).
    whole_table_bytes = rows * (8 + 8 + 8 + 8 + 8 + 1) + rows * 8
    out = []
    for fmt in ("csv", "parquet"):
        target = root / f"big.{fmt}"
        kib, wall, stdout = peak_kib(["export", str(path), "--out", str(target), "--overwrite"])
        out.append({"type": "measurement", "benchmark": BENCHMARK, "what": "export", "format": fmt, "patients": n,
                    "rows": rows, "batch_size": batch, "wall_s": wall, "rows_per_s": rows / wall,
                    "peak_rss_mib": kib / 1024, "baseline_open_rss_mib": baseline / 1024,
                    "export_over_open_rss": kib / baseline, "store_bytes": dir_bytes(path),
                    "file_bytes": target.stat().st_size, "whole_table_in_memory_mib": whole_table_bytes / 2**20,
                    "says": stdout.splitlines()[0]})
        log(f"  {fmt}: {wall:.1f} s, peak {kib / 1024:.0f} MiB (open alone {baseline / 1024:.0f} MiB)")
        target.unlink()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="JSON lines on stdout")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--batch-size", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--export-n", type=int, default=1_000_000)
    p.add_argument("--export-batch-size", type=int, default=10000)
    args = p.parse_args()
    if args.quick:
        args.n, args.batch_size, args.repeats, args.export_n, args.export_batch_size = 2000, 500, 1, 20000, 5000
    records = []
    with tempfile.TemporaryDirectory(prefix="vhtwin-integrity-") as tmp:
        root = Path(tmp)
        log(f"checksums: {args.n:,} patients, batches of {args.batch_size}, {args.repeats} repeats")
        records.append(checksums(args.n, args.batch_size, args.repeats, root))
        records.append(verify(root))
        records.extend(export(args.export_n, args.export_batch_size, root))
    for r in records:
        print(json.dumps(r) if args.json else r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
