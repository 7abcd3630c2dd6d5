"""Drift on Apache Spark: the summary code of services/analytics/summaries.py run on Spark's partitions.

Pass 1: a uniform (Bernoulli) sample of each table, at most EDGE_SAMPLE rows, comes to the driver: the column
kinds as the local path infers them, the adversarial validation's rows, and the bin edges, which are the
sample's exact quantiles (`summaries.plan_from_frames`, as on the local summaries path). This pass is Spark's
scan alone (no Python per row); the edges used to come from approxQuantile over every row (rank error 1e-4),
most of the job's time, for bins that only need to be narrow: the KS and Wasserstein bounds are computed from
the counts whatever the edges, and the PSI cuts' rank error is measured from the counts (`decile_rank_error`).
Pass 2: every partition runs `summaries.summarise_frame` on its Arrow batches (ARROW_BATCH rows each) and
returns one pickled summary; the driver adds them up (a few kB per partition) and runs
`summaries.drift_from_summaries`. The worker that asked never holds the rows: its memory is the summaries and
the samples.

pyspark is imported only here, and only when a Spark analysis runs (requirements-spark.txt, not the Lambda image).
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from services.analytics import drift, engine, summaries
from services.analytics.drift_types import DriftResult
from services.analytics.errors import AnalyticsError

# Rows a table for the kinds, the adversarial sample and the bin edges: 1,001 levels get about 200 sampled rows
# between neighbours, so a bin holds about 0.1% (± 7%) of a table; a table this small is read whole (exact edges).
EDGE_SAMPLE = 200_000
ARROW_BATCH = 100_000  # rows per pandas batch in pass 2 (Spark's 10,000 default: 2.6× the Python time per row)
REPOSITORY = str(Path(__file__).resolve().parents[2])


def local_session(cores: int = 2, memory: str = "1g", java_options: str = "") -> Any:
    """Return a local-mode SparkSession (`local[cores]`) whose Python workers import this repository;
    `java_options` go to the driver's JVM (the tests' short jobs: less JIT compilation)."""
    from pyspark.sql import SparkSession

    paths = [REPOSITORY, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))  # the workers inherit the driver's env
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("teams-gateway-analytics")
        .config("spark.driver.memory", memory)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", java_options)
        .getOrCreate()
    )


_SESSION: list[Any] = []


def shared_session() -> Any:
    """Return this process's local Spark session, started on first use (starting one takes seconds)."""
    if _SESSION and _SESSION[0].sparkContext._jsc is None:  # stopped since (by its owner): start another
        _SESSION.clear()
    if not _SESSION:
        _SESSION.append(local_session(cores=os.cpu_count() or 2))
        _SESSION[0].sparkContext.setLogLevel("ERROR")
    return _SESSION[0]


def read(spark: Any, source: str | Path) -> Any:
    """Return a Spark DataFrame of a Parquet file or prefix (partitioned folders included), or a CSV file."""
    text = str(source)
    if text.lower().endswith((".csv", ".csv.gz")):
        return spark.read.option("header", "true").option("inferSchema", "true").csv(text)
    return spark.read.parquet(text)


def _sample(table: Any, rows: int, total: int, seed: int) -> pd.DataFrame:
    """Return at most `rows` uniformly sampled rows of a Spark DataFrame as pandas, in random order (the whole
    table, in its order, when it is no larger)."""
    if total <= rows:
        return table.toPandas()
    # Bernoulli sampling, a little more than asked, then a seeded cut that also shuffles (its head is uniform
    # too); no `limit`, which would keep the first partitions' rows and leave the last ones out
    found = table.sample(fraction=min(1.0, 1.1 * rows / total), seed=seed).toPandas()
    return found.sample(n=min(rows, len(found)), random_state=seed, ignore_index=True)


def _summarise(plan: summaries.Plan) -> Any:
    """Return a mapInPandas function that yields one pickled TableSummary per partition."""

    def summarise(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        total = summaries.TableSummary()
        for batch in batches:
            total = total.merge(summaries.summarise_frame(batch, plan))
        yield pd.DataFrame({"summary": [pickle.dumps(total)]})

    return summarise


def table_summary(table: Any, plan: summaries.Plan) -> summaries.TableSummary:
    """Return the summary of a Spark DataFrame under `plan`: one per partition, added up on the driver."""
    columns = list(plan.kinds)
    pieces = table.select(*columns).mapInPandas(_summarise(plan), "summary binary").collect()
    total = summaries.TableSummary()
    for row in pieces:
        total = total.merge(pickle.loads(row.summary))  # noqa: S301 - our own job's output, never user bytes
    return total


def spark_drift(
    spark: Any,
    reference: Any,
    current: Any,
    options: drift.DriftOptions | None = None,
    edge_rows: int = EDGE_SAMPLE,
    samples: list[pd.DataFrame] | None = None,
    timings: dict[str, float] | None = None,
) -> DriftResult:
    """Return drift.analyse's result (plus `approximations` and `engine`) for two tables on Spark.

    `reference` and `current` are Spark DataFrames or paths (Parquet prefixes, s3:// on EMR); `edge_rows` the
    sample a table for the kinds and bin edges; `samples`, when given, receives the two uniform samples the
    driver used (for a chart); `timings`, when given, the seconds of each step (count, sample, summaries, tests)."""
    clock = [time.perf_counter()]

    def lap(step: str) -> None:
        now = time.perf_counter()
        if timings is not None:
            timings[step] = timings.get(step, 0.0) + now - clock[0]
        clock[0] = now

    options = options or drift.DriftOptions()
    ref = reference if hasattr(reference, "mapInPandas") else read(spark, reference)
    cur = current if hasattr(current, "mapInPandas") else read(spark, current)
    found = [engine.partition_columns(table.inputFiles(), str(source)) for table, source in
             ((ref, reference), (cur, current)) if not hasattr(source, "mapInPandas")]  # fmt: skip
    options = replace(options, partitions=tuple(dict.fromkeys((*options.partitions, *sum(found, ())))))
    options, partition_note = drift.partitions_left_out(options)
    summaries.common_columns(ref.columns, cur.columns, options)
    counts = {"reference": ref.count(), "current": cur.count()}
    lap("count")
    for role, rows in counts.items():
        if rows < drift.MIN_ROWS:
            raise AnalyticsError(
                f"Drift needs at least {drift.MIN_ROWS} rows in each table; the {role} table has {rows}: "
                "send larger extracts."
            )
    sample_rows = max(options.adversarial_rows, summaries.KIND_SAMPLE, edge_rows)
    sample_ref = _sample(ref, sample_rows, counts["reference"], options.seed)
    sample_cur = _sample(cur, sample_rows, counts["current"], options.seed)
    if samples is not None:
        samples += [sample_ref, sample_cur]
    whole = counts["reference"] <= sample_rows and counts["current"] <= sample_rows  # exact edges then
    plan = summaries.plan_from_frames(sample_ref, sample_cur, options, sampled=not whole)
    lap("sample and edges")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH))
    reference_summary, current_summary = table_summary(ref, plan), table_summary(cur, plan)
    lap("summaries (pass 2)")
    adversarial = summaries.adversarial_on_sample(
        sample_ref.head(options.adversarial_rows), sample_cur.head(options.adversarial_rows), plan, options
    )
    schema = summaries.schema_on_sample(sample_ref, sample_cur, options)
    result = summaries.drift_from_summaries(plan, reference_summary, current_summary, options, adversarial, schema)
    lap("tests")
    return replace(result, engine="spark", kind_notes=result.kind_notes + partition_note)
