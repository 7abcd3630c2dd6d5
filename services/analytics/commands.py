"""The analysis commands as data: name, aliases, options (types, bounds, help), how many tables they read,
the checks against the data, the analysis and the chart. Chat (handlers/analytics.py), the command line
(`python -m services.analytics`) and the benchmarks read these specs; `help <command>` prints them.

Importing this module is light (no numpy or pandas): the heavy libraries are imported inside the functions,
which run in the analysis process.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.analytics import progress
from services.analytics.engine import ENGINES
from services.analytics.errors import AnalyticsError
from services.analytics.options import Option, check_options, split_options
from services.quoting import quote

MAX_K = 10_000  # ranking cut-off: never more than this, whatever the data
MAX_AMOUNT = 1e12  # a cost per person treated
MAX_PEOPLE = 1_000_000_000  # a budget in people, before it is checked against the rows
SOURCES = "attached in a personal chat, or followed by an `s3://` URI or a file name in DATA_DIR"

Tables = list[Any]  # pandas DataFrames (typed loosely: this module does not import pandas)


@dataclass(frozen=True)
class CommandSpec:
    """One analysis command. `tables` names the tables it reads, in order; `required` the options it needs;
    `check(tables, values)` refuses values the data makes impossible; `analyse(tables, values)` returns the
    typed result (with `to_dict()`); `chart(result, tables, max_bytes, dpi)` the PNG."""

    name: str
    aliases: tuple[str, ...]
    summary: str
    usage: str
    example: str
    options: tuple[Option, ...]
    tables: tuple[str, ...]
    check: Callable[[Tables, dict[str, Any]], None]
    analyse: Callable[[Tables, dict[str, Any]], Any]
    chart: Callable[[Any, Tables, int, int], bytes]
    required: tuple[str, ...] = ()
    chat_dpi: int = 80
    # The same analysis on Spark for tables given as paths too large for the worker: (result, samples to chart).
    large: Callable[[list[str], dict[str, Any]], tuple[Any, Tables]] | None = None

    def parse(self, text: str) -> tuple[dict[str, Any], list[str]]:
        """Return (typed option values, other words) of a chat command; AnalyticsError with one sentence for
        a bad option (the command's usage appended)."""
        try:
            raw, words = split_options(text, self.options)
            self._check_foreign(raw)
            return check_options(raw, self.options), words
        except AnalyticsError as problem:
            raise AnalyticsError(f"{problem} {self.usage}") from None

    def _check_foreign(self, raw: dict[str, Any]) -> None:
        """Refuse an option of another command by name (`treated=` on metrics, `engine=` on uplift)."""
        own = {option.name for option in self.options if option.chat}
        for name in sorted(set(raw) - own):
            others = [spec.name for spec in COMMANDS.values() if spec is not self
                      and any(option.name == name and option.chat for option in spec.options)]  # fmt: skip
            if others:
                where = " and ".join(f"`{other}`" for other in others)
                raise AnalyticsError(f"{name}= is an option of {where}, not of `{self.name}`.")

    def check_required(self, values: dict[str, Any]) -> None:
        """Raise AnalyticsError naming the required options that are missing."""
        missing = [name for name in self.required if not values.get(name)]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            raise AnalyticsError(f"Name the {' and '.join(missing)} column{plural}. {self.usage}")

    def help(self) -> str:
        """Return the command's help in Markdown: what it does, how to send it, its options, an example."""
        names = ", ".join(f"`{name}`" for name in (self.name, *self.aliases))
        lines = [f"**{self.name}** ({names}): {self.summary}", "", self.usage, "", "Options:"]
        lines += [f"- {option.describe()}" for option in self.options if option.chat]
        lines += ["", f"Example: `{self.example}`"]
        return "\n".join(lines)


def _given(values: dict[str, Any], *names: str) -> dict[str, Any]:
    """Return the options among `names` that were given (so an analysis that predates one still runs)."""
    return {name: values[name] for name in names if values.get(name) is not None}


def _column(name: str, help: str, *aliases: str) -> Option:
    return Option(name, "column", help, aliases=aliases)


KIND_OPTIONS = (
    Option("categorical", "columns", "read these columns as categories (e.g. integer codes)", default=()),
    Option("numeric", "columns", "read these columns as numbers", default=()),
    Option("ignore", "columns", "leave these columns out", default=()),
)
ENGINE = Option("engine", "choice", "where it runs: auto (Spark above a size), local or spark",
                choices=("auto", *ENGINES), default="auto")  # fmt: skip
SEED = Option("seed", "whole", "random seed (folds, sampling, bootstrap)", low=0, high=2**32 - 1, default=0, chat=False)


# --- metrics ---------------------------------------------------------------------------------------------------

# The metrics a result may hold, in the order the card and the command line show them: (key, label).
METRIC_LABELS: list[tuple[str, str]] = [
    ("base_rate", "Base rate"), ("threshold", "Threshold"), ("accuracy", "Accuracy"), ("precision", "Precision"),
    ("recall", "Recall"), ("f1", "F1"), ("roc_auc", "ROC AUC"), ("gini", "Gini"), ("pr_auc", "PR AUC"),
    ("log_loss", "Log loss"), ("normalized_entropy", "Normalized entropy"), ("calibration", "Calibration (pred/obs)"),
    ("prediction_bias", "Prediction bias"), ("brier", "Brier score"), ("ece", "ECE"), ("mae", "MAE"),
    ("rmse", "RMSE"), ("r2", "R²"), ("ndcg", "NDCG@k"), ("mrr", "MRR"), ("map", "MAP@k"), ("hit_rate", "Hit rate@k"),
]  # fmt: skip


def _metrics_columns(table: Any, values: dict[str, Any]) -> tuple[str, str]:
    from services.analytics.metrics import infer_columns

    return infer_columns(table, values.get("y_true"), values.get("y_score"))


def _check_distinct(roles: dict[str, Any]) -> None:
    """Refuse one column named for two roles (`treatment=arm outcome=arm`: a perfect, meaningless result)."""
    seen: dict[str, str] = {}
    for role, column in roles.items():
        if column is None:
            continue
        if column in seen:
            raise AnalyticsError(
                f"{seen[column]} and {role} name the same column '{quote(str(column), 40)}': each needs its own."
            )
        seen[column] = role


def _check_metrics(tables: Tables, values: dict[str, Any]) -> None:
    """Refuse one column for two roles, a k above the rows of the largest query and a threshold outside the
    scores' range."""
    import pandas as pd

    from services.analytics.tables import require_column

    (table,) = tables
    y_true, y_score = _metrics_columns(table, values)
    _check_distinct({"y_true": y_true, "y_score": y_score, "query": values.get("query")})
    if values.get("query"):
        largest = int(require_column(table, values["query"], "query").value_counts(dropna=True).max() or 0)
        if values["k"] > largest:
            raise AnalyticsError(
                f"k={values['k']:,} is more than the {largest:,} rows of the largest query: "
                f"use k={min(largest, 10)} (k counts the top results of each query)."
            )
    threshold = values.get("threshold")
    if isinstance(threshold, float | int) and y_score in table.columns:
        scores = pd.to_numeric(table[y_score], errors="coerce")
        low, high = scores.min(), scores.max()
        if pd.notna(low) and low >= 0 and high <= 1 and not 0 <= threshold <= 1:
            raise AnalyticsError(
                f"threshold={threshold:g} is outside 0–1, the range of the probabilities in "
                f"'{quote(y_score, 40)}': a threshold there predicts one class for every row."
            )


def _analyse_metrics(tables: Tables, values: dict[str, Any]) -> Any:
    from services.analytics.metrics import evaluate

    (table,) = tables
    y_true, y_score = _metrics_columns(table, values)
    progress.report(f"evaluating {y_score} against {y_true}", force=True)
    return evaluate(
        table, y_true, y_score, query=values.get("query"), threshold=values.get("threshold"),
        sampling_rate=values.get("sampling_rate"), k=values["k"], **_given(values, "positive"),
    )  # fmt: skip


def _analyse_metrics_on_spark(paths: list[str], values: dict[str, Any]) -> tuple[Any, Tables]:
    from services.analytics.spark_engine import shared_session
    from services.analytics.spark_metrics import spark_metrics

    progress.report("counting scores and labels on Spark", force=True)
    result, grouped = spark_metrics(shared_session(), paths[0], values)
    return result, [grouped]  # the chart reads the result only


def _metrics_chart(result: Any, tables: Tables, max_bytes: int, dpi: int) -> bytes:
    from services.analytics.charts import metrics_chart

    return metrics_chart(result, max_bytes=max_bytes, dpi=dpi)


METRICS = CommandSpec(
    name="metrics",
    aliases=("evaluate",),
    summary="evaluate a predictions file against the truth (classification, regression or ranking).",
    usage=(
        f"Send `metrics y_true=<label column> y_score=<score column>` with the predictions file (CSV or Parquet) "
        f"{SOURCES}."
    ),
    example="metrics y_true=label y_score=p threshold=best-f1",
    options=(
        _column("y_true", "the true label, value or relevance (default: a usual name such as label)", "label", "truth"),
        _column("y_score", "the predicted score, probability or class (same)", "score", "prediction"),
        _column("query", "the column grouping rows into queries, for ranking metrics", "group"),
        Option(
            "threshold",
            "number",
            "decision threshold (default 0.5 for probabilities, else best F1)",
            words=("best-f1",),
            aliases=("cutoff",),
        ),
        Option(
            "sampling_rate",
            "number",
            "the rate at which negatives were kept in training: recalibrate first",
            low=0,
            high=1,
            low_open=True,
            aliases=("w",),
        ),
        Option("k", "whole", "cut-off of ranking metrics, at most the rows of a query", low=1, high=MAX_K, default=10),
        Option("positive", "label", "the positive class of a binary label (default: the larger label)"),
        ENGINE,
    ),  # fmt: skip
    tables=("data",),
    check=_check_metrics,
    analyse=_analyse_metrics,
    chart=_metrics_chart,
    large=_analyse_metrics_on_spark,
)


# --- uplift ----------------------------------------------------------------------------------------------------


def _check_uplift(tables: Tables, values: dict[str, Any]) -> None:
    """Refuse one column for two roles and a budget above the rows of the experiment."""
    (table,) = tables
    _check_distinct({name: values.get(name) for name in ("treatment", "outcome", "score", "revenue")})
    budget = values.get("budget")
    if budget is not None and budget > len(table):
        raise AnalyticsError(
            f"budget={budget:,} is more than the {len(table):,} people in the file: leave budget out to treat "
            "anyone worth treating."
        )


def _analyse_uplift(tables: Tables, values: dict[str, Any]) -> Any:
    from services.analytics.uplift import analyse

    (table,) = tables
    progress.report(f"fitting uplift models on {progress.rows_text(len(table))} rows", force=True)
    return analyse(
        table, values["treatment"], values["outcome"], score=values.get("score"), revenue=values.get("revenue"),
        cost=values.get("cost"), budget=values.get("budget"), bootstrap=values["bootstrap"], seed=values["seed"],
        categorical=values["categorical"], numeric=values["numeric"], ignore=values["ignore"],
        **_given(values, "cluster", "success", "treated", "better"),
    )  # fmt: skip


def _uplift_chart(result: Any, tables: Tables, max_bytes: int, dpi: int) -> bytes:
    from services.analytics.charts import uplift_chart

    return uplift_chart(result, max_bytes=max_bytes, dpi=dpi)


UPLIFT = CommandSpec(
    name="uplift",
    aliases=(),
    summary="who to treat and what it earns, from a randomised experiment.",
    usage=(f"Send `uplift treatment=<column> outcome=<column>` with the experiment's data (CSV or Parquet) {SOURCES}."),
    example="uplift treatment=called outcome=paid revenue=amount cost=0.5",
    options=(
        _column("treatment", "treated or not (0/1 or two labels)"),
        Option(
            "treated",
            "label",
            "the treatment column's value of the treated arm (default: the other of a control-like label such "
            "as placebo, control, Obs, no …; asked when neither label is recognisable)",
        ),
        _column("outcome", "the outcome (binary, or numeric such as amount paid)"),
        _column("score", "an existing model's uplift scores: evaluate them, do not fit"),
        _column("revenue", "the value of a success (e.g. the amount owed)"),
        _column("cluster", "the column rows are grouped by (classroom, store), or none: independent rows"),
        Option(
            "success",
            "label",
            "the outcome value that counts as a success (two-valued outcomes; default: one "
            "named like yes/good/success, else the larger)",
        ),
        Option(
            "better",
            "choice",
            "which way the outcome is better: higher, or lower (seizures, deaths, costs): who to treat is chosen "
            "for it, the numbers stay in the outcome's units (default: higher, said on the card as an assumption)",
            choices=("higher", "lower"),
        ),
        Option("cost", "number", "cost of treating one person", low=0, high=MAX_AMOUNT),
        Option("budget", "whole", "the most people that can be treated (at most the rows)", low=1, high=MAX_PEOPLE),
        *KIND_OPTIONS,
        Option(
            "bootstrap",
            "whole",
            "bootstrap resamples for the Qini interval",
            low=10,
            high=10_000,
            default=200,
            chat=False,
        ),
        SEED,
    ),  # fmt: skip
    tables=("data",),
    check=_check_uplift,
    analyse=_analyse_uplift,
    chart=_uplift_chart,
    required=("treatment", "outcome"),
)


# --- drift -----------------------------------------------------------------------------------------------------


def _check_drift(tables: Tables, values: dict[str, Any]) -> None:
    """Nothing in the data bounds drift's options further (max_rows samples, it never allocates past the data)."""


def _drift_options(values: dict[str, Any]) -> Any:
    from services.analytics.drift import DriftOptions

    return DriftOptions(
        categorical=values["categorical"], numeric=values["numeric"], ignore=values["ignore"],
        target=values.get("target"), effect_threshold=values["threshold"],
        correction="bonferroni" if values["correction"] == "bonferroni" else "bh",
        alpha=values["alpha"], max_rows=values["max_rows"], tests_only=values["tests_only"], seed=values["seed"],
        partitions=values.get("partitions", ()), **_given(values, "cluster"),
    )  # fmt: skip


def _analyse_drift(tables: Tables, values: dict[str, Any]) -> Any:
    from services.analytics.drift import analyse

    reference, current = tables
    progress.report(f"comparing {len(reference.columns)} columns", force=True)
    return analyse(reference, current, _drift_options(values))


def _analyse_drift_on_spark(paths: list[str], values: dict[str, Any]) -> tuple[Any, Tables]:
    from services.analytics.spark_engine import shared_session, spark_drift

    samples: Tables = []
    progress.report("summarising both tables on Spark", force=True)
    result = spark_drift(shared_session(), paths[0], paths[1], _drift_options(values), samples=samples)
    return result, samples


def _drift_chart(result: Any, tables: Tables, max_bytes: int, dpi: int) -> bytes:
    from services.analytics.charts import drift_chart

    reference, current = tables
    return drift_chart(result, reference, current, max_bytes=max_bytes, dpi=dpi)


DRIFT = CommandSpec(
    name="drift",
    aliases=("compare",),
    summary="did the data drift? Compares a reference table (e.g. last month) with the current one.",
    usage=(
        "Send `drift` with two files attached in a personal chat (first the reference, e.g. last month; then the "
        "current data), or followed by two `s3://` URIs or two file names in DATA_DIR."
    ),
    example="drift target=churned categorical=region_code threshold=0.1",
    options=(
        _column("target", "the label column: tested for drift, kept out of adversarial validation"),
        _column("cluster", "the column rows are grouped by (store, patient, firm): test whole entities, or none"),
        *KIND_OPTIONS,
        Option(
            "threshold", "number", "the effect size that counts as drift", low=0, high=1, low_open=True, default=0.1
        ),
        Option(
            "correction",
            "choice",
            "multiple-testing correction (Benjamini–Hochberg or Bonferroni)",
            choices=("bh", "bonferroni", "benjamini-hochberg"),
            default="bh",
        ),
        Option(
            "alpha",
            "number",
            "significance level after adjustment",
            low=0,
            high=0.5,
            low_open=True,
            default=0.05,
            chat=False,
        ),
        Option(
            "max_rows",
            "whole",
            "sample each table above this many rows",
            low=100,
            high=5_000_000,
            default=200_000,
            chat=False,
        ),
        SEED,
        Option("tests_only", "flag", "skip adversarial validation", default=False, chat=False),
        ENGINE,
    ),  # fmt: skip
    tables=("reference", "current"),
    check=_check_drift,
    analyse=_analyse_drift,
    chart=_drift_chart,
    chat_dpi=70,
    large=_analyse_drift_on_spark,
)

COMMANDS: dict[str, CommandSpec] = {spec.name: spec for spec in (METRICS, UPLIFT, DRIFT)}


def command(name: str) -> CommandSpec | None:
    """Return the spec answering to `name` (a name or an alias), or None."""
    for spec in COMMANDS.values():
        if name == spec.name or name in spec.aliases:
            return spec
    return None


def closest(word: str, names: list[str] | tuple[str, ...], cutoff: float = 0.75) -> str | None:
    """Return the name closest to `word` (a typo such as `drfit`), or None. Inputs are capped first: difflib
    is quadratic in a word's length."""
    word = word[:40].lower()
    matches = difflib.get_close_matches(word, [n[:40] for n in names[:2000]], n=1, cutoff=cutoff)
    return matches[0] if matches else None


def check_values(spec: CommandSpec, values: dict[str, Any]) -> dict[str, Any]:
    """Return `values` typed and checked against `spec` (used by the command line, whose values come typed
    or as text); AnalyticsError with one sentence otherwise."""
    return check_options(values, spec.options, chat=False)
