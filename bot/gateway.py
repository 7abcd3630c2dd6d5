"""The ingress: an HTTP request in, an HTTP response out, the turn handed to a job queue.

authenticate (JWT) → tenant allow-list → Turn → idempotency record → job queue → acknowledge. The aiohttp
server and the Lambda HTTP entry both convert their requests to `HttpRequest` and call `Gateway.handle`.
The ingress imports no backend and builds no Router: card acknowledgements come from a static table.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.activity import (
    CARD_ACTION,
    FEEDBACK_LOOP,
    TOKEN_EXCHANGE,
    VERIFY_STATE,
    ActivityError,
    InboundActivity,
    check_routable,
    conversation_of,
    dedupe_key,
    load_json,
    parse_activity,
    tenant_of,
    to_turn,
    turn_fields,
)
from bot.auth import AuthError, Caller, ChannelAuth, VerifiedToken
from bot.flow_control import FlowControl
from bot.user_tokens import TokenServiceError, UserTokenService
from handlers.catalog import SLOW_DOWN_VERB, action_ack, slow_down_sentence
from handlers.jobs import ConversationRef, Job, job_for
from handlers.models import Turn
from handlers.queues import JobQueue, JobTooLarge, QueueError, QueueFull
from services.observability import hash_key, sensitive
from services.observability.turns import observed_request
from services.settings import Settings
from services.store import ACCEPTING, COMPLETED, QUEUED, Store, StoreUnavailable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
OFF_LOOP_TEXT_CHARS = 4_000  # longer message texts are turned into a Turn in a thread (milliseconds of work)


@dataclass(frozen=True)
class HttpRequest:
    """A framework-neutral request. Header names are matched case-insensitively; `received_at` is when it
    arrived (epoch seconds)."""

    method: str
    headers: Mapping[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)

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


@dataclass(frozen=True)
class Admitted:
    """A request whose head `Gateway.admit` accepted: its checked token (None in local development)."""

    token: VerifiedToken | None


def error(status: int, code: str, message: str) -> HttpResponse:
    """Return a JSON error response in the Bot Framework's error shape."""
    return HttpResponse(status, {"error": {"code": code, "message": message}})


def invoke_message(text: str) -> HttpResponse:
    """Return the 200 response to an adaptiveCard/action invoke that shows `text` to the user."""
    return HttpResponse(200, {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": text})


def retry_later(message: str) -> HttpResponse:
    """Return a 503 that asks the channel to deliver the activity again shortly."""
    return HttpResponse(503, {"error": {"code": "ServiceUnavailable", "message": message}}, {"Retry-After": "2"})


def _hashed_conversation(activity: InboundActivity) -> str:
    """Return the activity's conversation key hashed as in the turn's log line, or '' when it has none."""
    try:
        return hash_key(conversation_of(activity).key)
    except Exception:  # noqa: BLE001 - a tag is not worth refusing the request for; the checks below decide
        return ""


class Gateway:
    """Authenticates, filters and acknowledges activities; hands their turns to the job queue."""

    def __init__(
        self,
        settings: Settings,
        auth: ChannelAuth,
        store: Store,
        queue: JobQueue,
        closers: list[Callable[[], Awaitable[None]]] | None = None,
        user_tokens: UserTokenService | None = None,
        background: list[Any] | None = None,
    ) -> None:
        self.background = background or []  # started with the server, closed with it (the monitors' tick)
        self.user_tokens = user_tokens
        self.settings = settings
        self.auth = auth
        self.store = store
        self.queue = queue
        self.flow = FlowControl(settings, store)
        self._closers = closers or []
        if not settings.allowed_tenants:
            log.warning(
                "ALLOWED_TENANTS is empty: activities from any Microsoft Entra tenant are served; set it to your "
                "tenant id(s) unless the bot is meant for every organisation"
            )

    async def start(self) -> None:
        """Start the queue when it has work to resume (a durable in-process queue after a crash)."""
        start = getattr(self.queue, "start", None)
        if start is not None:
            await start()

    async def close(self, timeout: float = 20.0) -> None:
        """Let queued in-process turns finish (up to `timeout` seconds), then close connections and the store."""
        for task in self.background:
            await task.close()
        await self.queue.close(timeout)
        for close in self._closers:
            await close()
        await self.store.close()

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Return the response to one POST /api/messages. Client mistakes get 4xx, never 500."""
        admitted = await self.admit(request.method, request.headers)
        if isinstance(admitted, HttpResponse):
            return admitted
        return await self.handle_admitted(request, admitted)

    async def admit(self, method: str, headers: Mapping[str, str]) -> Admitted | HttpResponse:
        """Check what a request's head alone decides (method, content type, the token): return the refusal,
        or what `handle_admitted` needs. The aiohttp edge calls it before reading the body, so a request
        without a valid token is refused without reading, parsing or logging its body."""
        head = HttpRequest(method, headers, b"")
        if method != "POST":
            return HttpResponse(405, {"error": {"code": "MethodNotAllowed", "message": "Use POST."}}, {"Allow": "POST"})
        if "json" not in head.header("Content-Type").lower():
            return error(415, "UnsupportedMediaType", "The body must be JSON (Content-Type: application/json).")
        try:
            return Admitted(await self.auth.verify_header(head.header("Authorization")))
        except AuthError as problem:
            return self._refused(problem)

    async def handle_admitted(self, request: HttpRequest, admitted: Admitted) -> HttpResponse:
        """Return the response to a request `admit` let through, now with its body."""
        if len(request.body) > MAX_BODY_BYTES:
            return error(413, "PayloadTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes.")
        try:
            activity = parse_activity(load_json(request.body))
            check_routable(activity)
        except ActivityError as problem:
            return error(400, "BadRequest", str(problem))
        # Sentry events of this request carry the ids the worker's events carry (the conversation key hashed).
        with observed_request([], {"activity_id": activity.id, "conversation": _hashed_conversation(activity)}):
            return await self._handle_activity(request, activity, admitted)

    @staticmethod
    def _refused(problem: AuthError) -> HttpResponse:
        log.warning("rejected request (%s): %s", problem.status, problem)
        if problem.status == 503:
            return error(503, "ServiceUnavailable", "Cannot validate the request right now; retry later.")
        return error(401, "Unauthorized", "Unauthorized.")

    async def _handle_activity(
        self, request: HttpRequest, activity: InboundActivity, admitted: Admitted
    ) -> HttpResponse:
        """Return the response to a parsed, routable activity: authenticate, filter, hand its turn over."""
        try:  # the serviceUrl and channel id replies use are the ones checked against the token
            caller = self.auth.bind(activity, admitted.token)
        except AuthError as problem:
            return self._refused(problem)
        # Only now is anything the request carries registered with the log scrubber (its text and the sender's
        # name, bounded there): before the token is checked it is anyone's text, and costs O(size) at most.
        private = [value for value in (activity.text, activity.from_.name) if isinstance(value, str)]
        with sensitive(*private):
            try:
                return await self._handle_authenticated(request, activity, caller)
            except StoreUnavailable as problem:  # throttled or unreachable: the channel delivers it again
                log.warning("activity %s: %s; asked to retry", activity.id, problem)
                return retry_later("The bot cannot take work right now; retry shortly.")

    async def _handle_authenticated(
        self, request: HttpRequest, activity: InboundActivity, caller: Caller
    ) -> HttpResponse:
        """Return the response to an authenticated activity: filter by tenant, hand its turn over."""
        tenant = tenant_of(activity)
        if self.settings.allowed_tenants and tenant not in self.settings.allowed_tenants:
            log.warning("rejected activity %s from tenant %r (not in ALLOWED_TENANTS)", activity.id, tenant)
            return error(403, "Forbidden", "This tenant is not allowed to use this bot.")
        if activity.type == "invoke" and activity.name in (TOKEN_EXCHANGE, VERIFY_STATE) and self.user_tokens:
            return await self._sign_in(activity, caller.audience, request.received_at)
        if activity.type == "invoke" and activity.name not in (CARD_ACTION, FEEDBACK_LOOP):
            log.info("invoke %r is not implemented (activity %s)", activity.name, activity.id)
            return error(501, "NotImplemented", f"The invoke '{str(activity.name)[:60]}' is not supported by this bot.")
        if activity.from_.id and activity.from_.id == activity.recipient.id:
            return HttpResponse(200)  # our own message echoed back

        try:  # a long text (mentions, control characters: up to 40,000 characters) is cleaned off the loop
            long_text = isinstance(activity.text, str) and len(activity.text) > OFF_LOOP_TEXT_CHARS
            turn = await asyncio.to_thread(to_turn, activity) if long_text else to_turn(activity)
        except ActivityError as problem:
            return error(400, "BadRequest", str(problem))
        if turn is None:
            log.debug("acknowledged %s activity %s without a turn", activity.type, activity.id)
            return HttpResponse(200)
        if activity.name == CARD_ACTION:
            response = invoke_message(action_ack(turn.verb))
        else:  # a message, or Teams' feedback loop, which wants a bare 200
            response = HttpResponse(200)
        # Replies go to the serviceUrl checked against the token; an activity without an id is recognised
        # when it comes again by a digest of its content.
        ref = ConversationRef(caller.service_url, activity.conversation.id, activity.id, caller.audience)
        job = job_for(turn, ref, dedupe_key(activity), request.received_at)
        if turn.kind in ("message", "action"):
            wait = await self.flow.admit(turn)
            if wait:
                return await self._slow_down(job, response, wait)
        return await self._hand_over(job, response)

    async def _slow_down(self, job: Job, response: HttpResponse, wait: float) -> HttpResponse:
        """Acknowledge a turn of a sender over their rate (or with too many turns waiting) without queuing it;
        tell the sender once per window (a card press gets the sentence in its invoke response instead)."""
        turn = job.turn
        log.info("activity %s: its sender is over their rate; acknowledged, not queued", turn.id)
        if turn.invoke:
            return invoke_message(slow_down_sentence(wait))
        if await self.flow.tell_once(turn):
            notice = turn.model_copy(
                update={"kind": "action", "verb": SLOW_DOWN_VERB, "data": {"seconds": round(wait, 1)}, "text": "",
                        "files": [], "invoke": False}
            )  # fmt: skip
            update = {"turn": notice, "kind": "chat", "idempotency_key": f"slow-down|{job.idempotency_key}"}
            await self._hand_over(job.model_copy(update=update), response)
        return response

    async def _sign_in(self, activity: InboundActivity, audience: str, received_at: float) -> HttpResponse:
        """Answer Teams' sign-in invokes and hand the user's pending question to the worker.

        `signin/tokenExchange` (SSO): 200 when the token service exchanged the token; otherwise 412 with
        {id, connectionName, failureDetail}, and Teams shows the sign-in card. Teams sends the same exchange
        from each of the user's clients: only the first (by the invoke's `id`) is exchanged.
        `signin/verifyState` (the card's sign-in finished): 200 when the magic code gives a token, else 404."""
        value = activity.value if isinstance(activity.value, dict) else {}
        connection = self.user_tokens.connection
        user_id = activity.from_.id
        if activity.name == TOKEN_EXCHANGE:
            exchange_id, sso_token = str(value.get("id") or ""), value.get("token")
            detail = "The bot could not exchange the token: sign in with the card."
            refused = HttpResponse(412, {"id": exchange_id, "connectionName": connection, "failureDetail": detail})
            if (
                not exchange_id
                or not isinstance(sso_token, str)
                or value.get("connectionName", connection) != connection
            ):
                return refused
            # One exchange per (user, connection, exchange id): Teams sends it from each of the user's clients, but
            # another member's invoke naming the same card id must not stand in for this user's own exchange.
            dedupe = f"signin|{user_id}|{connection}|{exchange_id}"
            held = await self.store.acquire(dedupe, ACCEPTING, self.settings.accept_lease_seconds)
            if not held.ok:
                if held.previous == COMPLETED:  # this user's token was exchanged by an earlier delivery
                    log.info("token exchange %s was handled by another delivery", exchange_id)
                    return HttpResponse(200, {"id": exchange_id, "connectionName": connection})
                log.info("token exchange %s is in progress on another delivery: 412", exchange_id)
                return refused  # nothing exchanged for this user (yet): Teams shows the sign-in card
            try:
                token = await self.user_tokens.exchange(user_id, sso_token)
            except TokenServiceError as problem:
                log.warning("token exchange failed: %s", problem)
                token = None
            if not token:
                await self.store.release(dedupe, held.owner)
                return refused
            await self.store.complete(dedupe, self.settings.dedupe_ttl_seconds)
            ok, response = True, HttpResponse(200, {"id": exchange_id, "connectionName": connection})
        else:
            try:
                token = await self.user_tokens.get_token(user_id, code=str(value.get("state") or ""))
            except TokenServiceError as problem:
                log.warning("sign-in verification failed: %s", problem)
                token = None
            ok, response = bool(token), HttpResponse(200 if token else 404)
        turn = Turn(kind="action", verb="signed_in", data={"ok": ok}, invoke=True, **turn_fields(activity))
        # activity.service_url is the URL just checked against the token's serviceurl claim
        ref = ConversationRef(activity.service_url, activity.conversation.id, activity.id, audience)
        await self._hand_over(job_for(turn, ref, dedupe_key(activity), received_at), response)
        return response

    async def _hand_over(self, job: Job, response: HttpResponse) -> HttpResponse:
        """Queue the job once per activity and return `response`; 503 when it cannot be queued now.

        The record is `accepting` (a short lease) while the job is handed to the queue and `queued` after, so
        a crash between the two costs one lease: the channel's re-delivery then runs the job."""
        key, settings = job.idempotency_key, self.settings
        held = await self.store.acquire(key, ACCEPTING, settings.accept_lease_seconds)
        if not held.ok:
            if held.previous == ACCEPTING:  # a concurrent delivery is handing it over, or crashed doing so
                log.info("activity %s is being accepted by another delivery: asked to retry", job.turn.id)
                return retry_later("This activity is being accepted; retry shortly.")
            log.info("duplicate activity %s in %s: %s already", job.turn.id, job.turn.conversation.id, held.previous)
            return response
        try:
            await self.queue.submit(job.model_copy(update={"accepted_at": time.time()}))
        except QueueFull:
            await self.store.release(key, held.owner)
            return await self._slow_down(job, response, self.settings.slow_down_window_seconds)
        except JobTooLarge as problem:  # a 503 here was retried by the channel for ever, to the same end
            log.warning("activity %s refused: %s", job.turn.id, problem)
            await self.store.release(key, held.owner)
            return error(413, "PayloadTooLarge", "The activity is too large for the bot's queue; send less text.")
        except QueueError as problem:
            log.error("could not queue activity %s: %s", job.turn.id, problem)
            await self.store.release(key, held.owner)
            return retry_later("The bot cannot take work right now; retry shortly.")
        # A fast worker may have taken it to `running` already: then this write does nothing.
        await self.store.acquire(key, QUEUED, settings.queue_lease_seconds, take_over=(ACCEPTING,))
        return response
