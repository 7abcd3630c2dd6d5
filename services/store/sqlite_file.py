"""One SQLite file used from asyncio: the state store, the usage ledger and the monitors share this base.

sqlite3 is synchronous: calls run on a thread of the file's own (so the event loop never waits on disk and one
store's work never queues behind another's in the default pool), and each unit of work runs in one IMMEDIATE
transaction, so a read-modify-write is atomic across processes too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SQLiteFile:
    """A SQLite file in WAL mode with `schema` applied; `_call(work)` runs `work(connection)` in a transaction."""

    def __init__(self, path: str | Path, schema: str, thread_name: str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL still never corrupts the file; a power cut may lose the last commits, which for
        # markers, chat state, tallies and schedules is cheaper than an fsync on every write.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(schema)

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return result

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._transaction, work)
