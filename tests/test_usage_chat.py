"""Usage in chat, end to end through /api/messages: accounting of streamed, blocked and stopped answers,
budgets (two concurrent turns at the limit: exactly one through; the one-time 80% note), the admin-only
`usage` command and the audit record with and without text."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime

from services.usage.sqlite import SQLiteUsageStore
from services.usage.store import Hold
from tests import test_bedrock
from tests.conftest import ScriptedBackend, card_of, card_text

MODEL = test_bedrock.MODEL
bedrock, start_bedrock_bot = test_bedrock.bedrock, test_bedrock.start_bedrock_bot  # its fixtures, shared

ADMIN = "6f1c0e2a-0000-4000-8000-00000000e001"  # the emulator's user
OTHER = "0a0a0a0a-0000-4000-8000-000000000002"
CACHING = "anthropic.claude-3-5-haiku-20241022-v1:0"


async def rows(tmp_path) -> dict:
    store = SQLiteUsageStore(tmp_path / "state.db")
    try:
        return {(r.dimension, r.key): r.tally for r in await store.rows("2000-01-01", "2999-12-31")}
    finally:
        await store.close()


def audit(tmp_path) -> list[dict]:
    return [json.loads(line) for path in sorted((tmp_path / "audit").glob("*.jsonl")) for line in path.open()]


async def test_a_streamed_answer_is_tallied_per_user_team_and_model_and_audited_without_text(
    start_bedrock_bot,
    bedrock,
    tmp_path,
):
    bot = await start_bedrock_bot(bedrock_model_id=CACHING)
    channel = bot.channel()
    await bot.post(channel.message("what is our travel policy?"))
    await bot.settle()
    await bot.post(channel.message("and for trains?"))
    await bot.settle()
    tallies = await rows(tmp_path)
    user, model = tallies[("user", ADMIN)], tallies[("model", CACHING)]
    assert user == model == tallies[("team", f"tenant:{channel.tenant_id}")]
    assert user.turns == 2 and user.output_tokens == 8
    assert user.cache_read_tokens > 0 and user.cache_write_tokens > 0
    assert user.cost_micro > 0 and user.unpriced_turns == 0
    first, second = audit(tmp_path)
    assert first["outcome"] == "answered" and first["user_id"] == ADMIN and first["model_id"] == CACHING
    assert first["question"] is None and first["answer"] is None
    assert all("travel" not in path.read_text() for path in (tmp_path / "audit").iterdir())
    assert second["usage"]["cache_read_tokens"] > 0 and second["cost_usd"] > 0


async def test_blocked_and_stopped_answers_are_counted(start_bedrock_bot, bedrock, tmp_path):
    bot = await start_bedrock_bot(bedrock_guardrail_id="g1", bedrock_guardrail_version="1", audit_include_text=True)
    bedrock.stop_reason, bedrock.tokens = "guardrail_intervened", ["Blocked by policy."]
    await bot.post(bot.channel().message("something forbidden"))
    await bot.settle()

    bedrock.stop_reason, bedrock.tokens, bedrock.interval = "end_turn", [f"t{i} " for i in range(200)], 0.02
    await bot.post(bot.channel().message("write a lot"))
    await bot.connector.wait_for(lambda calls: len(calls) >= 4, timeout=10)
    bot.connector.fail_next(403, code="ContentStreamNotAllowed")
    await asyncio.wait_for(bot.settle(), timeout=20)

    blocked, stopped = audit(tmp_path)
    assert blocked["outcome"] == "blocked" and blocked["guardrail_intervened"]
    assert blocked["usage"]["output_tokens"] == 1
    assert blocked["question"] == "something forbidden" and blocked["answer"] == "Blocked by policy."
    assert stopped["outcome"] == "stopped" and stopped["usage"]["estimated"] and stopped["usage"]["input_tokens"] > 0
    tally = (await rows(tmp_path))[("model", MODEL)]
    assert tally.turns == 2 and tally.estimated_turns == 1 and tally.unpriced_turns == 2  # the test model has no price


class SlowBackend(ScriptedBackend):
    async def answer(self, question):
        await asyncio.sleep(0.3)
        async for event in super().answer(question):
            yield event


async def test_two_concurrent_turns_of_one_user_at_the_limit_let_exactly_one_through(start_bot):
    bot = await start_bot(backend=SlowBackend(), user_daily_token_limit=1000)
    first, second = bot.channel(aad_object_id=OTHER), bot.channel(aad_object_id=OTHER)
    await asyncio.gather(bot.post(first.message("one")), bot.post(second.message("two")))
    await bot.settle()
    texts = [call.body.get("text", "") for call in bot.connector.messages()]
    assert sum("daily allowance" in t for t in texts) == 1
    assert sum(t == "The answer." for t in texts) == 1


async def test_the_80_percent_note_comes_once_and_admins_are_exempt(start_bot, tmp_path):
    bot = await start_bot(backend=ScriptedBackend(), user_daily_token_limit=10_000, admin_users=ADMIN)
    store = SQLiteUsageStore(tmp_path / "state.db")
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    for user in (OTHER, ADMIN):
        used = Hold(f"user:{user}", day, 0, 0, 10_000, None, 2**31)
        await store.reserve([used])
        await store.settle([used], 20_000 if user == ADMIN else 8_500, 0)
    await store.close()

    for _ in range(2):
        await bot.post(bot.channel(aad_object_id=OTHER).message("hello"))
        await bot.settle()
    texts = [call.body.get("text", "") for call in bot.connector.messages()]
    assert texts.count("The answer.") == 2
    assert sum("over 80%" in t for t in texts) == 1

    await bot.post(bot.channel().message("I am an admin over my limit"))
    await bot.settle()
    assert bot.connector.messages()[-1].body["text"] == "The answer."


async def test_usage_is_for_admins_only_and_shows_a_card_with_a_chart(start_bot):
    bot = await start_bot(backend=ScriptedBackend(), admin_users=ADMIN)
    await bot.post(bot.channel(aad_object_id=OTHER).message("hello"))
    await bot.settle()
    await bot.post(bot.channel(aad_object_id=OTHER).message("usage"))
    await bot.settle()
    assert "for the gateway's administrators" in bot.connector.messages()[-1].body["text"]

    await bot.post(bot.channel().message("usage 30"))
    await bot.settle()
    card = card_of(bot.connector.messages()[-1])
    text = card_text(card)
    assert "Usage from" in text and "Users (top 1 of 1)" in text and "Models" in text
    images = [e for e in card["body"] if e["type"] == "Image"]
    assert images and images[0]["url"].startswith("data:image/png;base64,")
    facts = {f["title"]: f["value"] for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]}
    assert facts["Turns"] == "1" and OTHER in facts and "1 price unknown" in facts[OTHER]

    await bot.post(bot.channel().message("usage forever"))
    await bot.settle()
    assert "usage 30" in bot.connector.messages()[-1].body["text"]


async def test_a_failed_turn_is_audited_under_the_reference_the_user_sees(start_bot, tmp_path):
    from services.backends import BackendError

    bot = await start_bot(backend=ScriptedBackend(error=BackendError("Bedrock is too busy right now.")))
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    (failed,) = audit(tmp_path)
    assert failed["outcome"] == "failed" and failed["usage"] is None
    assert f"(reference {failed['reference_id']})" in bot.connector.messages()[-1].body["text"]


class HangingBackend(ScriptedBackend):
    async def answer(self, question):
        self.questions.append(question)
        await asyncio.sleep(3600)
        yield  # pragma: no cover


def held(tmp_path) -> dict[str, int]:
    with sqlite3.connect(tmp_path / "state.db") as db:
        return {scope: tokens for scope, tokens in db.execute("SELECT scope, held_tokens FROM usage_budget")}


async def test_a_timed_out_turn_releases_its_budget_hold_and_is_audited_as_a_timeout(start_bot, tmp_path):
    backend = HangingBackend()
    bot = await start_bot(backend=backend, user_daily_token_limit=10_000, team_monthly_token_limit=100_000,
                          turn_timeout_seconds=0.5)  # fmt: skip
    await bot.post(bot.channel(aad_object_id=OTHER).message("hello"))
    await bot.settle()
    assert backend.questions and "too long" in bot.connector.messages()[-1].body["text"]
    holds = held(tmp_path)
    assert set(holds) == {f"user:{OTHER}", "team:tenant:" + bot.channel().tenant_id} and set(holds.values()) == {0}
    (record,) = audit(tmp_path)
    assert record["outcome"] == "timeout" and record["user_id"] == OTHER and record["usage"] is None
    assert (await rows(tmp_path))[("user", OTHER)].turns == 1


async def test_a_cancelled_turn_releases_its_budget_hold_and_is_audited_as_cancelled(start_bot, tmp_path):
    backend = HangingBackend()
    bot = await start_bot(backend=backend, user_daily_token_limit=10_000)
    await bot.post(bot.channel(aad_object_id=OTHER).message("hello"))
    for _ in range(100):
        if backend.questions:
            break
        await asyncio.sleep(0.02)
    assert held(tmp_path)[f"user:{OTHER}"] > 0  # the reservation while the backend is asked
    for task in list(bot.gateway.queue._tasks):  # the worker shuts down: its turns are cancelled
        task.cancel()
    await asyncio.sleep(0.2)
    assert held(tmp_path) == {f"user:{OTHER}": 0}
    (record,) = audit(tmp_path)
    assert record["outcome"] == "cancelled" and record["user_id"] == OTHER
