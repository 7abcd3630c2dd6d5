"""Markdown and links in what the bot repeats (a sender's name, a file name, a command argument), and one
activity delivered 50 times at once. Prints each reply; flags a link or image the bot wrote from user input,
and more than one answer to one activity.

Run: .venv/bin/python -m pytest attack/test_names_and_duplicates.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import asyncio

from tests.conftest import card_text

NAMES = [
    "[Reset your password](https://evil.example/login)",
    "![p](https://evil.example/pixel.png)",
    "<img src=https://evil.example/p.png>",
    "www.evil.example/login",
    "**ADMIN** \n\n# Security notice",
    "<at>Everyone</at>",
    "Eve\u202egnp.exe",
]


def shown(call) -> str:
    body = call.body
    return body.get("text") or (card_text(body["attachments"][0]["content"]) if body.get("attachments") else "")


async def test_names(start_bot):
    bot = await start_bot()
    for name in NAMES:
        for text in ("hi", "whoami", "use [x](https://evil.example)", "help " + name):
            chat = bot.channel("groupChat", user_name=name)
            before = len(bot.connector.messages())
            await bot.post(chat.message(text))
            await bot.settle()
            out = " ".join(shown(c) for c in bot.connector.messages()[before:])
            raw = " ".join(str(c.body) for c in bot.connector.messages()[before:])
            bad = "](https://evil" in raw or "<img" in raw or "https://evil" in out
            print(f"{'FLAG' if bad else 'ok  '} {name[:30]!r:34} {text[:25]!r:28} -> {out[:120]!r}")


async def test_fifty_deliveries_of_one_activity(start_bot):
    bot = await start_bot()
    chat = bot.channel()
    activity = chat.message("what is drift?")
    statuses = await asyncio.gather(*(bot.post(activity) for _ in range(50)))
    await bot.settle()
    answers = [c for c in bot.connector.messages() if c.body.get("replyToId") == activity["id"]]
    print("statuses", sorted({s.status for s in statuses}), "messages in reply:", len(answers))
