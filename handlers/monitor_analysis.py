"""The one place monitors meet the analytics commands: check a monitor's options when it is created, and run
its analysis through the same jobs (read → analyse → chart) and cards as the chat commands `drift` and
`metrics`. Keeping it here means a change to the analytics commands changes one adapter, not the monitors."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from handlers import analytics
from handlers.analytics_cards import drift_card, evaluation_card
from services.analytics.errors import AnalyticsError
from services.quoting import quote

KNOWN_OPTIONS = {"drift": analytics.DRIFT_OPTIONS, "metrics": analytics.OPTIONS}
TABLES = {"drift": 2, "metrics": 1}
# floors name metrics as people say them; the result's keys are on the right
METRIC_KEYS = {"auc": "roc_auc", "roc_auc": "roc_auc", "pr_auc": "pr_auc", "log_loss": "log_loss", "f1": "f1",
               "precision": "precision", "recall": "recall", "accuracy": "accuracy", "brier": "brier",
               "mae": "mae", "rmse": "rmse", "r2": "r2", "ndcg": "ndcg", "map": "map", "mrr": "mrr",
               "calibration": "calibration", "ece": "ece"}  # fmt: skip


def check_options(kind: str, text: str) -> dict[str, str]:
    """Return the key=value options of `text`; raise AnalyticsError naming an option `kind` does not take."""
    options, words = analytics.parse_options(text)
    unknown = sorted(set(options) - KNOWN_OPTIONS[kind])
    if unknown or words:
        shown = ", ".join(quote(o, 30) for o in (unknown or words)[:3])
        raise AnalyticsError(
            f"`{kind}` monitors do not take {shown}; options are {', '.join(sorted(KNOWN_OPTIONS[kind]))}."
        )
    return options


async def analyse(kind: str, sources: list[tuple[bytes, str]], options_text: str) -> tuple[dict[str, Any], bytes]:
    """Run the chat command's analysis of `kind` on `sources` (bytes, name) off the event loop; return (the
    result as plain data, the Teams-sized chart PNG or b""). Raises AnalyticsError for unusable data."""
    options = check_options(kind, options_text)
    job = (
        functools.partial(analytics._drift_job, sources, options) if kind == "drift"
        else functools.partial(analytics._evaluate_job, sources[0], options)
    )  # fmt: skip
    result, chart = await asyncio.get_running_loop().run_in_executor(analytics.ANALYTICS_POOL, job)
    return result, chart or b""


def full_card(kind: str, result: dict[str, Any], names: list[str], chart: bytes) -> dict[str, Any]:
    """Return the chat command's own card for the result (the monitor's "full report")."""
    if kind == "drift":
        return drift_card(result, (names[0], names[1]), chart)
    return evaluation_card(result, names[0], chart)


def moved_columns(result: dict[str, Any]) -> list[str]:
    """Return the names of the columns a drift result calls drifted, largest effect first as the result lists them."""
    return [str(c["name"]) for c in result.get("columns", []) if c.get("drifted")]


def drift_found(result: dict[str, Any]) -> bool:
    """True when a drift result's verdict is drift."""
    return bool(result.get("dataset_drift"))


def metric_value(result: dict[str, Any], metric: str) -> float | None:
    """Return the value of `metric` (a floor's name) in a metrics result, or None when the result has none."""
    value = result.get(METRIC_KEYS.get(metric, metric))
    return float(value) if isinstance(value, int | float) else None
