"""Bad input gets a clear 4xx with one sentence, never a 500, and the server keeps serving."""

from __future__ import annotations

import pytest

from bot.gateway import MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe\x00", 400, "not valid JSON"),
        (b"[1, 2, 3]", 400, "JSON object"),
        (b'"a string"', 400, "JSON object"),
        (b"{}", 400, "'type'"),
        (b'{"type": ""}', 400, "'type' is empty"),
        (b'{"type": 42}', 400, "'type'"),
        (b'{"type": "message", "text": {"nested": true}}', 400, "'text'"),
        (b'{"type": "message", "conversation": {"id": "a:1"}}', 400, "'serviceUrl' is required"),
        (b'{"type": "message", "timestamp": "yesterday"}', 400, "'timestamp'"),
        (b'{"type": "message", "from": "someone"}', 400, "'from'"),
        (b'{"type": "message", "attachments": [1]}', 400, "'attachments.0'"),
        (b'{"type": "message", "localTimestamp": "teatime"}', 400, "'localTimestamp'"),
        (b'{"type": "message", "serviceUrl": "ftp://x", "conversation": {"id": "a"}}', 400, "http(s) URL"),
        (b'{"type": "message", "serviceUrl": "http://127.0.0.1:1/"}', 400, "'conversation.id' is required"),
        (b'{"type": "teleport", "serviceUrl": "http://127.0.0.1:1/", "conversation": {"id": "a"}}', 400, "teleport"),
    ],
)
async def test_malformed_bodies_get_400_with_a_sentence(start_bot, raw, status, words):
    bot = await start_bot()
    response = await bot.post(None, raw=raw)
    assert response.status == status
    body = await response.json()
    assert words in body["error"]["message"]
    assert (await bot.post(bot.channel().message("help"))).status == 200


async def test_wrong_method_and_content_type(start_bot):
    bot = await start_bot()
    assert (await bot.client.get("/api/messages")).status == 405
    response = await bot.client.post("/api/messages", data=b"hello", headers={"Content-Type": "text/plain"})
    assert response.status == 415
    assert "JSON" in (await response.json())["error"]["message"]


async def test_body_over_one_mebibyte_gets_413(start_bot):
    bot = await start_bot()
    activity = bot.channel().message("x" * (MAX_BODY_BYTES + 10))
    response = await bot.post(activity)
    assert response.status == 413
    assert (await bot.post(bot.channel().message("help"))).status == 200


async def test_unimplemented_invoke_gets_501_not_500(start_bot):
    bot = await start_bot()
    activity = bot.channel().execute("x", {})
    activity["name"] = "composeExtension/query"
    response = await bot.post(activity)
    assert response.status == 501
    assert "composeExtension/query" in (await response.json())["error"]["message"]


async def test_invoke_without_action_gets_400(start_bot):
    bot = await start_bot()
    activity = bot.channel().execute("x", {})
    activity["value"] = {"trigger": "manual"}
    response = await bot.post(activity)
    assert response.status == 400
    assert "value.action" in (await response.json())["error"]["message"]


@pytest.mark.parametrize("activity_type", ["typing", "messageReaction", "installationUpdate", "endOfConversation"])
async def test_other_known_activity_types_are_acknowledged_quietly(start_bot, activity_type):
    bot = await start_bot()
    activity = bot.channel().message("ignored")
    activity["type"] = activity_type
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    assert bot.connector.calls == []


async def test_redelivered_activity_is_answered_once(start_bot):
    bot = await start_bot()
    activity = bot.channel().message("help")
    responses = [await bot.post(activity) for _ in range(3)]
    assert [r.status for r in responses] == [200, 200, 200]
    await bot.settle()
    assert len(bot.connector.messages()) == 1


async def test_redelivery_is_caught_across_restarts_through_the_store(start_bot, make_settings):
    first = await start_bot()
    activity = first.channel().message("help")
    await first.post(activity)
    await first.settle()
    second = await start_bot()  # same STATE_DB file, a new process in real life
    assert (await second.post(activity)).status == 200
    await second.settle()
    assert len(second.connector.messages()) == 1  # both bots share the fake connector: still one answer


async def test_same_activity_id_in_another_conversation_is_not_a_duplicate(start_bot):
    bot = await start_bot()
    one, two = bot.channel().message("help"), bot.channel().message("help")
    two["id"] = one["id"]
    await bot.post(one)
    await bot.post(two)
    await bot.settle()
    assert len(bot.connector.messages()) == 2


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "message", "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # past Python's recursion limit
        b'{"type": "message", "value": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}",  # past our depth limit
        b"[" * 300_000 + b"]" * 300_000,
    ],
)
async def test_deeply_nested_json_is_a_400_not_a_500(start_bot, raw):
    bot = await start_bot()
    response = await bot.post(None, raw=raw)
    assert response.status == 400
    assert (await response.json())["error"]["message"] in (
        "The body is not valid JSON.",
        "The body is nested deeper than 64 levels.",
    )
    assert (await bot.post(bot.channel().message("help"))).status == 200


async def test_activities_without_an_id_are_deduplicated_by_content(start_bot):
    bot = await start_bot()
    chat = bot.channel()
    activity = chat.message("help")
    del activity["id"]
    other = chat.message("help")
    del other["id"]  # same text, but another timestamp: another activity
    other["timestamp"] = "2026-01-05T10:00:01.000Z"
    for body in (activity, activity, other, activity):
        assert (await bot.post(body)).status == 200
    await bot.settle()
    assert len(bot.connector.messages()) == 2


INJECTIONS = [
    "[click me](https://evil.example/login)",
    "![x](https://evil.example/pixel.png)",
    "<a href='https://evil.example'>official notice</a>",
    "<img src=x onerror=alert(1)>",
    "**URGENT** # reset your password at https://evil.example",
]


def assert_inert(text: str) -> None:
    """No Markdown link or image, no HTML tag and no URL survives in `text`."""
    assert "](" not in text and "<a" not in text and "<img" not in text and "https://evil" not in text
    assert "**URGENT**" not in text


@pytest.mark.parametrize("payload", INJECTIONS)
async def test_echoed_user_text_is_escaped_and_short(start_bot, payload):
    bot = await start_bot()
    chat = bot.channel()
    for text in (f"explain {payload}", f"metrics {payload.replace(' ', '')}=1", f"/{payload.replace(' ', '')}"):
        await bot.post(chat.message(text))
    await bot.post(chat.message("explain " + "[x](https://evil.example) " * 500))
    await bot.settle()
    replies = [m.body["text"] for m in bot.connector.messages()]
    assert len(replies) == 4
    for reply in replies:
        assert_inert(reply.split("\n\n")[0])  # the first paragraph is the one quoting the user
    assert len(replies[-1].split("\n\n")[0]) < 200


@pytest.mark.parametrize("where", ["conversation", "from", "id", "tenant"])
async def test_an_id_too_long_for_a_store_key_gets_400_not_a_retry_loop(start_bot, where):
    """A DynamoDB key is at most 2048 bytes: a longer id was a store failure, a 503 the channel retried forever."""
    bot = await start_bot()
    activity = bot.channel().message("hello")
    long = "x" * 3000
    if where == "id":
        activity["id"] = long
    elif where == "tenant":
        activity["channelData"] = {"tenant": {"id": long}}
    else:
        activity[where] = {**activity[where], "id": long}
    response = await bot.post(activity)
    assert response.status == 400 and "longer than" in (await response.json())["error"]["message"]
    assert (await bot.post(bot.channel().message("hello"))).status == 200  # ordinary ids are untouched
    await bot.settle()
