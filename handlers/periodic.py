"""A task this process runs every `interval` seconds (`make run`): the monitor tick and the EMR check.

On AWS a schedule invokes each as a function of its own; in one process this loop stands in for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


class Periodic:
    """Calls `run_once` every `interval` seconds in the background between `start` and `close`. A failed run
    is logged and the next one goes ahead (the store busy or AWS unreachable for a minute must not stop it)."""

    what = "periodic task"  # named in the log line of a failed run

    def __init__(self, *, interval: float = 60.0) -> None:
        self.interval = interval
        self._task: asyncio.Task | None = None

    async def run_once(self) -> object:
        """Do the work once; subclasses say what it returns."""
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - see the class docstring
                log.exception("%s failed; trying again in %s s", self.what, self.interval)
            await asyncio.sleep(self.interval)

    async def start(self) -> None:
        """Start running in the background (once: a second call does nothing)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Stop running, waiting for the run under way to be cancelled."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
