"""The two agent backends through `python -m bot serve` as its own process (as `make run` starts it), against
the loopback fakes of InvokeAgentRuntime and InvokeAgent: settings from the environment, the real boto3 clients,
the answer streamed to the fake Bot Connector."""

from __future__ import annotations

import aiohttp
import pytest

from bench._bot import running_bot
from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector
from tests.fakes.agentcore import FakeAgentCore, strands_events
from tests.fakes.bedrock_agent import FakeBedrockAgent
from tests.test_agentcore import ARN

AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
       "AWS_DEFAULT_REGION": "eu-west-1"}  # fmt: skip


@pytest.mark.parametrize("backend", ["agentcore", "bedrock-agent"])
async def test_an_agent_answers_through_the_served_bot(backend):
    words = [f"w{i} " for i in range(40)]
    if backend == "agentcore":
        fake = FakeAgentCore(chunks=strands_events(words), interval=0.01)
        env = {"BACKEND": "agentcore", "AGENTCORE_RUNTIME_ARN": ARN, "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": ""}
        endpoint = "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"
    else:
        fake = FakeBedrockAgent(chunks=words, interval=0.02)
        env = {"BACKEND": "bedrock-agent", "BEDROCK_AGENT_ID": "AGENT12345", "BEDROCK_AGENT_ALIAS_ID": "ALIAS12345"}
        endpoint = "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME"
    async with fake, FakeConnector() as connector, aiohttp.ClientSession() as http:
        env[endpoint] = fake.url
        async with running_bot(http, STREAM_INTERVAL_SECONDS="0.1", **AWS, **env) as url:
            activity = TeamsChannel(connector.url).message("tell me about leave")
            async with http.post(url, json=activity) as response:
                assert response.status == 200
            await connector.wait_for(lambda calls: any(c.type == "message" for c in calls), timeout=60)
    informative, *updates, final = connector.calls
    assert informative.body["text"] == "Asking the agent…" and updates  # streamed, not one whole answer
    assert final.body["text"] == "".join(words).strip()
    assert len(fake.requests) == 1
