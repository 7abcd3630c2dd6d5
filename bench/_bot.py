"""Run `python -m bot serve` as its own process on a free loopback port, for the benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from services.settings import REPO_ROOT


async def wait_until_serving(http: aiohttp.ClientSession, port: int, seconds: float) -> None:
    """Return when GET /healthz on the loopback `port` answers; raise RuntimeError after `seconds`."""
    for _ in range(int(seconds * 10)):
        try:
            async with http.get(f"http://127.0.0.1:{port}/healthz"):
                return
        except aiohttp.ClientError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"the server did not start within {seconds:g} s")


@contextlib.asynccontextmanager
async def running_bot(
    http: aiohttp.ClientSession, *, module: str = "bot", args: tuple[str, ...] = ("serve",), **env: str
) -> AsyncIterator[str]:
    """Start `python -m <module> <args>` (the bot by default) with the extra environment `env`, PORT and a
    throw-away state file; wait for its /healthz; yield its messaging URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        environment = {
            **os.environ, "PYTHONPATH": str(REPO_ROOT), "PORT": str(port), "LOG_LEVEL": "WARNING",
            "STATE_DB": str(Path(folder) / "state.db"),
            "BOT_SERVICE_HOSTS": "http://127.0.0.1",  # replies go to the fake connector on loopback
            **env,
        }  # fmt: skip
        server = subprocess.Popen([sys.executable, "-m", module, *args], env=environment, stdout=subprocess.DEVNULL)
        try:
            await wait_until_serving(http, port, 15)
            yield f"http://127.0.0.1:{port}/api/messages"
        finally:
            server.terminate()
            server.wait(timeout=30)
