"""Usage reports: the last N days by user, team, model and backend, and the CSV export."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.csv_cells import safe_row
from services.usage.store import COUNTERS, Tally, UsageRow, UsageStore


@dataclass
class UsageReport:
    """Tallies from `first_day` to `last_day` (UTC, inclusive): totals, per day, and per user, team, model and
    named backend (largest first by tokens; days before backends were counted have no backend rows)."""

    first_day: str
    last_day: str
    total: Tally = field(default_factory=Tally)
    per_day: dict[str, Tally] = field(default_factory=dict)
    by_user: list[tuple[str, Tally]] = field(default_factory=list)
    by_team: list[tuple[str, Tally]] = field(default_factory=list)
    by_model: list[tuple[str, Tally]] = field(default_factory=list)
    by_backend: list[tuple[str, Tally]] = field(default_factory=list)


def period(days: int, today: datetime | None = None) -> tuple[str, str]:
    """Return (first day, last day) of the last `days` days ending today (UTC), as YYYY-MM-DD."""
    end = (today or datetime.now(UTC)).date()
    return (end - timedelta(days=days - 1)).isoformat(), end.isoformat()


def build_report(rows: list[UsageRow], first_day: str, last_day: str) -> UsageReport:
    """Return the report of `rows`. Totals and days come from the model rows (every turn has exactly one)."""
    report = UsageReport(first_day, last_day)
    start = datetime.fromisoformat(first_day)
    days = (datetime.fromisoformat(last_day) - start).days + 1
    report.per_day = {(start + timedelta(days=n)).date().isoformat(): Tally() for n in range(days)}
    sums: dict[str, dict[str, Tally]] = {kind: defaultdict(Tally) for kind in ("user", "team", "model", "backend")}
    for row in rows:
        sums[row.dimension][row.key] += row.tally
        if row.dimension == "model":
            report.total += row.tally
            report.per_day[row.day] = report.per_day.get(row.day, Tally()) + row.tally

    def ranked(kind: str) -> list[tuple[str, Tally]]:
        return sorted(sums[kind].items(), key=lambda item: (-item[1].tokens, item[0]))

    report.by_user, report.by_team, report.by_model = ranked("user"), ranked("team"), ranked("model")
    report.by_backend = ranked("backend")
    return report


async def load_report(store: UsageStore, days: int, today: datetime | None = None) -> UsageReport:
    """Return the report of the last `days` days from `store`."""
    first, last = period(days, today)
    return build_report(await store.rows(first, last), first, last)


def to_csv(rows: list[UsageRow]) -> str:
    """Return `rows` as CSV: day, dimension, key, the counters, and the cost in US dollars. Text cells that
    would start a spreadsheet formula are neutralised (services/csv_cells.py)."""
    buffer = io.StringIO()
    # Every text cell quoted: Python's writer leaves a lone carriage return unquoted with "\n" line endings, and
    # a spreadsheet would start a new row (and a formula) there.
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(["day", "dimension", "key", *COUNTERS, "cost_usd"])
    for row in rows:
        counts = [getattr(row.tally, name) for name in COUNTERS]
        writer.writerow(safe_row([row.day, row.dimension, row.key, *counts, f"{row.tally.cost_micro / 1_000_000:.6f}"]))
    return buffer.getvalue()
