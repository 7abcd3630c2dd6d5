"""The one place monitors meet the analytics commands: check a monitor's options when it is created with the
command's own spec (services/analytics/commands.py), and run its analysis through the same pipeline, in an
analysis process (services/analytics/isolation.py), with the same card as the chat commands `drift` and
`metrics`. A change to the analytics commands changes this adapter, not the monitors."""

from __future__ import annotations

from typing import Any

from handlers.analytics import CHAT_COMMANDS, TEAMS_CHART_BYTES
from services.analytics.commands import DRIFT, METRICS, CommandSpec
from services.analytics.drift_types import DriftResult
from services.analytics.errors import AnalyticsError
from services.analytics.isolation import AnalysisFailed, Runner
from services.analytics.metrics_types import MetricsResult
from services.analytics.options import check_options as check_options_of
from services.analytics.options import split_options
from services.analytics.pipeline import Outcome
from services.quoting import quote

SPECS: dict[str, CommandSpec] = {"drift": DRIFT, "metrics": METRICS}
TABLES = {kind: len(spec.tables) for kind, spec in SPECS.items()}
# floors name metrics as people say them; the result's fields are on the right
METRIC_KEYS = {"auc": "roc_auc", "roc_auc": "roc_auc", "pr_auc": "pr_auc", "log_loss": "log_loss", "f1": "f1",
               "precision": "precision", "recall": "recall", "accuracy": "accuracy", "brier": "brier",
               "mae": "mae", "rmse": "rmse", "r2": "r2", "ndcg": "ndcg", "map": "map", "mrr": "mrr",
               "calibration": "calibration", "ece": "ece"}  # fmt: skip


def check_options(kind: str, text: str) -> dict[str, Any]:
    """Return the typed options of `text` for the command `kind` (its spec's types and bounds); raise
    AnalyticsError with the spec's own sentence for an unknown or out-of-range option."""
    spec = SPECS[kind]
    raw, words = split_options(text, spec.options)
    try:
        values = check_options_of(raw, spec.options)
    except AnalyticsError as problem:  # not spec.parse: its sentence ends with the chat command's usage
        options = ", ".join(f"`{o.name}=`" for o in spec.options if o.chat)
        raise AnalyticsError(f"{problem} A `{kind}` monitor takes {options}.") from None
    if words:
        raise AnalyticsError(f"`{kind}` monitors take `name=value` options; I do not know {quote(words[0], 30)}.")
    return values


async def analyse(kind: str, sources: list[tuple[bytes, str]], options_text: str, runner: Runner) -> tuple[Any, bytes]:
    """Run the chat command's analysis of `kind` on `sources` (bytes, name) in an analysis process; return (the
    typed result, a DriftResult or a MetricsResult; the Teams-sized chart PNG or b""). Raises AnalyticsError
    for unusable data, and AnalysisFailed (a defect, or the libraries missing) for the queue to retry."""
    spec = SPECS[kind]
    request = {"command": spec.name, "sources": sources, "values": check_options(kind, options_text),
               "max_chart_bytes": TEAMS_CHART_BYTES, "dpi": spec.chat_dpi}  # fmt: skip
    outcome = await runner.run(request)
    return outcome.result, outcome.chart or b""


def full_card(kind: str, result: Any, names: list[str], chart: bytes) -> dict[str, Any]:
    """Return the chat command's own card for the result (the monitor's "full report")."""
    (chat,) = [c for c in CHAT_COMMANDS if c.spec is SPECS[kind]]
    return chat.card(Outcome(result, chart, tuple(names)))


def moved_columns(result: DriftResult) -> list[str]:
    """Return the names of the columns a drift result calls drifted, in the result's order (largest first)."""
    return [c.name for c in result.drifted]


def drift_found(result: DriftResult) -> bool:
    """True when a drift result's verdict is drift."""
    return result.dataset_drift


def metric_value(result: MetricsResult, metric: str) -> float | None:
    """Return the value of `metric` (a floor's name) in a metrics result, or None when the result has none."""
    return result.value(METRIC_KEYS.get(metric, metric))


__all__ = ["AnalysisFailed", "analyse", "check_options", "full_card", "metric_value"]
