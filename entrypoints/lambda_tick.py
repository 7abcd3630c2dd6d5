"""MonitorTickFunction: EventBridge Scheduler invokes it every minute; it enqueues the monitors that are due.

Small on purpose: it reads the due index and sends jobs to the analytics queue, where the analytics worker
runs them. No analytics library is imported here. One event loop per container, as in the other functions.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from entrypoints.wiring import build_tick
from services.observability.start import start_at_cold_start
from services.settings import load_settings

LOOP = asyncio.new_event_loop()
_tick: Any = None
start_at_cold_start("tick")


def handler(event: dict[str, Any] | None = None, context: Any = None) -> dict[str, int]:
    """Enqueue every monitor due now; return how many runs were enqueued."""
    global _tick
    if _tick is None:
        _tick = build_tick(load_settings())
    return {"enqueued": LOOP.run_until_complete(_tick(time.time()))}
