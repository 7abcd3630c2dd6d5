# ruff: noqa: F811, E501
"""The third pass's inputs through the real Lambda entries (moto on loopback): a feedback comment nested past
the parser's depth, an unknown reaction, a gzip body, thousands of attachments, a 400-digit monitor floor.
Prints each status, time and the last reply.
Run: .venv/bin/python -m pytest attack/test_lambda_third_pass.py -q -s -p no:cacheprovider"""

from __future__ import annotations

import gzip
import json
import time

from bot.emulator.activities import TeamsChannel
from tests.test_lambda import call, deployed, drain, http_event, moto_url  # noqa: F401


async def test_third_pass_inputs(deployed):
    aws, connector = deployed, deployed["connector"]
    chat = TeamsChannel(connector.url)
    deep = chat.feedback("like", reply_to="1")
    deep["value"]["actionValue"]["feedback"] = "[" * 50_000
    many = chat.message("summarise")
    for i in range(2_000):
        chat.with_file(many, f"m{i}.mp4", "https://x.sharepoint.com/m.mp4")
    cases = [
        ("feedback comment [ x 50,000", http_event(deep)),
        ("unknown reaction press", http_event(chat.execute("feedback", {"reaction": "love"}))),
        ("gzip body (200 MB inflated)", http_event(gzip.compress(b"\0" * 200_000_000, 1), base64_body=True,
                                                   headers={"content-encoding": "gzip"})),  # fmt: skip
        ("2,000 attachments", http_event(many)),
        ("monitor floor of 400 digits", http_event(chat.message("monitor metrics p.csv auc<" + "9" * 400 + " every hour"))),
    ]  # fmt: skip
    for name, event in cases:
        started = time.perf_counter()
        response = await call(aws["ingress"].handler, event)
        took = time.perf_counter() - started
        before = len(connector.calls)
        await drain(aws, "chat", rounds=5)
        await drain(aws, "analytics", rounds=5)
        last = connector.calls[-1].body if len(connector.calls) > before else {}
        shown = last.get("text") or json.dumps(last.get("attachments", ""))[:150]
        print(f"{name:32} -> {response['statusCode']} {took:5.2f}s {(response.get('body') or '')[:70]!r} | "
              f"{len(connector.calls) - before} replies, last {len(json.dumps(last))} B: {shown[:110]!r}")  # fmt: skip
