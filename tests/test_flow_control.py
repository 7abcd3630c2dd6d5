"""Flow control: one user cannot starve everyone (issue 19, item 7).

Token buckets in the store (SQLite and DynamoDB: one conditional write, shared by every process), a bound on
the turns one sender may have waiting, one "slow down" sentence per sender per window, and round-robin
between senders in the in-process queue.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from handlers.catalog import SLOW_DOWN_VERB
from handlers.jobs import ConversationRef, Job, job_for
from handlers.models import Conversation, Turn, User
from handlers.queues import InProcessQueue
from services.store import SQLiteStore
from tests.conftest import ScriptedBackend


class SlowBackend(ScriptedBackend):
    """Answers after `delay` seconds."""

    def __init__(self, delay: float = 0.2) -> None:
        super().__init__()
        self.delay = delay

    async def answer(self, question):
        await asyncio.sleep(self.delay)
        async for event in super().answer(question):
            yield event


def slow_downs(connector) -> list[str]:
    return [m.body["text"] for m in connector.messages() if "faster than I can answer" in m.body.get("text", "")]


async def test_the_sqlite_bucket_admits_its_burst_then_refuses_across_two_store_instances(tmp_path):
    first, second = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")  # two processes' views
    try:
        waits = [await (first if i % 2 else second).take_token("user|t|u", 1 / 60, 3) for i in range(6)]
        assert waits[:3] == [0.0, 0.0, 0.0] and all(w > 0 for w in waits[3:])
        assert 55 < waits[3] <= 60  # the next token in a minute
        assert await first.take_token("user|t|other", 1 / 60, 3) == 0.0  # buckets are per key
    finally:
        await first.close()
        await second.close()


def test_the_dynamodb_bucket_holds_under_concurrent_takers(monkeypatch):
    """20 concurrent takers (threads, as 20 Lambda instances) on a bucket of 5: exactly 5 tokens taken."""
    import boto3

    from services.store.dynamodb import DynamoDBStore
    from tests.aws import aws_environment, create_table, moto_server

    with moto_server() as url:
        for name, value in aws_environment(url).items():
            monkeypatch.setenv(name, value)
        table = create_table(boto3.client("dynamodb"))

        async def run() -> list[float]:
            stores = [DynamoDBStore(table) for _ in range(4)]
            return await asyncio.gather(*(stores[i % 4].take_token("user|t|u", 1 / 600, 5) for i in range(20)))

        waits = asyncio.run(run())
    assert sum(1 for w in waits if w == 0.0) == 5


async def test_a_flooding_user_is_told_once_and_another_user_is_still_answered(start_bot):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend, user_turns_per_minute=6, user_turn_burst=3)
    flooder = bot.channel(shape="groupChat", user_id="29:flooder")
    statuses = [(await bot.post(flooder.message(f"question {i}"))).status for i in range(12)]
    assert set(statuses) == {200}  # acknowledged: Teams does not re-deliver a flood
    other = bot.channel(shape="groupChat", user_id="29:other")
    assert (await bot.post(other.message("my question"))).status == 200
    await bot.settle()
    assert len(backend.questions) == 4  # the flooder's burst of 3, and the other user's question
    assert "my question" in [q.text for q in backend.questions]
    assert len(slow_downs(bot.connector)) == 1  # once, not per message


async def test_the_tenant_bucket_holds_for_users_who_each_stay_under_their_own_rate(start_bot):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend, user_turns_per_minute=60, user_turn_burst=5,
                          tenant_turns_per_minute=6, tenant_turn_burst=4)  # fmt: skip
    for i in range(8):  # eight different users, one message each
        assert (await bot.post(bot.channel(user_id=f"29:user-{i}").message("hello"))).status == 200
    await bot.settle()
    assert len(backend.questions) == 4
    assert len(slow_downs(bot.connector)) == 4  # each refused sender told once


async def test_a_card_press_over_the_rate_gets_the_sentence_in_its_invoke_response(start_bot):
    bot = await start_bot(backend=ScriptedBackend(), user_turns_per_minute=1, user_turn_burst=1)
    chat = bot.channel()
    assert (await bot.post(chat.message("hello"))).status == 200
    response = await bot.post(chat.execute("feedback", {"reaction": "like"}))
    assert response.status == 200
    assert "faster than I can answer" in (await response.json())["value"]
    await bot.settle()


async def test_the_turns_one_user_has_waiting_are_bounded(start_bot):
    backend = SlowBackend(0.3)
    bot = await start_bot(backend=backend, max_concurrent_turns=1, max_queued_turns_per_user=2)
    for i in range(6):  # six conversations: nothing orders them, only the bound holds them
        assert (await bot.post(bot.channel(shape="groupChat", user_id="29:flooder").message(f"q{i}"))).status == 200
    assert bot.gateway.queue.pending <= 1 + 2 + 1  # running, two waiting, and the one "slow down" notice
    await bot.settle()
    assert len(backend.questions) == 3 and len(slow_downs(bot.connector)) == 1


def _job(user: str, conversation: str) -> Job:
    where = Conversation(id=conversation, type="groupChat", key=conversation, tenant_id="t")
    turn = Turn(id=uuid.uuid4().hex, kind="message", text="q", user=User(id=user), conversation=where)
    return job_for(turn, ConversationRef("http://127.0.0.1:1/", conversation), f"k|{turn.id}")


async def test_the_in_process_queue_is_round_robin_between_users_and_in_order_within_a_conversation():
    ran: list[str] = []

    async def run(job: Job) -> None:
        ran.append(f"{job.turn.user.id}:{job.group_key}")
        await asyncio.sleep(0.01)

    queue = InProcessQueue(run, max_concurrent=1)
    for i in range(10):
        await queue.submit(_job("alice", f"c{i % 2}"))
    await queue.submit(_job("bob", "c9"))
    await queue.drain(10)
    assert ran.index("bob:c9") <= 2  # not after Alice's ten
    alice = [r for r in ran if r.startswith("alice")]
    assert alice == ["alice:c0", "alice:c1"] * 5


async def test_one_sender_never_holds_more_than_half_the_slots():
    running: dict[str, int] = {}
    most: dict[str, int] = {}

    async def run(job: Job) -> None:
        user = job.turn.user.id
        running[user] = running.get(user, 0) + 1
        most[user] = max(most.get(user, 0), running[user])
        await asyncio.sleep(0.05)
        running[user] -= 1

    queue = InProcessQueue(run, max_concurrent=4)
    for i in range(12):
        await queue.submit(_job("alice", f"c{i}"))
    await queue.submit(_job("bob", "b0"))
    await queue.drain(10)
    assert most == {"alice": 2, "bob": 1}


def test_the_slow_down_verb_is_answered_by_the_router():
    from handlers.app import build_router
    from services.store import SQLiteStore as Store

    router = build_router(ScriptedBackend(), Store(":memory:"))
    assert SLOW_DOWN_VERB in router.actions


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -5.0, 1e308])
def test_the_slow_down_sentence_is_bounded_for_any_number(seconds):
    from handlers.catalog import slow_down_sentence

    assert len(slow_down_sentence(seconds)) < 200
