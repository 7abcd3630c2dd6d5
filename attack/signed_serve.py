# ruff: noqa: E501, SIM115
"""Signed hostile activities against the real `python -m bot serve` server (bench/_signed_bot.py: auth on, a
loopback OpenID issuer, the fake Bot Connector in this process). Each probe is posted once; the script
prints the HTTP status, the time, the replies the connector got within a few seconds (count, largest size,
first words), and /healthz's latency right after. The server's log goes to /tmp/a19c/serve.log; at the end
it is searched for forged lines and tracebacks.

Run: .venv/bin/python attack/signed_serve.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import aiohttp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._bot import running_bot  # noqa: E402
from bot.emulator.activities import TeamsChannel  # noqa: E402
from bot.emulator.connector import FakeConnector  # noqa: E402
from tests.test_auth import APP_ID, OpenIdServer, mint  # noqa: E402

FORGED = "2026-12-07 00:00:00,000 ERROR forged.line ADMIN GRANTED"


def probes(url: str):
    """(name, activity or raw bytes, expected 'ok' statuses)"""
    ch = lambda **kw: TeamsChannel(url, **kw)  # noqa: E731
    out = []

    def add(name, body):
        out.append((name, body))

    a = ch().message("help")
    a["text"] = "x" * 40_000
    add("text at 40,000 chars", a)
    a = ch().message("help")
    a["text"] = "y" * 40_001
    add("text at 40,001 chars", a)
    a = ch().message("hello")
    a["from"]["name"] = "Eve\n" + FORGED
    add("log injection in from.name", a)
    a = ch().message("hello")
    a["id"] = "1\n" + FORGED
    add("log injection in activity id", a)
    a = ch(shape="groupChat").message("hello")
    a["conversation"]["id"] = "19:x@thread.v2\n" + FORGED
    add("log injection in conversation id", a)
    a = ch().message("x")
    a["text"] = "\u202e\u2066" * 10_000 + "help"
    add("bidi overrides x20,000 + help", a)
    a = ch().message("x")
    a["text"] = "\U0001f600" * 20_000
    add("20,000 astral emoji", a)
    a = ch().message("x")
    a["text"] = "a\u0301" * 20_000
    add("combining marks 40,000", a)
    a = ch().message("x")
    a["text"] = "\x00\x1b[31m" * 5_000 + "help"
    add("NUL and ANSI escapes", a)
    a = ch().message("help")
    a["value"] = {"n": 1e308 * 10}
    add("value with Infinity", json.dumps(a).encode())
    a = ch().message("help")
    add("value NaN literal", json.dumps(a).encode()[:-1] + b',"value":{"x":NaN}}')
    add("5,000-digit int", json.dumps(ch().message("help")).encode()[:-1] + b',"value":' + b"9" * 5000 + b"}")
    add("1e999999 float", json.dumps(ch().message("help")).encode()[:-1] + b',"value":1e999999}')
    a = ch().message("help")
    deep = {}
    cur = deep
    for _ in range(60):
        cur["a"] = {}
        cur = cur["a"]
    a["value"] = deep
    add("value nested 62 deep (limit 64)", a)
    a = ch().message("help")
    deep = []
    for _ in range(70):
        deep = [deep]
    a["value"] = deep
    add("value nested 71 deep", a)
    a = ch().message("help")
    a["entities"] = [{"type": "mention", "text": "<at>x</at>", "mentioned": {"id": "28:gateway-bot"}}] * 20_000
    add("20,000 mention entities", a)
    a = ch().execute("qbusiness_confirm", {"x": "y" * 500_000})
    add("execute confirm with 500 KB data", a)
    a = ch().execute("\n" + FORGED, {})
    add("execute verb with newline", a)
    a = ch().execute("feedback", {"reaction": "like" * 10_000, "id": ["x"] * 1000})
    add("execute feedback with odd types", a)
    a = ch().execute("slow_down", {"seconds": 1e308})
    add("forged slow_down press 1e308", a)
    a = ch().execute("slow_down", {"seconds": "nan"})
    add("forged slow_down press 'nan'", a)
    a = ch()._base("invoke")
    a["name"] = "adaptiveCard/action"
    a["value"] = "not an object"
    add("card action value is a string", a)
    a = ch()._base("invoke")
    a["name"] = "adaptiveCard/action"
    a["value"] = {"action": ["x"]}
    add("card action action is a list", a)
    a = ch()._base("invoke")
    a["name"] = "fileConsent/invoke"
    a["value"] = {
        "type": "fileUpload",
        "action": "accept",
        "uploadInfo": {"uploadUrl": "http://169.254.169.254/latest/meta-data/", "contentUrl": "http://127.0.0.1:22/"},
    }
    add("fileConsent accept to metadata host", a)
    a = ch()._base("invoke")
    a["name"] = "composeExtension/queryLink"
    a["value"] = {"url": "http://169.254.169.254/"}
    add("link unfurl to metadata host", a)
    a = ch()._base("invoke")
    a["name"] = "signin/tokenExchange"
    a["value"] = {"id": "x" * 100_000, "connectionName": "y" * 100_000, "token": "z" * 100_000}
    add("tokenExchange 300 KB of ids", a)
    a = ch()._base("invoke")
    a["name"] = "signin/verifyState"
    a["value"] = {"state": "1" * 100_000}
    add("verifyState 100 KB state", a)
    a = ch()._base("invoke")
    a["name"] = "message/submitAction"
    a["replyToId"] = "1"
    a["value"] = {"actionName": "feedback", "actionValue": {"reaction": "like", "feedback": "[" * 50_000}}
    add("feedback comment = 50,000 '['", a)
    a = ch()._base("invoke")
    a["name"] = "message/submitAction"
    a["replyToId"] = "1"
    a["value"] = {
        "actionName": "feedback",
        "actionValue": {"reaction": "like", "feedback": json.dumps({"feedbackText": "q" * 300_000})},
    }
    add("feedback comment of 300 KB", a)
    a = ch().bot_added()
    a["membersAdded"] = [{"id": f"29:{i}"} for i in range(20_000)]
    add("conversationUpdate 20,000 members", a)
    a = ch()._base("messageReaction")
    a["reactionsAdded"] = [{"type": "like"}] * 20_000
    add("20,000 reactions", a)
    a = ch().message("hello")
    a["serviceUrl"] = "http://169.254.169.254/"
    add("serviceUrl differs from token claim", a)
    a = ch().message("hello")
    a["channelData"]["tenant"] = {"id": ["a", "b"]}
    add("tenant id is a list", a)
    a = ch().message("hello")
    a["from"] = "bob"
    add("from is a string", a)
    a = ch().message("hello")
    a["attachments"] = [{"contentType": "text/html", "content": "<img src=x onerror=alert(1)>" * 1000}]
    add("html attachment", a)
    a = ch().message("hello")
    a["attachments"] = [{"contentType": "image/png", "contentUrl": "http://169.254.169.254/latest/"}]
    add("inline image contentUrl internal", a)
    a = ch().message("hello")
    a["text"] = "<at>Gateway</at> " * 2000
    add("2,000 mentions of the bot", a)
    a = ch().message("hello")
    a["textFormat"] = "xml"
    a["text"] = "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;'>]><x>&b;</x>"
    add("XML entity text", a)
    a = ch().message("hello")
    a["locale"] = "x" * 100_000
    add("locale of 100 KB", a)
    a = ch().message("hello")
    a["timestamp"] = "9999-99-99T99:99:99Z"
    add("bad timestamp", a)
    a = ch().message("hello")
    a["replyToId"] = "r" * 100_000
    add("replyToId of 100 KB", a)
    a = ch().message("hello")
    a["channelId"] = "MSTEAMS"
    add("channelId upper case", a)
    a = ch().message("hello")
    a["channelId"] = "webchat"
    add("channelId webchat on msteams key", a)
    return out


async def main() -> None:
    log_path = "/tmp/a19c/serve.log"
    with OpenIdServer() as openid:
        async with FakeConnector() as connector, aiohttp.ClientSession() as http:
            env = {"MICROSOFT_APP_ID": APP_ID, "MICROSOFT_APP_PASSWORD": "not-used", "BOT_OPENID_METADATA_URL": openid.url,
                   "LOG_LEVEL": "INFO", "LOG_FORMAT": "text", "BACKEND": "local"}  # fmt: skip
            stderr = open(log_path, "w")  # noqa: SIM115
            os.dup2(stderr.fileno(), 2)  # the server inherits this process's stderr
            async with running_bot(http, module="bench._signed_bot", args=(), **env) as url:
                token = mint(connector.url)
                health = url.replace("/api/messages", "/healthz")
                for name, body in probes(connector.url):
                    data = body if isinstance(body, bytes) else json.dumps(body).encode()
                    before = len(connector.calls)
                    started = time.monotonic()
                    try:
                        async with http.post(url, data=data, headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                                             timeout=aiohttp.ClientTimeout(total=30)) as response:  # fmt: skip
                            status, text = response.status, (await response.text())[:80]
                    except Exception as error:  # noqa: BLE001
                        status, text = type(error).__name__, ""
                    took = time.monotonic() - started
                    await asyncio.sleep(1.5)
                    h0 = time.monotonic()
                    async with http.get(health) as r:
                        await r.read()
                    hl = time.monotonic() - h0
                    calls = connector.calls[before:]
                    biggest = max((len(json.dumps(c.body)) for c in calls), default=0)
                    first = ""
                    if calls:
                        b = calls[-1].body
                        first = (b.get("text") or json.dumps(b.get("attachments", ""))[:200])[:100]
                    flag = (
                        "FLAG"
                        if (
                            isinstance(status, str)
                            or status >= 500
                            or hl > 1
                            or biggest > 80_000
                            or "went wrong" in first
                        )
                        else "ok  "
                    )
                    print(
                        f"{flag} {name:36} {status} {took:5.2f}s {text!r:.60} | {len(calls)} calls max {biggest} B {first!r:.80} | healthz {hl:.2f}s",
                        flush=True,
                    )
    log = open(log_path, errors="replace").read()
    forged = [line for line in log.splitlines() if line.startswith(FORGED[:10]) and "forged.line" in line]
    print("forged log lines:", len(forged), forged[:3])
    print("tracebacks in log:", log.count("Traceback"))


asyncio.run(main())
