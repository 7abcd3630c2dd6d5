"""The stream pacing on its own: throttle, keep-alive, Teams' time limit, in-place edits."""

from __future__ import annotations

import asyncio

from bot.connector import BotConnector, ConversationRef
from bot.streaming import InPlaceStream, TeamsStream
from services.backends import Citation, FinalAnswer


class NoTokens:
    async def token(self, audience: str) -> None:
        return None


def answer(text: str = "Final answer [1].") -> FinalAnswer:
    citation = Citation(number=1, title="Guide", source="guide.md", excerpt="An excerpt.")
    return FinalAnswer(text=text, citations=[citation], backend="test", message_id="m1")


async def test_a_burst_of_tokens_becomes_few_updates(connector):
    client = BotConnector(NoTokens())
    stream = await TeamsStream(client, ConversationRef(connector.url, "a:1", "1"), interval=0.3).start("Thinking…")
    text = ""
    for i in range(100):  # 1 s of tokens every 10 ms
        text += f"w{i} "
        await stream.update(text)
        await asyncio.sleep(0.01)
    await stream.finish(answer(text))
    updates = [c for c in connector.calls if c.type == "typing"][1:]
    assert 2 <= len(updates) <= 5  # first at once, then one per 0.3 s
    assert connector.calls[-1].type == "message"
    await client.close()


async def test_keepalive_resends_during_a_long_silence(connector):
    client = BotConnector(NoTokens())
    ref = ConversationRef(connector.url, "a:1", "1")
    stream = await TeamsStream(client, ref, interval=0.05, keepalive=0.2).start("Thinking…")
    await stream.update("first words")
    await asyncio.sleep(0.9)  # the model is silent
    await stream.finish(answer("first words, then more"))
    updates = [c for c in connector.calls if c.type == "typing"][1:]
    assert len(updates) >= 3 and {u.body["text"] for u in updates} == {"first words"}
    await client.close()


async def test_past_the_time_limit_the_answer_comes_as_a_normal_message(connector):
    client = BotConnector(NoTokens())
    ref = ConversationRef(connector.url, "a:1", "1")
    stream = await TeamsStream(client, ref, interval=0.05, limit=0.3).start("Thinking…")
    for i in range(10):
        await stream.update(f"text {i}")
        await asyncio.sleep(0.06)
    await stream.finish(answer())
    final = connector.calls[-1]
    assert final.type == "message"
    assert not any(e.get("type") == "streaminfo" for e in final.body.get("entities", []))
    assert final.body["attachments"][0]["content"]["actions"]  # an ordinary answer card with 👍/👎
    await client.close()


async def test_in_place_stream_edits_one_message(connector):
    client = BotConnector(NoTokens())
    ref = ConversationRef(connector.url, "19:x@thread.v2", "1")
    stream = await InPlaceStream(client, ref, interval=0.05).start("Thinking…")
    for i in range(5):
        await stream.update(f"part {i}")
        await asyncio.sleep(0.06)
    message_id = await stream.finish(answer())
    first, *edits = connector.calls
    assert first.method == "POST" and all(e.method == "PUT" and e.activity_id == first.body["id"] for e in edits)
    assert message_id == first.body["id"]
    await client.close()


async def test_a_whole_answer_goes_straight_to_final_without_a_stray_update(connector):
    # The pump was once kept alive by asyncio.wait_for swallowing its cancellation (Python 3.11): it then
    # sent one more update a whole gap after the answer was complete, delaying the final message.
    client = BotConnector(NoTokens())
    for _ in range(5):
        connector.calls.clear()
        stream = await TeamsStream(client, ConversationRef(connector.url, "a:1", "1")).start("Searching…")
        await asyncio.sleep(0.02)  # the backend searches: the pump is now waiting for text
        await stream.update("the whole answer at once")
        await stream.finish(answer("the whole answer at once"))
        await asyncio.sleep(0.4)  # longer than the first gap: a surviving pump would have sent by now
        assert [c.type for c in connector.calls] == ["typing", "message"]
    await client.close()
