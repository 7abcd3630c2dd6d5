"""Drift on Apache Spark: the summary code of services/analytics/summaries.py run on Spark's partitions.

Pass 1: a uniform sample of each table comes to the driver (column kinds as the local path infers them, and the
adversarial validation's rows); the numeric columns, read by the same `columns.read_as` inside `mapInPandas`,
give Spark's approximate quantiles (Greenwald–Khanna, rank error `relative_error`) for the bin edges.
Pass 2: every partition runs `summaries.summarise_frame` on its Arrow batches and returns one pickled summary;
the driver adds them up (a few kB per partition) and runs `summaries.drift_from_summaries`. The worker that
asked never holds the rows: its memory is the summaries and the samples.

pyspark is imported only here, and only when a Spark analysis runs (requirements-spark.txt, not the Lambda image).
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from services.analytics import drift, engine, summaries
from services.analytics.columns import read_as
from services.analytics.drift_types import DriftResult
from services.analytics.errors import AnalyticsError

RELATIVE_ERROR = 1e-4  # approxQuantile's rank error: edges within 0.01% of rows of the exact quantiles
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
    """Return at most `rows` uniformly sampled rows of a Spark DataFrame as pandas (all when it is smaller)."""
    if total <= rows:
        return table.toPandas()
    fraction = min(1.0, 1.2 * rows / total)  # Bernoulli sampling: ask for a little more, then cut
    return table.sample(fraction=fraction, seed=seed).limit(rows).toPandas()


def _numbers(plan_kinds: dict[str, str]) -> Any:
    """Return a mapInPandas function reading the named columns as numbers (columns.read_as), NaN as null."""

    def convert(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield pd.DataFrame({name: read_as(batch[name], "numeric").astype(float) for name in plan_kinds})

    return convert


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


def quantiles(table: Any, names: list[str], relative_error: float) -> dict[str, np.ndarray]:
    """Return each numeric column's quantiles at summaries.LEVELS (Spark's approxQuantile, nulls ignored)."""
    if not names:
        return {}
    from pyspark.sql.types import DoubleType, StructField, StructType

    schema = StructType([StructField(name, DoubleType()) for name in names])
    numbers = table.select(*names).mapInPandas(_numbers(dict.fromkeys(names, "numeric")), schema)
    found = numbers.approxQuantile(names, [float(level) for level in summaries.LEVELS], relative_error)
    return {name: np.asarray(values, dtype=float) for name, values in zip(names, found, strict=True)}


def spark_drift(
    spark: Any,
    reference: Any,
    current: Any,
    options: drift.DriftOptions | None = None,
    relative_error: float = RELATIVE_ERROR,
    samples: list[pd.DataFrame] | None = None,
) -> DriftResult:
    """Return drift.analyse's result (plus `approximations` and `engine`) for two tables on Spark.

    `reference` and `current` are Spark DataFrames or paths (Parquet prefixes, s3:// on EMR); `samples`, when
    given, receives the two uniform samples the driver used (for a chart)."""
    options = options or drift.DriftOptions()
    ref = reference if hasattr(reference, "mapInPandas") else read(spark, reference)
    cur = current if hasattr(current, "mapInPandas") else read(spark, current)
    found = [engine.partition_columns(table.inputFiles(), str(source)) for table, source in
             ((ref, reference), (cur, current)) if not hasattr(source, "mapInPandas")]  # fmt: skip
    options = replace(options, partitions=tuple(dict.fromkeys((*options.partitions, *sum(found, ())))))
    options, partition_note = drift.partitions_left_out(options)
    summaries.common_columns(ref.columns, cur.columns, options)
    counts = {"reference": ref.count(), "current": cur.count()}
    for role, rows in counts.items():
        if rows < drift.MIN_ROWS:
            raise AnalyticsError(
                f"Drift needs at least {drift.MIN_ROWS} rows in each table; the {role} table has {rows}: "
                "send larger extracts."
            )
    sample_rows = max(options.adversarial_rows, summaries.KIND_SAMPLE)
    sample_ref = _sample(ref, sample_rows, counts["reference"], options.seed)
    sample_cur = _sample(cur, sample_rows, counts["current"], options.seed)
    kinds = summaries.infer_kinds(sample_ref, sample_cur, options)
    if samples is not None:
        samples += [sample_ref, sample_cur]
    numeric = [name for name, kind in kinds.items() if kind.kind == "numeric"]
    ref_q, cur_q = quantiles(ref, numeric, relative_error), quantiles(cur, numeric, relative_error)
    plan = summaries.Plan(
        kinds,
        {name: summaries.numeric_plan(ref_q[name], cur_q[name]) for name in numeric},
        relative_error,
    )
    reference_summary, current_summary = table_summary(ref, plan), table_summary(cur, plan)
    adversarial = summaries.adversarial_on_sample(
        sample_ref.head(options.adversarial_rows), sample_cur.head(options.adversarial_rows), plan, options
    )
    schema = summaries.schema_on_sample(sample_ref, sample_cur, options)
    result = summaries.drift_from_summaries(plan, reference_summary, current_summary, options, adversarial, schema)
    return replace(result, engine="spark", kind_notes=result.kind_notes + partition_note)
