"""The tick: every minute, enqueue a scheduled job for each monitor that is due.

One tick for every monitor rather than one EventBridge schedule per monitor (docs/monitors.md says why): the
tick reads the due index (a Query, or an indexed SELECT), submits one job per due monitor and moves the
monitor's `next_run` on. It submits before it moves `next_run`, so a crash in between runs the monitor
twice at worst, and the job's idempotency key (monitor id + due time) makes that one run and one post.
Nothing here imports the analytics libraries: on AWS the tick is a small function of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from handlers.jobs import ConversationRef, Job, MonitorRun
from handlers.models import Conversation, Turn, User
from handlers.periodic import Periodic
from handlers.queues import JobQueue, QueueError
from services.monitors.model import Monitor
from services.monitors.schedule import ScheduleError, parse_schedule
from services.monitors.store import MonitorStore

log = logging.getLogger(__name__)
TICK_BATCH = 200  # due monitors read from the index at a time
TICK_SECONDS = 30.0  # a tick reads batches for this long at most (MonitorTickFunction's Timeout is 50 s)


def monitor_job(monitor: Monitor, due: float) -> Job:
    """Return the scheduled job that runs `monitor` for the run due at `due` (epoch seconds). It has no inbound
    activity: the turn stands for the monitor's creator in the stored conversation, and the idempotency key
    is the monitor id and the due time, so a schedule that fires twice runs (and posts) once."""
    key = f"monitor:{monitor.id}:{int(due)}"
    conversation = Conversation(
        id=monitor.conversation_id, type=monitor.conversation_type, key=monitor.conversation_key,
        tenant_id=monitor.tenant_id,
    )  # fmt: skip
    turn = Turn(id=key, kind="message", user=User(id=monitor.created_by, name=monitor.created_by_name),
                conversation=conversation)  # fmt: skip
    ref = ConversationRef(monitor.service_url, monitor.conversation_id, "", monitor.audience)
    return Job(kind="monitor", idempotency_key=key, group_key=monitor.conversation_key, turn=turn, ref=ref,
               monitor=MonitorRun(monitor_id=monitor.id, due=due), accepted_at=time.time())  # fmt: skip


async def tick(
    monitors: MonitorStore, queue: JobQueue, now: float, *, limit: int = TICK_BATCH, budget: float = TICK_SECONDS
) -> int:
    """Enqueue every monitor due at `now` (epoch seconds) and move its next run on, `limit` at a time for at
    most `budget` seconds; return how many were enqueued. A run missed while nothing ticked (a stopped
    server) runs once, for its original due time."""
    started, submitted = time.monotonic(), 0
    while True:
        batch = await monitors.due(now, limit)
        moved = await _enqueue(monitors, queue, batch, now)
        submitted += moved
        # A full batch may leave more due (1,000 monitors at 09:00): read on, unless nothing moved (what is
        # left cannot be enqueued now) or the function's time is running out.
        if len(batch) < limit or moved == 0 or time.monotonic() - started > budget:
            break
    if submitted:
        log.info("tick: %d monitor run(s) enqueued", submitted)
    return submitted


async def _enqueue(monitors: MonitorStore, queue: JobQueue, batch: list[Monitor], now: float) -> int:
    """Submit each due monitor's job and move its next run on; return how many this caller moved."""
    submitted = 0
    for monitor in batch:
        due = monitor.next_run
        assert due is not None  # the due index holds active monitors only
        try:
            following = parse_schedule(monitor.schedule).next_after(datetime.fromtimestamp(max(now, due), UTC))
        except ScheduleError:
            log.error("monitor %s has an unreadable schedule: skipped", monitor.id)
            continue
        try:
            await queue.submit(monitor_job(monitor, due))
        except QueueError as problem:
            log.error("monitor %s not enqueued (%s): the next tick tries again", monitor.id, problem)
            continue
        if await monitors.advance(monitor.id, due, following.timestamp()):
            submitted += 1
    return submitted


class Ticker(Periodic):
    """Runs `tick` every `interval` seconds in this process (`make run`); `clock` gives the time (tests pass
    a controllable one and call `tick_once`)."""

    what = "monitor tick"

    def __init__(
        self, monitors: MonitorStore, queue: JobQueue, *, interval: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(interval=interval)
        self.monitors = monitors
        self.queue = queue
        self.clock = clock

    async def tick_once(self) -> int:
        """Enqueue what is due now; return how many runs."""
        return await tick(self.monitors, self.queue, self.clock())

    run_once = tick_once
