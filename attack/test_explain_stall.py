"""`explain <40,000 letters>` blocks the event loop in difflib (glossary fuzzy match): /healthz and every
other conversation wait. Bounded: one message of 40,000 characters, one health probe.

Run: .venv/bin/python -m pytest attack/test_explain_stall.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import time


async def test_explain_of_a_long_word_stalls_the_loop(start_bot):
    bot = await start_bot()
    activity = bot.channel().message("explain " + "a" * 40_000)
    assert (await bot.post(activity)).status == 200
    worst, began = 0.0, time.monotonic()
    settle = asyncio.ensure_future(bot.settle())
    while not settle.done() and time.monotonic() - began < 120:
        started = time.monotonic()
        health = await bot.client.get("/healthz")
        worst = max(worst, time.monotonic() - started)
        await asyncio.sleep(0.2)
    await settle
    print(f"turn took {time.monotonic() - began:.1f} s; slowest /healthz ({health.status}) during it: {worst:.1f} s")
