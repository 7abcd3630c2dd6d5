"""The usage chart: tokens per day, stacked by kind (matplotlib, headless). Import only in the worker path."""

from __future__ import annotations

from datetime import date

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and Lambda
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from services.analytics.charts import to_png  # noqa: E402
from services.usage.report import UsageReport  # noqa: E402

KINDS = (
    ("input_tokens", "input"), ("cache_read_tokens", "cache read"), ("cache_write_tokens", "cache write"),
    ("output_tokens", "output"),
)  # fmt: skip


def usage_chart(report: UsageReport, max_bytes: int = 48_000, dpi: int = 80) -> bytes:
    """Return a PNG bar chart of the report's tokens per day, stacked by input, cache reads, cache writes and
    output, kept under `max_bytes`."""
    days = list(report.per_day)
    labels = [date.fromisoformat(day).strftime("%d %b") for day in days]
    figure, axis = plt.subplots(figsize=(7.5 if len(days) > 7 else 5.5, 2.8))
    bottom = [0] * len(days)
    for name, label in KINDS:
        values = [getattr(report.per_day[day], name) for day in days]
        axis.bar(labels, values, bottom=bottom, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axis.set(title="Tokens per day (UTC)", ylabel="tokens")
    axis.legend(loc="upper left", fontsize=7, ncols=4)
    axis.grid(axis="y", alpha=0.3)
    if len(days) > 10:
        axis.tick_params(axis="x", labelrotation=90, labelsize=6)
    return to_png(figure, max_bytes=max_bytes, dpi=dpi)
