"""Malformed feedback presses (issue 19, third hostile pass): a client's mistake gets a 4xx or one sentence,
never a 500 or "something went wrong"."""

from __future__ import annotations

import json


async def test_a_feedback_comment_nested_too_deep_is_not_a_500(start_bot):
    bot = await start_bot()
    channel = bot.channel()
    for comment in ("[" * 50_000, json.dumps({"feedbackText": "fine"})[:-1] + "[" * 50_000 + "}"):
        activity = channel.feedback("like", reply_to="1")
        activity["value"]["actionValue"]["feedback"] = comment
        response = await bot.post(activity)
        assert response.status < 500, response.status
    await bot.settle()
    assert not [c for c in bot.connector.messages() if "went wrong" in (c.body.get("text") or "")]


async def test_a_feedback_press_with_an_unknown_reaction_gets_one_sentence(start_bot, caplog):
    bot = await start_bot()
    channel = bot.channel()
    for activity in (
        channel.execute("feedback", {"reaction": "love"}),
        channel.submit({"verb": "feedback", "reaction": ["like"]}),
    ):
        before = len(bot.connector.messages())
        assert (await bot.post(activity)).status == 200
        await bot.settle()
        (reply,) = bot.connector.messages()[before:]
        text = reply.body.get("text") or ""
        assert "went wrong" not in text and "reference" not in text and "feedback" in text.lower(), text
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_line_break_in_a_logged_value_does_not_forge_a_text_log_line():
    import logging

    from services.observability.logs import TextFormatter

    forged = "2026-12-07 00:00:00,000 ERROR forged: admin granted"
    record = logging.LogRecord("bot.gateway", logging.INFO, __file__, 1, "activity %s", (f"1\n{forged}",), None)
    record.fields = {"conversation": f"c\r\n{forged}"}
    line = TextFormatter().format(record)
    assert "\n" not in line and "\r" not in line and line.count("forged") == 2


async def test_a_sender_name_or_id_is_repeated_without_its_markdown(start_bot):
    from tests.conftest import card_text

    bot = await start_bot()
    chat = bot.channel("groupChat", user_name="**ADMIN**\n\n# Security notice [Reset](https://evil.example/x)",
                       user_id="29:a` [Reset](https://evil.example/y) `")  # fmt: skip
    for text in ("hi", "whoami"):
        before = len(bot.connector.messages())
        await bot.post(chat.message(text))
        await bot.settle()
        (reply,) = bot.connector.messages()[before:]
        shown = reply.body.get("text") or card_text(reply.body["attachments"][0]["content"])
        assert "**ADMIN**" not in shown and "\n# " not in shown and "](https://evil" not in shown, shown
