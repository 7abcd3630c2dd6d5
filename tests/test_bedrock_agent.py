"""Bedrock Agents end to end: the real boto3 `bedrock-agent-runtime` client against a loopback fake of InvokeAgent
(AWS event-stream framing), through /api/messages to the fake Bot Connector."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.backends.bedrock_agent.backend import BedrockAgentConfig, explain, mark_citations
from tests.aws import use_fake_aws
from tests.conftest import card_of
from tests.fakes.bedrock import Failure
from tests.fakes.bedrock_agent import MODEL, FakeBedrockAgent, citation, function_control, reference

AGENT, ALIAS = "AGENT12345", "ALIAS12345"


@pytest.fixture
async def agent(monkeypatch):
    async with FakeBedrockAgent() as fake:
        use_fake_aws(monkeypatch, BEDROCK_AGENT_RUNTIME=fake.url)
        yield fake


@pytest.fixture
def start_agent_bot(start_bot, agent):
    async def start(**overrides):
        values = {
            "backend": "bedrock-agent", "bedrock_agent_id": AGENT, "bedrock_agent_alias_id": ALIAS,
            "stream_interval_seconds": 0.1, **overrides,
        }  # fmt: skip
        return await start_bot(**values)

    return start


async def ask(bot, channel, text):
    await bot.post(channel.message(text))
    await bot.settle()


async def test_final_response_streams_with_one_session_per_conversation(start_agent_bot, agent):
    agent.chunks = [f"part{i} " for i in range(10)]
    agent.interval = 0.06
    bot = await start_agent_bot()
    channel = bot.channel()
    await ask(bot, channel, "how many leave days?")
    informative, *updates, final = bot.connector.calls
    assert informative.body["text"] == "Asking the agent…" and len(updates) >= 2
    assert final.body["text"] == " ".join(f"part{i}" for i in range(10))
    await ask(bot, channel, "and next year?")
    await ask(bot, channel, "new")
    await ask(bot, channel, "fresh start")
    first, second, third = agent.requests
    assert (first["agent"], first["alias"]) == (AGENT, ALIAS)
    assert first["streamingConfigurations"] == {"streamFinalResponse": True} and first["enableTrace"] is True
    assert first["inputText"] == "how many leave days?" and "sessionState" not in first
    assert first["session"] == second["session"] != third["session"]


async def test_knowledge_base_citations_become_numbered_sources(start_agent_bot, agent):
    handbook = reference("Staff get 25 days of leave.", "s3://hr/handbook.pdf")
    policy = reference("Unused days carry over to March.", "https://intranet.example.com/leave-policy")
    agent.chunks = ["You get 25 days.", " Unused days carry over."]
    agent.citations = {
        0: [citation("You get 25 days.", handbook)],
        1: [citation("Unused days carry over.", policy, handbook)],
    }
    bot = await start_agent_bot()
    await ask(bot, bot.channel(), "leave?")
    final = bot.connector.messages()[-1]
    assert final.body["text"] == "You get 25 days. [1] Unused days carry over. [2][1]"
    entity = next(e for e in final.body["entities"] if e.get("citation"))
    names = [c["appearance"]["name"] for c in entity["citation"]]
    assert names[0].startswith("handbook.pdf") and names[1].startswith("leave-policy")


@pytest.mark.parametrize(("side", "sentence"), [("input", "blocked this question"), ("output", "stopped this answer")])
async def test_guardrail_intervention_is_worded(start_agent_bot, agent, side, sentence):
    agent.guardrail = side
    agent.chunks = ["Sorry, the model cannot answer this."]
    bot = await start_agent_bot()
    await ask(bot, bot.channel(), "something forbidden")
    assert sentence in bot.connector.messages()[-1].body["text"]


async def test_return_of_control_is_reviewed_by_the_asker_and_the_result_sent_back(start_agent_bot, agent):
    agent.return_control = function_control("inv-1", "book_leave", {"start": ("string", "2026-12-21"),
                                                                   "days": ("integer", "3")})  # fmt: skip
    bot = await start_agent_bot()
    alice = bot.channel("groupChat", user_id="29:alice", user_name="Alice", aad_object_id="alice-oid")
    await ask(bot, alice, "book three days from the 21st")
    review = card_of(bot.connector.messages()[-1])
    inputs = {e["id"]: e for e in review["body"] if e["type"].startswith("Input.")}
    assert inputs["field_a0_start"]["value"] == "2026-12-21" and inputs["field_a0_days"]["value"] == 3
    assert "hr › book_leave" in json.dumps(review, ensure_ascii=False)
    confirm = review["actions"][0]
    data = {**confirm["data"], "field_a0_start": "2026-12-22", "field_a0_days": "3"}

    bob = bot.channel("groupChat", user_id="29:bob", user_name="Bob", aad_object_id="bob-oid")
    bob.base_id = alice.base_id  # the same group chat
    await bot.post(bob.execute(confirm["verb"], data))
    await bot.settle()
    assert "Only the person who asked" in bot.connector.messages()[-1].body["text"] and len(agent.requests) == 1

    await bot.post(alice.execute(confirm["verb"], data))
    await bot.settle()
    sent = agent.requests[-1]
    assert "inputText" not in sent and sent["session"] == agent.requests[0]["session"]
    (result,) = sent["sessionState"]["returnControlInvocationResults"]
    assert sent["sessionState"]["invocationId"] == "inv-1"
    function = result["functionResult"]
    assert (function["actionGroup"], function["function"], function["confirmationState"]) == (
        "hr",
        "book_leave",
        "CONFIRM",
    )
    assert json.loads(function["responseBody"]["TEXT"]["body"]) == {
        "confirmed_by": "user", "parameters": {"start": "2026-12-22", "days": 3}}  # fmt: skip
    assert "leave is booked" in bot.connector.messages()[-1].body.get("text", "") + json.dumps(
        bot.connector.messages()[-1].body)  # fmt: skip

    await bot.post(alice.execute(confirm["verb"], data))  # pressed twice: runs once
    await bot.settle()
    assert len(agent.requests) == 2 and "no longer waiting" in bot.connector.messages()[-1].body["text"]


@pytest.mark.parametrize(
    ("failure", "sentence"),
    [
        (Failure(429, "ThrottlingException"), "too busy"),
        (Failure(403, "AccessDeniedException"), f"bedrock:InvokeAgent on the alias {ALIAS} of agent {AGENT}"),
        (Failure(404, "ResourceNotFoundException"), "BEDROCK_AGENT_ID"),
        (Failure(424, "DependencyFailedException"), "A tool or knowledge base"),
        (Failure(409, "ConflictException"), "still working on an earlier message"),
        (Failure(400, "ValidationException"), "refused the request as invalid"),
    ],
)
async def test_errors_become_one_sentence(start_agent_bot, agent, failure, sentence):
    agent.failures = [failure] * 4
    bot = await start_agent_bot()
    await ask(bot, bot.channel(), "hello")
    text = bot.connector.messages()[-1].body["text"]
    assert sentence in text and "(reference " in text and "injected" not in text


async def test_an_error_event_inside_the_stream_is_one_sentence(start_agent_bot, agent):
    agent.stream_exception = "dependencyFailedException"
    bot = await start_agent_bot()
    await ask(bot, bot.channel(), "hello")
    text = bot.connector.messages()[-1].body["text"]
    assert "A tool or knowledge base" in text and "injected" not in text


async def test_stop_closes_the_agent_stream(start_agent_bot, agent):
    agent.chunks = [f"w{i} " for i in range(200)]
    agent.interval = 0.02
    bot = await start_agent_bot()
    await bot.post(bot.channel().message("long story"))
    await bot.connector.wait_for(lambda calls: len(calls) >= 2, timeout=10)
    bot.connector.fail_next(403, code="ContentStreamNotAllowed")
    await asyncio.wait_for(bot.settle(), timeout=20)
    await asyncio.sleep(0.3)
    assert bot.connector.messages() == [] and len(agent.chunk_times) < 150 and agent.closed_early


def test_marks_and_explanations():
    assert mark_citations("A. B.", [("B.", [2]), ("missing", [3])]) == "A. B. [2]"
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "ValidationException", "Message": "secret detail"}}, "InvokeAgent")
    assert "secret" not in explain(error, BedrockAgentConfig(agent_id=AGENT, alias_id=ALIAS)).user_message


async def test_tokens_from_the_traces_are_tallied_at_the_agents_model_price(start_agent_bot, agent):
    agent.usage = (1200, 80)
    bot = await start_agent_bot(admin_users="admin-oid")
    await ask(bot, bot.channel(), "hello")
    admin = bot.channel("personal", user_id="29:admin", user_name="Admin", aad_object_id="admin-oid")
    await ask(bot, admin, "usage")
    report = bot.connector.messages()[-1].body
    assert MODEL.split("-2024")[0] in json.dumps(report) and "1,200" in json.dumps(report)


@pytest.mark.parametrize(
    "env",
    [{"BACKEND": "bedrock-agent", "BEDROCK_AGENT_ALIAS_ID": ALIAS},
     {"BACKEND": "bedrock-agent", "BEDROCK_AGENT_ID": "my-agent-name", "BEDROCK_AGENT_ALIAS_ID": ALIAS}],
)  # fmt: skip
def test_a_missing_or_malformed_agent_id_is_one_line(monkeypatch, env):
    from services.settings import SettingsError, load_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(
        SettingsError, match=r"^Invalid setting BEDROCK_AGENT_ID: required when BACKEND is bedrock-agent"
    ):
        load_settings(_env_file=None)


async def test_a_confirmation_after_new_goes_back_to_the_session_that_asked(start_agent_bot, agent):
    agent.return_control = function_control("inv-2", "book_leave", {"days": ("integer", "1")})
    bot = await start_agent_bot()
    channel = bot.channel()
    await ask(bot, channel, "book a day off")
    confirm = card_of(bot.connector.messages()[-1])["actions"][0]
    await ask(bot, channel, "new")  # forgets the conversation (and the action the agent waits for) here
    await bot.post(channel.execute(confirm["verb"], confirm["data"]))
    await bot.settle()
    asked, answered = agent.requests
    assert answered["session"] == asked["session"] and answered["sessionState"]["invocationId"] == "inv-2"
    assert "leave is booked" in bot.connector.messages()[-1].body.get("text", "")


async def test_an_action_with_nothing_waiting_is_one_sentence_and_sends_nothing(agent):
    from services.backends import BackendError, Question
    from services.backends.bedrock_agent.backend import BedrockAgentBackend

    backend = BedrockAgentBackend(BedrockAgentConfig(agent_id=AGENT, alias_id=ALIAS, region="eu-west-1"))
    question = Question(text="", conversation_key="c", action={"pluginId": "inv-0", "payload": {}})
    with pytest.raises(BackendError, match="no longer waits for this action"):
        async for _ in backend.answer(question):
            pass
    assert agent.requests == []


async def test_cancel_sends_nothing_and_a_second_press_is_told_the_action_is_gone(start_agent_bot, agent):
    agent.return_control = function_control("inv-4", "book_leave", {"days": ("integer", "5")})
    bot = await start_agent_bot()
    channel = bot.channel()
    await ask(bot, channel, "book a week off")
    confirm, cancel = card_of(bot.connector.messages()[-1])["actions"]
    assert cancel["verb"] == "agent_action_cancel"
    response = await bot.post(channel.execute(cancel["verb"], cancel["data"]))
    assert (await response.json())["value"] == "Cancelled."
    await bot.settle()
    assert "did not send hr › book_leave back to the agent" in bot.connector.messages()[-1].body["text"]
    await bot.post(channel.execute(confirm["verb"], confirm["data"]))
    await bot.settle()
    assert "no longer waiting" in bot.connector.messages()[-1].body["text"] and len(agent.requests) == 1


def test_an_openapi_action_is_reviewed_and_answered_as_an_api_result():
    from handlers.bedrock_agent import agent_review_card
    from handlers.qbusiness import execution_of
    from services.backends.bedrock_agent.review import pending_of, results_of

    control = {"invocationId": "inv-5", "invocationInputs": [{"apiInvocationInput": {
        "actionGroup": "tickets", "apiPath": "/tickets", "httpMethod": "POST", "actionInvocationType": "RESULT",
        "parameters": [{"name": "queue", "type": "string", "value": "IT"}],
        "requestBody": {"content": {"application/json": {"properties": [
            {"name": "urgent", "type": "boolean", "value": "false"},
            {"name": "title", "type": "string", "value": "VPN"},
            {"name": "tags", "type": "array", "value": '["vpn"]'}]}}},
    }}]}  # fmt: skip
    pending = pending_of(control)
    assert pending["plugin_type"] == "tickets › POST /tickets"
    assert {f["label"]: f["type"] for f in pending["fields"].values()} == {
        "Action": "STRING", "queue": "STRING", "urgent": "BOOLEAN", "title": "STRING", "tags": "STRING"}  # fmt: skip
    assert "Amazon Q Business" not in json.dumps(agent_review_card(pending))  # a list is edited as its JSON text
    execution, problem = execution_of(pending, {"field_a0_b_urgent": "true", "field_a0_b_title": "VPN down"})
    assert problem == ""
    invocation, (result,) = results_of(control, execution)
    api = result["apiResult"]
    assert (invocation, api["actionGroup"], api["apiPath"], api["httpMethod"], api["httpStatusCode"]) == (
        "inv-5", "tickets", "/tickets", "POST", 200)  # fmt: skip
    assert "confirmationState" not in api  # a RESULT action asks for no confirmation
    body = json.loads(api["responseBody"]["application/json"]["body"])
    assert body == {"confirmed_by": "user", "parameters": {"queue": "IT", "urgent": True, "title": "VPN down",
                                                           "tags": '["vpn"]'}}  # fmt: skip
