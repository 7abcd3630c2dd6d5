"""Item 1: rate-limit evasion. One sender, bucket of 3 (user) / 4 (tenant), 20 messages each way.
Run: .venv/bin/python -m pytest attack/test_rate_evasion.py -q -s"""

from __future__ import annotations

from tests.conftest import ScriptedBackend

LIMITS = dict(user_turns_per_minute=6, user_turn_burst=3, tenant_turns_per_minute=6, tenant_turn_burst=4)
N = 20


def webchat(activity, user, tenant):
    activity = {**activity, "channelId": "webchat", "from": {**activity["from"], "id": user}}
    activity["channelData"] = {"tenant": {"id": tenant}}
    activity["conversation"] = {**activity["conversation"], "tenantId": tenant}
    return activity


async def _run(start_bot, make, **extra):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend, allowed_channels="msteams,webchat", **LIMITS, **extra)
    statuses = [(await bot.post(make(bot, i))).status for i in range(N)]
    await bot.settle()
    return statuses, len(backend.questions)


async def test_many_conversations_one_sender(start_bot):
    s, answered = await _run(start_bot, lambda b, i: b.channel(shape="groupChat", user_id="29:x").message(f"q{i}"))
    print("\nmany conversations, one teams sender:", answered, "of", N, "answered", set(s))


async def test_many_tenants_one_teams_sender(start_bot):
    s, answered = await _run(
        start_bot,
        lambda b, i: b.channel(user_id="29:x", tenant_id=f"72f988bf-0000-4000-8000-{i:012d}").message(f"q{i}"),
    )
    print("\nmany tenants, one teams sender (ALLOWED_TENANTS empty):", answered, "of", N, set(s))


async def test_webchat_rotating_user_and_tenant(start_bot):
    s, answered = await _run(
        start_bot, lambda b, i: webchat(b.channel().message(f"q{i}"), f"u{i}", f"72f988bf-0000-4000-8000-{i:012d}")
    )
    print("\nwebchat rotating from.id + tenant:", answered, "of", N, set(s))


async def test_webchat_claims_an_allowed_tenant(start_bot):
    allowed = "72f988bf-0000-4000-8000-000000000001"
    s, answered = await _run(
        start_bot, lambda b, i: webchat(b.channel().message(f"q{i}"), f"u{i}", allowed), allowed_tenants=allowed
    )
    print("\nwebchat naming the allowed tenant (ALLOWED_TENANTS set):", answered, "of", N, set(s))


async def test_card_presses(start_bot):
    def make(b, i):
        return b.channel(user_id="29:x").execute("feedback", {"reaction": "like", "n": i})

    s, answered = await _run(start_bot, make)
    print("\ncard presses, one sender:", answered, "of", N, set(s))
