"""`python -m services.analytics metrics DATA --y-true COL --y-score COL [...]`: analyses from the command line."""

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
        "base_rate", "threshold", "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss",
        "normalized_entropy", "calibration", "prediction_bias", "brier", "mae", "rmse", "r2", "ndcg", "mrr",
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
        table, y_true, y_score, query=args.query, threshold=args.threshold, sampling_rate=args.sampling_rate, k=args.k
    )
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
    metrics.add_argument("--json", action="store_true", help="print one JSON document")
    metrics.add_argument("--chart", help="write the chart to this PNG file")
    args = parser.parse_args(argv)
    try:
        return run_metrics(args)
    except AnalyticsError as problem:
        print(problem, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
