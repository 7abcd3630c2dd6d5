# ruff: noqa: E501
"""Item 4: the Lambda ingress with a DynamoDB endpoint that accepts connections and never answers (a stalled
store), and one that refuses them. Bounded: the ingress call is abandoned after 40 s.
Run: .venv/bin/python -m pytest attack/test_store_stall.py -q -s -p no:cacheprovider"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from bot.emulator.activities import TeamsChannel
from tests.test_lambda import call, deployed, http_event, moto_url  # noqa: F401


def _silent_server() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])  # never answers
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1]


async def test_stalled_and_refusing_store(deployed, monkeypatch):  # noqa: F811
    aws = deployed
    server, port = _silent_server()
    for name, url in (("refusing", "http://127.0.0.1:1"), ("stalled", f"http://127.0.0.1:{port}")):
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", url)
        monkeypatch.setattr(aws["ingress"], "_ingress", None)
        started = time.perf_counter()
        try:
            response = await asyncio.wait_for(
                call(aws["ingress"].handler, http_event(TeamsChannel(aws["connector"].url).message("hi"))), 40
            )
            result = (response["statusCode"], response.get("body", "")[:100])
        except TimeoutError:
            result = "no answer within 40 s"
        print(f"\n{name} store: {result} after {time.perf_counter() - started:.1f} s")
    server.close()
