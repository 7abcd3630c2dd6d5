"""Runs turns after the HTTP acknowledgement: in-process asyncio tasks (the Lambda deployment uses a queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.connector import ConversationRef
from handlers.models import Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A turn to run and where its replies go. Plain data, so a queue-backed dispatcher can serialise it."""

    turn: Turn
    ref: ConversationRef


class InProcessDispatcher:
    """Runs jobs as asyncio tasks, at most `max_concurrent` at once, in arrival order within a conversation."""

    def __init__(self, run: Callable[[Job], Awaitable[None]], max_concurrent: int = 32) -> None:
        self._run = run
        self._slots = asyncio.Semaphore(max_concurrent)
        self._tasks: set[asyncio.Task] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    def submit(self, job: Job) -> None:
        """Start the job in the background and return at once."""
        key = job.turn.conversation.key
        self._waiting[key] = self._waiting.get(key, 0) + 1
        lock = self._locks.setdefault(key, asyncio.Lock())
        task = asyncio.get_running_loop().create_task(self._guarded(job, key, lock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, job: Job, key: str, lock: asyncio.Lock) -> None:
        try:
            async with lock, self._slots:
                await self._run(job)
        except Exception:  # noqa: BLE001 - a job's own error policy failed; never kill the loop
            log.exception("job failed activity=%s conversation=%s", job.turn.id, job.turn.conversation.id)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                del self._locks[key]

    @property
    def pending(self) -> int:
        """Return how many jobs are running or waiting."""
        return len(self._tasks)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait up to `timeout` seconds for running jobs, then cancel what is left."""
        if not self._tasks:
            return
        done, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("cancelled %d unfinished turn(s) at shutdown", len(pending))
