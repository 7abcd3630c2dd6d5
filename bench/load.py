"""Load: 2,000 activities across 200 conversations at concurrency 50, against `python -m bot serve` (local
backend over docs/, SQLite state, the fake connector on loopback) and, in the same run, against Microsoft's
echo bot sample (bench/_echo_bot.py) under the same load.

Prints, for each: 5xx count, lost replies (activities with no answering message at the connector after the
wait), duplicate answers, ack p50/p99, and replies per second (answers delivered / time from first send to
last answer); then our ack p99 as a ratio to the echo bot's (goal <= 1.2x).
Usage: python -m bench.load [activities] [conversations] [concurrency]   (make bench)
"""

from __future__ import annotations

import asyncio
import collections
import statistics
import sys
import time
from dataclasses import dataclass

import aiohttp

from bench._bot import running_bot
from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector

QUESTIONS = ["which port does the bot listen on?", "how long are dedupe markers kept", "help", "tenant allow-list"]


@dataclass
class Run:
    label: str
    acks: list[float]
    statuses: collections.Counter[int]
    answered: int
    duplicates: int
    sent: int
    wall: float

    def line(self) -> str:
        acks = sorted(self.acks)
        p99 = acks[min(len(acks) - 1, int(len(acks) * 0.99))]
        errors = sum(n for status, n in self.statuses.items() if status >= 500)
        return (
            f"{self.label:<28} 5xx {errors:>4}  lost {self.sent - self.answered:>4}  duplicates {self.duplicates:>3}  "
            f"ack p50 {statistics.median(acks) * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
            f"replies/s {self.answered / self.wall:7.1f}"
        )

    @property
    def p99(self) -> float:
        acks = sorted(self.acks)
        return acks[min(len(acks) - 1, int(len(acks) * 0.99))]


async def load(label: str, url: str, http: aiohttp.ClientSession, connector: FakeConnector,
               activities: int, conversations: int, concurrency: int) -> Run:  # fmt: skip
    """Send the load to `url` and wait (up to 120 s) for one answering message per activity."""
    connector.calls.clear()
    channels = [TeamsChannel(connector.url) for _ in range(conversations)]
    plan = [(channels[i % conversations], QUESTIONS[i % len(QUESTIONS)]) for i in range(activities)]
    gate = asyncio.Semaphore(concurrency)
    acks: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    sent_ids: set[str] = set()

    async def one(channel: TeamsChannel, text: str) -> None:
        activity = channel.message(text)
        sent_ids.add(activity["id"])
        async with gate:
            started = time.perf_counter()
            try:
                async with http.post(url, json=activity) as response:
                    await response.read()
                    statuses[response.status] += 1
            except aiohttp.ClientError:
                statuses[599] += 1
            acks.append(time.perf_counter() - started)

    def answers() -> collections.Counter[str]:
        return collections.Counter(
            str(c.body.get("replyToId") or c.activity_id) for c in connector.calls if c.type == "message"
        )

    started = time.perf_counter()
    await asyncio.gather(*(one(channel, text) for channel, text in plan))
    try:
        await connector.wait_for(lambda calls: len(set(answers()) & sent_ids) >= activities, 120)
    except TimeoutError:
        pass
    wall = time.perf_counter() - started
    await asyncio.sleep(1.0)  # late duplicates would arrive now
    counted = answers()
    answered = len(set(counted) & sent_ids)
    duplicates = sum(n - 1 for key, n in counted.items() if key in sent_ids and n > 1)
    return Run(label, acks, statuses, answered, duplicates, activities, wall)


async def main(activities: int, conversations: int, concurrency: int) -> None:
    limits = aiohttp.TCPConnector(limit=concurrency)
    async with FakeConnector() as connector, aiohttp.ClientSession(connector=limits) as http:
        async with running_bot(http, MAX_CONCURRENT_TURNS="64") as url:
            await load("warm-up", url, http, connector, 50, 10, 10)
            ours = await load("gateway (python -m bot serve)", url, http, connector, activities, conversations,
                              concurrency)  # fmt: skip
        async with running_bot(http, module="bench._echo_bot", args=()) as url:
            await load("warm-up", url, http, connector, 50, 10, 10)
            echo = await load("botbuilder echo sample", url, http, connector, activities, conversations, concurrency)
    print(f"{activities} activities across {conversations} conversations at concurrency {concurrency}, loopback")
    print(ours.line())
    print(echo.line())
    print(f"ack p99 ratio, gateway / echo sample: {ours.p99 / echo.p99:.2f}x (goal <= 1.2x)")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:4]]
    asyncio.run(main(*(arguments + [2000, 200, 50][len(arguments) :])))
