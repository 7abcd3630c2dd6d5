"""The state store (DynamoDB) fails in the middle of a turn inside the Lambda worker (issue 19, fourth hostile
pass): the user gets exactly one answer and no "something went wrong" around it.

A loopback proxy between the Lambda entries and moto's DynamoDB answers ProvisionedThroughputExceeded from the
worker's k-th request on, until the invocation ends; SQS redelivers after its visibility timeout, when the
`running` lease (shortened here to 1 s) has run out. Before: with the store failing after the answer, the user
saw the answer, "Sorry, something went wrong", "This answer was interrupted" and the answer again (the model
called twice); failing before the answer, "Sorry, something went wrong" came before the retry's answer."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

import bot.worker
from bot.emulator.activities import TeamsChannel
from tests.aws import poll_once
from tests.test_lambda import call, deployed, drain, http_event, moto_url  # noqa: F401

THROTTLED = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "Rate"}


class FailingStoreProxy:
    """Forwards DynamoDB requests to moto; from the `fail_from`-th request on, answers throttling."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.count, self.fail_from = upstream, 0, None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.count += 1
        if self.fail_from is not None and self.count >= self.fail_from:
            return web.json_response(THROTTLED, status=400, content_type="application/x-amz-json-1.0")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession() as session, session.post(self.upstream, data=body, headers=headers) as up:
            data = await up.read()
            return web.Response(status=up.status, body=data, content_type="application/x-amz-json-1.0")


# The worker's DynamoDB requests for this question: 1 takes the running lease, 2-4 read state before the answer,
# 5 and later record it after the answer (history, usage, completion).
@pytest.mark.parametrize("k", [2, 5, 6])
async def test_a_store_failing_mid_turn_gives_one_answer_and_no_error_sentence(deployed, moto_url, monkeypatch, k):  # noqa: F811
    monkeypatch.setattr(bot.worker, "LEASE_MARGIN_SECONDS", 1 - 20)  # TURN_TIMEOUT_SECONDS=20: a 1 s lease
    aws, connector = deployed, deployed["connector"]
    proxy = FailingStoreProxy(moto_url)
    app = web.Application()
    app.router.add_post("/", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("QUEUE_VISIBILITY_TIMEOUT_SECONDS", "1")
    try:
        activity = TeamsChannel(connector.url).message("how long are dedupe markers kept?")
        assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
        proxy.count, proxy.fail_from = 0, k
        await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], aws["worker"].handler)
        proxy.fail_from = None
        await asyncio.sleep(1.5)  # the visibility timeout, and the lease, run out
        await drain(aws, "chat")
        texts = [call.body.get("text", "") for call in connector.calls if call.type == "message"]
        assert sum("STATE_DB" in text for text in texts) == 1, texts
        assert not any("went wrong" in text or "interrupted" in text for text in texts), texts
    finally:
        await runner.cleanup()
