"""The two agent backends on the deployed path: ingress Lambda (HTTP API v2 event) → SQS FIFO and DynamoDB (moto's
server on loopback) → chat worker Lambda → the agent (loopback fakes of InvokeAgentRuntime and InvokeAgent) → the
fake Bot Connector."""

from __future__ import annotations

import json

import pytest

from bot.emulator.activities import TeamsChannel
from services.settings import Settings
from tests.cfn import load_template, resource
from tests.conftest import card_of
from tests.fakes.agentcore import FakeAgentCore, strands_events
from tests.fakes.bedrock_agent import FakeBedrockAgent, function_control
from tests.test_agentcore import ARN
from tests.test_lambda import call, deployed, drain, http_event, moto_url  # noqa: F401 - fixtures


@pytest.fixture
async def on_agentcore(deployed, monkeypatch):  # noqa: F811
    async with FakeAgentCore() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", fake.url)
        monkeypatch.setenv("BACKEND", "agentcore")
        monkeypatch.setenv("AGENTCORE_RUNTIME_ARN", ARN)
        yield deployed, fake


@pytest.fixture
async def on_bedrock_agent(deployed, monkeypatch):  # noqa: F811
    async with FakeBedrockAgent() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME", fake.url)
        monkeypatch.setenv("BACKEND", "bedrock-agent")
        monkeypatch.setenv("BEDROCK_AGENT_ID", "AGENT12345")
        monkeypatch.setenv("BEDROCK_AGENT_ALIAS_ID", "ALIAS12345")
        yield deployed, fake


async def ask(aws, activity) -> None:
    assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
    assert await drain(aws, "chat") == 1


async def test_agentcore_answers_through_the_queue_and_keeps_its_session_in_dynamodb(on_agentcore):
    aws, agentcore = on_agentcore
    connector = aws["connector"]
    agentcore.chunks = strands_events(["Economy ", "class ", "under ", "6 hours."], input_tokens=30, output_tokens=4)
    channel = TeamsChannel(connector.url, shape="channel")
    await ask(aws, channel.message("travel policy?"))
    assert card_of(connector.messages()[-1])["body"][0]["text"] == "Economy class under 6 hours."
    await ask(aws, channel.message("and trains?"))
    first, second = agentcore.requests
    assert first["session_id"] == second["session_id"] and len(first["session_id"]) >= 33
    assert first["user_id"] == channel.aad_object_id and first["payload"]["prompt"] == "travel policy?"


async def test_bedrock_agent_return_of_control_is_confirmed_through_the_queue(on_bedrock_agent):
    aws, agent = on_bedrock_agent
    connector = aws["connector"]
    agent.return_control = function_control("inv-7", "book_leave", {"days": ("integer", "2")})
    channel = TeamsChannel(connector.url)
    await ask(aws, channel.message("book two days off"))
    review = card_of(connector.messages()[-1])
    confirm = review["actions"][0]
    response = await call(aws["ingress"].handler, http_event(channel.execute(confirm["verb"], confirm["data"])))
    assert response["statusCode"] == 200
    assert await drain(aws, "chat") == 1
    results = agent.requests[-1]["sessionState"]["returnControlInvocationResults"]
    assert results[0]["functionResult"]["confirmationState"] == "CONFIRM"
    assert agent.requests[-1]["session"] == agent.requests[0]["session"]
    assert "leave is booked" in connector.messages()[-1].body.get("text", "")


def _statements(function: str) -> list:
    return [s for policy in resource(function)["Policies"] for s in policy["Statement"]]


def test_the_template_grants_each_agent_only_its_named_runtime_or_alias_and_nothing_when_empty():
    template = load_template()
    guarded = {s["Fn::If"][0]: s["Fn::If"][1] for s in _statements("ChatWorkerFunction") if "Fn::If" in s}
    runtime = guarded["AgentCoreWithRole"]
    assert runtime["Action"] == ["bedrock-agentcore:InvokeAgentRuntime", "bedrock-agentcore:InvokeAgentRuntimeForUser"]
    assert runtime["Resource"] == [
        {"Ref": "AgentCoreRuntimeArn"}, {"Fn::Sub": "${AgentCoreRuntimeArn}/runtime-endpoint/${AgentCoreQualifier}"}
    ]  # fmt: skip
    alias = guarded["HasBedrockAgent"]
    assert alias["Action"] == "bedrock:InvokeAgent" and "*" not in json.dumps(alias["Resource"])
    assert alias["Resource"]["Fn::Sub"].endswith(":agent-alias/${BedrockAgentId}/${BedrockAgentAliasId}")
    assert guarded["HasRoutedAgentRuntimes"]["Resource"] == {"Ref": "RoutedAgentRuntimeArns"}  # named backends
    assert guarded["HasRoutedAgentAliases"] == {
        "Effect": "Allow", "Action": "bedrock:InvokeAgent", "Resource": {"Ref": "RoutedAgentAliasArns"}}  # fmt: skip
    for condition, parameter in (("HasRoutedAgentRuntimes", "RoutedAgentRuntimeArns"),
                                 ("HasRoutedAgentAliases", "RoutedAgentAliasArns")):  # fmt: skip
        empty = {"Fn::Equals": [{"Fn::Join": ["", {"Ref": parameter}]}, ""]}
        assert template["Conditions"][condition] == {"Fn::Not": [empty]}  # nothing granted when empty
    conditions = json.dumps({k: template["Conditions"][k] for k in ("AgentCoreWithRole", "HasBedrockAgent")})
    for parameter in ("AgentCoreRuntimeArn", "BedrockAgentId", "BedrockAgentAliasId"):
        assert json.dumps({"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}) in conditions
    assert not any("bedrock-agentcore" in json.dumps(s) or "InvokeAgent" in json.dumps(s)
                   for f in ("IngressFunction", "AnalyticsWorkerFunction", "DeadLetterFunction")
                   for s in _statements(f))  # fmt: skip
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    for name in ("AGENTCORE_RUNTIME_ARN", "AGENTCORE_QUALIFIER", "AGENTCORE_AUTH", "AGENTCORE_OAUTH_CONNECTION",
                 "BEDROCK_AGENT_ID", "BEDROCK_AGENT_ALIAS_ID"):  # fmt: skip
        assert name.lower() in Settings.model_fields and name in variables
    assert {"agentcore", "bedrock-agent"} <= set(template["Parameters"]["Backend"]["AllowedValues"])
