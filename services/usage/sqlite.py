"""Usage store on SQLite: the same file as the conversation state (own tables, own connection), WAL mode.

Every change is one `BEGIN IMMEDIATE` transaction, so increments and budget reservations are atomic across
threads and processes sharing the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, TypeVar

from services.store.sqlite_file import SQLiteFile
from services.usage.store import COUNTERS, Balance, Dimension, Hold, Tally, UsageRow

T = TypeVar("T")
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS usage_daily (
    day TEXT NOT NULL, dimension TEXT NOT NULL, key TEXT NOT NULL,
    {", ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name in COUNTERS)},
    PRIMARY KEY (day, dimension, key));
CREATE TABLE IF NOT EXISTS usage_budget (
    scope TEXT NOT NULL, period TEXT NOT NULL, held_tokens INTEGER NOT NULL DEFAULT 0,
    held_cost INTEGER NOT NULL DEFAULT 0, noted INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, period));
"""
_ADD = (
    f"INSERT INTO usage_daily (day, dimension, key, {', '.join(COUNTERS)}) "
    f"VALUES (?, ?, ?, {', '.join('?' for _ in COUNTERS)}) ON CONFLICT(day, dimension, key) DO UPDATE SET "
    + ", ".join(f"{name} = {name} + excluded.{name}" for name in COUNTERS)
)


class SQLiteUsageStore(SQLiteFile):
    """UsageStore on one SQLite file; calls run on a thread of its own so the event loop never waits on disk."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _SCHEMA, "usage-store")

    async def add(self, day: str, keys: dict[Dimension, str], tally: Tally) -> None:
        values = tuple(getattr(tally, name) for name in COUNTERS)
        rows = [(day, dim, key, *values) for dim, key in keys.items()]
        await self._call(lambda db: _rowcount(db.executemany(_ADD, rows)))

    async def reserve(self, holds: list[Hold]) -> Hold | None:
        def work(db: sqlite3.Connection) -> Hold | None:
            for hold in holds:
                row = db.execute(
                    "SELECT held_tokens, held_cost FROM usage_budget WHERE scope = ? AND period = ?",
                    (hold.scope, hold.period),
                ).fetchone()
                if row and _reached(hold, row[0], row[1]):
                    return hold
            for hold in holds:
                db.execute(
                    "INSERT INTO usage_budget (scope, period, held_tokens, held_cost, expires_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(scope, period) DO UPDATE SET "
                    "held_tokens = held_tokens + excluded.held_tokens, held_cost = held_cost + excluded.held_cost",
                    (hold.scope, hold.period, hold.tokens, hold.cost_micro, hold.expires_at),
                )
            db.execute("DELETE FROM usage_budget WHERE expires_at < strftime('%s', 'now')")
            return None

        return await self._call(work)

    async def settle(self, holds: list[Hold], tokens: int, cost_micro: int) -> list[Balance]:
        def work(db: sqlite3.Connection) -> list[Balance]:
            balances = []
            for hold in holds:
                row = db.execute(
                    "UPDATE usage_budget SET held_tokens = held_tokens + ?, held_cost = held_cost + ? "
                    "WHERE scope = ? AND period = ? RETURNING held_tokens, held_cost",
                    (tokens - hold.tokens, cost_micro - hold.cost_micro, hold.scope, hold.period),
                ).fetchone()
                if row:
                    balances.append(Balance(hold, row[0], row[1]))
            return balances

        return await self._call(work)

    async def mark_noted(self, hold: Hold) -> bool:
        changed = await self._call(
            lambda db: _rowcount(
                db.execute(
                    "UPDATE usage_budget SET noted = 1 WHERE scope = ? AND period = ? AND noted = 0",
                    (hold.scope, hold.period),
                )
            )
        )
        return changed == 1

    async def rows(self, first_day: str, last_day: str) -> list[UsageRow]:
        found: list[Any] = await self._call(
            lambda db: db.execute(
                f"SELECT day, dimension, key, {', '.join(COUNTERS)} FROM usage_daily "
                "WHERE day BETWEEN ? AND ? ORDER BY day, dimension, key",
                (first_day, last_day),
            ).fetchall()
        )
        return [UsageRow(row[0], row[1], row[2], Tally(*row[3:])) for row in found]

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            self._db.close()


def _rowcount(cursor: sqlite3.Cursor) -> int:
    """Return the cursor's row count and close it on the store's thread: a cursor freed later on another thread
    would finalise its statement while this thread uses the connection (sqlite3 reports API misuse)."""
    count = cursor.rowcount
    cursor.close()
    return count


def _reached(hold: Hold, held_tokens: int, held_cost: int) -> bool:
    """True when the counter already holds its token or cost limit (so one more turn may not start)."""
    over_tokens = hold.token_limit is not None and held_tokens >= hold.token_limit
    return over_tokens or (hold.cost_limit_micro is not None and held_cost >= hold.cost_limit_micro)
