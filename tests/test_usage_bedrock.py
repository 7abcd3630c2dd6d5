"""Bedrock's usage report and prompt caching, with the real boto3 client against the loopback Bedrock fake."""

from __future__ import annotations

import contextlib

import pytest

from services.backends import FinalAnswer, Question, TextDelta, TokenUsage, collect_unfinished_usage
from services.backends.bedrock import BedrockBackend, BedrockConfig
from tests import test_bedrock

bedrock = test_bedrock.bedrock  # the loopback Bedrock fixture, shared

CACHING_MODEL = "eu.anthropic.claude-sonnet-4-20250514-v1:0"
PLAIN_MODEL = "mistral.mistral-large-2402-v1:0"


def backend(model: str = CACHING_MODEL, **config) -> BedrockBackend:
    return BedrockBackend(BedrockConfig(model_id=model, region="eu-west-1", max_attempts=1, **config))


async def final_of(answering: BedrockBackend, question: Question) -> FinalAnswer:
    return [e async for e in answering.answer(question) if isinstance(e, FinalAnswer)][0]


def question(text: str = "hello", state: dict | None = None) -> Question:
    return Question(text=text, conversation_key="c1", user_id="u1", state=state or {})


@pytest.mark.parametrize("streaming", [True, False])
async def test_usage_is_reported_streamed_and_whole(bedrock, streaming):
    final = await final_of(backend(PLAIN_MODEL, streaming=streaming), question())
    reported = bedrock.usages[-1]
    assert final.usage == TokenUsage(input_tokens=reported["inputTokens"], output_tokens=4)
    assert final.usage.input_tokens > 0 and "cacheReadInputTokens" not in reported


async def test_a_guardrail_blocked_turn_still_reports_its_usage(bedrock):
    bedrock.stop_reason = "guardrail_intervened"
    bedrock.tokens = ["Sorry, I cannot help with that."]
    final = await final_of(backend(PLAIN_MODEL, guardrail_id="g1", guardrail_version="1"), question())
    assert final.blocked and final.usage is not None and final.usage.output_tokens == 1


async def test_a_stopped_stream_reports_an_estimate_to_the_collector(bedrock):
    bedrock.tokens = ["word " * 20] * 5
    bedrock.interval = 0.05
    with collect_unfinished_usage() as unfinished:
        async with contextlib.aclosing(backend(PLAIN_MODEL).answer(question("x" * 400))) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    break  # what the handler does when the user presses Stop
    ((usage, model),) = unfinished
    assert model == PLAIN_MODEL and usage.estimated
    assert usage.output_tokens == 25 and usage.input_tokens >= 100  # 100 characters shown; 400 asked


async def test_cache_points_follow_the_system_prompt_and_the_kept_history(bedrock):
    answering = backend()
    first = await final_of(answering, question("first question"))
    request = bedrock.requests[-1]
    assert request["system"][-1] == {"cachePoint": {"type": "default"}}
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0

    second = await final_of(answering, question("second question", first.state))
    request = bedrock.requests[-1]
    *history, asked = request["messages"]
    assert history[-1]["content"][-1] == {"cachePoint": {"type": "default"}}
    assert asked["content"] == [{"text": "second question"}]
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens  # the system prompt, from the cache
    assert second.usage.cache_write_tokens > 0  # the first exchange, written for the next turn

    third = await final_of(answering, question("third question", second.state))
    history = bedrock.requests[-1]["messages"][:-1]
    assert [len(m["content"]) for m in history] == [1, 2, 1, 2]  # after the previous turn's history, and the whole
    assert third.usage.cache_read_tokens == second.usage.cache_read_tokens + second.usage.cache_write_tokens


@pytest.mark.parametrize(("model", "setting"), [(CACHING_MODEL, False), (PLAIN_MODEL, True)])
async def test_no_cache_points_when_turned_off_or_unsupported(bedrock, model, setting):
    await final_of(backend(model, prompt_caching=setting), question())
    request = bedrock.requests[-1]
    blocks = request["system"] + [b for m in request["messages"] for b in m["content"]]
    assert not any("cachePoint" in block for block in blocks)
