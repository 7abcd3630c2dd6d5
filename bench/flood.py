"""Another user's answer latency while one user floods the bot, against the quiet baseline (issue 19, item 7).

In one process: the real ingress and worker behind the in-process queue (aiohttp on loopback, SQLite state in
a temporary folder), a backend that takes DELAY seconds per answer (a model's time), MAX_CONCURRENT_TURNS=4,
and the fake Bot Connector. One user posts FLOOD messages spread over 48 group chats as fast as 32
connections of its own process allow; after its first 100, another user asks one question. Printed: that
user's time to answer, quiet and during the flood, for (a) the defaults (token buckets, a bound on waiting
turns, round-robin), (b) round-robin alone (no buckets, no bound) and (c) first-in first-out with no
limits (the queue before).
Goal: (a) within 1.5x the quiet baseline. Usage: python -m bench.flood [FLOOD] [DELAY]
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

import handlers.queues as queues
from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector
from bot.server import create_app
from entrypoints.wiring import build_local
from services.backends import FinalAnswer, TextDelta
from services.settings import REPO_ROOT, load_settings


class TimedBackend:
    """Answers every question after `delay` seconds."""

    name, status_text, max_input_chars = "timed", "Thinking…", 4000

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def answer(self, question: Any):
        await asyncio.sleep(self.delay)
        yield TextDelta(text="An answer.")
        yield FinalAnswer(text="An answer.", backend=self.name)


async def victim_latency(client: TestClient, connector: FakeConnector) -> float:
    channel = TeamsChannel(connector.url, shape="groupChat", user_id="29:victim")
    activity = channel.message("my one question")
    started = time.perf_counter()
    async with client.post("/api/messages", json=activity) as response:
        assert response.status == 200
    conversation = activity["conversation"]["id"]
    await connector.wait_for(
        lambda calls: any(c.conversation_id == conversation and "An answer" in str(c.body) for c in calls), 600
    )
    return time.perf_counter() - started


async def scenario(flood: int, delay: float, **settings: Any) -> tuple[float, float]:
    """Return (median quiet latency of 3, latency during the flood) for one configuration."""
    with tempfile.TemporaryDirectory() as folder:
        values = {"state_db": Path(folder) / "state.db", "knowledge_dir": REPO_ROOT / "docs",
                  "max_concurrent_turns": 4, "stream_interval_seconds": 0.05,
                  "bot_service_hosts": "http://127.0.0.1", **settings}  # fmt: skip
        async with FakeConnector() as connector:
            gateway = build_local(load_settings(_env_file=None, **values), backend=TimedBackend(delay))
            async with TestClient(TestServer(create_app(gateway))) as client:
                quiet = statistics.median([await victim_latency(client, connector) for _ in range(3)])
                # The flooder is its own process (as a real one is): its HTTP client does not share this loop.
                url = f"http://127.0.0.1:{client.server.port}/api/messages"
                flooder = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.flood", "--flooder", url, connector.url, str(flood),
                    cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip
                await flooder.stdout.readline()  # the flooder has posted its first 100 messages

                during = await victim_latency(client, connector)
                await flooder.wait()
                await gateway.queue.drain(0.1)
    return quiet, during


async def flooder(url: str, service_url: str, flood: int) -> None:
    """Post `flood` messages from one user over 48 group chats through 32 connections."""
    import aiohttp

    chats = [TeamsChannel(service_url, shape="groupChat", user_id="29:flooder") for _ in range(48)]
    posts = iter(range(flood))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:

        async def worker() -> None:
            for i in posts:
                async with http.post(url, json=chats[i % 48].message(f"q{i}")) as response:
                    await response.read()
                if i == 100:
                    print("flooding", flush=True)

        await asyncio.gather(*(worker() for _ in range(32)))


async def main(flood: int, delay: float) -> None:
    print(f"one user posts {flood} messages over 48 group chats; answers take {delay:g} s; 4 turns at once")
    print("(the machine is shared with other developers' work: figures vary between runs)")
    defaults = load_settings(_env_file=None)
    limits = {"user_turns_per_minute": defaults.user_turns_per_minute, "user_turn_burst": defaults.user_turn_burst,
              "max_queued_turns_per_user": defaults.max_queued_turns_per_user}  # fmt: skip
    off = {"user_turns_per_minute": 0, "tenant_turns_per_minute": 0, "max_queued_turns_per_user": 0}
    rows = [("(a) defaults: buckets, bound, round-robin", limits, False),
            ("(b) round-robin only", off, False), ("(c) FIFO, no limits (before)", off, True)]  # fmt: skip
    for label, settings, fifo in rows:
        with contextlib.ExitStack() as stack:
            if fifo:  # every job one sender: the round-robin degenerates into arrival order
                original = queues.fairness_key
                queues.fairness_key = lambda job: ""
                stack.callback(setattr, queues, "fairness_key", original)
            quiet, during = await scenario(flood, delay, **settings)
        print(f"{label:<44} quiet {quiet:6.2f} s  during the flood {during:7.2f} s  ratio {during / quiet:6.2f}x"
              f"{'  (goal <= 1.5x)' if label.startswith('(a)') else ''}")  # fmt: skip


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments and arguments[0] == "--flooder":
        asyncio.run(flooder(arguments[1], arguments[2], int(arguments[3])))
        sys.exit(0)
    asyncio.run(main(int(arguments[0]) if arguments else 960, float(arguments[1]) if len(arguments) > 1 else 1.0))
