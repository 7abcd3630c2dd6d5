"""Streaming latency of the agent backends: when does the user see text, and the final answer, relative to the
agent's chunks? Bedrock (ConverseStream) runs in the same process as the reference.

Each backend runs the bot as its own process (`python -m bot serve`) against a loopback fake that speaks the
real wire: AgentCore's InvokeAgentRuntime answering Server-Sent Events as a Strands agent deployed by the starter
toolkit does (each text delta twice, as a raw model event and as a `data` event), Bedrock Agents' InvokeAgent in
the AWS event-stream framing with streamFinalResponse (a trace event, then the chunks), and Bedrock's
ConverseStream. The first text chunk arrives at t0 (after FIRST_CHUNK_DELAY), then one every 20 ms. A loopback
fake connector records what reaches "Teams". Goal (issue 20): first visible text within 1.0 s of t0.
Usage: python -m bench.agents_stream [CHUNKS] [RUNS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack

import aiohttp

from bench._bot import running_bot
from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector
from tests.fakes.agentcore import FakeAgentCore, strands_events
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.bedrock_agent import FakeBedrockAgent

FIRST_CHUNK_DELAY = 0.5
INTERVAL = 0.02
GOAL = 1.0
ARN = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/bench_agent-AbCdE12345"
AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true",
       "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


async def _one(http, url, connector, text_times: Callable[[], list[float]], clear: Callable[[], None], shape: str):
    connector.calls.clear()
    clear()
    activity = TeamsChannel(connector.url, shape=shape).message("write a long answer")
    async with http.post(url, json=activity) as response:
        assert response.status == 200
    conversation = activity["conversation"]["id"]

    def done(calls) -> bool:
        mine = [c for c in calls if c.conversation_id == conversation]
        if shape == "personal":
            return any(c.type == "message" for c in mine)
        return any(c.method == "PUT" and c.body.get("attachments") for c in mine)

    await connector.wait_for(done, timeout=120)
    calls = [c for c in connector.calls if c.conversation_id == conversation]
    times = text_times()
    t0, last = times[0], times[-1]
    if shape == "personal":
        texts = [c for c in calls if c.type == "typing" and c.body.get("text") and c is not calls[0]]
        final = next(c for c in calls if c.type == "message")
    else:
        texts = [c for c in calls if c.method == "PUT"]
        final = texts[-1]
    return {"first text after t0": texts[0].at - t0, "final after last chunk": final.at - last,
            "connector calls": len(calls)}  # fmt: skip


async def _fake(name: str, chunks: int):
    """Return (the fake, its bot's settings, the times of its text chunks, a function clearing them)."""
    words = [f"w{i} " for i in range(chunks)]
    if name == "bedrock (reference)":
        fake = FakeBedrock(tokens=words, first_token_delay=FIRST_CHUNK_DELAY, interval=INTERVAL)
        await fake.start()
        settings = {"BACKEND": "bedrock", "BEDROCK_MODEL_ID": "bench.model-v1", "BEDROCK_REGION": "us-east-1",
                    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fake.url}  # fmt: skip
        return fake, settings, lambda: fake.token_times, fake.token_times.clear
    if name == "agentcore":
        events = strands_events(words, input_tokens=100, output_tokens=chunks)
        # Strands sends every delta twice (raw event, then `data`): both count as chunks, so the two of a word
        # are INTERVAL apart; t0 is the first `data` event, the text the gateway shows.
        fake = FakeAgentCore(chunks=events, first_chunk_delay=FIRST_CHUNK_DELAY, interval=INTERVAL / 2)
        await fake.start()
        shown = [i for i, e in enumerate(events) if isinstance(e, dict) and isinstance(e.get("data"), str)]
        settings = {
            "BACKEND": "agentcore",
            "AGENTCORE_RUNTIME_ARN": ARN,
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE": fake.url,
        }
        return fake, settings, lambda: [fake.chunk_times[i] for i in shown], fake.chunk_times.clear
    fake = FakeBedrockAgent(chunks=words, first_chunk_delay=FIRST_CHUNK_DELAY, interval=INTERVAL, usage=(100, chunks))
    await fake.start()
    settings = {"BACKEND": "bedrock-agent", "BEDROCK_AGENT_ID": "AGENT12345", "BEDROCK_AGENT_ALIAS_ID": "ALIAS12345",
                "AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME": fake.url}  # fmt: skip
    return fake, settings, lambda: fake.chunk_times, fake.chunk_times.clear


async def main(chunks: int, runs: int) -> None:
    print(f"{chunks} text chunks, the first at t0 = +{FIRST_CHUNK_DELAY}s, then every {INTERVAL * 1000:.0f} ms; "
          f"{runs} runs per shape (median, max); goal: first text within {GOAL:.1f} s of t0")  # fmt: skip
    medians: dict[tuple[str, str], float] = {}
    for name in ("bedrock (reference)", "agentcore", "bedrock-agent"):
        async with AsyncExitStack() as stack:
            connector = await stack.enter_async_context(FakeConnector())
            http = await stack.enter_async_context(aiohttp.ClientSession())
            fake, settings, text_times, clear = await _fake(name, chunks)
            stack.push_async_callback(fake.stop)
            url = await stack.enter_async_context(running_bot(http, **AWS, **settings))
            for shape in ("personal", "channel"):
                results = [await _one(http, url, connector, text_times, clear, shape) for _ in range(runs)]
                print(f"{name}, {shape}:")
                for key in results[0]:
                    values = [r[key] for r in results]
                    unit = "" if key == "connector calls" else " s"
                    print(f"  {key:<24} {statistics.median(values):8.3f}{unit}   max {max(values):8.3f}{unit}")
                medians[(name, shape)] = statistics.median(r["first text after t0"] for r in results)
    print("first text after t0, median, against the Bedrock reference in this run:")
    for (name, shape), value in medians.items():
        reference = medians[("bedrock (reference)", shape)]
        verdict = "meets" if value <= GOAL else "MISSES"
        print(
            f"  {name:<20} {shape:<9} {value:6.3f} s  ratio {value / reference:5.2f}  {verdict} the {GOAL:.1f} s goal"
        )


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    started = time.monotonic()
    asyncio.run(main(*(arguments + [250, 3][len(arguments) :])))
    print(f"({time.monotonic() - started:.0f} s; the machine is shared with other developers' work)")
