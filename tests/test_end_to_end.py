"""End to end through the real /api/messages: Teams-shaped activities in, Bot Connector calls out."""

from __future__ import annotations

import pytest

from tests.conftest import BackendError, ScriptedBackend, card_of, card_text


async def test_personal_chat_answer_streams_and_ends_with_sources_and_citations(start_bot):
    bot = await start_bot()
    activity = bot.channel("personal").message("how long are dedupe markers kept?")
    response = await bot.post(activity)
    assert response.status == 200
    await bot.settle()

    informative, *_, final = bot.connector.calls
    assert informative.type == "typing" and informative.body["text"] == "Searching the documents…"
    assert informative.body["entities"] == [{"type": "streaminfo", "streamType": "informative", "streamSequence": 1}]
    assert all(c.activity_id == activity["id"] and c.body["replyToId"] == activity["id"] for c in bot.connector.calls)
    assert final.type == "message" and bot.connector.messages() == [final]
    assert "DEDUPE_TTL_SECONDS" in final.body["text"] and "[1]" in final.body["text"]
    stream_info, message_entity = final.body["entities"]
    assert stream_info == {"type": "streaminfo", "streamId": informative.body["id"], "streamType": "final"}
    assert "additionalType" not in message_entity  # retrieved passages: no "AI generated" label
    assert message_entity["citation"][0]["position"] == 1
    assert message_entity["citation"][0]["appearance"]["name"].startswith("Settings › ")
    assert final.body["channelData"] == {"feedbackLoopEnabled": True}  # Teams' own 👍/👎
    assert "attachments" not in final.body  # one bubble: the sources are the message's citations
    assert "Authorization" not in final.headers  # local development: no token


async def test_group_chat_answer_is_one_message_edited_in_place_into_a_card(start_bot):
    bot = await start_bot()
    activity = bot.channel("groupChat").message("how long are dedupe markers kept?")
    await bot.post(activity)
    await bot.settle()
    placeholder, *updates = bot.connector.messages()
    assert (placeholder.method, placeholder.body["text"]) == ("POST", "…")
    assert updates and all(u.method == "PUT" and u.activity_id == placeholder.body["id"] for u in updates)
    card = card_of(updates[-1])
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    text = card_text(card)
    assert "DEDUPE_TTL_SECONDS" in text and "[1]" in text and "— settings.md" in text
    verbs = [(a["type"], a["verb"], a["data"]["reaction"]) for a in card["actions"]]
    assert verbs == [("Action.Execute", "feedback", "like"), ("Action.Execute", "feedback", "dislike")]
    assert "entities" not in updates[-1].body  # retrieved passages: no "AI generated" label


async def test_group_chat_mention_is_stripped_and_commands_work(start_bot):
    bot = await start_bot()
    channel = bot.channel("groupChat")
    activity = channel.message("/help")
    assert activity["text"].startswith("<at>Gateway</at>")
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    (reply,) = bot.connector.messages()
    assert "Commands" in reply.body["text"] and "`new`" in reply.body["text"]
    assert reply.conversation_id == activity["conversation"]["id"]


async def test_channel_threads_keep_separate_context(start_bot):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend)
    channel = bot.channel("channel")
    first = channel.message("question one")
    await bot.post(first)
    await bot.post(channel.message("question two, same thread"))
    channel.new_thread()
    other = channel.message("question in another thread")
    await bot.post(other)
    await bot.settle()

    asked = {q.text: q for q in backend.questions}  # threads run concurrently: order only within one
    one, two, three = (asked[t] for t in ("question one", "question two, same thread", "question in another thread"))
    assert one.conversation_key == two.conversation_key != three.conversation_key
    assert three.conversation_key.endswith(f";messageid={other['id']}")
    assert [one.state.get("turns", 0), two.state.get("turns", 0), three.state.get("turns", 0)] == [0, 1, 0]
    replies = bot.connector.messages()
    assert {r.conversation_id for r in replies} == {first["conversation"]["id"], other["conversation"]["id"]}
    (in_new_thread,) = [r for r in replies if r.conversation_id == other["conversation"]["id"] and r.method == "POST"]
    assert in_new_thread.activity_id == other["id"]  # the reply lands in the thread


async def test_new_forgets_context_of_this_conversation_only(start_bot):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend)
    chat, other_chat = bot.channel("personal"), bot.channel("personal")
    for text in ("first", "second"):
        await bot.post(chat.message(text))
    await bot.post(other_chat.message("elsewhere"))
    await bot.post(chat.message("new"))
    await bot.post(chat.message("after reset"))
    await bot.post(other_chat.message("elsewhere again"))
    await bot.settle()
    turns = {q.text: q.state.get("turns", 0) for q in backend.questions}
    assert turns == {"first": 0, "second": 1, "elsewhere": 0, "after reset": 0, "elsewhere again": 1}
    assert any("Started a new conversation" in (m.body.get("text") or "") for m in bot.connector.messages())


async def test_unknown_slash_command_gets_help_and_plain_text_goes_to_backend(start_bot):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend)
    chat = bot.channel()
    await bot.post(chat.message("/frobnicate now"))
    await bot.post(chat.message("frobnicate is a word, not a command"))
    await bot.settle()
    first = bot.connector.messages()[0].body["text"]
    assert "I don't know the command /frobnicate." in first and "`help`" in first
    assert [q.text for q in backend.questions] == ["frobnicate is a word, not a command"]


async def test_feedback_with_action_execute_returns_invoke_body_and_is_stored(start_bot):
    bot = await start_bot(backend=ScriptedBackend())
    chat = bot.channel("groupChat")
    await bot.post(chat.message("a question"))
    await bot.settle()
    like = card_of(bot.connector.messages()[-1])["actions"][0]
    response = await bot.post(chat.execute(like["verb"], like["data"]))
    assert response.status == 200
    assert await response.json() == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "Thanks for your feedback.",
    }
    await bot.settle()
    (stored,) = await bot.gateway.store.list_feedback()
    assert (stored.reaction, stored.answer_id, stored.backend) == ("like", "msg-1", "scripted")
    assert (stored.backend_conversation_id, stored.model_id) == ("conv-1", "scripted-model")
    assert stored.user_id == chat.aad_object_id
    assert len(bot.connector.messages()) == 2  # "…" and its final edit: the invoke response is the confirmation


async def test_teams_feedback_loop_is_stored_with_the_answer_ids(start_bot):
    bot = await start_bot(backend=ScriptedBackend())
    chat = bot.channel("personal")
    await bot.post(chat.message("a question"))
    await bot.settle()
    final = bot.connector.messages()[-1]
    invoke = chat.execute("", {})
    invoke["name"] = "message/submitAction"
    invoke["replyToId"] = final.body["id"]
    invoke["value"] = {
        "actionName": "feedback",
        "actionValue": {"reaction": "dislike", "feedback": '{"feedbackText":"missed the point"}'},
    }
    response = await bot.post(invoke)
    assert response.status == 200 and await response.read() == b""
    await bot.settle()
    (stored,) = await bot.gateway.store.list_feedback()
    assert (stored.reaction, stored.comment, stored.answer_id) == ("dislike", "missed the point", "msg-1")
    assert (stored.model_id, stored.backend_conversation_id) == ("scripted-model", "conv-1")


async def test_feedback_with_action_submit_is_stored_and_confirmed(start_bot):
    bot = await start_bot(backend=ScriptedBackend())
    chat = bot.channel()
    data = {"verb": "feedback", "reaction": "dislike", "answer_id": "msg-9", "backend": "scripted"}
    assert (await bot.post(chat.submit(data))).status == 200
    await bot.settle()
    (stored,) = await bot.gateway.store.list_feedback()
    assert stored.reaction == "dislike"
    assert bot.connector.messages()[0].body["text"] == "Thanks for your feedback."


async def test_unknown_card_verb_is_answered_not_dropped(start_bot):
    bot = await start_bot()
    chat = bot.channel()
    response = await bot.post(chat.execute("launch-rockets", {}))
    assert response.status == 200
    assert "no longer supported" in (await response.json())["value"]
    await bot.post(chat.submit({"verb": "launch-rockets"}))
    await bot.settle()
    assert "no longer supported" in bot.connector.messages()[0].body["text"]


async def test_bot_added_gets_welcome(start_bot):
    bot = await start_bot()
    assert (await bot.post(bot.channel().bot_added())).status == 200
    await bot.settle()
    assert "Commands" in bot.connector.messages()[0].body["text"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RuntimeError("secret internal detail"), "Sorry, something went wrong on my side."),
        (BackendError("The model is not enabled in this region; ask your admin.", detail="x"), "not enabled"),
    ],
)
async def test_backend_failure_gives_one_sentence_with_reference(start_bot, caplog, error, expected):
    bot = await start_bot(backend=ScriptedBackend(error=error))
    activity = bot.channel().message("hello")
    await bot.post(activity)
    await bot.settle()
    (reply,) = bot.connector.messages()
    text = reply.body["text"]
    assert expected in text and "secret internal detail" not in text
    reference = text.rsplit("reference ", 1)[1].rstrip(")")
    logged = [r for r in caplog.records if "turn failed" in r.getMessage()]
    assert reference in logged[0].getMessage()
    assert activity["id"] in logged[0].getMessage() and activity["conversation"]["id"] in logged[0].getMessage()
    # the server keeps serving
    assert (await bot.post(bot.channel().message("help"))).status == 200


async def test_long_answer_is_split_never_cut(start_bot):
    paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40
    text = "\n\n".join(f"Part {i}. {paragraph}" for i in range(120))  # about 270 KB
    bot = await start_bot(backend=ScriptedBackend(text=text))
    await bot.post(bot.channel().message("tell me everything"))
    await bot.settle()
    messages = bot.connector.messages()
    assert len(messages) >= 4
    import json

    for message in messages:
        assert len(json.dumps(message.body).encode()) < 80_000
    pieces = [m.body["text"] for m in messages[:-1]] + [card_text(card_of(messages[-1]))]
    assert not any(c.type == "typing" and len(c.body.get("text", "")) > 60_000 for c in bot.connector.calls)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())
    assert "actions" in card_of(messages[-1])  # the feedback buttons come with the last part


async def test_overlong_message_is_trimmed_answered_and_says_so(start_bot):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend)
    response = await bot.post(bot.channel().message("word " * 19_999 + "final"))  # 100 000 characters
    assert response.status == 200
    await bot.settle()
    assert 0 < len(backend.questions[0].text) <= backend.max_input_chars
    text = bot.connector.messages()[0].body["text"]
    assert "100,000 characters" in text and "500-character limit" in text


async def test_empty_message_gets_polite_note(start_bot):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend)
    activity = bot.channel().message("")
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    assert "empty" in bot.connector.messages()[0].body["text"]
    assert backend.questions == []


async def test_control_characters_are_removed_before_the_backend(start_bot):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend)
    await bot.post(bot.channel().message("what\x00 is\x07 the\u200b policy?\r\nthanks\x1b[31m"))
    await bot.settle()
    assert backend.questions[0].text == "what is the policy?\nthanks[31m"


async def test_connector_429_is_retried_with_retry_after(start_bot):
    bot = await start_bot(backend=ScriptedBackend())
    bot.connector.fail_next(429, times=2, headers={"Retry-After": "1"})
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    # the typing indicator and the answer both get through; two attempts were refused first
    assert len(bot.connector.rejected) == 2 and len(bot.connector.messages()) == 1
    gap = bot.connector.calls[0].at - bot.connector.rejected[-1].at
    assert gap >= 0.9  # Retry-After: 1 was honoured
