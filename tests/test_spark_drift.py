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


def _write_partitioned(table: pd.DataFrame, folder: Path, parts: int = 3, first: int = 0) -> Path:
    """Write `table` as a Hive-style partitioned Parquet prefix (folder/part=k/….parquet, k from `first`)."""
    for k in range(parts):
        target = folder / f"part={first + k}"
        target.mkdir(parents=True)
        table.iloc[k::parts].to_parquet(target / "data.parquet", index=False)
    return folder


def test_the_emr_job_on_parquet_prefixes_with_known_drift_matches_the_local_path(spark, tmp_path: Path) -> None:
    # the EMR Serverless job (services/analytics/spark_job.py) on local Spark: the chat command's options as JSON,
    # the result as one JSON line under the output prefix; Spark tests are few (CI's budget): one job covers both
    from services.analytics import commands, spark_job

    ref, cur = known_drift()
    # each side holds its own partitions (as two months hold their own days): the partition column is left out
    # by itself, and said (before, `part` drifted unless the user said ignore=part)
    paths = [str(_write_partitioned(t, tmp_path / name, first=first)) for t, name, first in
             ((ref, "ref", 0), (cur, "cur", 3))]  # fmt: skip
    given = {"tests_only": True, "engine": "spark"}
    returned = spark_job.run(spark, [*paths, str(tmp_path / "out"), json.dumps(given)])
    (part,) = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("part-") and p.stat().st_size]
    result = json.loads(part.read_text())
    assert result == returned
    local_options = commands._drift_options(commands.check_values(commands.DRIFT, {"tests_only": True}))
    assert_parity(drift.analyse(ref, cur, local_options).to_dict(), result)
    assert {c["name"] for c in result["columns"] if c["drifted"]} == {"a", "c", "d"}
    assert "part" not in {c["name"] for c in result["columns"]}
    assert any(note.startswith("'part' is a folder partition") for note in result["kind_notes"])
    assert result["engine"] == "spark"
    assert 0 < result["approximations"]["ks_error_bound"] < 0.002


def test_spark_on_real_data_matches_the_local_path(spark) -> None:
    benign, malignant = breast_cancer()
    local = drift.analyse(benign, malignant, OPTIONS).to_dict()
    assert local["dataset_drift"]
    assert_parity(local, spark_engine.spark_drift(
        spark, spark.createDataFrame(benign), spark.createDataFrame(malignant), OPTIONS).to_dict())  # fmt: skip


def test_spark_with_edges_from_a_sample_keeps_the_verdicts_and_states_the_psi_cuts_rank_error(spark) -> None:
    # tables larger than the driver's sample (here 5,000 rows of 20,000): the edges are the sample's quantiles
    ref, cur = known_drift(20_000, seed=3)
    options = drift.DriftOptions(tests_only=True, adversarial_rows=1000)
    timings: dict[str, float] = {}
    result = spark_engine.spark_drift(spark, spark.createDataFrame(ref), spark.createDataFrame(cur), options,
                                      edge_rows=5000, timings=timings).to_dict()  # fmt: skip
    assert_parity(drift.analyse(ref, cur, options).to_dict(), result)
    assert {c["name"] for c in result["columns"] if c["drifted"]} == {"a", "c", "d"}
    assert 0 < result["approximations"]["quantile_rank_error"] < 0.03  # sampled deciles, measured on every row
    assert 0 < result["approximations"]["ks_error_bound"] < 0.003
    assert set(timings) == {"count", "sample and edges", "summaries (pass 2)", "tests"}


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


# --- metrics on Spark (services/analytics/spark_metrics.py) ------------------------------------------------------


def _scored_breast_cancer() -> pd.DataFrame:
    """scikit-learn's bundled breast cancer table (569 tumours; label 1 = benign) scored by a logistic regression
    on two weak features (mean texture, mean smoothness): out-of-fold probabilities (5 folds), so the classes
    overlap and the scores are a real model's."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = load_breast_cancer(as_frame=True).frame
    model = make_pipeline(StandardScaler(), LogisticRegression())
    features = frame[["mean texture", "mean smoothness"]]
    p = cross_val_predict(model, features, frame.target, cv=5, method="predict_proba")[:, 1]
    return pd.DataFrame({"label": frame.target.to_numpy(), "p": p})


def _assert_same_as_local(local: dict, on_spark: dict, method: str) -> None:
    """Every field of the local result, and the local sentences followed by the one saying how Spark counted."""
    assert on_spark["engine"] == "spark" and on_spark["approximations"]["method"] == method
    (note,) = [n for n in on_spark["notes"] if n.startswith("Computed on Spark")]
    assert on_spark["notes"] == [*local["notes"], note] and on_spark["summary"] == [*local["summary"], note]
    assert {k: v for k, v in on_spark.items() if k not in ("notes", "summary", "engine", "approximations")} == {
        k: v for k, v in local.items() if k not in ("notes", "summary")
    }


def test_metrics_on_spark_equal_the_local_path_on_a_real_model_exactly(spark, tmp_path: Path) -> None:
    from services.analytics import commands, metrics, pipeline, spark_job
    from services.analytics.metrics_types import MetricsResult

    table = _scored_breast_cancer().assign(p=lambda t: t.p.round(3))  # ties: a (label, score) pair counts many rows
    # rows sorted by score, negatives first among ties: where a decile edge cuts tied scores, the local path keeps
    # row order and Spark counts negatives first (docs/analytics.md); every other number ignores the order
    table = table.sort_values(["p", "label"], kind="stable", ignore_index=True)
    table.loc[[3, 300], "p"] = float("nan")  # missing scores: left out and counted by both paths
    assert table.p.nunique() < len(table) and 0.7 < metrics.evaluate(table, "label", "p").roc_auc < 0.9
    # the EMR job's `kind: metrics` on a Parquet prefix; its JSON line is what the completion turns into the card
    folder = _write_partitioned(table, tmp_path / "scores")
    given = {"kind": "metrics", "y_true": "label", "y_score": "p", "engine": "spark"}
    returned = spark_job.run(spark, [str(folder), str(tmp_path / "out"), json.dumps(given)])
    _assert_same_as_local(metrics.evaluate(table, "label", "p").to_dict(), returned, "exact")
    assert MetricsResult.from_dict(returned).to_dict() == returned
    # labels 1/2 in a DATA_DIR folder above the row threshold: the pipeline runs Spark; '2' is the positive class
    twos = table.assign(label=table.label + 1)
    values = commands.check_values(commands.METRICS, {"y_true": "label", "y_score": "p", "threshold": 0.6})
    outcome = pipeline.run(commands.METRICS, [(_write_partitioned(twos, tmp_path / "twos", 2), "twos")], values,
                           spark_rows=100, spark_mb=200)  # fmt: skip
    assert outcome.result.positive_label == "2" and outcome.chart.startswith(b"\x89PNG")
    local = metrics.evaluate(twos, "label", "p", threshold=0.6).to_dict()
    _assert_same_as_local(local, outcome.result.to_dict(), "exact")


def test_metrics_on_spark_from_score_bins_are_exact_or_within_the_stated_bound(spark, monkeypatch) -> None:
    from services.analytics import metrics, spark_metrics

    monkeypatch.setattr(spark_metrics, "EXACT_MAX_GROUPS", 50)  # 569 distinct scores: too many, bins instead
    table = _scored_breast_cancer()
    table.loc[[3, 300], "p"] = float("nan")
    local = metrics.evaluate(table, "label", "p")
    assert local.rows_dropped == 2
    result, _ = spark_metrics.spark_metrics(spark, spark.createDataFrame(table), {"y_true": "label", "y_score": "p"})
    bound = result.approximations["roc_auc_error_bound"]
    assert result.approximations["method"] == "score bins" and 0 < bound < 0.01
    assert abs(result.roc_auc - local.roc_auc) <= bound + 1e-6  # both rounded to 6 digits
    assert abs(result.pr_auc - local.pr_auc) < 2e-3  # bin edges: approximate, no bound (measured)
    for exact in ("n", "rows_dropped", "base_rate", "confusion_matrix", "precision", "recall", "log_loss", "brier",
                  "calibration", "prediction_bias", "normalized_entropy", "ece"):  # fmt: skip
        assert getattr(result, exact) == getattr(local, exact), exact
    assert f"within {bound:.2g} of the exact value" in result.summary[-1]
