"""Bot Connector calls (send, reply, update) with retries, on one shared aiohttp session.

botbuilder's ConnectorClient does not retry 429 and ignores Retry-After; this client retries 429, 412,
502, 503, 504 and network errors with exponential backoff and full jitter, honouring Retry-After.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp

from handlers.jobs import ConversationRef
from handlers.models import ChannelUnavailable

__all__ = ["BotConnector", "ConnectorError", "ConnectorUnavailable", "ConversationRef", "retry_after_seconds"]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({412, 429, 502, 503, 504})


class TokenSource(Protocol):
    async def token(self, audience: str) -> str | None: ...


class ConnectorError(Exception):
    """The Bot Connector refused a call (after retries). `status` is the HTTP status, 0 for a network error."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"Bot Connector answered {status}: {detail[:300]}")
        self.status = status
        self.detail = detail


class ConnectorUnavailable(ConnectorError, ChannelUnavailable):
    """The Bot Connector failed with a 5xx, a 429 or a network error after every retry: worth running the turn
    again later (the worker releases the job for the queue), unlike a refusal such as 403 or 404."""


def connector_error(status: int, detail: str) -> ConnectorError:
    """Return the error for a failed call: ConnectorUnavailable when a later attempt may succeed."""
    transient = status == 0 or status == 429 or status >= 500
    return (ConnectorUnavailable if transient else ConnectorError)(status, detail)


def retry_after_seconds(value: str | None) -> float | None:
    """Return the delay a Retry-After header asks for (seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class BotConnector:
    """Sends activities to a conversation. Retries are bounded by `max_attempts` and `budget_seconds`."""

    def __init__(
        self,
        tokens: TokenSource,
        *,
        max_attempts: int = 5,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        budget_seconds: float = 60.0,
        timeout_seconds: float = 20.0,
    ) -> None:
        self.tokens = tokens
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.budget_seconds = budget_seconds
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _url(self, ref: ConversationRef, activity_id: str = "") -> str:
        base = f"{ref.service_url.rstrip('/')}/v3/conversations/{quote(ref.conversation_id, safe='')}/activities"
        return f"{base}/{quote(activity_id, safe='')}" if activity_id else base

    async def reply(self, ref: ConversationRef, activity: dict[str, Any]) -> str:
        """Post `activity` as a reply to `ref.activity_id` (or to the conversation); return the new activity id."""
        body = {"replyToId": ref.activity_id, **activity} if ref.activity_id else activity
        answer = await self._call("POST", self._url(ref, ref.activity_id), body, ref.audience)
        return str(answer.get("id", ""))

    async def update(self, ref: ConversationRef, activity_id: str, activity: dict[str, Any]) -> str:
        """Replace the activity `activity_id` in the conversation; return its id."""
        answer = await self._call("PUT", self._url(ref, activity_id), {"id": activity_id, **activity}, ref.audience)
        return str(answer.get("id", activity_id))

    async def is_member(self, ref: ConversationRef, user_id: str) -> bool | None:
        """Return whether `user_id` (a Teams user id or Entra object id) is still a member of the conversation:
        False when the channel answers 404, None when it cannot tell (any other failure)."""
        base = f"{ref.service_url.rstrip('/')}/v3/conversations/{quote(ref.conversation_id, safe='')}"
        try:
            await self._call("GET", f"{base}/members/{quote(user_id, safe='')}", None, ref.audience)
        except ConnectorError as error:
            return False if error.status == 404 else None
        return True

    async def _call(self, method: str, url: str, body: dict[str, Any] | None, audience: str) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        started = time.monotonic()
        for attempt in range(1, self.max_attempts + 1):
            headers = {"Content-Type": "application/json"}
            token = await self.tokens.token(audience)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            wait: float | None = None
            try:
                async with self._session.request(method, url, json=body, headers=headers) as response:
                    text = await response.text()
                    if response.status < 300:
                        try:
                            return await response.json(content_type=None) if text.strip() else {}
                        except ValueError:
                            return {}
                    if response.status not in RETRY_STATUSES:
                        raise connector_error(response.status, text)
                    failure = connector_error(response.status, text)
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
            except (TimeoutError, aiohttp.ClientError) as error:
                failure = connector_error(0, f"{type(error).__name__}: {error}")
            if wait is None:
                wait = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
            if attempt == self.max_attempts or time.monotonic() - started + wait > self.budget_seconds:
                raise failure
            log.warning("connector %s %s failed (%s), retry %d in %.2fs", method, url, failure.status, attempt, wait)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
