"""`python -m services.analytics metrics|uplift|drift ...`: analyses from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from services.analytics.errors import AnalyticsError


def _threshold(value: str) -> float | str:
    if value == "best-f1":
        return value
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("a number or 'best-f1'") from None


def _table_lines(result: dict[str, Any]) -> list[str]:
    names = [
        "base_rate", "threshold", "accuracy", "precision", "recall", "f1", "roc_auc", "gini", "pr_auc", "log_loss",
        "normalized_entropy", "calibration", "prediction_bias", "brier", "ece", "mae", "rmse", "r2", "ndcg", "mrr",
        "map", "hit_rate",
    ]  # fmt: skip
    return [f"  {name:<20} {result[name]}" for name in names if result.get(name) is not None]


def run_metrics(args: argparse.Namespace) -> int:
    from services.analytics.charts import metrics_chart
    from services.analytics.metrics import evaluate, infer_columns
    from services.analytics.tables import read_table

    table = read_table(args.data)
    y_true, y_score = infer_columns(table, args.y_true, args.y_score)
    result = evaluate(
        table, y_true, y_score, query=args.query, threshold=args.threshold, sampling_rate=args.sampling_rate, k=args.k,
        positive=args.positive,
    )  # fmt: skip
    if args.chart:
        with open(args.chart, "wb") as handle:
            handle.write(metrics_chart(result))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(f"{result['task']} evaluation of {result['n']:,} rows")
        print("\n".join(_table_lines(result)))
        print("\n".join(f"- {line}" for line in result["summary"]))
    return 0


UPLIFT_KEYS = (
    "rows", "balance", "ate", "learner", "learners", "qini_auc", "qini_auc_ci", "uplift_auc", "uplift_at_k",
    "deciles", "recommendation", "drivers", "warnings", "conventions", "summary",
)  # fmt: skip


def run_uplift(args: argparse.Namespace) -> int:
    from services.analytics.charts import uplift_chart
    from services.analytics.tables import read_table
    from services.analytics.uplift import analyse

    result = analyse(
        read_table(args.data), args.treatment, args.outcome, score=args.score, revenue=args.revenue,
        cost=args.cost, budget=args.budget, bootstrap=args.bootstrap, seed=args.seed,
        categorical=tuple(args.categorical), numeric=tuple(args.numeric), ignore=tuple(args.ignore),
    )  # fmt: skip
    if args.chart:
        with open(args.chart, "wb") as handle:
            handle.write(uplift_chart(result))
    if args.json:
        print(json.dumps({key: result[key] for key in UPLIFT_KEYS if key in result}, indent=2, ensure_ascii=False))
    else:
        print("\n".join(f"- {line}" for line in result["summary"]))
        print(f"  conventions: {result['conventions']}")
    return 0


DRIFT_COLUMN_KEYS = (
    "name", "kind", "drifted", "reason", "note", "test", "p_value", "p_value_adjusted", "ks_statistic", "chi2",
    "wasserstein", "wasserstein_normalized", "psi", "mean_shift_sd", "jensen_shannon", "missing_share",
    "new_categories", "new_category_share", "top_changes", "kind_detail", "reference_constant", "reference_mean",
    "current_mean", "date_range", "recency_days", "current_inside_reference_range", "largest_gap_days",
)  # fmt: skip


def run_drift(args: argparse.Namespace) -> int:
    from services.analytics.charts import drift_chart
    from services.analytics.drift import DriftOptions, analyse
    from services.analytics.tables import read_table

    options = DriftOptions(
        categorical=tuple(args.categorical), numeric=tuple(args.numeric), ignore=tuple(args.ignore),
        target=args.target, correction=args.correction, effect_threshold=args.threshold, alpha=args.alpha,
        max_rows=args.max_rows, tests_only=args.tests_only, seed=args.seed,
    )  # fmt: skip
    reference, current = read_table(args.reference), read_table(args.current)
    result = analyse(reference, current, options)
    if args.chart:
        with open(args.chart, "wb") as handle:
            handle.write(drift_chart(result, reference, current))
    if args.json:
        document = dict(result)
        document["columns"] = [{k: c[k] for k in DRIFT_COLUMN_KEYS if k in c} for c in result["columns"]]
        print(json.dumps(document, indent=2, ensure_ascii=False, default=float))
    else:
        print("\n".join(f"- {line}" for line in result["summary"]))
    return 0


def _columns(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _kind_overrides(parser: argparse.ArgumentParser) -> None:
    """Add --categorical, --numeric and --ignore (each repeatable or comma-separated) to `parser`."""
    for flag, meaning in (("categorical", "read these columns as categories (e.g. integer codes)"),
                          ("numeric", "read these columns as numbers"), ("ignore", "leave these columns out")):
        parser.add_argument(f"--{flag}", action="extend", type=_columns, default=[], help=meaning)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the analysis, print the result; return the exit code (2 for bad input)."""
    parser = argparse.ArgumentParser(prog="python -m services.analytics", description="Local analytics.")
    commands = parser.add_subparsers(dest="command", required=True)
    metrics = commands.add_parser("metrics", help="evaluate predictions against the truth")
    metrics.add_argument("data", help="CSV or Parquet file")
    metrics.add_argument("--y-true", help="column with the true label, value or relevance (default: a usual name)")
    metrics.add_argument("--y-score", help="column with the predicted score, probability or class (same)")
    metrics.add_argument("--query", help="column grouping rows into queries (ranking metrics)")
    metrics.add_argument("--threshold", type=_threshold, help="decision threshold, or 'best-f1' (default 0.5)")
    metrics.add_argument("--sampling-rate", type=float, help="negative sampling rate w: recalibrate scores first")
    metrics.add_argument("--k", type=int, default=10, help="cut-off for ranking metrics (default 10)")
    metrics.add_argument("--positive", help="the positive class of a binary label (default: the larger label)")
    metrics.add_argument("--json", action="store_true", help="print one JSON document")
    metrics.add_argument("--chart", help="write the chart to this PNG file")
    uplift = commands.add_parser("uplift", help="who to treat, what it earns, how sure we are")
    uplift.add_argument("data", help="CSV or Parquet file of a randomized experiment")
    uplift.add_argument("--treatment", required=True, help="column: treated or not (0/1 or two labels)")
    uplift.add_argument("--outcome", required=True, help="column: the outcome (binary, or numeric such as amount paid)")
    uplift.add_argument("--score", help="column with an existing model's uplift scores: evaluate them, do not fit")
    uplift.add_argument("--revenue", help="column: the value of a success (e.g. the amount owed)")
    uplift.add_argument("--cost", type=float, help="cost of treating one person")
    uplift.add_argument("--budget", type=int, help="the most people that can be treated")
    uplift.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for the Qini interval")
    uplift.add_argument("--seed", type=int, default=0, help="random seed (folds, sampling, bootstrap)")
    _kind_overrides(uplift)
    uplift.add_argument("--json", action="store_true", help="print one JSON document")
    uplift.add_argument("--chart", help="write the chart to this PNG file")
    drift = commands.add_parser("drift", help="did the data drift between two tables?")
    drift.add_argument("reference", help="CSV or Parquet file: the reference (e.g. last month)")
    drift.add_argument("current", help="CSV or Parquet file: the current data (e.g. this month)")
    _kind_overrides(drift)
    drift.add_argument("--target", help="the label column: tested for drift, kept out of adversarial validation")
    drift.add_argument("--correction", choices=["bh", "bonferroni"], default="bh", help="multiple-testing method")
    drift.add_argument("--threshold", type=float, default=0.1, help="effect size that gates drift (default 0.1)")
    drift.add_argument("--alpha", type=float, default=0.05, help="significance level after adjustment")
    drift.add_argument("--max-rows", type=int, default=200_000, help="sample each table above this many rows")
    drift.add_argument("--seed", type=int, default=0, help="seed for sampling and the classifier")
    drift.add_argument("--tests-only", action="store_true", help="skip adversarial validation")
    drift.add_argument("--json", action="store_true", help="print one JSON document")
    drift.add_argument("--chart", help="write the chart to this PNG file")
    args = parser.parse_args(argv)
    try:
        if args.command == "drift":
            return run_drift(args)
        return run_uplift(args) if args.command == "uplift" else run_metrics(args)
    except AnalyticsError as problem:
        print(problem, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
