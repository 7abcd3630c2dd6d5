"""Streaming latency: when does the user see text, and the final answer, relative to the model's tokens?

The bot runs as its own process (`python -m bot serve`, BACKEND=bedrock) against a loopback fake Bedrock
that speaks the real event-stream protocol: first token at t0 (after FIRST_TOKEN_DELAY), then one every
20 ms. A loopback fake connector records what reaches "Teams". Targets (issue 3): first visible text
within 1.0 s of t0, the final message within 1.0 s of the last token; fewer connector calls is better.
Usage: python -m bench.bedrock_stream [TOKENS] [RUNS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import aiohttp

from bench._bot import running_bot
from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector
from tests.fakes.bedrock import FakeBedrock

FIRST_TOKEN_DELAY = 0.5
INTERVAL = 0.02


async def _one(http, url, connector, bedrock, shape: str) -> dict[str, float]:
    connector.calls.clear()
    bedrock.token_times.clear()
    activity = TeamsChannel(connector.url, shape=shape).message("write a long answer")
    sent = time.monotonic()
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
    t0, last = bedrock.token_times[0], bedrock.token_times[-1]
    if shape == "personal":
        texts = [c for c in calls if c.type == "typing" and c.body.get("text") and c is not calls[0]]
        final = next(c for c in calls if c.type == "message")
    else:
        texts = [c for c in calls if c.method == "PUT"]
        final = [c for c in calls if c.method == "PUT"][-1]
    return {
        "status shown after send": calls[0].at - sent,
        "first text after t0": texts[0].at - t0,
        "final after last token": final.at - last,
        "connector calls": len(calls),
        "answer seconds": last - t0,
    }


async def main(tokens: int, runs: int) -> None:
    async with (
        FakeBedrock(tokens=[f"w{i} " for i in range(tokens)], first_token_delay=FIRST_TOKEN_DELAY,
                    interval=INTERVAL) as bedrock,
        FakeConnector() as connector,
        aiohttp.ClientSession() as http,
        running_bot(
            http, BACKEND="bedrock", BEDROCK_MODEL_ID="bench.model-v1", BEDROCK_REGION="us-east-1",
            AWS_ENDPOINT_URL_BEDROCK_RUNTIME=bedrock.url, AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true",
        ) as url,
    ):  # fmt: skip
        for shape in ("personal", "channel"):
            results = [await _one(http, url, connector, bedrock, shape) for _ in range(runs)]
            print(f"{shape}: {tokens} tokens, first at t0 = +{FIRST_TOKEN_DELAY}s, then every "
                  f"{INTERVAL * 1000:.0f} ms; {runs} runs (median, max)")  # fmt: skip
            for key in results[0]:
                values = [r[key] for r in results]
                unit = "" if key == "connector calls" else " s"
                print(f"  {key:<26} {statistics.median(values):8.3f}{unit}   max {max(values):8.3f}{unit}")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [250, 3][len(arguments) :])))
