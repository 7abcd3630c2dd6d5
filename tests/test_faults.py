"""Faults: the backend throttling, failing, timing out, resetting mid-stream or denying access; the Bot
Connector answering 429 (with and without Retry-After, in seconds or as an HTTP date), 502, 503, 504, refusing
connections or never answering. The user gets an answer or one clear sentence, nothing runs past a stated
bound, and the log has the reference id of every failure."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from email.utils import formatdate

import pytest
from aiohttp import web

from bot.auth import ChannelAuth
from bot.connector import BotConnector
from bot.emulator.loopback import LoopbackServer
from bot.server import create_app
from entrypoints.wiring import build_local
from tests.conftest import Bot
from tests.fakes.bedrock import Failure, FakeBedrock
from tests.test_bedrock import MODEL

BOUND_SECONDS = 15.0  # the stated bound: every turn below ends (answered or explained) within this
REFERENCE = re.compile(r"\(reference ([0-9a-f]{8})\)")


@pytest.fixture
async def bedrock(monkeypatch):
    async with Resetting() as fake:
        for name, value in {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fake.url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1", "AWS_EC2_METADATA_DISABLED": "true",
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield fake


class Resetting(FakeBedrock):
    """FakeBedrock that can also drop the connection in the middle of a stream (`reset_after` tokens)."""

    reset_after: int | None = None

    async def _converse_stream(self, request: web.Request) -> web.StreamResponse:
        if self.reset_after is None:
            return await super()._converse_stream(request)
        await self._record(request)
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
        await response.prepare(request)
        from tests.fakes.bedrock import event

        await response.write(event("messageStart", {"role": "assistant"}))
        for token in self.tokens[: self.reset_after]:
            await response.write(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}}))
        request.transport.abort()  # a connection reset mid-stream
        return response


@pytest.fixture
def start_fault_bot(connector, aiohttp_client, make_settings):
    """A bot whose connector client has short limits (0.5 s per call, 3 s in all), so faults end quickly."""

    async def start(**overrides) -> Bot:
        settings = make_settings(stream_interval_seconds=0.2, **overrides)
        client_side = BotConnector(ChannelAuth(settings), timeout_seconds=0.5, budget_seconds=3.0, base_delay=0.05)
        gateway = build_local(settings, connector=client_side)
        return Bot(await aiohttp_client(create_app(gateway)), gateway, connector)

    return start


async def run_one(bot: Bot, activity: dict) -> float:
    started = time.monotonic()
    assert (await bot.post(activity)).status == 200
    await asyncio.wait_for(bot.settle(), BOUND_SECONDS)
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("failures", "reset_after", "delay", "answered", "words"),
    [
        ([Failure(429, "ThrottlingException")] * 5, None, 0, False, "busy"),
        ([Failure(500, "InternalServerException")] * 5, None, 0, False, ""),
        ([Failure(503, "ServiceUnavailableException")] * 5, None, 0, False, ""),
        ([Failure(429, "ThrottlingException"), Failure(502, "BadGateway")], None, 0, True, ""),
        ([Failure(403, "AccessDeniedException", "User is not authorized to perform bedrock:InvokeModel")], None, 0,
         False, "bedrock:InvokeModel"),
        ([], None, 5, False, "in time"),
        ([], 3, 0, False, ""),
    ],
    ids=["throttled", "5xx", "503", "throttled-then-ok", "access-denied", "timeout", "reset-mid-stream"],
)  # fmt: skip
async def test_backend_faults_give_an_answer_or_one_sentence_in_bounded_time(
    start_fault_bot, bedrock, caplog, failures, reset_after, delay, answered, words
):
    bedrock.failures, bedrock.reset_after, bedrock.first_token_delay = list(failures), reset_after, delay
    bedrock.tokens = [f"word{i} " for i in range(10)]
    bot = await start_fault_bot(backend="bedrock", bedrock_model_id=MODEL, bedrock_region="eu-west-1",
                                bedrock_max_attempts=3, bedrock_timeout_seconds=1.0)  # fmt: skip
    elapsed = await run_one(bot, bot.channel().message("hello"))
    assert elapsed < BOUND_SECONDS
    final = bot.connector.messages()[-1].body["text"]
    if answered:
        assert "word9" in final or "Hello" in final
        return
    assert len(bot.connector.messages()) == 1  # one sentence, not a flood
    match = REFERENCE.search(final)
    assert match and words.lower() in final.lower(), final
    assert match.group(1) in caplog.text  # the operator finds the failure by the id the user quotes


@pytest.mark.parametrize(
    "headers",
    [{}, {"Retry-After": "1"}, {"Retry-After": formatdate(time.time() + 1, usegmt=True)}, {"Retry-After": "junk"}],
    ids=["no-retry-after", "seconds", "http-date", "unparsable"],
)
async def test_connector_429_is_retried_and_the_answer_arrives(start_fault_bot, headers):
    bot = await start_fault_bot()
    bot.connector.fail_next(429, times=2, headers=headers)
    await run_one(bot, bot.channel("groupChat").message("help"))
    assert len(bot.connector.rejected) == 2 and len(bot.connector.messages()) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_connector_5xx_is_retried_and_the_answer_arrives(start_fault_bot, status):
    bot = await start_fault_bot()
    bot.connector.fail_next(status, times=2)
    await run_one(bot, bot.channel("groupChat").message("help"))
    assert len(bot.connector.messages()) == 1


class Silent(LoopbackServer):
    """A connector that accepts connections and never answers (until the test lets go)."""

    def __init__(self) -> None:
        self.let_go = asyncio.Event()

    async def stop(self) -> None:
        self.let_go.set()
        await super().stop()

    def routes(self, app: web.Application) -> None:
        async def hang(request: web.Request) -> web.Response:
            await self.let_go.wait()
            return web.Response(status=503)

        app.router.add_route("*", "/{tail:.*}", hang)


@pytest.mark.parametrize("kind", ["refused", "never-answers", "always-503"])
async def test_an_unreachable_connector_ends_the_turn_in_bounded_time_with_a_reference(start_fault_bot, caplog, kind):
    """`make run`: the in-process queue never retries, so every run is the final attempt. The turn's own error
    policy no longer swallows a channel outage (that completed the job with nothing shown, and behind SQS lost
    the retry): it reaches the worker, which gives up with a reference id and completes the record. Behind a
    queue that retries, the job is released instead (the tests below)."""
    caplog.set_level(logging.INFO)
    bot = await start_fault_bot(backend="local")
    async with Silent() as silent:
        channel = bot.channel("groupChat")
        activity = channel.message("which port does the bot listen on?")
        if kind == "refused":
            activity["serviceUrl"] = "http://127.0.0.1:9/"  # the discard port: nothing listens there
        elif kind == "never-answers":
            activity["serviceUrl"] = silent.url + "/"
        else:
            bot.connector.fail_next(503, times=100)
        elapsed = await run_one(bot, activity)
    assert elapsed < BOUND_SECONDS
    assert bot.connector.messages() == []
    assert re.search(r"job failed for good ref=[0-9a-f]{8}", caplog.text), "the worker gave up, with a reference id"
    assert "turn failed ref=" not in caplog.text  # not answered by the turn's error policy: nothing reached Teams


# The Bot Connector down after its own retries, in a worker behind a queue that retries (SQS): the job is
# released and raised, never completed with nothing shown (the user would get no answer and SQS no retry).


def fast_worker(settings, store, backend=None, router=None):
    """A worker whose connector client gives up within about 3 s, as in start_fault_bot."""
    from bot.worker import Worker
    from entrypoints.wiring import build_worker

    connector = BotConnector(ChannelAuth(settings), timeout_seconds=0.5, budget_seconds=3.0, base_delay=0.05)
    if router is not None:
        return Worker(settings, store, router, connector)
    return build_worker(settings, store=store, backend=backend, connector=connector)


def job_in(bot: Bot, shape: str, text: str = "hello"):
    from handlers.jobs import ConversationRef, job_for
    from handlers.models import Conversation, Turn, User

    conversation = Conversation(id=f"19:{shape}", type=shape, key=f"19:{shape}", tenant_id="t")
    turn = Turn(id="17", kind="message", text=text, user=User(id="29:u", name="Alex"), conversation=conversation)
    return job_for(turn, ConversationRef(bot.connector.url, conversation.id, "17"), f"activity|{shape}|17")


def fail_from_the_first_call(bot: Bot, status: int) -> None:
    """Let the first call (the placeholder or the stream's first update) through, then fail every call."""

    def on_call(call) -> None:
        bot.connector.on_call = None
        bot.connector.fail_next(status, times=1000)

    bot.connector.on_call = on_call


@pytest.mark.parametrize("shape", ["personal", "groupChat"])
async def test_a_connector_outage_at_the_final_answer_releases_the_job_for_the_queue(start_bot, shape):
    from services.store import COMPLETED, RUNNING
    from tests.conftest import ScriptedBackend

    bot = await start_bot(stream_interval_seconds=0.05)
    store = bot.gateway.store
    worker = fast_worker(bot.gateway.settings, store, backend=ScriptedBackend(text="The answer."))
    job = job_in(bot, shape)
    fail_from_the_first_call(bot, 503)
    from bot.connector import ConnectorUnavailable

    with pytest.raises(ConnectorUnavailable):  # raised to the queue: SQS delivers the job again
        await worker.run(job, final_attempt=False)
    again = await store.acquire(job.idempotency_key, RUNNING, 60)
    assert again.ok, "the record was released, not completed"
    await store.release(job.idempotency_key, again.owner)
    bot.connector._failures.clear()  # the Bot Connector is back
    report = await worker.run(job, final_attempt=False)
    assert report is not None and report.outcome == "answered"
    assert (await store.acquire(job.idempotency_key, RUNNING, 60)).previous == COMPLETED
    finals = [m for m in bot.connector.calls if "The answer." in json.dumps(m.body) and m.type == "message"]
    assert len(finals) == 1
    await worker.close()


async def test_a_refusal_by_the_connector_is_still_one_sentence_and_not_retried(start_bot):
    """A 4xx (here 404: the conversation is gone) will not get better by retrying: the error policy answers."""
    from services.store import COMPLETED, RUNNING
    from tests.conftest import ScriptedBackend

    bot = await start_bot(stream_interval_seconds=0.05)
    worker = fast_worker(bot.gateway.settings, bot.gateway.store, backend=ScriptedBackend())
    job = job_in(bot, "groupChat")

    def on_call(call) -> None:
        bot.connector.on_call = None
        bot.connector.fail_next(404, times=1)  # the final edit of the placeholder

    bot.connector.on_call = on_call
    report = await worker.run(job, final_attempt=False)
    assert report is not None and report.outcome == "failed"
    assert REFERENCE.search(bot.connector.messages()[-1].body["text"])
    assert (await bot.gateway.store.acquire(job.idempotency_key, RUNNING, 60)).previous == COMPLETED
    await worker.close()


async def test_a_connector_outage_after_the_answer_reached_the_user_is_not_answered_twice(start_bot):
    from handlers.router import Router
    from services.store import COMPLETED, RUNNING

    bot = await start_bot()
    router = Router()

    @router.default
    async def answer(turn, replier, text) -> None:
        await replier.send_card({"type": "AdaptiveCard", "version": "1.5", "body": []}, summary="the answer")
        bot.connector.fail_next(503, times=1000)
        await replier.send_text("A note after the answer.")

    worker = fast_worker(bot.gateway.settings, bot.gateway.store, router=router)
    job = job_in(bot, "groupChat")
    assert await worker.run(job, final_attempt=False) is None  # not raised: a retry would send the card again
    assert (await bot.gateway.store.acquire(job.idempotency_key, RUNNING, 60)).previous == COMPLETED
    assert len(bot.connector.messages()) == 1
    await worker.close()
