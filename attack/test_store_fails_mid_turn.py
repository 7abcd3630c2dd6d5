"""Fourth pass: DynamoDB fails in the middle of a turn inside the Lambda worker. An aiohttp proxy sits between
the ingress/worker and moto's DynamoDB (AWS_ENDPOINT_URL_DYNAMODB); from the k-th DynamoDB request of the
worker on, it answers 400 ProvisionedThroughputExceeded (botocore retries it), or 500. Then it passes again
and the queue is drained (SQS's redelivery). Per k: what the worker returned, how many answers the user got,
and whether any text sent to Teams holds exception text.

Run: .venv/bin/python -m pytest attack/test_store_fails_mid_turn.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp import web

from bot.emulator.activities import TeamsChannel
from tests.aws import poll_once
from tests.test_lambda import call, deployed, drain, http_event, moto_url  # noqa: F401

LEAK = ("Traceback", "Exception", "botocore", "ClientError", "ProvisionedThroughput", "dynamodb", "Error:")


class Proxy:
    def __init__(self, upstream: str) -> None:
        self.upstream, self.count, self.fail_from, self.mode, self.ops = upstream, 0, None, "throttle", []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        op = request.headers.get("X-Amz-Target", "").split(".")[-1]
        self.count += 1
        self.ops.append(op)
        if self.fail_from is not None and self.count >= self.fail_from:
            if self.mode == "stall":  # accepts, answers nothing within botocore's read timeout
                await asyncio.sleep(12)
                return web.Response(status=500, text="{}")
            if self.mode == "throttle":
                payload = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                           "message": "Rate exceeded"}  # fmt: skip
                return web.json_response(payload, status=400, content_type="application/x-amz-json-1.0")
            return web.Response(status=500, text="{}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with aiohttp.ClientSession() as session, session.post(self.upstream, data=body, headers=headers) as up:
            data = await up.read()
            return web.Response(
                status=up.status, body=data, headers={"Content-Type": up.headers.get("Content-Type", "")}
            )


@pytest.mark.parametrize("mode", ["throttle", "500"])
async def test_store_fails_from_the_kth_request_of_the_worker(deployed, moto_url, monkeypatch, mode):  # noqa: F811
    aws, connector = deployed, deployed["connector"]
    proxy = Proxy(moto_url)
    app = web.Application()
    app.router.add_post("/", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    report = []
    try:
        for k in range(1, 16):
            chat = TeamsChannel(connector.url)
            activity = chat.message("how long are dedupe markers kept?")
            proxy.fail_from, proxy.mode = None, mode
            assert (await call(aws["ingress"].handler, http_event(activity)))["statusCode"] == 200
            before = len(connector.calls)
            proxy.count, proxy.ops = 0, []
            proxy.fail_from = k
            count, answer = await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], aws["worker"].handler)
            ops = list(proxy.ops)
            proxy.fail_from = None
            await asyncio.sleep(0)
            # SQS redelivers what failed (poll_once made it visible again); a lease may still hold it
            for _ in range(4):
                await drain(aws, "chat")
            mine = [c for c in connector.calls[before:] if c.conversation_id == activity["conversation"]["id"]]
            texts = [json.dumps(c.body) for c in mine if c.type == "message"]
            answers = sum("DEDUPE_TTL_SECONDS" in t for t in texts)
            leaked = [t[:160] for t in texts if any(word in t for word in LEAK)]
            left = aws["sqs"].get_queue_attributes(QueueUrl=aws["chat"], AttributeNames=["All"])["Attributes"]
            flag = "FLAG" if answers != 1 or leaked else "ok  "
            line = (f"{flag} k={k:2} first-try failures={answer.get('batchItemFailures')} answers={answers} "
                    f"messages={len(texts)} queue={left['ApproximateNumberOfMessages']}/"
                    f"{left['ApproximateNumberOfMessagesNotVisible']} ops={ops[:k + 1]} leaked={leaked[:1]} "
                    f"texts={[json.loads(t).get('text', '')[:70] for t in texts]}")  # fmt: skip
            print(line)
            report.append(line)
            if k > len(ops):
                break
    finally:
        await runner.cleanup()
    print("\n".join(report))


@pytest.mark.parametrize("mode", ["throttle", "stall"])
@pytest.mark.parametrize("k", [2, 5, 6])
async def test_the_retry_after_the_lease_runs_out(deployed, moto_url, monkeypatch, k, mode):  # noqa: F811
    """As SQS times it: the store is down from the worker's k-th request until the invocation ends, then up again;
    the redelivery comes after the visibility timeout, when the lease (shortened here to 1 s) has run out."""
    import bot.worker

    monkeypatch.setattr(bot.worker, "LEASE_MARGIN_SECONDS", 1 - 20)  # TURN_TIMEOUT_SECONDS=20 -> a 1 s lease
    aws, connector = deployed, deployed["connector"]
    proxy = Proxy(moto_url)
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
        proxy.count, proxy.fail_from, proxy.mode = 0, k, mode
        started = time.monotonic()
        _, first = await asyncio.to_thread(poll_once, aws["sqs"], aws["chat"], aws["worker"].handler)
        proxy.fail_from = None
        await asyncio.sleep(1.5)
        await drain(aws, "chat")
        texts = [c.body.get("text", "")[:60] for c in connector.calls if c.type == "message"]
        print(f"{mode} k={k} first attempt {time.monotonic() - started:.1f} s {first} messages={texts}")
        assert sum("STATE_DB" in t for t in texts) == 1, texts
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("k", [1, 2, 3])
async def test_the_ingress_with_the_store_failing_from_its_kth_request(deployed, moto_url, monkeypatch, k):  # noqa: F811
    """The Lambda ingress: the store fails from its k-th request (k=2: after `accepting` was written and the job
    sent to SQS, the `queued` write fails); Teams delivers again after its 503 until the store is back."""
    aws, connector = deployed, deployed["connector"]
    proxy = Proxy(moto_url)
    app = web.Application()
    app.router.add_post("/", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}")
    try:
        activity = TeamsChannel(connector.url).message("how long are dedupe markers kept?")
        proxy.count, proxy.fail_from = 0, k
        statuses = [(await call(aws["ingress"].handler, http_event(activity)))["statusCode"]]
        proxy.fail_from = None
        for _ in range(8):  # Teams retries a 503
            if statuses[-1] != 503:
                break
            await asyncio.sleep(1)
            statuses.append((await call(aws["ingress"].handler, http_event(activity)))["statusCode"])
        await drain(aws, "chat")
        texts = [c.body.get("text", "")[:50] for c in connector.calls if c.type == "message"]
        print(f"ingress k={k} statuses={statuses} ops={proxy.ops} messages={texts}")
        assert sum("STATE_DB" in t for t in texts) == 1, (statuses, texts)
    finally:
        await runner.cleanup()
