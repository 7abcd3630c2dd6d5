"""Requests aiohttp cannot parse get a 4xx with one sentence, one WARNING line and no echo of the header."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import web

from bot.edge_http import start


async def raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /api/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"s3cret" * 4000 + b"\r\n\r\n", 431),
        (b"POST /api/messages HTTP/1.1\r\nHost: x\r\nX-" + b"a" * 20000 + b": 1\r\n\r\n", 431),
        (b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n", 400),
    ],
)
async def test_unparsable_requests_get_a_sentence_and_one_warning(caplog, request_bytes, status):
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/healthz", health)
    runner, port = await start(app, "127.0.0.1", 0)
    try:
        with caplog.at_level(logging.DEBUG):
            answer = await raw_exchange(port, request_bytes)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.split(b" ")[1] == str(status).encode()
        assert json.loads(body)["error"]["message"].endswith(".")
        assert b"s3cret" not in answer
        records = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(records) == 1 and records[0].levelno == logging.WARNING and not records[0].exc_info
        assert "s3cret" not in caplog.text
        ok = await raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200")
    finally:
        await runner.cleanup()
