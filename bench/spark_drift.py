"""Drift on large generated Parquet: the Spark path (pyspark local mode) beside the local path.

    .venv/bin/python -m bench.spark_drift [--rows 500000,2000000] [--local-rows 500000] [--cores 2]

Per size: two Parquet prefixes (reference and current, 8 files each, 20 columns: 15 numeric of which 3 drift,
5 categorical of which 1 drifts), then the Spark path's wall time (after an untimed warm-up job), the
vCPU-seconds it used (wall × cores, an upper bound), the driver process's peak memory (this Python process:
the worker's memory) and the verdict; the local path (drift.analyse on pandas, tests only, in a child
process) on the size it is asked to do, its wall time and peak memory. Last, the estimated cost of a
100 M-row job on EMR Serverless from the measured vCPU-seconds per row.
The machine is shared: figures vary with its load (printed).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS_NUMERIC, COLUMNS_CATEGORICAL, FILES = 15, 5, 8
# EMR Serverless, us-east-1, x86_64 (aws.amazon.com/emr/pricing, December 2026 as read): per vCPU-hour and per
# GB-hour; workers of 4 GB per vCPU (the default 4 vCPU / 16 GB worker); storage of 20 GB per worker free.
PRICE_VCPU_HOUR, PRICE_GB_HOUR, GB_PER_VCPU = 0.052624, 0.0057785, 4


def generate(folder: Path, rows: int, drifted: bool, seed: int) -> None:
    """Write `rows` rows as FILES Parquet files under `folder` (known drift when `drifted`)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    per_file = rows // FILES
    for k in range(FILES):
        data = {}
        for j in range(COLUMNS_NUMERIC):
            shift = 0.3 if drifted and j < 3 else 0.0
            data[f"x{j}"] = rng.normal(shift, 1.0, per_file).astype("float64")
        for j in range(COLUMNS_CATEGORICAL):
            p = [0.4, 0.3, 0.2, 0.1] if not (drifted and j == 0) else [0.25, 0.3, 0.25, 0.2]
            data[f"c{j}"] = rng.choice(np.array(["north", "south", "east", "west"]), per_file, p=p)
        pd.DataFrame(data).to_parquet(folder / f"part-{k:03d}.parquet", index=False)


def local_job(reference: str, current: str) -> None:
    """Child process: the local path on the two prefixes; prints wall seconds, peak MB and drifted columns."""
    from services.analytics import drift

    started = time.perf_counter()
    result = drift.analyse(pd.read_parquet(reference), pd.read_parquet(current), drift.DriftOptions(tests_only=True))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    drifted = sorted(c.name for c in result.drifted)
    print(f"{time.perf_counter() - started:.1f} {peak:.0f} {','.join(drifted)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="500000,2000000", help="rows per table, comma-separated")
    parser.add_argument("--local-rows", type=int, default=500_000, help="the size the local path runs on")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    sizes = [int(v) for v in args.rows.split(",")]
    from services.analytics import drift, spark_engine

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {COLUMNS_NUMERIC} numeric + "
          f"{COLUMNS_CATEGORICAL} categorical columns; truth: x0, x1, x2, c0 drift")  # fmt: skip
    spark = spark_engine.local_session(cores=args.cores, memory="1g")
    spark.sparkContext.setLogLevel("ERROR")
    per_row = []
    with tempfile.TemporaryDirectory(prefix="spark_drift_") as tmp:
        # Warm-up (not timed): the JVM's compiler and the Python workers start on the first job.
        generate(Path(tmp, "warm_ref"), 8_000, False, 3)
        generate(Path(tmp, "warm_cur"), 8_000, True, 4)
        spark_engine.spark_drift(spark, str(Path(tmp, "warm_ref")), str(Path(tmp, "warm_cur")),
                                 drift.DriftOptions(tests_only=True))  # fmt: skip
        for rows in sizes:
            ref, cur = Path(tmp, f"ref{rows}"), Path(tmp, f"cur{rows}")
            started = time.perf_counter()
            generate(ref, rows, False, 1)
            generate(cur, rows, True, 2)
            made = time.perf_counter() - started
            started = time.perf_counter()
            result = spark_engine.spark_drift(spark, str(ref), str(cur), drift.DriftOptions(tests_only=True))
            wall = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            drifted = sorted(c.name for c in result.drifted)
            per_row.append(wall * args.cores / (2 * rows))
            print(f"spark  {rows:>11,} rows/table: {wall:7.1f} s wall, {wall * args.cores:7.1f} vCPU-s, driver peak "
                  f"{peak:6.0f} MB, KS bound {(result.approximations or {})['ks_error_bound']:.4f}, drifted "
                  f"{','.join(drifted)} (data written in {made:.0f} s)")  # fmt: skip
            if rows == args.local_rows:
                code = "import sys; from bench.spark_drift import local_job; local_job(*sys.argv[1:])"
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-c", code, str(ref), str(cur)], capture_output=True,
                                      text=True, timeout=1800, check=False)  # fmt: skip
                if done.returncode == 0:
                    seconds, local_peak, local_drifted = (done.stdout.split() + [""])[:3]
                    print(f"local  {rows:>11,} rows/table: {float(seconds):7.1f} s wall, process peak "
                          f"{float(local_peak):6.0f} MB, drifted {local_drifted} (tests on a sample of 200,000 "
                          "rows per table)")  # fmt: skip
                else:
                    print(f"local  {rows:>11,} rows/table: failed ({done.returncode}): {done.stderr[-300:]}")
    spark.stop()
    if len(sizes) > 1:
        ratio = per_row[-1] / per_row[0] * sizes[-1] / sizes[0]
        print(f"scaling: {sizes[-1] / sizes[0]:.0f}× the rows took {ratio:.1f}× the time")
    vcpu_seconds = per_row[-1] * 2 * 100_000_000
    cost = vcpu_seconds / 3600 * (PRICE_VCPU_HOUR + GB_PER_VCPU * PRICE_GB_HOUR)
    print(
        f"100 M + 100 M rows at the largest size's {per_row[-1] * 1e6:.1f} vCPU-s per million rows: "
        f"{vcpu_seconds:,.0f} vCPU-s ≈ ${cost:.2f} on EMR Serverless (${PRICE_VCPU_HOUR}/vCPU-h, "
        f"${PRICE_GB_HOUR}/GB-h, {GB_PER_VCPU} GB per vCPU; minimum billing and start-up not included)"
    )


if __name__ == "__main__":
    main()
