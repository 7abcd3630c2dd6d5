"""The in-process queue is durable (`make run`, `python -m bot serve`): a crash at any point of a turn's life
leaves the SQLite state as below, and the restarted server gives exactly one answer.

The real kill -9 of `python -m bot serve` is in tests/test_duplicates.py; here each crash point is simulated by
writing the state the dead process left (its idempotency record and its kept job) and starting a bot on it.
"""

from __future__ import annotations

import pytest

from bot.activity import dedupe_key, parse_activity, to_turn
from bot.emulator.activities import TeamsChannel
from handlers.jobs import ConversationRef, job_for
from services.store import ACCEPTING, COMPLETED, QUEUED, RUNNING, SQLiteStore
from tests.conftest import ScriptedBackend


async def leave_crashed_state(path, connector, activity: dict, status: str) -> None:
    """Write what a process killed with the job kept and its record in `status` leaves behind."""
    parsed = parse_activity(activity)
    job = job_for(
        to_turn(parsed), ConversationRef(connector.url, parsed.conversation.id, parsed.id), dedupe_key(parsed)
    )
    store = SQLiteStore(path)
    try:
        if status == COMPLETED:
            await store.complete(job.idempotency_key, 3600)
        else:
            assert (await store.acquire(job.idempotency_key, status, 300)).ok  # a live lease of the dead process
        assert await store.add_job(job.idempotency_key, job.to_json())
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("status", "answers"),
    [(ACCEPTING, 1), (QUEUED, 1), (RUNNING, 1), (COMPLETED, 0)],
    ids=["kept-before-the-200", "after-the-200", "mid-turn", "answered-not-yet-forgotten"],
)
async def test_a_crash_at_each_point_gives_exactly_one_answer(start_bot, connector, tmp_path, status, answers):
    activity = TeamsChannel(connector.url).message("hello")
    await leave_crashed_state(tmp_path / "state.db", connector, activity, status)
    bot = await start_bot(backend=ScriptedBackend(text="The one answer."))  # the restart, on the same state file
    await bot.settle()
    assert sum("The one answer." in str(m.body) for m in connector.messages()) == answers
    for _ in range(2):  # the channel re-delivers (before the 200 it got none; after it, it may anyway)
        assert (await bot.post(activity)).status in (200, 503)
        await bot.settle()
    assert sum("The one answer." in str(m.body) for m in connector.messages()) == answers
    store = bot.gateway.store
    assert await store.pending_jobs() == []  # answered or dropped: forgotten
