"""`metrics` on large generated Parquet: the Spark path (pyspark local mode) beside the local path.

    .venv/bin/python -m bench.spark_metrics [--rows 1000000] [--cores 2]

Per size: one Parquet prefix of scored rows (8 files; label 1 with rate 0.2, probabilities from a logistic
model with AUC about 0.8), then the Spark path three ways, each after the same untimed warm-up job: exact on
scores rounded to 4 decimals (few distinct pairs), exact on continuous scores (one pair per row, up to
spark_metrics.EXACT_MAX_GROUPS), and score bins (the gate set to 0); its wall time, the driver process's peak
memory (this Python process, the worker's
memory; it includes generating the data here), vCPU-seconds (wall × cores, an upper bound) and ROC AUC
against the local path (metrics.evaluate on pandas in a child process, its wall time and peak memory).
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

FILES = 8


def generate(folder: Path, rows: int, seed: int = 0) -> None:
    """Write `rows` scored rows as FILES Parquet files under `folder`: label, p (continuous), p4 (4 decimals)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for k in range(FILES):
        n = rows // FILES
        label = (rng.random(n) < 0.2).astype(np.int64)
        p = 1 / (1 + np.exp(-(rng.normal(-1.8, 1, n) + 1.2 * label)))
        pd.DataFrame({"label": label, "p": p, "p4": p.round(4)}).to_parquet(folder / f"part-{k}.parquet")


def _high_water_mb() -> float:
    """This process's peak resident memory since exec (VmHWM; ru_maxrss would include a forking parent's)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


LOCAL = """
import sys, time
import pandas as pd
from bench.spark_metrics import _high_water_mb
from services.analytics.metrics import evaluate
started = time.perf_counter()
table = pd.read_parquet(sys.argv[1], columns=["label", sys.argv[2]])
result = evaluate(table, "label", sys.argv[2])
print(time.perf_counter() - started, _high_water_mb(), result.roc_auc)
"""


def local(folder: Path, column: str) -> tuple[float, float, float]:
    """Return (wall s, peak MB, ROC AUC) of the local path in a child process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run([sys.executable, "-c", LOCAL, str(folder), column], capture_output=True, text=True,
                          check=True, env=env)  # fmt: skip
    wall, peak, auc = done.stdout.split()
    return float(wall), float(peak), float(auc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    from services.analytics import spark_engine, spark_metrics

    default_gate = spark_metrics.EXACT_MAX_GROUPS
    spark = spark_engine.local_session(cores=args.cores, memory="1g")
    spark.sparkContext.setLogLevel("ERROR")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; Spark local[{args.cores}], 1 GB driver")
    for rows in (int(r) for r in args.rows.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "scores"
            generate(folder, rows)
            spark.read.parquet(str(folder)).count()  # warm-up (untimed)
            for name, column, gate in (("exact, 4-decimal scores", "p4", default_gate),
                                       ("exact, continuous scores", "p", default_gate),
                                       ("score bins, continuous scores", "p", 0)):  # fmt: skip
                spark_metrics.EXACT_MAX_GROUPS = gate
                started = time.perf_counter()
                result, _ = spark_metrics.spark_metrics(spark, str(folder), {"y_true": "label", "y_score": column})
                wall = time.perf_counter() - started
                local_wall, local_peak, local_auc = local(folder, column)
                bound = result.approximations.get("roc_auc_error_bound", 0.0)
                print(f"{rows:>11,} rows, {name:<30} Spark {wall:6.1f} s ({wall * args.cores:6.0f} vCPU-s), "
                      f"driver peak {_high_water_mb():5.0f} MB, AUC {result.roc_auc:.6f} (bound {bound:.1e}) | local "
                      f"{local_wall:6.1f} s, peak {local_peak:5.0f} MB, AUC {local_auc:.6f} | "
                      f"ratio {wall / local_wall:4.1f}×")  # fmt: skip
            spark_metrics.EXACT_MAX_GROUPS = default_gate
    spark.stop()


if __name__ == "__main__":
    main()
