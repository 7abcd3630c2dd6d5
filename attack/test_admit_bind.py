"""Fourth pass on Gateway.admit (the token checked from the head) and ChannelAuth.bind (the token against the
body): tokens replayed for other activities, claims of other types, valid tokens with bodies that then fail,
compressed and chunked bodies. Prints status per probe; flags a 5xx, a 2xx where bind should refuse, or a reply
sent to a URL other than the token's.
Run: .venv/bin/python -m pytest attack/test_admit_bind.py -q -s -p no:cacheprovider"""

from __future__ import annotations

import asyncio
import gzip
import json

from tests.test_auth import mint, secured_bot  # noqa: F401


async def _raw(bot, head: bytes, body: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.client.port)
    writer.write(head + body)
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()


async def test_admit_and_bind(secured_bot):  # noqa: F811
    bot = secured_bot
    url = bot.connector.url
    good = mint(url)
    chat = bot.channel()
    probes = []

    def message(**changes):
        activity = chat.message("help")
        activity.update(changes)
        return activity

    probes += [
        ("token for A, activity for B", message(serviceUrl="https://elsewhere.example/"), f"Bearer {good}", 401),
        ("token for A, activity url A + '/'", message(serviceUrl=url + "/"), f"Bearer {good}", 401),
        ("token for A, channel webchat", message(channelId="webchat"), f"Bearer {good}", 401),
        ("claim serviceurl list", message(), f"Bearer {mint([url])}", 401),
        ("claim serviceurl missing, body none", message(serviceUrl=None), f"Bearer {mint(None)}", 400),
        ("claim serviceurl '' body ''", message(serviceUrl=""), f"Bearer {mint('')}", 400),
        ("valid token, body not JSON", b"{not json", f"Bearer {good}", 400),
        ("valid token, body JSON list", b"[]", f"Bearer {good}", 400),
        ("valid token, body 'null'", b"null", f"Bearer {good}", 400),
        ("valid token, invalid UTF-8", b'{"type":"message","text":"\xff"}', f"Bearer {good}", 400),
        ("valid token, replayed 2nd activity", message(), f"Bearer {good}", 200),
        ("valid token, type=invoke name=../x", message(type="invoke", name="../x"), f"Bearer {good}", 501),
        ("token with nbf future 4 min", message(), f"Bearer {mint(url, nbf=__import__('time').time() + 240)}", 200),
        ("token alg none header", message(), "Bearer eyJhbGciOiJub25lIiwia2lkIjoiayJ9.e30.", 401),
        ("two spaces after Bearer", message(), f"Bearer  {good}", 401),
        ("lower-case bearer", message(), f"bearer {good}", 401),
    ]
    flags = 0
    for name, body, authorization, expected in probes:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        before = len(bot.connector.calls)
        response = await bot.post(None, {"Authorization": authorization}, raw=data)
        await bot.settle()
        calls = bot.connector.calls[before:]
        bad = response.status != expected  # 501 is the answer to an invoke the bot does not implement
        flags += bad
        text = (await response.text())[:90]
        print(
            f"{'FLAG' if bad else 'ok  '} {name:40} {response.status} (expected {expected}) {text!r} calls={len(calls)}"
        )

    body = json.dumps(message()).encode()
    heads = [
        ("gzip with valid token", b"Content-Encoding: gzip\r\n", gzip.compress(body), b"415"),
        ("deflate, no token", b"Content-Encoding: deflate\r\n", b"x" * 100, b"415"),
        ("chunked 2 MB valid token", b"Transfer-Encoding: chunked\r\n", None, b"413"),
        ("Expect 100-continue no token", b"Expect: 100-continue\r\nContent-Length: 500000\r\n", b"", b"401"),
    ]
    for name, extra, payload, expected in heads:
        auth = b"" if "no token" in name else f"Authorization: Bearer {good}\r\n".encode()
        if payload is None:
            chunk = b"a" * 65536
            payload = b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(32)) + b"0\r\n\r\n"
        elif b"Content-Length" not in extra and b"Transfer-Encoding" not in extra:
            extra += b"Content-Length: %d\r\n" % len(payload)
        head = b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth + extra + b"\r\n"
        try:
            got = (await _raw(bot, head, payload)).split(b"\r\n", 1)[0]
        except Exception as error:  # noqa: BLE001
            got = type(error).__name__.encode()
        bad = expected not in got
        flags += bad
        print(f"{'FLAG' if bad else 'ok  '} {name:40} {got!r} (expected {expected!r})")
    print(f"{flags} flagged")
