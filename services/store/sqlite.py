"""SQLite store (standard-library sqlite3, WAL mode) for local runs and tests."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from services.store.base import Feedback

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS markers (
    marker TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    conversation_key TEXT NOT NULL, answer_id TEXT NOT NULL, user_id TEXT NOT NULL,
    reaction TEXT NOT NULL, comment TEXT NOT NULL, backend TEXT NOT NULL,
    backend_conversation_id TEXT NOT NULL, model_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (answer_id, user_id));
"""


class SQLiteStore:
    """Store on one SQLite file. Calls run on a thread of the store's own, so the event loop never waits on
    disk and the acknowledgement path (dedupe markers) never queues behind other work in the default pool."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-store")
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL still never corrupts the file; a power cut may lose the last commits, which
        # for markers and chat state is cheaper than an fsync on every acknowledgement.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    async def _call(self, sql: str, params: tuple = ()) -> list[tuple]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, sql, params)

    async def get_conversation(self, key: str) -> dict[str, Any]:
        rows = await self._call("SELECT state FROM conversations WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else {}

    async def put_conversation(self, key: str, state: dict[str, Any]) -> None:
        await self._call(
            "INSERT INTO conversations (key, state, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            (key, json.dumps(state), time.time()),
        )

    async def clear_conversation(self, key: str) -> None:
        await self._call("DELETE FROM conversations WHERE key = ?", (key,))

    def _claim(self, marker: str, ttl_seconds: int) -> bool:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM markers WHERE expires_at <= ?", (now,))
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO markers (marker, expires_at) VALUES (?, ?)",
                    (marker, now + ttl_seconds),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return cursor.rowcount == 1

    async def claim(self, marker: str, ttl_seconds: int) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._claim, marker, ttl_seconds)

    async def add_feedback(self, feedback: Feedback) -> None:
        await self._call(
            "INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                feedback.conversation_key,
                feedback.answer_id,
                feedback.user_id,
                feedback.reaction,
                feedback.comment,
                feedback.backend,
                feedback.backend_conversation_id,
                feedback.model_id,
                feedback.created_at.isoformat(),
            ),
        )

    async def list_feedback(self) -> list[Feedback]:
        rows = await self._call(
            "SELECT conversation_key, answer_id, user_id, reaction, comment, backend, "
            "backend_conversation_id, model_id, created_at FROM feedback ORDER BY created_at"
        )
        fields = [
            "conversation_key", "answer_id", "user_id", "reaction", "comment", "backend",
            "backend_conversation_id", "model_id", "created_at",
        ]  # fmt: skip
        return [Feedback(**dict(zip(fields, row, strict=True))) for row in rows]

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            self._db.close()
