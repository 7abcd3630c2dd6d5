"""Duplicates and crashes: every activity is answered exactly once, whatever the channel re-delivers.

- 100 conversations, each activity delivered 3 times, concurrently and sequentially: one answer each.
- The server killed (SIGKILL) between the acknowledgement and the answer, restarted on the same state: the
  kept job is resumed at start-up and answered once, with no re-delivery (Teams sends none after a 200);
  re-deliveries on top of it change nothing. Killed at other points (the "…" placeholder sent, an update
  sent): one answer, and the placeholder of the killed attempt is closed.
"""

from __future__ import annotations

import asyncio
import collections
import json
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
    """A fake connector that lets the first `hold_at` - 1 calls through, then, while `holding`, keeps requests
    waiting and refuses them unrecorded (what the bot sent after that point before it was killed never arrives)."""

    def __init__(self, hold_at: int = 1) -> None:
        super().__init__()
        self.hold_at = hold_at
        self.seen = 0
        self.holding = True
        self.held = 0
        self.let_go = asyncio.Event()

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen += 1
        if self.holding and self.seen >= self.hold_at:
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
                   "TURN_TIMEOUT_SECONDS": "2", "LOG_LEVEL": "WARNING", "KNOWLEDGE_DIR": str(REPO_ROOT / "docs"),
                   "STREAM_INTERVAL_SECONDS": "0.2", "BOT_SERVICE_HOSTS": "http://127.0.0.1"}  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code], env=environment, stdout=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def killed_while_held(http, connector: HoldingConnector, port: int, state_db: str, activity: dict) -> None:
    """Start the server, deliver `activity` (200), wait until the connector holds a call, SIGKILL the server."""
    url = f"http://127.0.0.1:{port}/api/messages"
    first = start_server(port, state_db)
    try:
        await wait_until_serving(http, port, 30)
        async with http.post(url, json=activity) as response:
            assert response.status == 200  # acknowledged
        for _ in range(200):  # the turn is running: a call to the connector is waiting
            if connector.held:
                break
            await asyncio.sleep(0.05)
        assert connector.held
    finally:
        first.send_signal(signal.SIGKILL)  # no cleanup, no release: a crash
        first.wait(timeout=30)
    connector.holding = False
    connector.let_go.set()


def final_texts(connector: FakeConnector) -> dict[str, str]:
    """Return what each message the bot sent finally shows (posts, then their in-place edits), by message id."""
    shown: dict[str, str] = {}
    for call in connector.calls:
        if call.type != "message":
            continue
        key = call.activity_id if call.method == "PUT" else call.body["id"]
        shown[key] = json.dumps(call.body)
    return shown


async def test_killed_between_ack_and_answer_the_kept_job_is_answered_once_at_restart(tmp_path):
    port, state_db = free_port(), str(tmp_path / "state.db")
    url = f"http://127.0.0.1:{port}/api/messages"
    async with HoldingConnector() as connector, aiohttp.ClientSession() as http:
        activity = TeamsChannel(connector.url).message("help")
        await killed_while_held(http, connector, port, state_db, activity)
        second = start_server(port, state_db)
        try:
            await wait_until_serving(http, port, 30)
            await connector.wait_for_messages(1, timeout=20)  # resumed at start-up: no re-delivery needed
            for _ in range(3):  # a channel that re-delivers anyway changes nothing
                async with http.post(url, json=activity) as response:
                    assert response.status in (200, 503)
                await asyncio.sleep(0.3)
            await asyncio.sleep(1.0)
            assert [c.body.get("replyToId") for c in connector.messages()] == [activity["id"]]
        finally:
            second.terminate()
            second.wait(timeout=30)


@pytest.mark.parametrize(("shape", "hold_at"), [("personal", 2), ("groupChat", 2)])
async def test_killed_mid_answer_the_restart_closes_the_placeholder_and_answers_once(tmp_path, shape, hold_at):
    """Killed after the "…" (or the Teams stream) went out: the restarted server ends it with "interrupted;
    retrying…" and the answer is the only answer on screen."""
    port, state_db = free_port(), str(tmp_path / "state.db")
    async with HoldingConnector(hold_at) as connector, aiohttp.ClientSession() as http:
        activity = TeamsChannel(connector.url, shape=shape).message("how long are dedupe markers kept?")
        await killed_while_held(http, connector, port, state_db, activity)
        assert len(connector.calls) == hold_at - 1  # the placeholder reached Teams, then the process died
        second = start_server(port, state_db)
        try:
            await wait_until_serving(http, port, 30)
            await connector.wait_for(lambda calls: any("DEDUPE_TTL_SECONDS" in json.dumps(c.body) for c in calls
                                                       if c.type == "message"), timeout=30)  # fmt: skip
            await asyncio.sleep(1.0)
        finally:
            second.terminate()
            second.wait(timeout=30)
    shown = final_texts(connector)
    answers = [text for text in shown.values() if "DEDUPE_TTL_SECONDS" in text]
    assert len(answers) == 1
    interrupted = [text for text in shown.values() if "interrupted" in text]
    if shape == "groupChat":  # the dead attempt's "…" was edited to say so
        assert len(interrupted) == 1 and connector.calls[0].body["id"] in shown
        assert "interrupted" in shown[connector.calls[0].body["id"]]
    else:  # the dead attempt's stream was ended with a final activity
        (ended,) = [c for c in connector.calls if "interrupted" in json.dumps(c.body)]
        info = ended.body["entities"][0]
        assert info["streamType"] == "final" and info["streamId"] == connector.calls[0].body["id"]
    assert all(json.loads(text).get("text") != "…" for text in shown.values())  # no "…" left on screen
