"""Two of a company's agents behind one bot: an AgentCore agent and a Bedrock agent as named backends of a route
table, the user switching between them, a return of control confirmed going back to the agent that asked."""

from __future__ import annotations

from tests.conftest import card_of
from tests.fakes.bedrock_agent import function_control
from tests.test_agentcore import ARN, agentcore  # noqa: F401 - a fixture
from tests.test_bedrock_agent import agent  # noqa: F401 - a fixture

ROUTES = f"""
default = "support"
choosable = ["support", "hr"]

[backends.support]
type = "agentcore"
title = "Support agent"
settings = {{ agentcore_runtime_arn = "{ARN}" }}

[backends.hr]
type = "bedrock-agent"
title = "HR agent"
settings = {{ bedrock_agent_id = "AGENT12345", bedrock_agent_alias_id = "ALIAS12345" }}
"""


async def test_two_agents_routed_and_a_confirmed_action_goes_back_to_its_agent(start_bot, agentcore, agent, tmp_path):  # noqa: F811
    routes = tmp_path / "routes.toml"
    routes.write_text(ROUTES)
    bot = await start_bot(routes_file=routes, stream_interval_seconds=0.1)
    channel = bot.channel("groupChat")

    async def say(text: str) -> None:
        await bot.post(channel.message(text))
        await bot.settle()

    await say("my laptop is broken")
    assert len(agentcore.requests) == 1 and not agent.requests
    assert "Support agent" in str(bot.connector.messages()[-1].body)
    await say("use hr")
    agent.return_control = function_control("inv-3", "book_leave", {"days": ("integer", "2")})
    await say("book two days off")
    assert len(agent.requests) == 1 and len(agentcore.requests) == 1
    confirm = card_of(bot.connector.messages()[-1])["actions"][0]
    await say("use support")  # the conversation moves to the other agent; the action still belongs to hr
    await bot.post(channel.execute(confirm["verb"], confirm["data"]))
    await bot.settle()
    assert len(agentcore.requests) == 1
    assert agent.requests[-1]["sessionState"]["invocationId"] == "inv-3"
