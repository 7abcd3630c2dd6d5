"""Bedrock end to end: the real boto3 client against a loopback fake of Bedrock's wire protocols
(JSON and AWS event-stream), through /api/messages to the fake Bot Connector."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from services.backends import Question
from services.backends.bedrock import BedrockBackend, BedrockConfig, explain
from services.store import get_conversation
from tests.aws import use_fake_aws
from tests.conftest import card_of, card_text
from tests.fakes.bedrock import Failure, FakeBedrock, kb_result

MODEL = "anthropic.claude-test-v1:0"


@pytest.fixture
async def bedrock(monkeypatch):
    async with FakeBedrock() as fake:
        use_fake_aws(monkeypatch, BEDROCK_RUNTIME=fake.url, BEDROCK_AGENT_RUNTIME=fake.url)
        yield fake


@pytest.fixture
def start_bedrock_bot(start_bot, bedrock):
    async def start(**overrides):
        values = {
            "backend": "bedrock",
            "bedrock_model_id": MODEL,
            "bedrock_region": "eu-west-1",
            "stream_interval_seconds": 0.2,
            "bedrock_max_attempts": 3,
            **overrides,
        }
        return await start_bot(**values)

    return start


def streaminfo(call):
    return next(e for e in call.body.get("entities", []) if e.get("type") == "streaminfo")


async def test_personal_chat_streams_informative_then_growing_text_then_final(start_bedrock_bot, bedrock):
    bedrock.tokens = [f"word{i} " for i in range(30)]
    bedrock.first_token_delay, bedrock.interval = 0.1, 0.03
    bot = await start_bedrock_bot()
    await bot.post(bot.channel().message("tell me a story"))
    await bot.settle()

    informative, *updates, final = bot.connector.calls
    assert informative.body["text"] == "Thinking…"
    assert streaminfo(informative) == {"type": "streaminfo", "streamType": "informative", "streamSequence": 1}
    stream_id = informative.body["id"]
    assert len(updates) >= 2 and all(u.type == "typing" for u in updates)
    assert [streaminfo(u)["streamSequence"] for u in updates] == list(range(2, len(updates) + 2))
    assert {streaminfo(u)["streamId"] for u in updates} == {stream_id}
    texts = [u.body["text"] for u in updates]
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))  # whole text so far
    assert final.type == "message" and streaminfo(final) == {
        "type": "streaminfo",
        "streamId": stream_id,
        "streamType": "final",
    }
    assert final.body["text"] == "".join(bedrock.tokens).strip()
    gaps = [b.at - a.at for a, b in zip(updates, updates[1:], strict=False)]
    assert min(gaps) >= 0.15  # throttled to the configured 0.2 s (Teams: 1.5 s)
    (request,) = bedrock.requests
    assert request["modelId"] == MODEL
    assert request["inferenceConfig"] == {"maxTokens": 1024, "temperature": 0.2}
    assert "Microsoft Teams" in request["system"][0]["text"]


async def test_channel_answer_is_edited_in_place_then_finalised(start_bedrock_bot, bedrock):
    bedrock.tokens = [f"part{i} " for i in range(20)]
    bedrock.interval = 0.04
    bot = await start_bedrock_bot()
    await bot.post(bot.channel("channel").message("summarise"))
    await bot.settle()
    placeholder, *edits = bot.connector.messages()
    assert placeholder.body["text"] == "…" and placeholder.method == "POST"
    assert len(edits) >= 2 and all(e.method == "PUT" and e.activity_id == placeholder.body["id"] for e in edits)
    assert edits[0].body["text"].endswith(" …")
    assert "part19" in card_text(card_of(edits[-1]))
    assert not any(c.type == "typing" and "streaminfo" in json.dumps(c.body) for c in bot.connector.calls)


async def test_history_is_kept_per_conversation_trimmed_and_cleared_by_new(start_bedrock_bot, bedrock):
    bot = await start_bedrock_bot(history_max_chars=1000)
    chat = bot.channel()
    bedrock.tokens = ["x" * 300]
    for text in ("first question", "second question", "third question"):
        await bot.post(chat.message(text))
        await bot.settle()
    roles = [[m["role"] for m in r["messages"]] for r in bedrock.requests]
    assert roles[0] == ["user"] and roles[1] == ["user", "assistant", "user"]
    assert roles[2] == ["user", "assistant", "user", "assistant", "user"]
    bedrock.tokens = ["y" * 600]  # each exchange now outgrows the 1,000-character budget
    await bot.post(chat.message("fourth question"))
    await bot.settle()
    await bot.post(chat.message("fifth"))
    await bot.settle()
    fifth = bedrock.requests[-1]["messages"]
    assert sum(len(m["content"][0]["text"]) for m in fifth) <= 1000
    assert fifth[0]["role"] == "user" and fifth[-1]["content"][0]["text"] == "fifth"
    await bot.post(chat.message("new"))
    await bot.post(chat.message("after reset"))
    await bot.settle()
    assert [m["role"] for m in bedrock.requests[-1]["messages"]] == ["user"]


async def test_knowledge_base_passages_are_numbered_and_only_cited_sources_shown(start_bedrock_bot, bedrock):
    bedrock.retrieval_results = [
        kb_result("Trains: book second class.", "s3://policies/travel%20policy.pdf"),
        kb_result("Meals: up to 40 euros a day.", "https://intranet.example/expenses"),
        kb_result("Unrelated text.", "s3://policies/other.txt"),
    ]
    bedrock.tokens = ["Meals are covered up to 40 euros a day [2]", "."]
    bot = await start_bedrock_bot(bedrock_knowledge_base_id="KB12345678", bedrock_kb_top_k=3)
    await bot.post(bot.channel().message("what is the meal allowance?"))
    await bot.settle()
    (retrieve,) = bedrock.retrieve_requests
    assert retrieve["knowledgeBaseId"] == "KB12345678"
    assert retrieve["retrievalConfiguration"]["vectorSearchConfiguration"]["numberOfResults"] == 3
    prompt = bedrock.requests[0]["messages"][-1]["content"][0]["text"]
    assert "[1] travel policy.pdf\nTrains" in prompt and "[2] expenses\nMeals" in prompt
    assert prompt.endswith("Question: what is the meal allowance?")
    informative, *_, final = bot.connector.calls
    assert informative.body["text"] == "Searching the knowledge base…"
    citations = [e for e in final.body["entities"] if e.get("citation")][0]["citation"]
    assert [(c["position"], c["appearance"]["name"], c["appearance"].get("url")) for c in citations] == [
        (2, "expenses", "https://intranet.example/expenses")
    ]
    # One bubble: the cited source is the message's own citation, not a second card; no "Sources:" line
    # since the text marks every source it has.
    assert "attachments" not in final.body and "Sources:" not in final.body["text"] and "travel" not in str(final.body)


async def test_guardrail_block_shows_its_message_and_is_recorded_as_blocked(start_bedrock_bot, bedrock):
    bedrock.tokens = ["Sorry, the content policy does not allow this question."]
    bedrock.stop_reason = "guardrail_intervened"
    bot = await start_bedrock_bot(bedrock_guardrail_id="gr-1", bedrock_guardrail_version="3")
    chat = bot.channel()
    await bot.post(chat.message("something forbidden"))
    await bot.settle()
    config = bedrock.requests[0]["guardrailConfig"]
    assert config == {"guardrailIdentifier": "gr-1", "guardrailVersion": "3", "trace": "enabled",
                      "streamProcessingMode": "sync"}  # fmt: skip
    final = bot.connector.messages()[-1]
    assert final.body["text"] == "Sorry, the content policy does not allow this question."
    state = await get_conversation(bot.gateway.store, chat.conversation(chat.base_id)["id"])
    assert state["last_outcome"] == "blocked" and state["backend_state"] == {}
    assert "reference" not in final.body["text"]  # not an error
    bedrock.stop_reason, bedrock.tokens = "end_turn", ["Fine."]
    await bot.post(chat.message("something allowed"))
    await bot.settle()
    assert [m["role"] for m in bedrock.requests[-1]["messages"]] == ["user"]  # the blocked turn is not history


async def test_throttling_is_retried_then_answered(start_bedrock_bot, bedrock):
    bedrock.failures = [Failure(429, "ThrottlingException"), Failure(503, "ServiceUnavailableException")]
    bot = await start_bedrock_bot()
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    assert len(bedrock.requests) == 3
    assert bot.connector.messages()[-1].body["text"] == "Hello from Bedrock."


async def test_throttling_inside_the_stream_before_any_text_is_retried(start_bedrock_bot, bedrock):
    bedrock.stream_exception_after = 0
    bot = await start_bedrock_bot()
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    assert len(bedrock.requests) == 2
    assert bot.connector.messages()[-1].body["text"] == "Hello from Bedrock."


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (Failure(403, "AccessDeniedException", "User is not authorized to perform bedrock:InvokeModel"),
         "must grant its role bedrock:InvokeModel"),
        (Failure(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
         "not enabled for this AWS account in eu-west-1"),
        (Failure(400, "ValidationException", "The provided model identifier is invalid."),
         "set BEDROCK_MODEL_ID to a model or inference profile id"),
        (Failure(404, "ResourceNotFoundException", "Model not found"), "check BEDROCK_MODEL_ID and BEDROCK_REGION"),
    ],
)  # fmt: skip
async def test_configuration_errors_give_one_sentence_for_the_operator(
    start_bedrock_bot, bedrock, caplog, failure, expected
):
    bedrock.failures = [failure]
    bot = await start_bedrock_bot()
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    final = bot.connector.messages()[-1]
    assert expected in final.body["text"] and "(reference " in final.body["text"]
    assert failure.message not in final.body["text"]  # no internals for the user...
    assert failure.message in caplog.text  # ...but all of them in the log
    assert streaminfo(final)["streamType"] == "final"  # the stream is closed, not left hanging
    assert len(bedrock.requests) == 1  # not retried


async def test_timeout_gives_a_clear_sentence(start_bedrock_bot, bedrock):
    bedrock.first_token_delay = 3
    bot = await start_bedrock_bot(bedrock_timeout_seconds=0.3, bedrock_max_attempts=1)
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    assert "did not answer in time" in bot.connector.messages()[-1].body["text"]


async def test_stop_button_ends_the_stream_and_stops_reading_from_bedrock(start_bedrock_bot, bedrock, caplog):
    caplog.set_level(logging.INFO)
    bedrock.tokens = [f"t{i} " for i in range(200)]
    bedrock.interval = 0.02
    bot = await start_bedrock_bot()
    await bot.post(bot.channel().message("write a lot"))
    await bot.connector.wait_for(lambda calls: len(calls) >= 2, timeout=10)  # informative + first update
    bot.connector.fail_next(403, code="ContentStreamNotAllowed")
    # a hang guard, not a speed target: closing the Bedrock stream once blocked the event loop for the
    # whole read timeout (60 s) because it ran on the loop
    await asyncio.wait_for(bot.settle(), timeout=20)
    await asyncio.sleep(0.3)
    assert bot.connector.messages() == []  # no final message after Stop
    assert [r.type for r in bot.connector.rejected] == ["typing"]
    assert len(bedrock.token_times) < 150  # reading stopped well before the model finished
    assert bedrock.stream_closed_early  # the connection to Bedrock was closed, not left to run
    assert "stopped by the user" in caplog.text


async def test_without_streaming_the_converse_api_is_used(start_bedrock_bot, bedrock):
    bot = await start_bedrock_bot(bedrock_streaming=False)
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    assert bot.connector.messages()[-1].body["text"] == "Hello from Bedrock."


async def test_backend_alone_trims_history_to_the_budget(bedrock):
    backend = BedrockBackend(BedrockConfig(model_id=MODEL, region="eu-west-1", history_max_chars=1_000))
    history = []
    for i in range(10):
        history += [{"role": "user", "text": f"q{i} " + "a" * 100}, {"role": "assistant", "text": "b" * 100}]
    events = [e async for e in backend.answer(Question(text="now", conversation_key="k", state={"history": history}))]
    sent = bedrock.requests[0]["messages"]
    assert sent[0]["content"][0]["text"].startswith("q6 ")  # the oldest exchanges went first
    assert len(sent) == 9 and events[-1].state["history"][-1] == {"role": "assistant", "text": "Hello from Bedrock."}


def test_explain_never_leaks_the_exception_text():
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "InternalServerException", "Message": "stack trace at 0xdead"}}, "Converse")
    sentence = explain(error, BedrockConfig(model_id=MODEL)).user_message
    assert "0xdead" not in sentence and "try again" in sentence
