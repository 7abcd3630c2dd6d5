"""SQLite store (standard-library sqlite3, WAL mode) for local runs and tests."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any, TypeVar

from services.store.base import COMPLETED, Acquired, Feedback, StateConflict, Status, Versioned, next_arrival
from services.store.sqlite_file import SQLiteFile

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL, version INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY, status TEXT NOT NULL, expires_at REAL NOT NULL, owner TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at REAL);
CREATE TABLE IF NOT EXISTS feedback (
    conversation_key TEXT NOT NULL, answer_id TEXT NOT NULL, user_id TEXT NOT NULL,
    reaction TEXT NOT NULL, comment TEXT NOT NULL, backend TEXT NOT NULL,
    backend_conversation_id TEXT NOT NULL, model_id TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (answer_id, user_id));
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, body TEXT NOT NULL, added_at REAL NOT NULL);
"""


class SQLiteStore(SQLiteFile):
    """Store on one SQLite file. Calls run on a thread of the store's own, so the event loop never waits on
    disk and the acknowledgement path (idempotency records) never queues behind other work in the default pool.
    Every read-modify-write runs in one IMMEDIATE transaction, so it is atomic across processes too."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, _SCHEMA, "sqlite-store")
        self._journal_lock: Any = None
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(conversations)")}
        if "version" not in columns:  # a state file from before versioned state
            self._db.execute("ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 1")

    async def acquire(
        self, key: str, status: Status, lease_seconds: float, *, take_over: tuple[str, ...] = ()
    ) -> Acquired:
        def work(db: sqlite3.Connection) -> Acquired:
            now = time.time()
            row = db.execute("SELECT status, expires_at FROM idempotency WHERE key = ?", (key,)).fetchone()
            previous = row[0] if row and row[1] > now else ""
            if previous and previous not in take_over:
                return Acquired(False, previous)
            owner = secrets.token_hex(8)
            db.execute(
                "INSERT OR REPLACE INTO idempotency (key, status, expires_at, owner) VALUES (?, ?, ?, ?)",
                (key, status, now + lease_seconds, owner),
            )
            return Acquired(True, previous, owner)

        return await self._call(work)

    async def complete(self, key: str, ttl_seconds: int) -> None:
        def work(db: sqlite3.Connection) -> None:
            now = time.time()
            db.execute("DELETE FROM idempotency WHERE expires_at <= ?", (now,))  # keep the table small
            db.execute(
                "INSERT OR REPLACE INTO idempotency (key, status, expires_at, owner) VALUES (?, ?, ?, '')",
                (key, COMPLETED, now + ttl_seconds),
            )

        await self._call(work)

    async def release(self, key: str, owner: str) -> None:
        await self._call(
            lambda db: db.execute(
                "DELETE FROM idempotency WHERE key = ? AND owner = ? AND status != ?", (key, owner, COMPLETED)
            )
        )

    async def load_conversation(self, key: str) -> Versioned:
        def work(db: sqlite3.Connection) -> Versioned:
            row = db.execute("SELECT state, version FROM conversations WHERE key = ?", (key,)).fetchone()
            return Versioned(json.loads(row[0]), row[1]) if row else Versioned({}, 0)

        return await self._call(work)

    async def save_conversation(self, key: str, state: dict[str, Any], *, version: int) -> int:
        text = json.dumps(state)

        def work(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT version FROM conversations WHERE key = ?", (key,)).fetchone()
            if (row[0] if row else 0) != version:
                raise StateConflict(key)
            db.execute(
                "INSERT OR REPLACE INTO conversations (key, state, updated_at, version) VALUES (?, ?, ?, ?)",
                (key, text, time.time(), version + 1),
            )
            return version + 1

        return await self._call(work)

    async def clear_conversation(self, key: str) -> None:
        await self._call(lambda db: db.execute("DELETE FROM conversations WHERE key = ?", (key,)))

    async def get_value(self, key: str) -> dict[str, Any] | None:
        def work(db: sqlite3.Connection) -> dict[str, Any] | None:
            row = db.execute("SELECT value, expires_at FROM kv WHERE key = ?", (key,)).fetchone()
            if row is None or (row[1] is not None and row[1] <= time.time()):
                return None
            return json.loads(row[0])

        return await self._call(work)

    async def put_value(self, key: str, value: dict[str, Any], ttl_seconds: int | None = None) -> None:
        text = json.dumps(value)
        expires = None if ttl_seconds is None else time.time() + ttl_seconds
        await self._call(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)", (key, text, expires)
            )
        )

    async def delete_value(self, key: str) -> None:
        await self._call(lambda db: db.execute("DELETE FROM kv WHERE key = ?", (key,)))

    async def add_feedback(self, feedback: Feedback) -> None:
        row = (
            feedback.conversation_key, feedback.answer_id, feedback.user_id, feedback.reaction, feedback.comment,
            feedback.backend, feedback.backend_conversation_id, feedback.model_id, feedback.created_at.isoformat(),
        )  # fmt: skip
        await self._call(
            lambda db: db.execute("INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        )

    async def list_feedback(self) -> list[Feedback]:
        fields = [
            "conversation_key", "answer_id", "user_id", "reaction", "comment", "backend",
            "backend_conversation_id", "model_id", "created_at",
        ]  # fmt: skip
        rows = await self._call(
            lambda db: db.execute(f"SELECT {', '.join(fields)} FROM feedback ORDER BY created_at").fetchall()
        )
        return [Feedback(**dict(zip(fields, row, strict=True))) for row in rows]

    async def take_token(self, key: str, per_second: float, burst: int) -> float:
        def work(db: sqlite3.Connection) -> float:
            now = time.time()
            row = db.execute("SELECT tat FROM buckets WHERE key = ?", (key,)).fetchone()
            tat, wait = next_arrival(row[0] if row else None, now, per_second, burst)
            if not wait:
                db.execute("INSERT OR REPLACE INTO buckets (key, tat) VALUES (?, ?)", (key, tat))
                if row is None:  # keep the table small: buckets full again for an hour are forgotten
                    db.execute("DELETE FROM buckets WHERE tat < ?", (now - 3600,))
            return wait

        return await self._call(work)

    # The job journal of the durable in-process queue (`python -m bot serve`): the jobs a crash must not lose.

    def claim_journal(self) -> bool:
        """Return True when this process may resume the journal's jobs: it holds an exclusive lock on
        `<STATE_DB>.jobs.lock` until the store is closed (two servers on one state file would both resume them).
        An in-memory database always may."""
        if self.path == ":memory:" or self._journal_lock is not None:
            return True
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here; one server per state file is then up to the user
            return True
        handle = open(f"{self.path}.jobs.lock", "a")  # noqa: SIM115 - held open for the store's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._journal_lock = handle
        return True

    async def add_job(self, key: str, body: str) -> bool:
        """Keep a job (its JSON) until `remove_job`; return False when a job with this key is kept already."""

        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO jobs (key, body, added_at) VALUES (?, ?, ?)", (key, body, time.time())
            )
            return cursor.rowcount == 1

        return await self._call(work)

    async def remove_job(self, key: str) -> None:
        """Forget the job `key` (it was answered, or given up)."""
        await self._call(lambda db: db.execute("DELETE FROM jobs WHERE key = ?", (key,)))

    async def pending_jobs(self) -> list[str]:
        """Return the kept jobs' JSON bodies, oldest first."""
        rows = await self._call(lambda db: db.execute("SELECT body FROM jobs ORDER BY seq").fetchall())
        return [row[0] for row in rows]

    async def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            self._db.close()
        if self._journal_lock is not None:
            with contextlib.suppress(OSError):
                self._journal_lock.close()
            self._journal_lock = None
