"""Duplicates and crashes: every activity is answered exactly once, whatever the channel re-delivers.

- 100 conversations, each activity delivered 3 times, concurrently and sequentially: one answer each.
- The server killed (SIGKILL) between the acknowledgement and the answer, restarted on the same state: the
  re-delivered activity is answered once, after the dead worker's lease has run out.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys

import aiohttp
import pytest
from aiohttp import web

from bench._bot import wait_until_serving
from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector
from services.settings import REPO_ROOT
from tests.conftest import ScriptedBackend


async def deliver(bot, activity) -> int:
    """Deliver like the channel: when asked to retry (503 while another delivery is being accepted), retry."""
    for _ in range(50):
        response = await bot.post(activity)
        if response.status != 503:
            return response.status
        await asyncio.sleep(0.05)
    return 503


def answers_per_activity(connector: FakeConnector) -> collections.Counter[str]:
    return collections.Counter(str(c.body.get("replyToId", "")) for c in connector.messages())


@pytest.mark.parametrize("mode", ["concurrent", "sequential"])
async def test_each_activity_delivered_three_times_is_answered_once(start_bot, mode):
    backend = ScriptedBackend()
    bot = await start_bot(backend=backend, max_concurrent_turns=16)
    activities = [bot.channel(shape).message("hello") for shape in ("personal", "groupChat", "channel") * 34][:100]
    if mode == "concurrent":
        statuses = await asyncio.gather(*(deliver(bot, a) for a in activities for _ in range(3)))
    else:
        statuses = [await deliver(bot, a) for _ in range(3) for a in activities]
    assert set(statuses) == {200}
    await bot.settle()
    counts = answers_per_activity(bot.connector)
    assert {a["id"]: counts[a["id"]] for a in activities} == {a["id"]: 1 for a in activities}
    assert len(backend.questions) == 100


class HoldingConnector(FakeConnector):
    """A fake connector that, while `holding`, keeps requests waiting and then refuses them unrecorded (what
    the bot sent before it was killed never arrives)."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = True
        self.held = 0
        self.let_go = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        if self.holding:
            self.held += 1
            await self.let_go.wait()
            return web.json_response({"error": {"code": "Gone"}}, status=503)
        return await super()._handle(request)


def start_server(port: int, state_db: str) -> subprocess.Popen:
    """`python -m bot serve` with a 2 s turn limit and a 1 s lease margin (short leases for the test)."""
    code = (
        "import sys, bot.worker as worker; worker.LEASE_MARGIN_SECONDS = 1; "
        "from entrypoints.local import serve; sys.exit(serve())"
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PORT": str(port), "STATE_DB": state_db,
                   "TURN_TIMEOUT_SECONDS": "2", "LOG_LEVEL": "WARNING"}  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code], env=environment, stdout=subprocess.DEVNULL)


async def test_killed_between_ack_and_answer_the_redelivery_is_answered_once(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url, state_db = f"http://127.0.0.1:{port}/api/messages", str(tmp_path / "state.db")
    async with HoldingConnector() as connector, aiohttp.ClientSession() as http:
        activity = TeamsChannel(connector.url).message("help")
        first = start_server(port, state_db)
        try:
            await wait_until_serving(http, port, 30)
            async with http.post(url, json=activity) as response:
                assert response.status == 200  # acknowledged
            for _ in range(100):  # the turn is running: its first call to the connector is waiting
                if connector.held:
                    break
                await asyncio.sleep(0.05)
            assert connector.held
        finally:
            first.send_signal(signal.SIGKILL)  # no cleanup, no release: a crash
            first.wait(timeout=30)
        connector.holding = False
        connector.let_go.set()
        second = start_server(port, state_db)
        try:
            await wait_until_serving(http, port, 30)
            async with http.post(url, json=activity) as response:  # within the dead worker's lease
                assert response.status == 200
            await asyncio.sleep(1.0)
            assert connector.messages() == []  # not answered twice while the lease may still be alive
            await asyncio.sleep(2.5)  # the lease (2 s turn limit + 1 s margin) has run out
            for _ in range(3):  # the channel re-delivers; then re-delivers again
                async with http.post(url, json=activity) as response:
                    assert response.status in (200, 503)
                await asyncio.sleep(0.3)
            await connector.wait_for_messages(1, timeout=20)
            await asyncio.sleep(1.0)
            assert [c.body.get("replyToId") for c in connector.messages()] == [activity["id"]]
        finally:
            second.terminate()
            second.wait(timeout=30)
