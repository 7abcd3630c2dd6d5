"""AgentCore Runtime end to end: the real boto3 `bedrock-agentcore` client (and, for agents with a JWT authoriser,
plain HTTPS with the user's token) against a loopback fake of InvokeAgentRuntime, through /api/messages to the
fake Bot Connector."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.backends.agentcore.backend import AgentCoreConfig, explain
from services.backends.agentcore.replies import SseLines, read_value
from services.store import get_conversation
from tests.aws import use_fake_aws
from tests.fakes.agentcore import FakeAgentCore, strands_events
from tests.fakes.bedrock import Failure

ARN = "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/support_agent-AbCdE12345"


@pytest.fixture
async def agentcore(monkeypatch):
    async with FakeAgentCore() as fake:
        use_fake_aws(monkeypatch, BEDROCK_AGENTCORE=fake.url)
        yield fake


@pytest.fixture
def start_agentcore_bot(start_bot, agentcore):
    async def start(**overrides):
        values = {
            "backend": "agentcore",
            "agentcore_runtime_arn": ARN,
            "stream_interval_seconds": 0.1,
            "agentcore_max_attempts": 2,
            **overrides,
        }
        return await start_bot(**values)

    return start


def streaminfo(call):
    return next(e for e in call.body.get("entities", []) if e.get("type") == "streaminfo")


async def test_strands_agent_streams_into_teams_once_per_delta(start_agentcore_bot, agentcore):
    agentcore.chunks = strands_events([f"word{i} " for i in range(12)], input_tokens=40, output_tokens=12)
    agentcore.interval = 0.02
    bot = await start_agentcore_bot()
    channel = bot.channel()
    await bot.post(channel.message("what is our travel policy?"))
    await bot.settle()

    informative, *updates, final = bot.connector.calls
    assert informative.body["text"] == "Asking the agent…"
    assert updates and all(u.type == "typing" for u in updates)
    texts = [u.body["text"] for u in updates]
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))
    assert final.body["text"] == " ".join(f"word{i}" for i in range(12))  # each delta once, not twice
    assert streaminfo(final)["streamType"] == "final"
    (request,) = agentcore.requests
    assert request["arn"] == ARN and request["qualifier"] == "DEFAULT"
    assert request["payload"] == {"prompt": "what is our travel policy?", "user_name": "Alex Wilber"}
    assert len(request["session_id"]) >= 33
    assert request["user_id"] == channel.aad_object_id
    assert request["authorization"].startswith("AWS4-HMAC-SHA256")  # SigV4 with the gateway's role


async def test_one_session_per_conversation_and_new_starts_another(start_agentcore_bot, agentcore):
    bot = await start_agentcore_bot()
    first, other = bot.channel("channel"), bot.channel("groupChat")
    for text in ("one", "two"):
        await bot.post(first.message(text))
        await bot.settle()
    await bot.post(other.message("elsewhere"))
    await bot.settle()
    await bot.post(first.message("new"))
    await bot.settle()
    await bot.post(first.message("three"))
    await bot.settle()
    one, two, elsewhere, three = (r["session_id"] for r in agentcore.requests)
    assert one == two and one != elsewhere and three != one
    assert one[:30] == three[:30]  # the conversation's part of the id stays; the random part is new


async def test_json_answer_of_a_plain_entrypoint_is_shown(start_agentcore_bot, agentcore):
    agentcore.mode = "json"
    agentcore.body = {"result": {"role": "assistant", "content": [{"text": "Policy: economy under 6 hours."}]}}
    bot = await start_agentcore_bot()
    await bot.post(bot.channel().message("travel?"))
    await bot.settle()
    final = bot.connector.calls[-1]
    assert final.body["text"] == "Policy: economy under 6 hours."


@pytest.mark.parametrize(
    ("failure", "sentence"),
    [
        (Failure(429, "ThrottlingException"), "too busy"),
        (Failure(402, "ServiceQuotaExceededException"), "too many conversations"),
        (Failure(424, "RuntimeClientError"), "ran into an error"),
        (Failure(403, "AccessDeniedException"), "InvokeAgentRuntimeForUser on " + ARN),
        (Failure(404, "ResourceNotFoundException"), "AGENTCORE_RUNTIME_ARN"),
        (Failure(400, "ValidationException", "Payload size exceeds the limit"), "100 MB"),
        (Failure(400, "ValidationException", "Invalid qualifier"), "refused the request as invalid"),
    ],
)
async def test_errors_become_one_sentence(start_agentcore_bot, agentcore, failure, sentence):
    agentcore.failures = [failure] * 3
    bot = await start_agentcore_bot()
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    (reply,) = bot.connector.messages()[-1:]
    assert sentence in reply.body["text"] and "(reference " in reply.body["text"]
    assert "injected" not in reply.body["text"] and "Exception" not in reply.body["text"]


async def test_throttling_is_retried_then_answered(start_agentcore_bot, agentcore):
    agentcore.failures = [Failure(429, "ThrottlingException")]
    bot = await start_agentcore_bot()
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    assert len(agentcore.requests) == 2
    assert bot.connector.calls[-1].body["text"] == "Hello from the agent."


async def test_an_exception_inside_the_agent_is_one_sentence(start_agentcore_bot, agentcore):
    agentcore.chunks = [{"error": "KeyError: 'prompt'", "error_type": "KeyError", "message": "An error occurred"}]
    bot = await start_agentcore_bot()
    await bot.post(bot.channel().message("hello"))
    await bot.settle()
    text = bot.connector.messages()[-1].body["text"]
    assert "ran into an error" in text and "KeyError" not in text


async def test_stop_closes_the_agent_stream(start_agentcore_bot, agentcore):
    agentcore.chunks = [f"w{i} " for i in range(200)]
    agentcore.interval = 0.02
    bot = await start_agentcore_bot()
    await bot.post(bot.channel().message("long story"))
    await bot.connector.wait_for(lambda calls: len(calls) >= 2, timeout=10)  # informative + first update
    bot.connector.fail_next(403, code="ContentStreamNotAllowed")
    await asyncio.wait_for(bot.settle(), timeout=20)  # a hang guard: closing must not block the event loop
    await asyncio.sleep(0.3)
    assert bot.connector.messages() == []  # no final message after Stop
    assert len(agentcore.chunk_times) < 150  # reading stopped well before the agent finished
    assert agentcore.closed_early


def test_replies_of_the_frameworks_are_read():
    assert read_value('"plain json string"', streamed=True).text == "plain json string"
    assert read_value("raw text, not json", streamed=True).text == "raw text, not json"
    assert read_value('{"content": "lc chunk", "type": "AIMessageChunk"}', streamed=True).text == "lc chunk"
    assert read_value('{"event": {"contentBlockDelta": {"delta": {"text": "x"}}}}', streamed=True).text == ""
    assert (
        read_value('{"output": {"message": {"content": [{"text": "a"}, {"text": "b"}]}}}', streamed=False).text == "ab"
    )
    usage = read_value(
        json.dumps({"event": {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 4}}}}), streamed=True
    )
    assert (usage.input_tokens, usage.output_tokens) == (3, 4)
    assert read_value("[DONE]", streamed=True).text == ""
    lines = SseLines()
    assert [lines.feed(x) for x in ("event: message", "data: a", "data: b", "")] == [None, None, None, "a\nb"]


def test_explain_never_leaks_the_exception_text():
    from botocore.exceptions import ClientError

    error = ClientError(
        {"Error": {"Code": "RuntimeClientError", "Message": "secret stack trace"}}, "InvokeAgentRuntime"
    )
    sentence = explain(error, AgentCoreConfig(runtime_arn=ARN)).user_message
    assert "secret" not in sentence and "ran into an error" in sentence


async def test_tokens_a_strands_agent_reports_are_tallied(start_agentcore_bot, agentcore, tmp_path):
    agentcore.chunks = strands_events(["Hi."], input_tokens=40, output_tokens=12)
    bot = await start_agentcore_bot()
    await bot.post(bot.channel().message("hi"))
    await bot.settle()
    saved = await get_conversation(bot.gateway.store, bot.connector.calls[-1].conversation_id)
    assert saved["backend"] == "agentcore" and len(saved["backend_state"]["session_id"]) >= 33
    (record,) = [json.loads(line) for path in (tmp_path / "audit").glob("*.jsonl") for line in path.open()]
    assert (record["usage"]["input_tokens"], record["usage"]["output_tokens"]) == (40, 12)


@pytest.fixture
async def token_service():
    from tests.fakes.token_service import FakeTokenService

    async with FakeTokenService() as fake:
        yield fake


async def test_oauth_agent_is_called_with_the_signed_in_users_token(start_agentcore_bot, agentcore, token_service):
    agentcore.bearer = "entra-alice"
    bot = await start_agentcore_bot(
        agentcore_auth="oauth", agentcore_oauth_connection="entra", bot_token_service_url=token_service.url
    )
    channel = bot.channel("personal", user_id="29:alice", user_name="Alice", aad_object_id="alice-oid")
    await bot.post(channel.message("what may I expense?"))
    await bot.settle()
    card = bot.connector.messages()[-1].body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.oauth" and not agentcore.requests

    token_service.sso_tokens["teams-sso-alice"] = "entra-alice"
    exchange = channel._base("invoke")
    exchange.update(
        name="signin/tokenExchange", value={"id": "x-1", "connectionName": "entra", "token": "teams-sso-alice"}
    )
    assert (await bot.post(exchange)).status == 200
    await bot.settle()
    (request,) = agentcore.requests
    assert request["authorization"] == "Bearer entra-alice"  # the user's token, not the gateway's role
    assert request["payload"]["prompt"] == "what may I expense?" and request["user_id"] == ""
    assert bot.connector.messages()[-1].body["text"] == "Hello from the agent."

    token_service.tokens["29:alice"] = "expired-token"  # the agent's authoriser refuses it: sign in again
    await bot.post(channel.message("and travel?"))
    await bot.settle()
    last = bot.connector.messages()[-1].body
    assert last["attachments"][0]["contentType"] == "application/vnd.microsoft.card.oauth"


async def test_an_agent_without_token_counts_is_counted_per_call_and_audited(start_agentcore_bot, agentcore, tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"support_agent-AbCdE12345": {"input": 0, "output": 0, "call": 0.004}}))
    bot = await start_agentcore_bot(usage_prices_file=prices)
    for text in ("one", "two"):
        await bot.post(bot.channel().message(text))
        await bot.settle()
    records = [json.loads(line) for path in sorted((tmp_path / "audit").glob("*.jsonl")) for line in path.open()]
    assert [(r["backend"], r["model_id"], r["outcome"]) for r in records] == [("agentcore", ARN, "answered")] * 2
    assert [r["cost_usd"] for r in records] == [0.004, 0.004] and records[0]["usage"] is None
    assert records[0]["question"] is None  # the audit keeps no text unless AUDIT_INCLUDE_TEXT


@pytest.mark.parametrize(
    ("env", "line_start"),
    [
        ({"BACKEND": "agentcore"}, "Invalid setting AGENTCORE_RUNTIME_ARN: required"),
        ({"BACKEND": "agentcore", "AGENTCORE_RUNTIME_ARN": "support_agent"}, "Invalid setting AGENTCORE_RUNTIME_ARN:"),
        ({"BACKEND": "agentcore", "AGENTCORE_RUNTIME_ARN": ARN, "AGENTCORE_QUALIFIER": "a b"},
         "Invalid setting AGENTCORE_QUALIFIER:"),
        ({"BACKEND": "agentcore", "AGENTCORE_RUNTIME_ARN": ARN, "AGENTCORE_AUTH": "OAuth"},
         "Invalid setting AGENTCORE_OAUTH_CONNECTION: required"),
        ({"AGENTCORE_AUTH": "apikey"}, "Invalid setting AGENTCORE_AUTH:"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line_naming_the_variable(monkeypatch, env, line_start):
    from services.settings import SettingsError, load_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(_env_file=None)
    assert str(raised.value).startswith(line_start) and "\n" not in str(raised.value)


async def test_oauth_agent_throttled_once_is_retried(start_agentcore_bot, agentcore, token_service):
    agentcore.bearer = "entra-alice"
    agentcore.failures = [Failure(429, "ThrottlingException")]
    token_service.tokens["29:alice"] = "entra-alice"
    bot = await start_agentcore_bot(
        agentcore_auth="oauth", agentcore_oauth_connection="entra", bot_token_service_url=token_service.url
    )
    channel = bot.channel("personal", user_id="29:alice", user_name="Alice", aad_object_id="alice-oid")
    await bot.post(channel.message("hello"))
    await bot.settle()
    assert len(agentcore.requests) == 2 and bot.connector.messages()[-1].body["text"] == "Hello from the agent."


def test_answers_split_anywhere_are_read_the_same_and_bounded():
    from services.backends.agentcore.replies import MAX_EVENT_CHARS, BodyReader

    stream = b'data: "Hel"\n\ndata: {"data": "lo"}\r\n\r\n: a comment\ndata: "!"'  # the last event has no end
    for size in (1, 3, 7, len(stream)):
        reader = BodyReader(streamed=True)
        pieces = [p for i in range(0, len(stream), size) for p in reader.feed(stream[i : i + size])]
        assert "".join(p.text for p in pieces + reader.finish()) == "Hello!"
    whole = BodyReader(streamed=False)
    body = json.dumps({"result": "x" * 100}).encode()
    assert not whole.feed(body[:10]) and not whole.feed(body[10:])
    assert whole.finish()[0].text == "x" * 100
    huge = BodyReader(streamed=True)
    huge.feed(b"data: " + b"y" * (8 * MAX_EVENT_CHARS))  # one line that never ends
    (piece,) = huge.finish()
    assert len(piece.text) <= MAX_EVENT_CHARS
