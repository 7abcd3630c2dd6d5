"""Drift and metrics at scale: the Spark path (pyspark local mode) beside the local pandas path and Evidently.

    nice -n 10 .venv/bin/python -m bench.spark_scale [--data /work/data25] [--sizes 2,5,10,20]
        [--local-sizes 20,10,5,2] [--evidently-sizes 5,2] [--metrics-sizes 2,20] [--local-metrics-size 2]
        [--cap-gb 12] [--timeout 900]

Data (generated once into --data, outside the repository, and reused): two Parquet tables partitioned by day
(`dt=2026-10-DD/`, `dt=2026-11-DD/`), 1,000,000 rows a day and a table, 20 columns (14 numeric, 6
categorical), 5 with known drift (n0 mean shift, n1 scale, n12 missing share, c0 proportions, c2 a new
category); a size of N million rows is the first N days of each table, read as its day folders (the `dt`
partition column is not a column of the comparison). For `metrics`: a scored table (y_true, y_score, segment)
partitioned by day the same way.

Every case is its own process, watched from here: its wall time, the peak resident memory (RSS) of the
process that asks Spark and builds the result (the worker), of the JVM, of Spark's Python workers and of all of
them together, polled every 0.2 s; the case is killed (and said so) when the whole tree passes --cap-gb or the
case passes --timeout. The Spark case starts its session and runs an untimed warm-up job first; its timed part
is the one `spark_drift` call (reading, both passes, the tests; its steps' seconds are printed after the result).
vCPU-s is wall × cores (what a machine of that size is busy for, what EMR bills); CPU-s is the CPU time the
process tree used (utime + stime from /proc, plus that of the children its processes reaped: Spark's Python
workers that ended).
The local path (pandas, `drift.analyse`) and Evidently (DataDriftPreset, in its own venv: bench/requirements.txt)
run on the largest of their sizes that they finish, tried in the given order. All figures come from this run;
the machine is shared, so the load average is printed at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
ROWS_PER_DAY = 1_000_000
NUMERIC, CATEGORICAL = 14, 6
TRUTH = ("c0", "c2", "n0", "n1", "n12")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")

# EMR Serverless prices, US East (N. Virginia), x86_64, as aws.amazon.com/emr/pricing/ publishes them (the
# figures docs/analytics.md already used; not re-read from this machine, which has no web access): per vCPU-hour
# and per GB-hour of the workers, billed per second with a one-minute minimum per worker, 20 GB of ephemeral
# storage per worker included. Worker sizes: template.yaml and services/analytics/emr.py set none, so EMR
# Serverless' Spark defaults apply (driver and executors of 4 vCPU / 16 GB); template.yaml caps the application
# at EmrMaximumVcpu (16 by default).
PRICE_VCPU_HOUR, PRICE_GB_HOUR = 0.052624, 0.0057785
WORKER_VCPU, WORKER_GB, EMR_MAX_VCPU, MINIMUM_SECONDS = 4, 16, 16, 60.0


# --- the process tree, from /proc (no psutil in the venv; Linux only, like the machine this runs on) ---------


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def tree(root: int) -> list[int]:
    """Return `root` and its descendants' pids."""
    kids, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += kids.get(pid, [])
    return found


def _stat(pid: int, reaped: bool = False) -> tuple[float, int] | None:
    """Return (CPU seconds, RSS bytes) of one process, None when it is gone; `reaped`: its CPU time includes that
    of the children it waited for (ended Python workers, whose time otherwise leaves the tree with them)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / TICK, int(fields[21]) * PAGE


def _is_java(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "java"
    except OSError:
        return False


def tree_cpu(root: int) -> float:
    """Return the CPU seconds the live processes of `root`'s tree and the children they reaped used so far (a
    difference of two readings is the tree's CPU time between them while its long-lived processes live)."""
    return sum(s[0] for pid in tree(root) if (s := _stat(pid, reaped=True)))


@dataclass
class Watch:
    """Peaks of one case's process tree: the root (the worker), the JVM, the rest (Spark's Python workers)."""

    root: int
    worker: int = 0
    jvm: int = 0
    others: int = 0
    total: int = 0
    byte_seconds: float = 0.0
    cpu: dict[int, float] = field(default_factory=dict)

    def poll(self, dt: float) -> int:
        jvm = others = worker = 0
        for pid in tree(self.root):
            found = _stat(pid)
            if not found:
                continue
            self.cpu[pid] = found[0]
            if pid == self.root:
                worker = found[1]
            elif _is_java(pid):
                jvm += found[1]
            else:
                others += found[1]
        total = worker + jvm + others
        self.worker, self.jvm = max(self.worker, worker), max(self.jvm, jvm)
        self.others, self.total = max(self.others, others), max(self.total, total)
        self.byte_seconds += total * dt
        return total


def run_case(args: list[str], cap_bytes: int, timeout: float, python: str = sys.executable) -> dict:
    """Run `python -m bench.spark_scale --case …` as a child, watched; return its JSON line plus the peaks
    (or `failed` with the reason: killed above the cap, timed out, or its own error)."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "PYSPARK_SUBMIT_ARGS": "--conf spark.ui.showConsoleProgress=false pyspark-shell"}  # fmt: skip
    command = [python, "-W", "ignore", "-m", "bench.spark_scale", *args]
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)  # fmt: skip
    watch, failed, last = Watch(child.pid), "", time.perf_counter()
    while child.poll() is None:
        now = time.perf_counter()
        total = watch.poll(now - last)
        last = now
        if total > cap_bytes:
            failed = f"killed at {total / 2**30:.1f} GB RSS (cap {cap_bytes / 2**30:.0f} GB)"
        elif now - started > timeout:
            failed = f"timed out after {timeout:.0f} s"
        if failed:
            _kill(child.pid)
            break
        time.sleep(0.2)
    out, err = child.communicate()
    result = {"process_wall": time.perf_counter() - started, "worker_mb": watch.worker / 2**20,
              "jvm_mb": watch.jvm / 2**20, "pyworkers_mb": watch.others / 2**20, "total_mb": watch.total / 2**20,
              "gb_seconds": watch.byte_seconds / 2**30, "tree_cpu": sum(watch.cpu.values())}  # fmt: skip
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if failed or child.returncode or not lines:
        tail = (err.strip().splitlines() or [f"exit {child.returncode}"])[-1][:160]
        result["failed"] = failed or f"exit {child.returncode}: {tail}"
        return result
    return {**result, **json.loads(lines[-1])}


def _kill(pid: int) -> None:
    """Kill the case's process group (it was started in a session of its own) and any descendant left."""
    pids = tree(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for other in pids:
        try:
            os.kill(other, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- data -------------------------------------------------------------------------------------------------------


def _day(table: str, day: int) -> str:
    return f"dt=2026-{10 if table == 'reference' else 11}-{day:02d}"


def _drift_day(rows: int, drifted: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for j in range(10):
        data[f"n{j}"] = rng.normal(0.0, 1.0, rows)
    if drifted:  # the gate is significance and an effect of at least 0.1 sd (normalised Wasserstein)
        data["n0"] = rng.normal(0.3, 1.0, rows)  # drifts: a mean shift of 0.3 sd
        data["n1"] = rng.normal(0.0, 1.5, rows)  # drifts: half again the spread (W ≈ 0.4 sd)
        data["n2"] = rng.normal(0.02, 1.0, rows)  # significant at these sizes, too small to drift (0.02 sd)
    data["n10"] = rng.lognormal(3.0, 1.0, rows)  # amounts
    data["n11"] = rng.poisson(3.0, rows).astype("int64")  # counts
    n12 = rng.normal(50.0, 10.0, rows)
    n12[rng.random(rows) < (0.08 if drifted else 0.02)] = np.nan  # drifts: missing share 2% → 8%
    data["n12"] = n12
    data["n13"] = rng.uniform(0.0, 1.0, rows)

    def pick(values: list[str], p: list[float]) -> pd.Categorical:
        codes = rng.choice(len(values), rows, p=np.asarray(p) / sum(p))
        return pd.Categorical.from_codes(codes, categories=values)

    data["c0"] = pick(
        ["web", "ios", "android", "partner"], [0.4, 0.3, 0.2, 0.1] if not drifted else [0.2, 0.3, 0.2, 0.3]
    )
    countries = [f"country{k:02d}" for k in range(20)]
    data["c1"] = pick(countries, list(1.0 / np.arange(1, 21)))
    data["c2"] = pick(["email", "search", "social", "direct", "tv"], [0.3, 0.3, 0.2, 0.2, 0.0 if not drifted else 0.1])
    data["c3"] = pick(["yes", "no"], [0.7, 0.3])
    data["c4"] = pick([f"sku{k:03d}" for k in range(200)], list(1.0 / np.arange(1, 201) ** 1.1))
    data["c5"] = pick(["bronze", "silver", "gold"], [0.6, 0.3, 0.1])
    return pd.DataFrame(data)


def _scores_day(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal_ = rng.normal(0.0, 1.0, rows)
    y = (rng.random(rows) < 1 / (1 + np.exp(-(1.5 * signal_ - 2.0)))).astype("int64")  # base rate ≈ 0.2
    score = 1 / (1 + np.exp(-(1.5 * signal_ + rng.normal(0.0, 0.8, rows) - 2.0)))
    segment = pd.Categorical.from_codes(rng.integers(0, 3, rows), categories=["a", "b", "c"])
    return pd.DataFrame({"y_true": y, "y_score": score, "segment": segment})


def _write(table: pd.DataFrame, path: Path, row_group: int) -> None:
    """Write `table` as a data team's engine would (Spark, Athena): text columns as strings (dictionary-encoded
    pages), no pandas metadata, so pandas reads them back as strings, not as categoricals."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(None)
    arrow = arrow.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                                  for f in arrow.schema]))  # fmt: skip
    pq.write_table(arrow, path, row_group_size=row_group, compression="snappy")


def generate(data: Path, days: int, rows: int = ROWS_PER_DAY) -> float:
    """Write the first `days` days (`rows` rows each) of every table under `data` that are not there yet;
    return the seconds taken."""
    started = time.perf_counter()
    data.mkdir(parents=True, exist_ok=True)
    if rows_per_day(data, rows) != rows:
        raise SystemExit(f"{data} holds days of {rows_per_day(data, rows):,} rows: use another folder")
    (data / "rows_per_day").write_text(str(rows))
    for day in range(1, days + 1):
        for table, make in (("reference", lambda s: _drift_day(rows, False, s)),
                            ("current", lambda s: _drift_day(rows, True, s)),
                            ("scores", lambda s: _scores_day(rows, s))):  # fmt: skip
            folder = data / table / _day("current" if table == "scores" else table, day)
            target = folder / "part-00000.parquet"
            if target.exists():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            seed = {"reference": 1, "current": 2, "scores": 3}[table] * 1000 + day
            _write(make(seed), folder / ".part.tmp", max(rows // 8, 1000))
            (folder / ".part.tmp").rename(target)  # a half-written file never looks finished
    return time.perf_counter() - started


def rows_per_day(data: Path, default: int = ROWS_PER_DAY) -> int:
    """Return the rows a day of the data under `data` holds (1,000,000 unless generated smaller for a check)."""
    marker = data / "rows_per_day"
    return int(marker.read_text()) if marker.exists() else default


def day_folders(data: Path, table: str, millions: int) -> list[str]:
    role = "current" if table == "scores" else table
    folders = [data / table / _day(role, day) for day in range(1, millions + 1)]
    missing = [str(f) for f in folders if not (f / "part-00000.parquet").exists()]
    if missing:
        raise SystemExit(f"missing data: {missing[0]} (run with --generate {millions})")
    return [str(f) for f in folders]


def files(folders: list[str]) -> list[str]:
    return [str(Path(f, "part-00000.parquet")) for f in folders]


# --- the cases, each in its own process -------------------------------------------------------------------------


def _drifted(names: list[str]) -> str:
    return ",".join(sorted(names))


def case_spark_drift(data: Path, millions: int, cores: int, memory: str) -> dict:
    from services.analytics import drift, spark_engine

    spark = spark_engine.local_session(cores=cores, memory=memory)
    spark.sparkContext.setLogLevel("ERROR")
    ref_folders, cur_folders = day_folders(data, "reference", millions), day_folders(data, "current", millions)
    options = drift.DriftOptions(tests_only=True)
    warm = [spark.read.parquet(ref_folders[0]).limit(20_000), spark.read.parquet(cur_folders[0]).limit(20_000)]
    spark_engine.spark_drift(spark, *warm, options)  # untimed: the JVM's compiler, the Python workers start
    cpu, started, steps = tree_cpu(os.getpid()), time.perf_counter(), {}
    result = spark_engine.spark_drift(spark, spark.read.parquet(*ref_folders), spark.read.parquet(*cur_folders),
                                      options, timings=steps)  # fmt: skip
    wall, cpu = time.perf_counter() - started, tree_cpu(os.getpid()) - cpu
    spark.stop()
    rank = (result.approximations or {}).get("quantile_rank_error", 0.0)
    return {"wall": wall, "cpu": cpu, "drifted": _drifted([c.name for c in result.drifted]),
            "note": f"{_ks_bounds(result)}; PSI cuts' rank error {rank:.4f}; steps (s): "
                    + ", ".join(f"{k} {v:.0f}" for k, v in steps.items())}  # fmt: skip


def _ks_bounds(result: object) -> str:
    """Return the KS error bounds of a Spark result: the largest among continuous columns, and the largest of all
    with its column (a column of few values, counts, keeps a whole value's share in one bin)."""
    bounds = {c.name: c.ks_error_bound for c in result.columns if c.ks_error_bound is not None}
    if not bounds:
        return ""
    worst = max(bounds, key=bounds.get)
    typical = sorted(bounds.values())[len(bounds) // 2]
    return f"KS error bound: median {typical:.4f}, largest {bounds[worst]:.3f} ({worst})"


def case_local_drift(data: Path, millions: int) -> dict:
    from services.analytics import drift

    started = time.perf_counter()
    # as services/analytics/pipeline.py reads a folder (pd.read_parquet), here the size's day files
    reference = pd.read_parquet(files(day_folders(data, "reference", millions)), partitioning=None)
    current = pd.read_parquet(files(day_folders(data, "current", millions)), partitioning=None)
    result = drift.analyse(reference, current, drift.DriftOptions(tests_only=True))
    wall = time.perf_counter() - started
    return {"wall": wall, "cpu": tree_cpu(os.getpid()), "drifted": _drifted([c.name for c in result.drifted]),
            "note": f"tests on a sample of {drift.DriftOptions().max_rows:,} rows a table"}  # fmt: skip


def case_evidently(data: Path, millions: int) -> dict:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    reference = pd.read_parquet(files(day_folders(data, "reference", millions)), partitioning=None)
    current = pd.read_parquet(files(day_folders(data, "current", millions)), partitioning=None)
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    wall = time.perf_counter() - started
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        name = str(metric.get("metric_name", "")) + str(metric.get("config", {}).get("column", ""))
        value = metric.get("value")
        column = metric.get("config", {}).get("column")
        threshold = metric.get("config", {}).get("threshold")
        method = str(metric.get("config", {}).get("method", ""))
        tested = column and isinstance(value, int | float) and threshold is not None and "ValueDrift" in name
        # Evidently's rule: a p-value below the threshold, or a distance at or above it
        if tested and (value < threshold if "p_value" in method else value >= threshold):
            drifted.append(column)
    return {"wall": wall, "cpu": tree_cpu(os.getpid()), "drifted": _drifted(drifted), "note": "DataDriftPreset"}


def case_spark_metrics(data: Path, millions: int, cores: int, memory: str) -> dict:
    from services.analytics import spark_engine

    try:
        from services.analytics.spark_metrics import spark_metrics
    except ImportError:
        return {"skipped": "services.analytics.spark_metrics is not on this branch"}
    spark = spark_engine.local_session(cores=cores, memory=memory)
    spark.sparkContext.setLogLevel("ERROR")
    folders = day_folders(data, "scores", millions)
    options = {"y_true": "y_true", "y_score": "y_score"}
    spark_metrics(spark, spark.read.parquet(folders[0]).limit(20_000), options)  # untimed warm-up
    cpu, started = tree_cpu(os.getpid()), time.perf_counter()
    result = spark_metrics(spark, spark.read.parquet(*folders), options)
    result = result[0] if isinstance(result, tuple) else result  # (the evaluation, the grouped rows)
    wall, cpu = time.perf_counter() - started, tree_cpu(os.getpid()) - cpu
    spark.stop()
    return {"wall": wall, "cpu": cpu, "drifted": f"AUC {_auc(result)}", "note": ""}


def case_local_metrics(data: Path, millions: int) -> dict:
    from services.analytics import metrics

    started = time.perf_counter()
    table = pd.read_parquet(files(day_folders(data, "scores", millions)), partitioning=None)
    result = metrics.evaluate(table, "y_true", "y_score")
    wall = time.perf_counter() - started
    return {"wall": wall, "cpu": tree_cpu(os.getpid()), "drifted": f"AUC {_auc(result)}", "note": ""}


def _auc(result: object) -> str:
    plain = result.to_dict() if hasattr(result, "to_dict") else result
    found = plain.get("roc_auc") if isinstance(plain, dict) else None
    if found is None and isinstance(plain, dict):
        found = (plain.get("metrics") or {}).get("roc_auc")
    return f"{found:.4f}" if isinstance(found, float) else "?"


CASES = {"spark-drift", "local-drift", "evidently", "spark-metrics", "local-metrics"}


def case_main(args: argparse.Namespace) -> None:
    data, size = Path(args.data), args.case_size
    if args.case == "spark-drift":
        out = case_spark_drift(data, size, args.cores, args.driver_memory)
    elif args.case == "local-drift":
        out = case_local_drift(data, size)
    elif args.case == "evidently":
        out = case_evidently(data, size)
    elif args.case == "spark-metrics":
        out = case_spark_metrics(data, size, args.cores, args.driver_memory)
    else:
        out = case_local_metrics(data, size)
    print(json.dumps(out))


# --- the table --------------------------------------------------------------------------------------------------


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/work/data25", help="where the generated Parquet lives (reused)")
    parser.add_argument("--generate", type=int, default=0, help="write the first N days (million rows) and stop")
    parser.add_argument("--generate-rows", type=int, default=ROWS_PER_DAY, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="2,5,10,20", help="Spark drift sizes, million rows a table")
    parser.add_argument("--local-sizes", default="20,10,5,2", help="local path: tried in this order until one ends")
    parser.add_argument("--evidently-sizes", default="5,2", help="Evidently: tried in this order until one ends")
    parser.add_argument("--metrics-sizes", default="2,20", help="Spark metrics sizes, million scored rows")
    parser.add_argument("--local-metrics-size", type=int, default=2, help="the local metrics reference (0: none)")
    parser.add_argument("--evidently-python", default=str(REPO / ".venv-evidently" / "bin" / "python"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--driver-memory", default="1g", help="the local Spark JVM's heap (as the product: 1g)")
    parser.add_argument("--cap-gb", type=float, default=12.0, help="kill a case whose process tree passes this RSS")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    parser.add_argument("--quick-timeout", type=float, default=600.0, help="seconds per local or Evidently case")
    parser.add_argument("--budget", type=float, default=1500.0, help="seconds for the whole run: later cases "
                        "get what is left, none starts with less than a minute")  # fmt: skip
    parser.add_argument("--case", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--case-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        case_main(args)
        return
    data = Path(args.data)
    if args.generate:
        seconds = generate(data, args.generate, args.generate_rows)
        print(f"generated {args.generate} days of {args.generate_rows:,} rows in {seconds:.0f} s under {data}")
        return
    report(args, data)


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def report(args: argparse.Namespace, data: Path) -> None:
    cap, common = int(args.cap_gb * 2**30), ["--data", str(data), "--cores", str(args.cores),
                                            "--driver-memory", args.driver_memory]  # fmt: skip
    print(f"start: {_load()}")
    print(f"machine: {os.cpu_count()} cores, niceness {os.nice(0)}; {NUMERIC} numeric + {CATEGORICAL} categorical "
          f"columns, Parquet by day, 1 M rows a day; truth: {', '.join(TRUTH)} drift; cap {args.cap_gb:g} GB RSS "
          f"per case; timeouts {args.timeout:.0f} s a Spark case, {args.quick_timeout:.0f} s another, "
          f"{args.budget:.0f} s in all; Spark local[{args.cores}], driver heap {args.driver_memory}; drift tests "
          "only (no adversarial validation) everywhere")  # fmt: skip
    rows: list[tuple[str, int, dict]] = []
    per_day = rows_per_day(data)

    deadline = time.monotonic() + args.budget

    def one(label: str, case: str, millions: int, python: str = sys.executable) -> dict:
        timeout = args.timeout if case.startswith("spark") else args.quick_timeout
        left = deadline - time.monotonic()
        if left < 60:
            found = {"rows": millions * per_day, "skipped": f"not started: {args.budget:.0f} s budget of the run spent"}
            rows.append((label, millions, found))
            _print_row(label, found, args.cores)
            return {"failed": found["skipped"]}
        found = run_case([*common, "--case", case, "--case-size", str(millions)], cap, min(timeout, left),
                         python)  # fmt: skip
        found["rows"] = millions * per_day
        rows.append((label, millions, found))
        _print_row(label, found, args.cores)
        return found

    _print_head()
    # The cheap cases first: on a loaded machine the Spark sizes take the rest of the budget.
    for millions in _ints(args.local_sizes):
        if "failed" not in one("local drift", "local-drift", millions):
            break
    if not Path(args.evidently_python).exists():
        print(f"evidently: no interpreter at {args.evidently_python} (make it as bench/requirements.txt says)")
    else:
        for millions in _ints(args.evidently_sizes):
            if "failed" not in one("evidently drift", "evidently", millions, args.evidently_python):
                break
    if args.local_metrics_size:
        one("local metrics", "local-metrics", args.local_metrics_size)
    for millions in _ints(args.metrics_sizes):
        one("spark metrics", "spark-metrics", millions)
    for millions in _ints(args.sizes):
        one("spark drift", "spark-drift", millions)
    print("\nside by side (the rows above, by case and size):")
    _print_head()
    order = ["spark drift", "local drift", "evidently drift", "spark metrics", "local metrics"]
    for label, _, found in sorted(rows, key=lambda r: (order.index(r[0]), r[2]["rows"])):
        _print_row(label, found, args.cores)
    _print_scaling(rows, args.cores)
    _print_cost(rows, args.cores)
    print(f"end: {_load()}")


HEAD = (f"{'case':<16}{'rows/table':>11}{'wall s':>9}{'vCPU-s':>9}{'CPU-s':>9}{'rows/s':>11}{'worker MB':>10}"
        f"{'JVM MB':>8}{'pyworkers':>10}{'tree MB':>9}{'GB-s':>8}  drifted / result")  # fmt: skip


def _print_head() -> None:
    print(HEAD)
    print("-" * len(HEAD))


def _print_row(label: str, found: dict, cores: int) -> None:
    if "skipped" in found:
        print(f"{label:<16}{found['rows']:>11,}  not run: {found['skipped']}")
        sys.stdout.flush()
        return
    peaks = (f"{found['worker_mb']:10.0f}{found['jvm_mb']:8.0f}{found['pyworkers_mb']:10.0f}{found['total_mb']:9.0f}"
             f"{found['gb_seconds']:8.0f}")  # fmt: skip
    if "failed" in found:
        print(f"{label:<16}{found['rows']:>11,}{found['process_wall']:9.0f}{'':>9}{found['tree_cpu']:9.0f}{'':>11}"
              f"{peaks}  FAILED: {found['failed']}")  # fmt: skip
    else:
        rate = (2 if "drift" in label else 1) * found["rows"] / found["wall"]
        print(f"{label:<16}{found['rows']:>11,}{found['wall']:9.1f}{found['wall'] * cores:9.0f}{found['cpu']:9.0f}"
              f"{rate:11,.0f}{peaks}  {found['drifted']} {found.get('note', '')}")  # fmt: skip
    sys.stdout.flush()


def _print_scaling(rows: list[tuple[str, int, dict]], cores: int) -> None:
    for case in ("spark drift", "spark metrics"):
        found_rows = [f for label, _, f in rows if label == case and "wall" in f]
        if len(found_rows) < 2:
            continue
        base = found_rows[0]
        print(f"{case} against linear from {base['rows']:,} rows (time ratio ÷ rows ratio; 1.00 = linear, above 1 "
              "slower than linear; CPU-s: the same from the CPU time, which the load moves less):")  # fmt: skip
        for found in found_rows[1:]:
            times, more = found["wall"] / base["wall"], found["rows"] / base["rows"]
            cpu = found["cpu"] / base["cpu"]
            print(f"  {found['rows']:>11,}: {more:4.1f}× the rows, {times:5.2f}× the wall time → {times / more:.2f}× "
                  f"linear (CPU-s {cpu:5.2f}× → {cpu / more:.2f}× linear); worker peak {found['worker_mb']:.0f} MB "
                  f"(at the smallest {base['worker_mb']:.0f} MB), JVM {found['jvm_mb']:.0f} MB")  # fmt: skip
    print("CPU-s per million rows read (both tables for drift), every finished case:")
    for label, _, found in rows:
        if "wall" in found:
            read = (2 if "drift" in label else 1) * found["rows"] / 1e6
            print(f"  {label:<16}{found['rows']:>11,}: {found['cpu'] / read:7.2f} CPU-s, "
                  f"{found['wall'] * cores / read:7.2f} vCPU-s (wall × {cores})")  # fmt: skip
    done = {label: f for label, _, f in rows if "wall" in f}
    for a, b in (
        ("local drift", "spark drift"),
        ("evidently drift", "spark drift"),
        ("local metrics", "spark metrics"),
    ):
        if a in done and b in done:
            same = [f for label, _, f in rows if label == b and "wall" in f and f["rows"] == done[a]["rows"]]
            if same:
                print(
                    f"{a} / {b} at {done[a]['rows']:,} rows a table: {done[a]['wall'] / same[0]['wall']:.2f}× "
                    f"the wall time, {done[a]['worker_mb'] / same[0]['worker_mb']:.1f}× the worker's peak"
                )


def emr_estimate(vcpu_s_per_row: float, rows: float, max_vcpu: int = EMR_MAX_VCPU) -> dict:
    """Return the EMR Serverless estimate of a drift on `rows` rows in all (both tables) from the vCPU-seconds a
    row took here: the work spread over the executors that fit under the application's cap beside the driver
    (linear scaling, the same speed per vCPU as this machine's), every worker billed for the job's wall time, at
    least a minute each; start-up, S3 reads and the minute of application start not included."""
    executors = max((max_vcpu - WORKER_VCPU) // WORKER_VCPU, 1)
    work = vcpu_s_per_row * rows
    wall = work / (executors * WORKER_VCPU)
    billed = max(wall, MINIMUM_SECONDS)
    workers = executors + 1
    vcpu_hours, gb_hours = workers * WORKER_VCPU * billed / 3600, workers * WORKER_GB * billed / 3600
    cost = vcpu_hours * PRICE_VCPU_HOUR + gb_hours * PRICE_GB_HOUR
    return {"executors": executors, "work": work, "wall": wall, "vcpu_hours": vcpu_hours, "gb_hours": gb_hours,
            "cost": cost}  # fmt: skip


def _print_cost(rows: list[tuple[str, int, dict]], cores: int) -> None:
    spark = [f for label, _, f in rows if label == "spark drift" and "wall" in f]
    if not spark:
        print("EMR Serverless estimate: no Spark drift size finished, nothing to scale from")
        return
    found = spark[-1]
    print(f"EMR Serverless, one drift of 100 M + 100 M rows, scaled linearly from {found['rows']:,} rows a table "
          f"(RSS × time here: {found['gb_seconds']:,.0f} GB-s, mostly the JVM's fixed heap; EMR bills the workers' "
          f"configured memory instead); {EMR_MAX_VCPU // WORKER_VCPU - 1} executors + 1 driver of {WORKER_VCPU} "
          f"vCPU / {WORKER_GB} GB (EmrMaximumVcpu {EMR_MAX_VCPU}), ${PRICE_VCPU_HOUR}/vCPU-h, ${PRICE_GB_HOUR}/GB-h "
          "(us-east-1, x86), at least a minute a worker, start-up and S3 reads not included:")  # fmt: skip
    # The CPU time the tree used is the work; wall × cores is what this machine was busy for, the load included.
    for basis, seconds in (
        ("CPU-s used", found["cpu"]),
        (f"wall × {cores} cores (upper bound)", found["wall"] * cores),
    ):
        per_row = seconds / (2 * found["rows"])
        estimate = emr_estimate(per_row, 200e6)
        print(f"  from {basis}: {per_row * 1e6:.1f} vCPU-s per million rows → {estimate['work']:,.0f} vCPU-s ≈ "
              f"{estimate['wall'] / 60:.0f} min: {estimate['vcpu_hours']:.2f} vCPU-h + {estimate['gb_hours']:.1f} "
              f"GB-h ≈ ${estimate['cost']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
