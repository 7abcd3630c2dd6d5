"""Observability wired in: one log line and metrics per turn through /api/messages, GET /metrics, Sentry events
for handled failures (tagged), none for a clean 4xx."""

from __future__ import annotations

import json
import logging

import pytest
import sentry_sdk
from botocore.exceptions import ClientError

from services.backends import BackendError
from services.observability.start import process_metrics, start_observability
from tests.conftest import ScriptedBackend
from tests.observability_canaries import (
    USER_NAME,
    USER_TEXT,
    leaks,
    restore_logging,  # noqa: F401 - a fixture
)
from tests.test_observability_sentry import inbox  # noqa: F401 - a fixture
from tests.test_observability_sentry import sentry_on as sentry_on_fixture

pytestmark = pytest.mark.usefixtures("restore_logging", "observability")
sentry_on = sentry_on_fixture


@pytest.fixture
def observability(make_settings):
    """Logging as `make run` starts it (scrubbed at the source)."""
    start_observability(make_settings(), "server")


def _turn_lines(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "gateway.turns"]


def _count(name: str, **labels: str) -> float:
    return process_metrics().registry.get_sample_value(name, labels) or 0.0


async def test_each_turn_writes_one_line_with_its_facts_and_no_text(start_bot, caplog):
    caplog.set_level(logging.INFO)
    before = _count("gateway_turns_total", kind="message", backend="scripted", outcome="answered")
    bot = await start_bot(ScriptedBackend(text="An answer."))
    channel = bot.channel(user_name=USER_NAME)
    activity = channel.message(USER_TEXT)
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    (record,) = _turn_lines(caplog)
    fields = record.fields
    assert fields["activity_id"] == activity["id"] and fields["outcome"] == "answered"
    assert len(fields["conversation"]) == 16 and activity["conversation"]["id"] not in json.dumps(fields)
    assert fields["backend"] == "scripted" and fields["kind"] == "message" and fields["final_ms"] >= 0
    assert "first_text_ms" in fields
    assert fields["ack_ms"] >= 0 and fields["queue_ms"] >= 0  # the ingress's receipt → its 200, then the queue
    assert leaks([record.getMessage(), json.dumps(fields)]) == {}
    after = _count("gateway_turns_total", kind="message", backend="scripted", outcome="answered")
    assert after == before + 1


async def test_a_failed_turn_line_has_the_reference_the_user_saw(start_bot, caplog):
    caplog.set_level(logging.INFO)
    failures = _count("gateway_turn_failures_total", kind="message", error="BackendError")
    bot = await start_bot(ScriptedBackend(error=BackendError("The backend is busy.", detail=f"echo {USER_TEXT}")))
    assert (await bot.post(bot.channel().message(USER_TEXT))).status == 200
    await bot.settle()
    (record,) = _turn_lines(caplog)
    (reply,) = bot.connector.messages()
    assert record.fields["outcome"] == "failed" and f"(reference {record.fields['reference']})" in reply.body["text"]
    assert record.fields["error"] == "BackendError"
    assert _count("gateway_turn_failures_total", kind="message", error="BackendError") == failures + 1
    assert leaks(r.getMessage() + (r.exc_text or "") for r in caplog.records) == {}


async def test_metrics_endpoint_serves_prometheus_text(start_bot):
    bot = await start_bot(ScriptedBackend())
    assert (await bot.post(bot.channel().message("hello there"))).status == 200
    await bot.settle()
    response = await bot.client.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    text = await response.text()
    assert (
        "gateway_turns_total{" in text
        and 'gateway_turn_latency_seconds_bucket{kind="http",le="0.05",stage="ack"}' in text
    )
    assert 'gateway_requests_total{status="2xx"}' in text


def _busy_with_request_id() -> BackendError:
    error = BackendError("Amazon Bedrock is too busy right now.", detail=f"ThrottlingException: {USER_TEXT}")
    error.__cause__ = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": USER_TEXT}, "ResponseMetadata": {"RequestId": "req-42"}},
        "ConverseStream",
    )
    return error


async def test_a_handled_backend_failure_is_one_tagged_sentry_event(start_bot, sentry_on):
    bot = await start_bot(ScriptedBackend(error=_busy_with_request_id()))
    activity = bot.channel(user_name=USER_NAME).message(USER_TEXT)
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    sentry_sdk.flush(timeout=5)
    (event,) = sentry_on.events()
    (reply,) = bot.connector.messages()
    tags = event["tags"]
    assert f"(reference {tags['reference']})" in reply.body["text"]
    assert tags["activity_id"] == activity["id"] and tags["backend_request_id"] == "req-42"
    assert tags["backend"] == "scripted" and len(tags["conversation"]) == 16 and event["level"] == "error"
    assert leaks(sentry_on.bodies) == {}


async def test_a_clean_4xx_sends_nothing_to_sentry(start_bot, sentry_on):
    bot = await start_bot(ScriptedBackend())
    response = await bot.post(None, raw=b'{"type": "message", "text": ')
    assert response.status == 400
    sentry_sdk.flush(timeout=5)
    assert sentry_on.events() == []


async def test_ingress_events_carry_the_activity_and_conversation_tags(start_bot, sentry_on):
    from handlers.queues import QueueError
    from services.observability import hash_key

    bot = await start_bot(ScriptedBackend())
    channel = bot.channel(user_name=USER_NAME)

    async def refuse(job):
        raise QueueError(f"queue is down for {USER_TEXT}")

    bot.gateway.queue.submit = refuse
    refused = channel.message(USER_TEXT)
    assert (await bot.post(refused)).status == 503  # logged at ERROR: one Sentry event

    async def broken(*args, **kwargs):
        raise RuntimeError("the store is broken")

    bot.gateway.store.acquire = broken
    crashed = channel.message(USER_TEXT)
    assert (await bot.post(crashed)).status == 500  # unhandled: one Sentry event, not two
    sentry_sdk.flush(timeout=5)
    events = sentry_on.events()
    assert len(events) == 2, [e.get("logentry") or e.get("exception") for e in events]
    expected = [refused, crashed]
    for event, activity in zip(events, expected, strict=True):
        assert event["tags"]["activity_id"] == activity["id"]
        assert event["tags"]["conversation"] == hash_key(activity["conversation"]["id"])
    assert events[1]["exception"]["values"][-1]["type"] == "RuntimeError"
    assert leaks(sentry_on.bodies) == {}


async def test_a_user_mistake_is_counted_and_sends_nothing_to_sentry(start_bot, sentry_on, caplog):
    caplog.set_level(logging.INFO)
    before = _count("gateway_turns_total", kind="message", backend="none", outcome="user_error")
    bot = await start_bot(ScriptedBackend())
    channel = bot.channel(user_name=USER_NAME)
    url = bot.connector.serve_file("scores.csv", b"label,p\n1,0.9\n0,0.2\n1,0.7\n0,0.4\n")
    for text in ("metrics y_true=nolabel y_score=p", "metrics y_true=label y_score=p colour=blue"):
        assert (await bot.post(channel.with_file(channel.message(text), "scores.csv", url))).status == 200
        await bot.settle()
    sentry_sdk.flush(timeout=5)
    assert sentry_on.events() == []
    replies = [call.body.get("text", "") for call in bot.connector.messages()]
    assert replies and not any("(reference " in text for text in replies)
    lines = _turn_lines(caplog)
    assert [r.fields["outcome"] for r in lines] == ["user_error", "user_error"]
    assert lines[0].fields["error"] in ("AnalyticsError", "DatasetError")
    assert lines[1].fields["error"] == "AnalyticsError"  # an unknown option: the command specs' one error type
    assert any("colour" in text for text in replies)
    after = _count("gateway_turns_total", kind="message", backend="none", outcome="user_error")
    assert after == before + 2


def test_the_lambda_ingress_counts_its_answers():
    import entrypoints.lambda_ingress as ingress_module

    before = _count("gateway_requests_total", status="4xx")
    event = {"requestContext": {"http": {"method": "POST"}}, "body": "%%%", "isBase64Encoded": True}
    assert ingress_module.handler(event)["statusCode"] == 400
    assert _count("gateway_requests_total", status="4xx") == before + 1
