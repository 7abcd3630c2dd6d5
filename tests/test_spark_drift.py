"""Parity of the Spark path (services/analytics/spark_engine.py, pyspark in local mode) with the local path.

One local Spark session for the module (starting one costs seconds); a few thousand rows per table."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

# `make test` installs pyspark (requirements-spark.txt) and Java (infra/ensure_java.sh): there a missing one is a
# failure; elsewhere (a bare `pytest` without them) these tests skip and say why. make exports MAKELEVEL.
_MISSING = [what for what, there in (("pyspark", importlib.util.find_spec("pyspark")), ("java", shutil.which("java")))
            if not there]  # fmt: skip
if _MISSING and "MAKELEVEL" not in os.environ:
    pytest.skip(f"Spark tests need {' and '.join(_MISSING)} (requirements-spark.txt, infra/ensure_java.sh; "
                "`make test` installs both)", allow_module_level=True)  # fmt: skip

from services.analytics import drift, spark_engine  # noqa: E402
from services.analytics.errors import AnalyticsError  # noqa: E402
from tests.test_drift_summaries import OPTIONS, assert_parity, breast_cancer, known_drift  # noqa: E402


@pytest.fixture(scope="module")
def spark():  # noqa: ANN201 - pyspark's SparkSession
    # C1 only and the serial collector: seconds of jobs, where C2's compilations cost more CPU than they save
    java = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    session = spark_engine.local_session(cores=2, memory="512m", java_options=java)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _write_partitioned(table: pd.DataFrame, folder: Path, parts: int = 3) -> Path:
    """Write `table` as a Hive-style partitioned Parquet prefix (folder/part=k/….parquet)."""
    for k in range(parts):
        target = folder / f"part={k}"
        target.mkdir(parents=True)
        table.iloc[k::parts].to_parquet(target / "data.parquet", index=False)
    return folder


def test_the_emr_job_on_parquet_prefixes_with_known_drift_matches_the_local_path(spark, tmp_path: Path) -> None:
    # the EMR Serverless job (services/analytics/spark_job.py) on local Spark: the chat command's options as JSON,
    # the result as one JSON line under the output prefix; Spark tests are few (CI's budget): one job covers both
    from services.analytics import commands, spark_job

    ref, cur = known_drift()
    paths = [str(_write_partitioned(t, tmp_path / name)) for t, name in ((ref, "ref"), (cur, "cur"))]
    given = {"tests_only": True, "ignore": ["part"], "engine": "spark"}  # the partition column pandas' tables lack
    returned = spark_job.run(spark, [*paths, str(tmp_path / "out"), json.dumps(given)])
    (part,) = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("part-") and p.stat().st_size]
    result = json.loads(part.read_text())
    assert result == returned
    local_options = commands._drift_options(commands.check_values(commands.DRIFT, {"tests_only": True}))
    assert_parity(drift.analyse(ref, cur, local_options).to_dict(), result)
    assert {c["name"] for c in result["columns"] if c["drifted"]} == {"a", "c", "d"}
    assert result["engine"] == "spark"
    assert 0 < result["approximations"]["ks_error_bound"] < 0.002


def test_spark_on_real_data_matches_the_local_path(spark) -> None:
    benign, malignant = breast_cancer()
    local = drift.analyse(benign, malignant, OPTIONS).to_dict()
    assert local["dataset_drift"]
    assert_parity(local, spark_engine.spark_drift(
        spark, spark.createDataFrame(benign), spark.createDataFrame(malignant), OPTIONS).to_dict())  # fmt: skip


def test_spark_refuses_a_tiny_table_with_the_local_sentence(spark) -> None:
    ref, cur = known_drift(200)
    with pytest.raises(AnalyticsError, match="at least 10 rows"):
        spark_engine.spark_drift(spark, spark.createDataFrame(ref), spark.createDataFrame(cur.head(5)), OPTIONS)


def test_the_pipeline_runs_drift_on_spark_above_the_threshold_and_charts_the_samples(spark, tmp_path: Path) -> None:
    from services.analytics import commands, pipeline

    ref, cur = known_drift(2000, seed=5)
    sources = [
        (_write_partitioned(ref, tmp_path / "ref", 2), "ref"),
        (_write_partitioned(cur, tmp_path / "cur", 2), "cur"),
    ]
    values = commands.check_values(commands.DRIFT, {"tests_only": True, "ignore": ("part",)})
    assert values["engine"] == "auto"
    outcome = pipeline.run(commands.DRIFT, sources, values, spark_rows=1000, spark_mb=200)
    assert outcome.result.engine == "spark"
    assert {c.name for c in outcome.result.drifted} == {"a", "c", "d"}
    assert outcome.chart.startswith(b"\x89PNG")
