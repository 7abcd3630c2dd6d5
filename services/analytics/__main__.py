"""`python -m services.analytics metrics|uplift|drift ...`: analyses from the command line.

The commands, their options (types, bounds, help) and the pipeline are the ones chat uses
(services/analytics/commands.py and pipeline.py): the parser is built from the specs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from services.analytics.commands import COMMANDS, METRIC_LABELS, CommandSpec, check_values
from services.analytics.errors import AnalyticsError
from services.analytics.options import Option

UPLIFT_KEYS = (
    "rows", "balance", "ate", "learner", "learners", "qini_auc", "qini_auc_ci", "uplift_auc", "uplift_at_k",
    "deciles", "recommendation", "drivers", "warnings", "conventions", "summary", "cluster", "better",
    "better_source",
)  # fmt: skip
DRIFT_COLUMN_KEYS = (
    "name", "kind", "drifted", "reason", "note", "test", "p_value", "p_value_adjusted", "ks_statistic", "chi2",
    "wasserstein", "wasserstein_normalized", "psi", "mean_shift_sd", "jensen_shannon", "missing_share",
    "new_categories", "new_category_share", "top_changes", "kind_detail", "reference_constant", "reference_mean",
    "current_mean", "date_range", "recency_days", "current_inside_reference_range", "largest_gap_days",
)  # fmt: skip


def _columns(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _add(parser: argparse.ArgumentParser, option: Option) -> None:
    """Add `option` as `--name`; values stay text (or lists of names) for the spec's checks."""
    flag = f"--{option.name.replace('_', '-')}"
    help_text = option.describe().split(": ", 1)[-1]
    if option.kind == "flag":
        parser.add_argument(flag, action="store_true", default=None, help=help_text)
    elif option.kind == "columns":
        parser.add_argument(flag, action="extend", type=_columns, help=f"{help_text} (repeatable or a,b)")
    else:
        parser.add_argument(flag, help=f"{option.describe().split('`')[1].split('=', 1)[1]}: {help_text}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.analytics", description="Local analytics.")
    commands = parser.add_subparsers(dest="command", required=True)
    for spec in COMMANDS.values():
        sub = commands.add_parser(spec.name, help=spec.summary, description=spec.summary)
        for table in spec.tables:
            sub.add_argument(table, help=f"CSV or Parquet file: the {table}")
        for option in spec.options:
            _add(sub, option)
        sub.add_argument("--json", action="store_true", help="print one JSON document")
        sub.add_argument("--chart", help="write the chart to this PNG file")
    return parser


def _print(spec: CommandSpec, result: Any, as_json: bool) -> None:
    """Print a typed result: one JSON document (`to_dict()`, uplift's and drift's columns trimmed to their
    documented keys) or the summary lines."""
    if spec.name == "metrics":
        if as_json:
            print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
            return
        print(f"{result.task} evaluation of {result.n:,} rows")
        print("\n".join(f"  {key:<20} {getattr(result, key)}" for key, _ in METRIC_LABELS
                        if getattr(result, key) is not None))  # fmt: skip
    elif spec.name == "uplift" and as_json:
        document = result.to_dict()
        print(json.dumps({key: document[key] for key in UPLIFT_KEYS if key in document}, indent=2,
                         ensure_ascii=False))  # fmt: skip
        return
    elif spec.name == "drift" and as_json:
        document = result.to_dict()
        document["columns"] = [{k: c[k] for k in DRIFT_COLUMN_KEYS if k in c} for c in document["columns"]]
        print(json.dumps(document, indent=2, ensure_ascii=False, default=float))
        return
    print("\n".join(f"- {line}" for line in result.summary))
    if spec.name == "uplift":
        print(f"  conventions: {result.conventions}")


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run the analysis, print the result; return the exit code (2 for bad input)."""
    from services.analytics.pipeline import run

    args = _parser().parse_args(argv)
    spec = COMMANDS[args.command]
    given = vars(args)
    raw = {option.name: given[option.name] for option in spec.options if given.get(option.name) is not None}
    from services.settings import SettingsError, load_settings

    try:
        settings = load_settings()  # ANALYTICS_ENGINE and ANALYTICS_SPARK_ROWS/MB from the environment or .env
        values = check_values(spec, raw)
        if values.get("engine") == "auto" and settings.analytics_engine != "auto":
            values["engine"] = settings.analytics_engine
        sources = [(Path(given[table]), Path(given[table]).name) for table in spec.tables]
        outcome = run(spec, sources, values, chart=bool(args.chart), spark_rows=settings.analytics_spark_rows,
                      spark_mb=settings.analytics_spark_mb)  # fmt: skip
    except (AnalyticsError, SettingsError) as problem:
        print(problem, file=sys.stderr)
        return 2
    if args.chart and outcome.chart:
        Path(args.chart).write_bytes(outcome.chart)
    _print(spec, outcome.result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
