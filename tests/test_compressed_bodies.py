"""A compressed request body on `python -m bot serve` (issue 19, third hostile pass): aiohttp inflated it on
the event loop before any handler ran, so a 1 MB unauthenticated gzip body of zeros (about 1 GB inflated)
held every conversation for 7.5 s (four at once: 12.8 s; attack/gzip_stall.py). The Bot Connector does not
compress what it posts: a compressed body gets 415 without being inflated."""

from __future__ import annotations

import asyncio
import functools
import gzip
import time
import zlib

import pytest

from bot.server import create_app
from tests.test_slow_clients import serve  # noqa: F401 - the fixture


@functools.cache
def _bomb(encoding: str) -> bytes:
    zeros = b"\0" * 200_000_000  # 200 MB inflated, about 200 KB sent
    return gzip.compress(zeros, compresslevel=1) if encoding == "gzip" else zlib.compress(zeros, 1)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_is_refused_without_being_inflated(serve, connector, make_settings, encoding):  # noqa: F811
    from entrypoints.wiring import build_local

    port = await serve(create_app(build_local(make_settings())), idle_timeout=5)
    body = _bomb(encoding)
    cpu = time.process_time()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: "
        + encoding.encode()
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    rest = await asyncio.wait_for(reader.read(300), 10)
    writer.close()
    await asyncio.sleep(0.2)  # what the server does with the rest of the body happens here, if anywhere
    spent = time.process_time() - cpu
    assert head.startswith(b"HTTP/1.1 415"), head
    assert b"compressed" in rest
    assert spent < 0.5, f"{spent:.2f} s of CPU: the body was inflated"  # inflating 200 MB takes about 1 s


async def test_an_identity_encoding_is_not_compressed(start_bot):
    bot = await start_bot()
    for encoding in ("identity", "", " Identity "):
        response = await bot.post(bot.channel().message("help"), headers={"Content-Encoding": encoding})
        assert response.status == 200, (encoding, response.status)
