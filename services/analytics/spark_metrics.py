"""Model evaluation (`metrics`) on Apache Spark: Spark SQL aggregates where the data is, the local path's code on them.

Pass 1 (one scan, no shuffle): rows, and HyperLogLog estimates of the distinct labels and (label, score) pairs.
Pass 2, one of:
- exact: when at most EXACT_MAX_GROUPS (label, score) pairs are expected, the rows grouped by label and score
  (`GROUP BY y_true, y_score`: a count per pair) come to the driver, and services/analytics/metrics.py `evaluate`
  runs on them with each pair standing for its count (scikit-learn's sample weights). Every number is the local
  path's: ROC AUC, PR AUC (average precision), the curves, log loss, Brier score, calibration, ECE, the deciles,
  the threshold table and best-F1 threshold (the deciles cut tied scores negatives first where the local path
  keeps row order);
- score bins: otherwise, per label and metric_summaries.SCORE_BINS equal bins of the score (of [0, 1] for
  probabilities, of [min, max] for other scores): count, Σp, Σp², Σln p, Σln(1 − p). Exact: counts, base
  rate, log loss, Brier score, mean prediction (calibration, bias), ECE, and the confusion counts at thresholds on
  bin edges (any threshold with four decimals, for probabilities); ROC AUC counts pairs inside one bin as ties,
  within `roc_auc_error_bound` (Σ_bins positives·negatives / (2·P·N)) of the exact value; approximate (bin
  granularity): PR AUC, the curves, the deciles, best-F1 threshold, recalibration w.
The result is the local path's MetricsResult with `engine` "spark" and `approximations` saying which pass ran.
Binary labels only (two classes, or a `positive=` class); other tasks get one sentence.

pyspark is imported only inside the functions (requirements-spark.txt, not the Lambda image).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pandas as pd

from services.analytics import metric_summaries
from services.analytics.commands import _check_metrics
from services.analytics.errors import AnalyticsError
from services.analytics.metrics import canonical_labels, entropy, evaluate, infer_columns, refuse_infinite
from services.analytics.metrics_types import MetricsResult
from services.analytics.metrics_wording import explain
from services.analytics.tables import require_column
from services.analytics.wording import short
from services.quoting import quote

# (label, score) pairs brought to the driver: at 1 M pairs its peak was 675 MB (bench/spark_metrics.py), under
# the 1 GB for the worker; the local path's code turns each pair into text once (canonical_labels)
EXACT_MAX_GROUPS = 1_000_000
LABELS_MAX = 10  # distinct labels (estimated) beyond which a table with many scores is not a binary task
SCORE_BINS = metric_summaries.SCORE_BINS
RSD = 0.02  # HyperLogLog++'s relative standard deviation for the pass-1 estimates (a choice of pass, not a result)


def _col(name: str) -> Any:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")  # a column name with dots is a name, not a struct path


def _without_nan(column: Any, data_type: Any) -> Any:
    """NaN as null in floating columns (pandas' dropna drops both; Spark's null tests see only null)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    return F.nanvl(column, F.lit(None).cast(data_type)) if isinstance(data_type, DoubleType | FloatType) else column


def _counts_name(*taken: str) -> str:
    name = "rows"
    while name in taken:
        name = "_" + name
    return name


def spark_metrics(spark: Any, source: Any, values: dict[str, Any]) -> tuple[MetricsResult, pd.DataFrame]:
    """Return (the evaluation, the grouped rows it ran on) of a Spark DataFrame or a path (a Parquet prefix,
    s3:// on EMR) under the `metrics` command's typed values (y_true, y_score, threshold, sampling_rate,
    positive). Raises AnalyticsError with the local path's sentence for unusable input."""
    from pyspark.sql import functions as F

    from services.analytics.spark_engine import read

    table = source if hasattr(source, "groupBy") else read(spark, source)
    names = pd.DataFrame(columns=table.columns)  # no rows: the local path's column checks and their sentences
    y_true, y_score = infer_columns(names, values.get("y_true"), values.get("y_score"))
    require_column(names, y_true, "y_true")
    require_column(names, y_score, "y_score")
    if values.get("query"):
        raise AnalyticsError(
            "On Spark, metrics evaluates binary labels, not rankings by query: use engine=local on a narrower "
            "prefix or folder."
        )
    types = {field.name: field.dataType for field in table.schema.fields}
    rows = table.select(
        _without_nan(_col(y_true), types[y_true]).alias("y"), _without_nan(_col(y_score), types[y_score]).alias("s")
    )
    first = rows.agg(
        F.approx_count_distinct("y", RSD).alias("labels"),
        F.approx_count_distinct(F.xxhash64("y", "s"), RSD).alias("pairs"),
    ).first()
    if first["pairs"] <= EXACT_MAX_GROUPS:
        grouped = rows.groupBy("y", "s").count().limit(EXACT_MAX_GROUPS + 1).toPandas()
        if len(grouped) <= EXACT_MAX_GROUPS:
            return _exact(grouped, y_true, y_score, values), grouped
    if first["labels"] > LABELS_MAX:
        raise AnalyticsError(
            f"On Spark, metrics evaluates binary labels, and '{quote(y_true, 40)}' has about {first['labels']:,} "
            "values: use engine=local on a narrower prefix or folder."
        )
    return _binned(rows, y_true, y_score, values)


def _exact(grouped: pd.DataFrame, y_true: str, y_score: str, values: dict[str, Any]) -> MetricsResult:
    counts = _counts_name(y_true, y_score)
    frame = pd.DataFrame({y_true: grouped["y"], y_score: grouped["s"], counts: grouped["count"].to_numpy(float)})
    _check_metrics([frame[[y_true, y_score]]], {**values, "y_true": y_true, "y_score": y_score})
    result = _evaluate(frame, y_true, y_score, values, counts)
    pairs = int(frame[[y_true, y_score]].dropna().shape[0])
    approximations = {"method": "exact", "groups": pairs}
    note = (f"Computed on Spark from the rows grouped by label and score ({pairs:,} distinct pairs): the numbers are "
            "exact.")  # fmt: skip
    return _finish(result, approximations, note)


def _evaluate(frame: pd.DataFrame, y_true: str, y_score: str, values: dict[str, Any], counts: str,
              sampling_rate: Any = "given") -> MetricsResult:  # fmt: skip
    return evaluate(
        frame, y_true, y_score, threshold=values.get("threshold"),
        sampling_rate=values.get("sampling_rate") if sampling_rate == "given" else sampling_rate,
        positive=values.get("positive"), counts=counts,
    )  # fmt: skip


def _finish(result: MetricsResult, approximations: dict[str, Any], note: str, **exact: Any) -> MetricsResult:
    typed = replace(result, notes=(*result.notes, note), approximations=approximations, engine="spark", **exact)
    return replace(typed, summary=tuple(explain(typed)))


def _binned(rows: Any, y_true: str, y_score: str, values: dict[str, Any]) -> tuple[MetricsResult, pd.DataFrame]:
    """The score-bins pass (too many distinct scores to group exactly); see the module docstring."""
    from pyspark.sql import functions as F

    number = F.expr("try_cast(s AS DOUBLE)")  # null for text, which `bad` reports (cast fails under ANSI mode)
    bad = F.col("s").isNotNull() & number.isNull()
    missing = F.col("y").isNull() | F.col("s").isNull()
    stats = rows.agg(
        F.min(number).alias("low"), F.max(number).alias("high"),
        F.first(F.when(bad, F.col("s").cast("string")), ignorenulls=True).alias("example"),
        F.count(F.when(missing, 1)).alias("dropped"),
    ).first()  # fmt: skip
    if stats["example"] is not None:
        raise AnalyticsError(
            f"The column '{quote(y_score, 40)}' is not numeric (for example “{quote(str(stats['example']), 40)}”): "
            "y_score must hold scores or probabilities."
        )
    low, high = stats["low"], stats["high"]
    if low is None:
        raise AnalyticsError(
            f"Every row misses a value in '{quote(y_true, 40)}' or '{quote(y_score, 40)}': there is nothing to "
            "evaluate."
        )
    if not math.isfinite(low) or not math.isfinite(high):
        refuse_infinite(y_score)
    _check_metrics([pd.DataFrame({y_true: [None, None], y_score: [low, high]})],
                   {**values, "y_true": y_true, "y_score": y_score})  # fmt: skip
    probabilities = low >= 0.0 and high <= 1.0
    rate = values.get("sampling_rate")
    p = number
    if rate is not None:
        if not probabilities:
            raise AnalyticsError(
                f"Recalibration needs probabilities, but '{short(y_score)}' has values outside [0, 1] "
                f"({low:.3g} to {high:.3g})."
            )
        p = number / (number + (1 - number) / F.lit(float(rate)))  # metrics.recalibrate, in Spark SQL
    start, width = (0.0, 1.0) if probabilities else (low, (high - low) or 1.0)
    clipped = F.least(F.greatest(p, F.lit(metric_summaries.EPSILON)), F.lit(1 - metric_summaries.EPSILON))
    bins = F.least(F.floor((p - F.lit(start)) / F.lit(width) * SCORE_BINS), F.lit(SCORE_BINS - 1)).cast("int")
    dropped = stats["dropped"]
    sums = rows.where(~missing).groupBy("y", bins.alias("bin")).agg(
        F.count(F.lit(1)).alias("count"), F.sum(p).alias("p"), F.sum(p * p).alias("p2"),
        F.sum(F.log(clipped)).alias("ln_p"), F.sum(F.log1p(-clipped)).alias("ln_q"),
        F.min(p).alias("lowest"), F.max(p).alias("highest"),
    ).toPandas()  # fmt: skip
    # One score per bin for both labels (its mean, kept inside the bin): pairs in a bin tie, as the bound assumes.
    by_bin = sums.groupby("bin").agg(p=("p", "sum"), count=("count", "sum"), lowest=("lowest", "min"),
                                     highest=("highest", "max"))  # fmt: skip
    score = (by_bin["p"] / by_bin["count"]).clip(by_bin["lowest"], by_bin["highest"])
    counts = _counts_name(y_true, y_score)
    frame = pd.DataFrame({y_true: sums["y"], y_score: sums["bin"].map(score), counts: sums["count"].to_numpy(float)})
    if dropped:  # the rows the local path drops, counted once
        frame.loc[len(frame)] = {y_true: None, y_score: None, counts: float(dropped)}
    result = _evaluate(frame, y_true, y_score, values, counts, sampling_rate=None)
    if rate is not None:
        result = replace(result, notes=(f"Scores were recalibrated for negative downsampling at w = {rate:g}: "
                                        "p' = p / (p + (1 − p) / w).", *result.notes))  # fmt: skip
    positive = (canonical_labels(sums["y"]) == result.positive_label).to_numpy()
    pos = sums[positive].groupby("bin")["count"].sum()
    neg = sums[~positive].groupby("bin")["count"].sum()
    both = pos.mul(neg, fill_value=0).sum()
    bound = float(both / (2 * pos.sum() * neg.sum()))
    approximations = {"method": "score bins", "score_bins": SCORE_BINS, "roc_auc_error_bound": bound,
                      "bins_over": [start, start + width]}  # fmt: skip
    exact: dict[str, Any] = {}
    if probabilities:
        summary = metric_summaries.ScoreSummary()
        for label, chosen in ((1, positive), (0, ~positive)):
            part = sums[chosen].groupby("bin")[["count", "p", "p2", "ln_p", "ln_q"]].sum()
            for row, name in enumerate(("count", "p", "p2", "ln_p", "ln_q")):
                summary.sums[label, row, part.index.to_numpy()] = part[name].to_numpy()
        found = metric_summaries.metrics_from_summary(summary)
        exact = {"log_loss": round(found["log_loss"], 6), "brier": round(found["brier"], 6),
                 "normalized_entropy": round(found["log_loss"] / entropy(found["base_rate"]), 6)}  # fmt: skip
    auc = "is exact (no bin holds both labels)" if bound == 0 else f"is within {bound:.2g} of the exact value"
    note = (f"Computed on Spark from {SCORE_BINS:,} score bins (too many distinct scores to group exactly): ROC AUC "
            f"{auc}; PR AUC, the curves, the deciles and a best-F1 threshold are "
            "read at bin edges; counts" + (", log loss, Brier score, calibration and ECE" if probabilities else "")
            + " are exact.")  # fmt: skip
    return _finish(result, approximations, note, **exact), frame
