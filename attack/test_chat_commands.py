"""Chat commands with long, odd or hostile arguments through /api/messages; the slowest /healthz during each
turn shows whether it held the event loop. Bounded: 20 messages of at most 40,000 characters.

Run: .venv/bin/python -m pytest attack/test_chat_commands.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import time

from tests.conftest import card_text

TEXTS = [
    "use " + "x" * 40_000,
    "use " + "local " * 6_000,
    "use ../../etc/passwd",
    "use \u202eloc\u200bal",
    "use " + "lcoal",
    "agents " + "a" * 40_000,
    "help " + "drift" * 8_000,
    "help " + "a" * 40_000,
    "help " + " ".join(["drift"] * 6_000),
    "whoami " + "a" * 40_000,
    "stop " + "a" * 40_000,
    "new " + "<at>" * 10_000,
    "<at>" * 5_000 + "help",
    "help `" + "`" * 30_000,
    "[" * 20_000 + "](" * 5_000,
    "!" + "[" * 20_000,
    "```\n" * 10_000,
    "usage " + "a" * 40_000,
    "usage-export " + "a" * 40_000,
    "signout " + "a" * 40_000,
]


async def test_commands(start_bot):
    bot = await start_bot(backend="local")
    channel = bot.channel()
    for text in TEXTS:
        before = len(bot.connector.messages())
        began = time.monotonic()
        response = await bot.post(channel.message(text))
        settle = asyncio.ensure_future(bot.settle())
        worst = 0.0
        while not settle.done() and time.monotonic() - began < 120:
            started = time.monotonic()
            await bot.client.get("/healthz")
            worst = max(worst, time.monotonic() - started)
            await asyncio.sleep(0.1)
        await settle
        replies = bot.connector.messages()[before:]
        shown = [
            (
                r.body.get("text")
                or (card_text(r.body["attachments"][0]["content"]) if r.body.get("attachments") else "")
            )
            for r in replies
        ]
        first = (shown[0] if shown else "<no reply>")[:110].replace("\n", " ")
        flag = response.status >= 500 or not shown or worst > 1 or "went wrong" in " ".join(shown)
        print(f"{'FLAG' if flag else 'ok  '} {response.status} turn {time.monotonic() - began:5.1f}s "
              f"healthz≤{worst:4.1f}s {len(replies)} msgs {text[:40]!r} -> {first!r}")  # fmt: skip
