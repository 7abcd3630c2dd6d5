"""Many attachments in one message to a backend that reads files (issue 19, third hostile pass): the bot
fetches a bounded number of them and says what it skipped in a bounded reply (Teams refuses a message over
about 100 KB, so an unbounded list of sentences lost the whole answer)."""

from __future__ import annotations

import json

from tests.conftest import card_text
from tests.test_qbusiness import aws  # noqa: F401 - the fixture
from tests.test_qbusiness_teams import person, start_q, token_service  # noqa: F401 - fixtures


def _shown(call) -> str:
    body = call.body
    return body.get("text") or (card_text(body["attachments"][0]["content"]) if body.get("attachments") else "")


async def test_thousands_of_skipped_files_give_one_short_reply_and_few_fetches(start_q, aws):  # noqa: F811
    qbusiness, _, _ = aws
    bot = await start_q("anonymous")
    channel = person(bot, "mallory")
    activity = channel.message("summarise")
    for i in range(1_500):
        channel.with_file(activity, f"m{i}.mp4", "https://x.sharepoint.com/m.mp4")  # a type Q does not read
    fetched = []

    class Counted(dict):
        def get(self, key, default=None):
            fetched.append(key)
            return super().get(key, default)

    bot.connector.files = Counted(bot.connector.files)
    gone = bot.connector.url + "files/missing"  # 404 on every fetch
    for i in range(500):
        channel.with_file(activity, f"t{i}.txt", gone)
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    replies = [c for c in bot.connector.messages() if c.body.get("replyToId") == activity["id"]]
    assert replies and all(len(json.dumps(r.body)) < 80_000 for r in replies), [
        len(json.dumps(r.body)) for r in replies
    ]
    shown = "\n".join(_shown(r) for r in replies)
    assert shown.count("I skipped") + shown.count("has expired") <= 10, shown[:500]
    assert "1,995 more files" in shown, shown[-800:]
    assert len(fetched) == 10  # tried: twice the files Q may read per message, not one per link named
    assert len(qbusiness.requests) == 1
