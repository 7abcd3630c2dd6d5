"""BotConnector: retries 429/412/502/504 with backoff and Retry-After, gives up on other errors."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from bot.connector import BotConnector, ConnectorError, ConversationRef, retry_after_seconds


class NoTokens:
    async def token(self, audience: str) -> None:
        return None


@pytest.fixture
async def client():
    connector = BotConnector(NoTokens(), base_delay=0.05, max_delay=0.2)
    yield connector
    await connector.close()


def ref(fake) -> ConversationRef:
    return ConversationRef(fake.url, "19:abc@thread.tacv2;messageid=17", "17")


@pytest.mark.parametrize("status", [412, 429, 502, 504])
async def test_retryable_statuses_are_retried(connector, client, status):
    connector.fail_next(status, times=2)
    new_id = await client.reply(ref(connector), {"type": "message", "text": "hi"})
    assert new_id and len(connector.rejected) == 2 and len(connector.calls) == 1
    call = connector.calls[0]
    assert call.conversation_id == "19:abc@thread.tacv2;messageid=17"  # percent-encoded on the wire
    assert call.body["replyToId"] == "17"


async def test_retry_after_is_honoured(connector, client):
    connector.fail_next(429, headers={"Retry-After": "1"})
    started = time.monotonic()
    await client.reply(ref(connector), {"type": "message", "text": "hi"})
    assert time.monotonic() - started >= 0.95


async def test_other_errors_are_not_retried(connector, client):
    connector.fail_next(403, code="ContentStreamNotAllowed")
    with pytest.raises(ConnectorError) as raised:
        await client.reply(ref(connector), {"type": "message", "text": "hi"})
    assert raised.value.status == 403 and "ContentStreamNotAllowed" in raised.value.detail
    assert len(connector.rejected) == 1


async def test_gives_up_after_max_attempts(connector, client):
    connector.fail_next(502, times=10)
    with pytest.raises(ConnectorError) as raised:
        await client.reply(ref(connector), {"type": "message", "text": "hi"})
    assert raised.value.status == 502 and len(connector.rejected) == client.max_attempts


async def test_retry_after_beyond_budget_gives_up_at_once(connector):
    client = BotConnector(NoTokens(), budget_seconds=2)
    connector.fail_next(429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(ConnectorError):
        await client.reply(ref(connector), {"type": "message", "text": "hi"})
    assert time.monotonic() - started < 1
    await client.close()


async def test_update_puts_to_the_activity(connector, client):
    await client.update(ref(connector), "42", {"type": "message", "text": "edited"})
    (call,) = connector.calls
    assert (call.method, call.activity_id, call.body["id"]) == ("PUT", "42", "42")


def test_retry_after_parsing():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert 25 <= retry_after_seconds(formatdate(time.time() + 30, usegmt=True)) <= 30
    assert retry_after_seconds(formatdate(time.time() - 30, usegmt=True)) == 0.0
