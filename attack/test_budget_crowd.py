"""Fourth pass: 50 concurrent turns from 5 users (10 chats each: personal chats, which count against their
tenant) under a per-user daily token limit and the tenant's monthly one, with long mixed histories (English,
base64, Chinese) and the Bedrock fake counting tokens with a blob-aware tokenizer. Prints the tokens used
against each limit. Run: .venv/bin/python -m pytest attack/test_budget_crowd.py -q -s -p no:cacheprovider"""

from __future__ import annotations

import asyncio
import base64
import random
from collections import Counter

from tests.test_budgets_hold import backend, bedrock, blob_tokens  # noqa: F401


def tokens(text: str) -> int:  # blobs as in test_budgets_hold, and two tokens per character outside ASCII
    return blob_tokens("".join(c for c in text if c < "\x80")) + 2 * sum(c >= "\x80" for c in text)


async def test_fifty_turns_five_users_user_and_tenant_limits(bedrock, start_bot):  # noqa: F811
    user_limit, team_limit = 40_000, 120_000
    bedrock.tokens = ["Hello"] * 300
    bedrock.count_tokens = tokens
    bot = await start_bot(backend=backend("mistral.mistral-large-2402-v1:0"), user_daily_token_limit=user_limit,
                          team_monthly_token_limit=team_limit, max_concurrent_turns=50, history_max_chars=20_000,
                          user_turns_per_minute=1000, user_turn_burst=1000, user_max_queued_turns=100)  # fmt: skip
    rng = random.Random(5)
    blob = base64.b64encode(rng.randbytes(3_000)).decode()
    mixed = ("an earlier exchange " * 100) + blob[:2_000] + ("早前的一次对话" * 100)
    history = [{"role": r, "text": mixed[:5_000]} for r in ("user", "assistant")] * 2
    chats = []
    for u in range(5):
        for _ in range(10):
            chat = bot.channel(aad_object_id=f"6f1c0e2a-0000-4000-8000-0000000000{u:02d}", user_id=f"29:user{u}")
            key = chat.message("x")["conversation"]["id"]
            await bot.gateway.store.save_conversation(
                key, {"backend": "bedrock", "backend_state": {"history": history}}, version=0
            )
            chats.append((u, chat))
    await asyncio.gather(*(bot.post(chat.message(f"and now? {blob[:300]}")) for _, chat in chats))
    await bot.settle()
    used = sum(usage["totalTokens"] for usage in bedrock.usages)
    print(f"turns answered={len(bedrock.usages)} used={used} team limit={team_limit} ratio={used / team_limit:.2f}")
    per_user = Counter()
    # which user each request came from is not in the fake's record: bound per user by turns x the largest turn
    biggest = max(u["totalTokens"] for u in bedrock.usages)
    print(f"largest turn={biggest}; user limit={user_limit}; turns per user bound={user_limit / biggest:.1f}")
    assert used <= 1.1 * team_limit, (used, team_limit)
    del per_user
