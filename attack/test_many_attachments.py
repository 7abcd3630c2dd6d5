"""A message with thousands of attachments to a backend that reads files (Amazon Q Business, loopback fakes):
how many messages and characters come back, how long the turn takes, and where the bot tried to fetch.

Run: .venv/bin/python -m pytest attack/test_many_attachments.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import json
import time

from tests.test_qbusiness import aws  # noqa: F401 - the fixture
from tests.test_qbusiness_teams import person, start_q, token_service  # noqa: F401 - fixtures

CASES = {
    "4,000 unsupported .mp4": lambda url: [(f"m{i}.mp4", url) for i in range(4_000)],
    "4,000 supported .txt (5 read)": lambda url: [(f"n{i}.txt", url) for i in range(4_000)],
    "3,000 .txt to 169.254.169.254": lambda url: [(f"x{i}.txt", "https://169.254.169.254/x") for i in range(3_000)],
}


async def test_many_attachments(start_q, aws):  # noqa: F811
    bot = await start_q("anonymous")
    url = bot.connector.serve_file("f.txt", b"x")
    for name, make in CASES.items():
        channel = person(bot, f"u{abs(hash(name)) % 10_000}")
        activity = channel.message("summarise")
        for file_name, link in make(url):
            channel.with_file(activity, file_name, link)
        size = len(json.dumps(activity))
        before = len(bot.connector.messages())
        started = time.monotonic()
        response = await bot.post(activity)
        await bot.settle()
        replies = bot.connector.messages()[before:]
        chars = sum(len(r.body.get("text") or "") for r in replies)
        print("   sizes:", [len(json.dumps(r.body)) for r in replies], [r.method for r in replies])
        sent = [r for r in replies if r.method == "POST"]
        print(f"{name:34} body {size / 1e6:.2f} MB -> {response.status} in {time.monotonic() - started:5.1f}s, "
              f"{len(replies)} calls ({len(sent)} new messages), {chars:,} characters")  # fmt: skip
