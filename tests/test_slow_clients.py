"""Slowloris on `python -m bot serve` (issue 19 item 6), on real loopback sockets, bounded in count and time:
a half-sent request head is cut off, an idle connection too, a slow body gets 408, connections over the cap get
one 503 and are closed, and running out of descriptors is one log line a minute."""

from __future__ import annotations

import asyncio
import errno
import logging
import time

import pytest
from aiohttp import web

import bot.edge_http as edge_http
import bot.server as server_module
from bot.edge_http import start
from bot.server import create_app


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.fixture
async def serve():
    runners = []

    async def run(app: web.Application | None = None, **options) -> int:
        if app is None:
            app = web.Application()
            app.router.add_get("/healthz", _health)
        runner, port = await start(app, "127.0.0.1", 0, **options)
        runners.append(runner)
        return port

    yield run
    for runner in runners:
        await runner.cleanup()


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> float:
    """Read until the server closes the connection; return how long that took (fails after `seconds`)."""
    started = time.monotonic()
    while await asyncio.wait_for(reader.read(1024), seconds):
        pass
    return time.monotonic() - started


async def test_a_request_head_sent_byte_by_byte_is_cut_off(serve):
    port = await serve(idle_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /api/messages HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:  # a header byte every 50 ms, never the blank line
        for _ in range(200):
            writer.write(b"X")
            await asyncio.sleep(0.05)

    trickling = asyncio.create_task(trickle())
    try:
        assert await _closed_within(reader, 5) < 3  # before: open for as long as the client liked (an hour)
    finally:
        trickling.cancel()
        writer.close()


async def test_an_idle_connection_is_closed_after_the_short_keep_alive(serve):
    port = await serve(idle_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    assert await _closed_within(reader, 5) < 3
    writer.close()


async def test_a_slow_body_gets_408(serve, monkeypatch, connector, make_settings):
    from entrypoints.wiring import build_local

    monkeypatch.setattr(server_module, "BODY_TIMEOUT_SECONDS", 0.5)
    port = await serve(create_app(build_local(make_settings())), idle_timeout=5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    body = await asyncio.wait_for(reader.read(200), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 408") and b"not received within" in body


async def test_a_body_announced_too_large_gets_413_at_once_and_a_client_leaving_logs_no_error(
    serve, connector, make_settings, caplog
):
    # attack19: `Content-Length: 10^18` held the connection for the whole body timeout (20 s) before any
    # answer, and a client closing mid-body logged an ERROR with a traceback (aiohttp's "Error handling request").
    from entrypoints.wiring import build_local

    port = await serve(create_app(build_local(make_settings())), idle_timeout=5)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000000\r\n\r\n{")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    writer.close()
    assert head.startswith(b"HTTP/1.1 413")

    with caplog.at_level(logging.INFO):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        await asyncio.sleep(0.3)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_connections_over_the_cap_get_503_and_are_closed_while_the_rest_are_served(serve):
    port = await serve(idle_timeout=2, max_connections=20)
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(20)]
    await asyncio.sleep(0.1)
    refused = []
    for _ in range(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        refused.append(await asyncio.wait_for(reader.read(), 5))
        writer.close()
    assert all(answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 2" in answer for answer in refused)
    for _, writer in idle[:5]:  # five leave: five others are served
        writer.close()
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 200")
    for _, writer in idle[5:]:
        writer.close()


def test_the_cap_stays_below_the_descriptor_limit():
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert edge_http.connection_cap(10**9) <= max(16, soft // 2)


def test_running_out_of_descriptors_is_one_line_a_minute(caplog, monkeypatch):
    monkeypatch.setattr(edge_http, "_out_of_descriptors", edge_http._EveryMinute("out of descriptors (%d)"))
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.DEBUG):
            for _ in range(100):  # asyncio reports it every second while it lasts
                edge_http._quiet_descriptor_exhaustion(
                    loop, {"message": "socket.accept() out of system resource", "exception": OSError(errno.EMFILE, "")}
                )
    finally:
        loop.close()
    assert [r.getMessage() for r in caplog.records] == ["out of descriptors (1)"]
