"""Drift at scale, side by side with Evidently's DataDriftPreset on the same files.

200,000 + 200,000 rows × 20 columns (14 numeric, 6 categorical; 4 drifted; 1% missing in two), as Parquet.
Each whole job (process start, imports, reading, compute) runs as its own process and is timed from outside;
each prints its own peak memory. Targets (issue 4): our `--tests-only` job at least 5× faster than
Evidently's; adversarial validation under 6 s more; `--large` also runs 1,000,000 × 50 (under 4 GB).
First, the chat-sized case: 5,000 + 5,000 rows × 10 columns, warm and as a whole process (goal < 1.5 s warm).
Evidently: `pip install -r bench/requirements.txt` in an environment with pandas<3 (Evidently 0.7 does not
import under pandas 3). Usage: python -m bench.drift [--large] [--evidently-python PATH]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from services.settings import REPO_ROOT


def tables(rows: int, numeric: int, categorical: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def one(shifted: bool) -> pd.DataFrame:
        data = {f"n{i}": rng.normal(0, 1, rows) for i in range(numeric)}
        if shifted:
            data["n0"] = rng.normal(0.3, 1, rows)  # mean shift
            data["n1"] = rng.normal(0, 1.5, rows)  # scale change
            data["n2"] = rng.normal(0.5, 1, rows)
        for i in range(categorical):
            p = [0.4, 0.3, 0.2, 0.1] if not (shifted and i == 0) else [0.2, 0.3, 0.2, 0.3]
            data[f"c{i}"] = rng.choice(["a", "b", "c", "d"], rows, p=p)
        table = pd.DataFrame(data)
        for name in ("n3", "c1"):
            table.loc[rng.random(rows) < 0.01, name] = None
        return table

    return one(False), one(True)


def run(tool: str, reference: Path, current: Path, python: str = sys.executable) -> tuple[float, str, float]:
    started = time.perf_counter()
    job = str(REPO_ROOT / "bench" / "_drift_job.py")
    out = subprocess.run(
        [python, "-W", "ignore", job, tool, str(reference), str(current)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=True,
    )  # fmt: skip
    verdict, peak = out.stdout.strip().rsplit("|", 1)
    return time.perf_counter() - started, verdict, float(peak)


def compare(rows: int, numeric: int, categorical: int, with_evidently: bool, evidently_python: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        reference, current = Path(folder) / "reference.parquet", Path(folder) / "current.parquet"
        ref, cur = tables(rows, numeric, categorical)
        ref.to_parquet(reference)
        cur.to_parquet(current)
        del ref, cur
        print(f"{rows:,} + {rows:,} rows × {numeric + categorical} columns (4 drifted), Parquet")
        ours, verdict, peak = run("ours", reference, current)
        print(f"  ours --tests-only:   {ours:6.2f} s  peak {peak:6.0f} MB  ({verdict})")
        full, verdict, peak_full = run("ours-full", reference, current)
        print(f"  ours with adversarial validation: {full:6.2f} s (+{full - ours:.2f} s)  peak {peak_full:6.0f} MB")
        if with_evidently:
            try:
                theirs, verdict, their_peak = run("evidently", reference, current, evidently_python)
            except subprocess.CalledProcessError as error:
                print(f"  evidently: failed ({error.stderr.strip().splitlines()[-1] if error.stderr else error})")
                return
            print(f"  evidently DataDriftPreset: {theirs:6.2f} s  peak {their_peak:6.0f} MB")
            print(f"  ratio evidently / ours (tests only): {theirs / ours:.1f}×")


def chat_sized() -> None:
    """Print the chat-sized figures: 5,000 + 5,000 rows × 10 columns, the whole drift (tests, adversarial
    validation) and its Teams chart, warm in this process (libraries imported, as in a running worker), and as
    a whole process (start, imports, read CSV, analyse, chart)."""
    from handlers.analytics import TEAMS_CHART_BYTES
    from services.analytics.charts import drift_chart
    from services.analytics.drift import DriftOptions, analyse

    ref, cur = tables(5_000, 7, 3, seed=1)
    timings = []
    for _ in range(4):  # the first run warms caches; the next three are the warm figures
        started = time.perf_counter()
        result = analyse(ref, cur, DriftOptions())
        drift_chart(result, ref, cur, max_bytes=TEAMS_CHART_BYTES, dpi=70)
        timings.append(time.perf_counter() - started)
    warm = sorted(timings[1:])
    print(f"5,000 + 5,000 rows × 10 columns, drift with adversarial validation + Teams chart: warm {warm[0]:.2f} s "
          f"best, {warm[1]:.2f} s median of 3 (goal < 1.5 s); {result.summary[0][:60]}…")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        paths = [f"{folder}/reference.csv", f"{folder}/current.csv"]
        ref.to_csv(paths[0], index=False)
        cur.to_csv(paths[1], index=False)
        code = "from bench.drift import small_job; import sys; small_job(*sys.argv[1:])"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-W", "ignore", "-c", code, *paths], check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})  # fmt: skip
        print(f"  whole process (start, imports, read CSV, analyse, chart): {time.perf_counter() - started:.2f} s")


def small_job(reference: str, current: str) -> None:
    """One chat-sized drift in this process, as the whole-process figure runs it: the chat's pipeline and spec."""
    from handlers.analytics import TEAMS_CHART_BYTES
    from services.analytics.commands import DRIFT
    from services.analytics.pipeline import run

    values, _ = DRIFT.parse("")
    sources = [(reference, "reference.csv"), (current, "current.csv")]
    run(DRIFT, sources, values, max_chart_bytes=TEAMS_CHART_BYTES, dpi=DRIFT.chat_dpi, threads=1)


if __name__ == "__main__":
    chat_sized()
    # Evidently 0.7 does not import under pandas 3 (which the gateway pins): give it an interpreter of its own
    # with `--evidently-python PATH` (a virtual environment with evidently and pandas<3).
    python = sys.argv[sys.argv.index("--evidently-python") + 1] if "--evidently-python" in sys.argv else sys.executable
    compare(200_000, 14, 6, with_evidently=True, evidently_python=python)
    if "--large" in sys.argv:
        compare(1_000_000, 40, 10, with_evidently=False, evidently_python=python)
