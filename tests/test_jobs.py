"""The job seam: the versioned envelope, the static ingress tables, idempotency at the ingress and the worker."""

from __future__ import annotations

import asyncio
import json

import pytest

from handlers.catalog import ACTION_ACKS, ANALYTICS_COMMANDS, job_kind
from handlers.jobs import MAX_JOB_BYTES, ConversationRef, Job, JobFormatError, job_for
from handlers.models import Conversation, FileAttachment, Turn, User
from handlers.queues import QueueError
from services.store import COMPLETED, RUNNING
from tests.conftest import ScriptedBackend


def turn(text: str = "hello", **extra) -> Turn:
    conversation = Conversation(id="a:1x", type="personal", key="a:1x", tenant_id="t")
    user = User(id="29:u", name="Alex")
    return Turn(id="17", kind="message", text=text, user=user, conversation=conversation, **extra)


def test_job_round_trips_as_plain_json_and_carries_no_file_bytes():
    files = [FileAttachment(name="a.csv", download_url="https://contoso.sharepoint.com/a.csv", file_type="csv")]
    job = job_for(turn("drift", files=files), ConversationRef("https://smba.example/", "a:1x", "17", "aud"), "k|17")
    body = job.to_json()
    data = json.loads(body)
    assert data["version"] == 1 and data["kind"] == "analytics" and data["group_key"] == "a:1x#analytics"
    assert data["ref"] == {"service_url": "https://smba.example/", "conversation_id": "a:1x", "activity_id": "17",
                           "audience": "aud"}  # fmt: skip
    assert Job.from_json(body) == job and len(body) < MAX_JOB_BYTES


def test_jobs_carry_the_ingress_times_and_older_jobs_without_them_still_parse():
    ref = ConversationRef("https://smba.example/", "a:1x", "17", "aud")
    job = job_for(turn(), ref, "k|17", received_at=1000.0).model_copy(update={"accepted_at": 1000.25})
    assert Job.from_json(job.to_json()) == job
    ack, queued = job.waits(picked_up=1002.0)
    assert ack == pytest.approx(0.25) and queued == pytest.approx(1.75)
    assert job.waits(picked_up=999.0)[1] == 0.0  # clocks that disagree never give a negative wait
    older = json.loads(job.to_json())
    del older["received_at"], older["accepted_at"]  # a job queued by an ingress from before these fields
    parsed = Job.from_json(json.dumps(older))
    assert parsed.turn == job.turn and parsed.waits() == (None, None)


async def test_the_ingress_stamps_receipt_and_hand_over_on_the_job(start_bot):
    bot = await start_bot(ScriptedBackend(text="An answer."))
    submitted = []
    submit = bot.gateway.queue.submit

    async def spy(job):
        submitted.append(job)
        await submit(job)

    bot.gateway.queue.submit = spy
    assert (await bot.post(bot.channel().message("hello"))).status == 200
    await bot.settle()
    (job,) = submitted
    assert job.received_at is not None and job.accepted_at is not None
    assert 0 <= job.accepted_at - job.received_at < 5


@pytest.mark.parametrize(
    "body", ["not json", "{}", '{"version": 2, "kind": "chat"}', json.dumps({"version": 1, "kind": "email"})]
)
def test_a_message_that_is_not_a_job_is_one_clear_error(body):
    with pytest.raises(JobFormatError, match="not a job"):
        Job.from_json(body)


def test_job_kinds_follow_the_command_word():
    assert job_kind(turn("/uplift treatment=t outcome=y")) == "analytics"
    assert job_kind(turn("metrics y_true=a y_score=b")) == "analytics"
    assert job_kind(turn("explain auc")) == "chat"
    assert job_kind(turn("what drifts in our travel policy?")) == "chat"


async def test_the_static_tables_match_the_router(start_bot):
    from entrypoints.wiring import build_worker
    from tests.conftest import DOCS

    bot = await start_bot()
    worker = build_worker(bot.gateway.settings, store=bot.gateway.store, backend=ScriptedBackend())
    router = worker.router
    analytics = {
        name for name, command in router._names.items()
        if command.handler.__module__ in ("handlers.analytics", "handlers.usage", "handlers.monitors")
    }  # fmt: skip
    # `explain` needs no analytics library; `stop` must not queue behind the analysis it stops (a store write)
    assert analytics - {"explain", "define", "glossary", "stop", "cancel"} == ANALYTICS_COMMANDS
    assert set(router.actions) == {"feedback", "signed_in", "slow_down"}  # a backend type's extras add their own...
    assert DOCS.is_dir()
    await worker.close()
    qbusiness = {"backend": "qbusiness", "qbusiness_identity": "anonymous", "qbusiness_application_id": "a" * 36,
                 "qbusiness_region": "eu-west-1"}  # fmt: skip
    agent = {"backend": "bedrock-agent", "bedrock_agent_id": "AGENT12345", "bedrock_agent_alias_id": "ALIAS12345",
             "bedrock_agent_region": "eu-west-1"}  # fmt: skip
    actions: set[str] = set()
    for extra in (qbusiness, agent):
        worker = build_worker(bot.gateway.settings.model_copy(update=extra), store=bot.gateway.store)
        actions |= set(worker.router.actions)
        await worker.close()
    assert actions == set(ACTION_ACKS)  # ...which the ingress's static table acknowledges


def test_the_ingress_imports_no_backend_and_no_router():
    import subprocess
    import sys

    from services.settings import REPO_ROOT

    code = (
        "import sys, entrypoints.wiring, bot.gateway; "
        "print(sorted(m for m in sys.modules if m.startswith(('services.backends.local', 'services.backends.bedrock', "
        "'services.backends.qbusiness', 'handlers.app', 'bot.worker', "
        "'handlers.router', 'handlers.analytics', 'numpy', 'pandas'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


class FailingQueue:
    """A queue that refuses the first `failures` jobs, then runs them with `run`."""

    def __init__(self, run, failures: int = 1) -> None:
        self.run, self.failures, self.jobs = run, failures, []

    async def submit(self, job: Job) -> None:
        if self.failures:
            self.failures -= 1
            raise QueueError("queue unavailable")
        self.jobs.append(job)
        await self.run(job)

    async def close(self, timeout: float = 20.0) -> None:
        pass


async def test_a_failed_enqueue_is_a_503_and_the_redelivery_runs_the_turn(start_bot):
    bot = await start_bot(backend=ScriptedBackend())
    from entrypoints.wiring import build_worker

    worker = build_worker(bot.gateway.settings, store=bot.gateway.store, backend=ScriptedBackend())
    queue = FailingQueue(worker.run)
    bot.gateway.queue = queue
    activity = bot.channel().message("hello")
    first = await bot.post(activity)
    assert first.status == 503 and first.headers["Retry-After"] == "2"
    assert (await bot.post(activity)).status == 200
    assert (await bot.post(activity)).status == 200  # a third delivery: completed, not run again
    assert len(queue.jobs) == 1 and len(bot.connector.messages()) == 1
    await worker.close()


async def test_concurrent_duplicates_get_exactly_one_answer(start_bot):
    bot = await start_bot(backend=ScriptedBackend())
    channels = [bot.channel() for _ in range(10)]
    activities = [c.message(f"question {i}") for i, c in enumerate(channels)]
    responses = await asyncio.gather(*(bot.post(a) for a in activities for _ in range(3)))
    await bot.settle()
    for a in activities:  # a delivery that arrives mid-hand-over is asked to retry, and is then a duplicate
        again = await bot.post(a)
        assert again.status == 200
    await bot.settle()
    assert {r.status for r in responses} <= {200, 503}
    answered = [m.body["replyToId"] for m in bot.connector.messages()]
    assert sorted(answered) == sorted(a["id"] for a in activities)


async def test_the_worker_drops_a_job_that_is_running_or_completed(start_bot):
    from entrypoints.wiring import build_worker

    bot = await start_bot()
    store = bot.gateway.store
    backend = ScriptedBackend()
    worker = build_worker(bot.gateway.settings, store=store, backend=backend)
    job = job_for(turn("hi"), ConversationRef(bot.connector.url, "a:1x", "17"), "activity|a:1x|17")
    other = await store.acquire(job.idempotency_key, RUNNING, 60)
    assert await worker.run(job) is None and backend.questions == []  # another worker holds it
    await store.release(job.idempotency_key, other.owner)
    report = await worker.run(job)
    assert report is not None and report.outcome == "answered" and report.backend == "scripted"
    assert (await store.acquire(job.idempotency_key, RUNNING, 60)).previous == COMPLETED
    assert await worker.run(job) is None and len(backend.questions) == 1
    await worker.close()


class HangingBackend(ScriptedBackend):
    async def answer(self, question):
        self.questions.append(question)
        await asyncio.sleep(3600)
        yield  # pragma: no cover


async def test_a_turn_over_its_time_limit_is_released_for_a_retry_then_told_on_the_last_attempt(start_bot):
    from entrypoints.wiring import build_worker

    bot = await start_bot(turn_timeout_seconds=0.3)
    backend = HangingBackend()
    worker = build_worker(bot.gateway.settings, store=bot.gateway.store, backend=backend)
    job = job_for(turn("hi"), ConversationRef(bot.connector.url, "a:1x", "17"), "activity|a:1x|17")
    with pytest.raises(TimeoutError):
        await worker.run(job, final_attempt=False)  # the queue will deliver it again
    assert (await bot.gateway.store.acquire(job.idempotency_key, RUNNING, 1)).ok  # released
    await bot.gateway.store.release(job.idempotency_key, "")
    await asyncio.sleep(1.1)
    assert await worker.run(job, final_attempt=True) is None
    told = [m.body["text"] for m in bot.connector.messages() if "reference" in m.body.get("text", "")]
    assert len(told) == 1 and "too long" in told[0]
    await worker.run(job, final_attempt=True)  # a later delivery (e.g. the dead-letter queue) says nothing more
    assert len([m for m in bot.connector.messages() if "reference" in m.body.get("text", "")]) == 1
    await worker.close()


async def test_killed_after_the_ack_the_redelivery_after_the_lease_is_answered_once(start_bot, tmp_path):
    """The in-process queue dies with the process; its `queued` lease runs out and the re-delivery runs."""
    from bot.server import create_app
    from entrypoints.wiring import build_local

    bot = await start_bot(backend=HangingBackend(), queue_lease_seconds=0.5, turn_timeout_seconds=0.5)
    activity = bot.channel().message("hello")
    assert (await bot.post(activity)).status == 200
    await asyncio.sleep(0.05)
    for task in list(bot.gateway.queue._tasks):  # the process dies: its in-memory jobs with it
        task.cancel()
    await asyncio.sleep(0.6)
    # restarted on the same state file
    settings = bot.gateway.settings
    restarted = build_local(settings.model_copy(), backend=ScriptedBackend(text="Answered after the restart."))
    app = create_app(restarted)
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as client:
        for _ in range(2):
            response = await client.post("/api/messages", json=activity)
            assert response.status == 200
            await restarted.queue.drain(10)
    answers = [m for m in bot.connector.messages() if m.body.get("text") == "Answered after the restart."]
    assert len(answers) == 1


class HalfThenHangs(ScriptedBackend):
    """Streams part of an answer, then hangs until the worker's time limit raises into it."""

    async def answer(self, question):
        from services.backends import TextDelta

        self.questions.append(question)
        yield TextDelta(text="The first half of an answer")
        await asyncio.sleep(3600)


@pytest.mark.parametrize("shape", ["personal", "groupChat"])
async def test_a_turn_cut_off_mid_answer_closes_its_stream_before_the_retry(start_bot, shape):
    """A retried job must not leave the first attempt's "…" placeholder or half-written stream behind."""
    from entrypoints.wiring import build_worker
    from handlers.models import Conversation

    bot = await start_bot(turn_timeout_seconds=0.6, stream_interval_seconds=0.05)
    worker = build_worker(bot.gateway.settings, store=bot.gateway.store, backend=HalfThenHangs())
    conversation = Conversation(id="19:c", type=shape, key="19:c", tenant_id="t")
    job = job_for(turn("hi").model_copy(update={"conversation": conversation}),
                  ConversationRef(bot.connector.url, "19:c", "17"), "activity|19:c|17")  # fmt: skip
    with pytest.raises(TimeoutError):
        await worker.run(job, final_attempt=False)
    calls = bot.connector.calls
    assert any("first half" in json.dumps(c.body) for c in calls), "the partial answer was shown"
    last = calls[-1].body
    assert last["text"] == "This answer was interrupted; retrying…"
    if shape == "personal":  # the stream is ended (final), not left streaming
        assert last["entities"][0]["streamType"] == "final" and last["entities"][0]["streamId"]
    else:  # the placeholder is replaced in place
        assert calls[-1].method == "PUT" and calls[-1].activity_id == calls[0].body["id"]
    assert "Error" not in last["text"] and "Timeout" not in last["text"]
    await worker.close()
