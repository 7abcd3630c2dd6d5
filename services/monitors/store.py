"""Where monitors live: SQLite locally (a partial index on `next_run`), DynamoDB on AWS (a sparse GSI).

Listing what is due reads an index, never every monitor: the tick asks for monitors with `next_run <= now`
in `next_run` order. A paused monitor has no `next_run`, so it is not in the index at all. `advance` moves a
monitor's `next_run` forward only if it is still the value the caller read, so two ticks that overlap
enqueue a due run once (and the job's idempotency key covers the rest).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from services.monitors.model import Monitor
from services.store.sqlite_file import SQLiteFile

T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_MONITORS_PER_CONVERSATION = 20
DUE_INDEX = "due-index"  # template.yaml's StateTable declares it (a test checks)
DUE_PARTITION = "monitor"  # the GSI's one partition value: every active monitor, sorted by next_run


class MonitorStore(Protocol):
    """Monitors by id, by conversation, and by due time."""

    async def save(self, monitor: Monitor) -> None:
        """Create or replace `monitor` (a paused one, `next_run` None, leaves the due index)."""

    async def update(self, monitor: Monitor) -> bool:
        """Replace `monitor` if it still exists (a run's record must not bring back a monitor stopped while it
        ran); return whether it did."""

    async def get(self, monitor_id: str) -> Monitor | None:
        """Return the monitor `monitor_id`, or None."""

    async def delete(self, monitor: Monitor) -> None:
        """Forget `monitor`."""

    async def for_conversation(self, conversation_key: str) -> list[Monitor]:
        """Return the conversation's monitors, oldest first."""

    async def due(self, now: float, limit: int = 100) -> list[Monitor]:
        """Return up to `limit` active monitors whose `next_run` is at or before `now`, earliest first."""

    async def advance(self, monitor_id: str, expected: float, next_run: float) -> bool:
        """Set `next_run` if it is still `expected`; return whether this caller moved it."""

    async def close(self) -> None:
        """Release connections."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS monitors (
    id TEXT PRIMARY KEY, conversation_key TEXT NOT NULL, next_run REAL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS monitors_due ON monitors (next_run) WHERE next_run IS NOT NULL;
CREATE INDEX IF NOT EXISTS monitors_conversation ON monitors (conversation_key);
"""


class SQLiteMonitorStore(SQLiteFile):
    """Monitors in a SQLite file (the state database of `make run`), on a thread of their own."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _SCHEMA, "sqlite-monitors")

    @staticmethod
    def _row(row: tuple[Any, ...]) -> Monitor:
        monitor = Monitor.model_validate_json(row[1])
        return monitor.model_copy(update={"next_run": row[0]})

    async def save(self, monitor: Monitor) -> None:
        row = (monitor.id, monitor.conversation_key, monitor.next_run, monitor.model_dump_json())
        await self._call(lambda db: db.execute("INSERT OR REPLACE INTO monitors VALUES (?, ?, ?, ?)", row))

    async def update(self, monitor: Monitor) -> bool:
        row = (monitor.next_run, monitor.model_dump_json(), monitor.id)
        cursor = await self._call(lambda db: db.execute("UPDATE monitors SET next_run = ?, data = ? WHERE id = ?", row))
        return cursor.rowcount == 1

    async def get(self, monitor_id: str) -> Monitor | None:
        row = await self._call(
            lambda db: db.execute("SELECT next_run, data FROM monitors WHERE id = ?", (monitor_id,)).fetchone()
        )
        return self._row(row) if row else None

    async def delete(self, monitor: Monitor) -> None:
        await self._call(lambda db: db.execute("DELETE FROM monitors WHERE id = ?", (monitor.id,)))

    async def for_conversation(self, conversation_key: str) -> list[Monitor]:
        rows = await self._call(
            lambda db: db.execute(
                "SELECT next_run, data FROM monitors WHERE conversation_key = ? LIMIT ?",
                (conversation_key, MAX_MONITORS_PER_CONVERSATION * 2),
            ).fetchall()
        )
        return sorted((self._row(r) for r in rows), key=lambda m: m.created_at)

    async def due(self, now: float, limit: int = 100) -> list[Monitor]:
        rows = await self._call(
            lambda db: db.execute(
                "SELECT next_run, data FROM monitors WHERE next_run IS NOT NULL AND next_run <= ? "
                "ORDER BY next_run LIMIT ?",
                (now, limit),
            ).fetchall()
        )
        return _readable(rows, self._row)

    async def advance(self, monitor_id: str, expected: float, next_run: float) -> bool:
        cursor = await self._call(
            lambda db: db.execute(
                "UPDATE monitors SET next_run = ? WHERE id = ? AND next_run = ?", (next_run, monitor_id, expected)
            )
        )
        return cursor.rowcount == 1

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            self._db.close()


def _readable(rows: list[Any], read: Callable[[Any], Monitor]) -> list[Monitor]:
    """Return the monitors of `rows` that read back; log the others. One row that no longer validates (written
    by an older version, or edited by hand) must not stop the tick for every other monitor."""
    monitors = []
    for row in rows:
        try:
            monitors.append(read(row))
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            log.error(
                "a stored monitor could not be read and is skipped (%d problem(s))",
                getattr(error, "error_count", lambda: 1)(),
            )
    return monitors


def _n(value: float) -> dict[str, str]:
    return {"N": repr(float(value))}


class DynamoDBMonitorStore:
    """Monitors in the state table: item `monitor#<id>` (the monitor as JSON; `due` = 'monitor' and `next_run`
    only while active, which puts it in the sparse GSI `due-index`), and one item per conversation,
    `monitors#<conversation key>`, holding the set of its monitor ids (so listing a conversation is two reads,
    not a scan)."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        if client is None:  # short timeouts, as the state store's: a stalled table does not hold a turn
            from services.aws_clients import turn_path_client

            client = turn_path_client("dynamodb")
        self._client = client
        from botocore.exceptions import ClientError

        self._client_error = ClientError

    async def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return await asyncio.to_thread(getattr(self._client, operation), TableName=self.table, **kwargs)

    @staticmethod
    def _item(item: dict[str, Any]) -> Monitor:
        monitor = Monitor.model_validate_json(item["data"]["S"])
        next_run = float(item["next_run"]["N"]) if "next_run" in item else None
        return monitor.model_copy(update={"next_run": next_run})

    @staticmethod
    def _as_item(monitor: Monitor) -> dict[str, Any]:
        item: dict[str, Any] = {"pk": {"S": f"monitor#{monitor.id}"}, "data": {"S": monitor.model_dump_json()}}
        if monitor.next_run is not None:
            item |= {"due": {"S": DUE_PARTITION}, "next_run": _n(monitor.next_run)}
        return item

    async def update(self, monitor: Monitor) -> bool:
        try:
            await self._call("put_item", Item=self._as_item(monitor), ConditionExpression="attribute_exists(pk)")
        except self._client_error as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def save(self, monitor: Monitor) -> None:
        await self._call("put_item", Item=self._as_item(monitor))
        await self._call(
            "update_item", Key={"pk": {"S": f"monitors#{monitor.conversation_key}"}},
            UpdateExpression="ADD ids :id", ExpressionAttributeValues={":id": {"SS": [monitor.id]}},
        )  # fmt: skip

    async def get(self, monitor_id: str) -> Monitor | None:
        found = await self._call("get_item", Key={"pk": {"S": f"monitor#{monitor_id}"}}, ConsistentRead=True)
        return self._item(found["Item"]) if "Item" in found else None

    async def delete(self, monitor: Monitor) -> None:
        await self._call("delete_item", Key={"pk": {"S": f"monitor#{monitor.id}"}})
        await self._call(
            "update_item", Key={"pk": {"S": f"monitors#{monitor.conversation_key}"}},
            UpdateExpression="DELETE ids :id", ExpressionAttributeValues={":id": {"SS": [monitor.id]}},
        )  # fmt: skip

    async def for_conversation(self, conversation_key: str) -> list[Monitor]:
        found = await self._call("get_item", Key={"pk": {"S": f"monitors#{conversation_key}"}}, ConsistentRead=True)
        ids = sorted(found.get("Item", {}).get("ids", {}).get("SS", []))[: MAX_MONITORS_PER_CONVERSATION * 2]
        monitors = [m for m in [await self.get(i) for i in ids] if m is not None]
        return sorted(monitors, key=lambda m: m.created_at)

    async def due(self, now: float, limit: int = 100) -> list[Monitor]:
        found = await self._call(
            "query", IndexName=DUE_INDEX, KeyConditionExpression="#d = :d AND next_run <= :now",
            ExpressionAttributeNames={"#d": "due"},
            ExpressionAttributeValues={":d": {"S": DUE_PARTITION}, ":now": _n(now)}, Limit=limit,
        )  # fmt: skip
        return _readable(found.get("Items", []), self._item)

    async def advance(self, monitor_id: str, expected: float, next_run: float) -> bool:
        try:
            await self._call(
                "update_item", Key={"pk": {"S": f"monitor#{monitor_id}"}}, UpdateExpression="SET next_run = :new",
                ConditionExpression="next_run = :old",
                ExpressionAttributeValues={":new": _n(next_run), ":old": _n(expected)},
            )  # fmt: skip
        except self._client_error as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    async def close(self) -> None:
        """Nothing to release: the boto3 client is shared for the container's life."""
