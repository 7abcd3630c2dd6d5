"""The neutral core of the edge: an HTTP request in, an HTTP response out, the turn dispatched.

authenticate (JWT) → tenant allow-list → dedupe → Turn → dispatch → acknowledge. The aiohttp server
and a Lambda entry both convert their requests to `HttpRequest` and call `Gateway.handle`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.activity import (
    CARD_ACTION,
    FEEDBACK_LOOP,
    ActivityError,
    check_routable,
    dedupe_key,
    load_json,
    parse_activity,
    tenant_of,
    to_turn,
)
from bot.auth import AuthError, ChannelAuth
from bot.connector import ConversationRef
from bot.dispatcher import InProcessDispatcher, Job
from handlers.router import Router
from services.settings import Settings
from services.store import Store

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class HttpRequest:
    """A framework-neutral request. Header names are matched case-insensitively."""

    method: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str:
        """Return the header's value, or ''."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), "")


@dataclass(frozen=True)
class HttpResponse:
    """A framework-neutral response: a status and an optional JSON body."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: str, message: str) -> HttpResponse:
    """Return a JSON error response in the Bot Framework's error shape."""
    return HttpResponse(status, {"error": {"code": code, "message": message}})


def invoke_message(text: str) -> HttpResponse:
    """Return the 200 response to an adaptiveCard/action invoke that shows `text` to the user."""
    return HttpResponse(200, {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text})


class Gateway:
    """Authenticates, filters and acknowledges activities; runs their turns through the dispatcher."""

    def __init__(
        self,
        settings: Settings,
        auth: ChannelAuth,
        store: Store,
        router: Router,
        dispatcher: InProcessDispatcher,
        closers: list[Callable[[], Awaitable[None]]] | None = None,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.store = store
        self.router = router
        self.dispatcher = dispatcher
        self._closers = closers or []

    async def close(self, timeout: float = 20.0) -> None:
        """Let running turns finish (up to `timeout` seconds), then close connections and the store."""
        await self.dispatcher.drain(timeout)
        for close in self._closers:
            await close()
        await self.store.close()

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Return the response to one POST /api/messages. Client mistakes get 4xx, never 500."""
        if request.method != "POST":
            return HttpResponse(405, {"error": {"code": "MethodNotAllowed", "message": "Use POST."}}, {"Allow": "POST"})
        if "json" not in request.header("Content-Type").lower():
            return error(415, "UnsupportedMediaType", "The body must be JSON (Content-Type: application/json).")
        if len(request.body) > MAX_BODY_BYTES:
            return error(413, "PayloadTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes.")
        try:
            activity = parse_activity(load_json(request.body))
            check_routable(activity)
        except ActivityError as problem:
            return error(400, "BadRequest", str(problem))

        try:  # the serviceUrl and channel id replies use are the ones checked against the token
            caller = await self.auth.authenticate(activity, request.header("Authorization"))
        except AuthError as problem:
            log.warning("rejected request (%s): %s", problem.status, problem)
            if problem.status == 503:
                return error(503, "ServiceUnavailable", "Cannot validate the request right now; retry later.")
            return error(401, "Unauthorized", "Unauthorized.")

        tenant = tenant_of(activity)
        if self.settings.allowed_tenants and tenant not in self.settings.allowed_tenants:
            log.warning("rejected activity %s from tenant %r (not in ALLOWED_TENANTS)", activity.id, tenant)
            return error(403, "Forbidden", "This tenant is not allowed to use this bot.")
        if activity.type == "invoke" and activity.name not in (CARD_ACTION, FEEDBACK_LOOP):
            log.info("invoke %r is not implemented (activity %s)", activity.name, activity.id)
            return error(501, "NotImplemented", f"The invoke '{str(activity.name)[:60]}' is not supported by this bot.")
        if activity.from_.id and activity.from_.id == activity.recipient.id:
            return HttpResponse(200)  # our own message echoed back

        try:
            turn = to_turn(activity)
        except ActivityError as problem:
            return error(400, "BadRequest", str(problem))
        if turn is None:
            log.debug("acknowledged %s activity %s without a turn", activity.type, activity.id)
            return HttpResponse(200)
        if activity.name == CARD_ACTION:
            response = invoke_message(self.router.action_ack(turn.verb))
        else:  # a message, or Teams' feedback loop, which wants a bare 200
            response = HttpResponse(200)

        if not await self.store.claim(dedupe_key(activity), self.settings.dedupe_ttl_seconds):
            log.info("duplicate activity %s in %s: already answered", activity.id, activity.conversation.id)
            return response
        ref = ConversationRef(caller.service_url, activity.conversation.id, activity.id, caller.audience)
        self.dispatcher.submit(Job(turn, ref))
        return response
