"""How fast /api/messages acknowledges, and how long until the answer reaches the connector.

Starts `python -m bot serve` (local backend over docs/) as its own process on loopback, with a fake
connector in this process, and sends N Teams-shaped messages one after the other, then C at once.
Prints p50/p95/max figures. Usage: python -m bench.ack_latency [N] [C]
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

QUESTIONS = ["which port does the bot listen on?", "how long are dedupe markers kept", "help", "tenant allow-list"]


def summary(label: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    p50, top = statistics.median(values), values[-1]
    return f"{label:<34} p50 {p50 * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms  max {top * 1000:7.2f} ms"


async def main(count: int, concurrency: int) -> None:
    async with FakeConnector() as connector, aiohttp.ClientSession() as http, running_bot(http) as url:

        async def one(i: int) -> tuple[float, float]:
            channel = TeamsChannel(connector.url)
            activity = channel.message(QUESTIONS[i % len(QUESTIONS)])
            started = time.perf_counter()
            async with http.post(url, json=activity) as response:
                assert response.status == 200, response.status
            acked = time.perf_counter() - started
            conversation = activity["conversation"]["id"]
            await connector.wait_for(
                lambda calls: any(c.type == "message" and c.conversation_id == conversation for c in calls), 60
            )
            return acked, time.perf_counter() - started

        await one(0)  # warm up: index build, first connection
        sequential = [await one(i) for i in range(count)]
        started = time.perf_counter()
        burst = await asyncio.gather(*(one(i) for i in range(concurrency)))
        burst_wall = time.perf_counter() - started
    print(f"{count} sequential messages, then {concurrency} at once (local backend over docs/, loopback connector)")
    print(summary("ack, sequential", [a for a, _ in sequential]))
    print(summary("answer delivered, sequential", [d for _, d in sequential]))
    print(summary(f"ack, {concurrency} concurrent", [a for a, _ in burst]))
    print(summary(f"answer delivered, {concurrency} concurrent", [d for _, d in burst]))
    print(f"{'burst wall time':<34} {burst_wall * 1000:.1f} ms for {concurrency} answers")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [200, 50][len(arguments) :])))
