"""Amazon Bedrock AgentCore Runtime backend: InvokeAgentRuntime on one agent runtime, streamed into Teams.

Two ways to call the agent, as its inbound authorisation is configured:
- `sigv4` (IAM): boto3's `bedrock-agentcore` client with the gateway's role; the Teams user goes along as the
  runtime user id (`X-Amzn-Bedrock-AgentCore-Runtime-User-Id`, which needs bedrock-agentcore:InvokeAgentRuntimeForUser).
- `oauth` (a JWT authoriser, e.g. Microsoft Entra ID): the same HTTPS endpoint with the signed-in user's own
  token (`Authorization: Bearer`), from the bot's OAuth connection through Teams SSO; AgentCore takes the user
  from the token. No token yet, or a token the agent refuses: the user gets the sign-in card.

The payload contract (what is sent and what is read) is in docs/agentcore.md. boto3 is synchronous: the answer
is read on a thread of its own and handed to the event loop through a queue, as the Bedrock backend does.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from services.backends._threaded import client_config, make_client, read_in_thread
from services.backends.agentcore.replies import BodyReader
from services.backends.base import (
    AnswerEvent,
    BackendError,
    Capabilities,
    FinalAnswer,
    Question,
    SignInRequired,
    TextDelta,
    TokenUsage,
    report_unfinished_usage,
)
from services.errors import aws_error_code, aws_error_message, describe_error

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 100 * 1000 * 1000  # InvokeAgentRuntime's payload limit (100 MB)
MAX_ANSWER_CHARS = 200_000  # an agent that never stops is cut here
READ_SIZE = 64 * 1024

SENTENCES = {
    "credentials": "The gateway has no AWS credentials: the operator must give it a role that may call the agent.",
    "timeout": "The agent did not answer in time. Please try again.",
    "busy": "The agent is too busy right now. Please try again in a minute.",
    "sessions": "The agent has too many conversations open right now. Please try again in a few minutes.",
    "too_big": "This message is too large for the agent (its limit is 100 MB). Please send less.",
    "agent_failed": "The agent ran into an error while answering. Please try again; if it keeps happening, tell "
    "the agent's owners.",
    "denied": "The gateway may not call this agent: the operator must grant its role "
    "bedrock-agentcore:InvokeAgentRuntime and bedrock-agentcore:InvokeAgentRuntimeForUser on {arn}.",
    "denied_user": "The agent does not accept your sign-in: ask its owners for access.",
    "missing": "The agent {arn} does not exist: the operator must check AGENTCORE_RUNTIME_ARN and AGENTCORE_QUALIFIER.",
    "invalid": "The agent refused the request as invalid: the operator should check AGENTCORE_RUNTIME_ARN, "
    "AGENTCORE_QUALIFIER and AGENTCORE_AUTH.",
    "other": "The agent could not answer this time. Please try again.",
}
SIGN_IN = "Please sign in so that the agent can answer with your own permissions."
SIGN_IN_AGAIN = "Your sign-in has expired. Please sign in again so that the agent can answer."
REASONS = {
    "throttlingexception": "busy", "retryableconflictexception": "busy", "servicequotaexceededexception": "sessions",
    "runtimeclienterror": "agent_failed", "accessdeniedexception": "denied", "resourcenotfoundexception": "missing",
    "internalserverexception": "other",
}  # fmt: skip
RETRY_STATUSES = {429, 500, 502, 503, 504}
HTTP_REASONS = {400: "invalid", 403: "denied_user", 404: "missing", 413: "too_big", 424: "agent_failed", 429: "busy"}


@dataclass(frozen=True)
class AgentCoreConfig:
    """What the AgentCore backend needs from the settings."""

    runtime_arn: str
    qualifier: str = "DEFAULT"
    region: str = ""
    auth: str = "sigv4"  # or "oauth"
    timeout_seconds: float = 120.0
    max_attempts: int = 3
    max_input_chars: int = 20_000

    @classmethod
    def from_settings(cls, settings: Any) -> AgentCoreConfig:
        """Return the config read from the gateway settings (the region is the ARN's unless AGENTCORE_REGION)."""
        return cls(
            runtime_arn=settings.agentcore_runtime_arn,
            qualifier=settings.agentcore_qualifier,
            region=settings.agentcore_region or region_of(settings.agentcore_runtime_arn),
            auth=settings.agentcore_auth,
            timeout_seconds=settings.agentcore_timeout_seconds,
            max_attempts=settings.agentcore_max_attempts,
            max_input_chars=settings.agentcore_max_input_chars,
        )


def region_of(arn: str) -> str:
    """Return the region field of an ARN ('' when it has none)."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 else ""


def session_id_for(runtime_arn: str, conversation_key: str) -> str:
    """Return a new runtimeSessionId for a conversation: 70 characters (AgentCore wants at least 33), the first
    24 hex digits a hash of the runtime and the conversation key (so one conversation's sessions can be found in
    the agent's logs without its key), then a random part (so `new` starts a fresh agent session)."""
    digest = hashlib.sha256(f"{runtime_arn}|{conversation_key}".encode()).hexdigest()[:24]
    return f"teams-{digest}-{uuid.uuid4().hex}-{uuid.uuid4().hex[:6]}"


def explain(error: BaseException, config: AgentCoreConfig) -> BackendError:
    """Return the BackendError whose sentence says what went wrong (never the exception text)."""
    code, message = aws_error_code(error), aws_error_message(error).lower()
    if isinstance(error, NoCredentialsError):
        reason = "credentials"
    elif isinstance(error, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError | TimeoutError):
        reason = "timeout"
    elif code == "validationexception":
        reason = "too_big" if "payload" in message and ("size" in message or "large" in message) else "invalid"
    else:
        reason = REASONS.get(code, "other")
    return BackendError(SENTENCES[reason].format(arn=config.runtime_arn), detail=describe_error(error))


class HttpRefusal(Exception):
    """The agent's HTTPS endpoint answered an error status (OAuth mode)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"HTTP {status} {code}")
        self.status, self.code = status, code.lower()


def _explain_http(refusal: HttpRefusal, config: AgentCoreConfig) -> BackendError:
    if refusal.status == 401:
        return SignInRequired(SIGN_IN_AGAIN, detail=str(refusal))
    reason = REASONS.get(refusal.code) or HTTP_REASONS.get(refusal.status) or "other"
    if reason == "denied":
        reason = "denied_user"  # with the user's own token, it is the user the agent refused
    if refusal.code == "validationexception" and refusal.status == 413:
        reason = "too_big"
    return BackendError(SENTENCES[reason].format(arn=config.runtime_arn), detail=str(refusal))


class AgentCoreBackend:
    """Answers with an agent on Amazon Bedrock AgentCore Runtime (InvokeAgentRuntime)."""

    status_text = "Asking the agent…"

    def __init__(self, config: AgentCoreConfig, client: Any = None, name: str = "agentcore") -> None:
        self.config = config
        self.name = name
        self.model_id = config.runtime_arn  # usage and prices are per runtime (the agent's model is not reported)
        self.max_input_chars = config.max_input_chars
        self.capabilities = Capabilities(
            label="the agent",
            streams_text=True,
            citations=False,
            acts_as_user=config.auth == "oauth",
            model_id=self.model_id,
        )
        boto_config = client_config(config.region, config.max_attempts, config.timeout_seconds)
        self.client = client or make_client(
            "bedrock-agentcore",
            boto_config,
            "Invalid setting AGENTCORE_REGION: no AWS region is configured (set it or use a full runtime ARN)",
        )

    def payload_of(self, question: Question) -> bytes:
        """Return the JSON payload sent to the agent (docs/agentcore.md): `prompt`, plus who asks."""
        body: dict[str, Any] = {"prompt": question.text}
        if question.user_name:
            body["user_name"] = question.user_name
        payload = json.dumps(body, ensure_ascii=False).encode()
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise BackendError(SENTENCES["too_big"])
        return payload

    def user_of(self, question: Question) -> str:
        """Return the runtime user id: the Entra object id when known, else the Teams user id."""
        return (question.identity.user_id if question.identity else "") or question.user_id

    async def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield the agent's text as it arrives, then the FinalAnswer (state: the runtime session id)."""
        session_id = question.state.get("session_id") or session_id_for(
            self.config.runtime_arn, question.conversation_key
        )
        payload = self.payload_of(question)
        token = await self._user_token(question) if self.capabilities.acts_as_user else ""
        parts: list[str] = []
        size = 0
        usage = TokenUsage()
        failed = False
        source = self._with_retries(payload, session_id, token) if token else self._sigv4(question, payload, session_id)
        try:
            async with contextlib.aclosing(source) as lines:
                async for piece in lines:
                    failed = failed or piece.error
                    usage.input_tokens += piece.input_tokens
                    usage.output_tokens += piece.output_tokens
                    if piece.whole and parts:
                        continue
                    if piece.text and size < MAX_ANSWER_CHARS:
                        text = piece.text[: MAX_ANSWER_CHARS - size]
                        size += len(text)
                        parts.append(text)
                        yield TextDelta(text=text)
        except (GeneratorExit, asyncio.CancelledError):  # stopped: whatever the agent reported so far
            if usage.total_tokens:
                report_unfinished_usage(usage, self.model_id)
            raise
        except (ClientError, BotoCoreError, TimeoutError) as error:
            log.warning("agentcore call failed: %s", describe_error(error))
            raise explain(error, self.config) from None
        except HttpRefusal as refusal:
            log.warning("agentcore call refused: %s", refusal)
            raise _explain_http(refusal, self.config) from None
        except aiohttp.ClientError as error:
            raise BackendError(SENTENCES["timeout"], detail=describe_error(error)) from None
        if failed and not parts:
            raise BackendError(SENTENCES["agent_failed"], detail="the agent reported an error")
        text = "".join(parts).strip()
        notes = ["The agent stopped with an error; the answer may be incomplete."] if failed else []
        yield FinalAnswer(
            text=text or "The agent gave no answer.",
            backend=self.name,
            conversation_id=session_id,
            message_id=uuid.uuid4().hex,
            model_id=self.model_id,
            state={"session_id": session_id},
            usage=usage if usage.total_tokens else None,
            notes=notes,
        )

    async def _user_token(self, question: Question) -> str:
        tokens = question.identity.tokens if question.identity else None
        token = await tokens.token() if tokens is not None else None
        if not token:
            raise SignInRequired(SIGN_IN)
        return token

    def _request(self, question: Question, payload: bytes, session_id: str) -> dict[str, Any]:
        request = {
            "agentRuntimeArn": self.config.runtime_arn,
            "qualifier": self.config.qualifier,
            "runtimeSessionId": session_id,
            "contentType": "application/json",
            "accept": "text/event-stream, application/json",
            "payload": payload,
        }
        user = self.user_of(question)
        if user:
            request["runtimeUserId"] = user[:1024]
        return request

    async def _sigv4(self, question: Question, payload: bytes, session_id: str) -> AsyncIterator[Any]:
        """Yield the pieces of the agent's answer, read by boto3 on a thread of its own."""
        request = self._request(question, payload, session_id)

        def read(emit: Callable[[Any], None], stop: threading.Event, hold: Callable[[Any], None]) -> None:
            response = self.client.invoke_agent_runtime(**request)
            body = response["response"]
            hold(body)
            reader = BodyReader("text/event-stream" in (response.get("contentType") or ""))
            while not stop.is_set():
                chunk = _read_some(body)
                if not chunk:
                    break
                for piece in reader.feed(chunk):
                    emit(piece)
            for piece in reader.finish():
                emit(piece)

        async with contextlib.aclosing(read_in_thread(read, "agentcore")) as pieces:
            async for piece in pieces:
                yield piece

    async def _with_retries(self, payload: bytes, session_id: str, token: str) -> AsyncIterator[Any]:
        """Yield the pieces of `_https`, calling again (with backoff, within AGENTCORE_MAX_ATTEMPTS and the time
        budget) when the agent is throttled or unavailable before it said anything: what botocore's retries do
        for the SigV4 calls."""
        deadline = time.monotonic() + self.config.timeout_seconds
        for attempt in range(1, self.config.max_attempts + 1):
            said = False
            try:
                async with contextlib.aclosing(self._https(payload, session_id, token)) as pieces:
                    async for piece in pieces:
                        said = True
                        yield piece
                return
            except HttpRefusal as refusal:
                wait = min(8.0, 0.5 * 2**attempt)
                retry = refusal.status in RETRY_STATUSES and attempt < self.config.max_attempts and not said
                if not retry or time.monotonic() + wait >= deadline:
                    raise
                log.info("agentcore answered %s; retrying in %.1f s", refusal.status, wait)
                await asyncio.sleep(wait)

    async def _https(self, payload: bytes, session_id: str, token: str) -> AsyncIterator[Any]:
        """Yield the pieces of the agent's answer, called over HTTPS with the user's bearer token."""
        endpoint = self.client.meta.endpoint_url.rstrip("/")  # honours AWS_ENDPOINT_URL_BEDROCK_AGENTCORE
        url = f"{endpoint}/runtimes/{quote(self.config.runtime_arn, safe='')}/invocations"
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream, application/json",
            "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id": session_id,
        }
        # A session per answer: the gateway has no hook to close a backend's session at shutdown, and one more TLS
        # handshake is small beside an agent's answer.
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds, connect=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(url, params={"qualifier": self.config.qualifier}, data=payload, headers=headers) as response,
        ):
            if response.status >= 400:
                raise HttpRefusal(response.status, response.headers.get("x-amzn-ErrorType", "").split(":")[0])
            reader = BodyReader("text/event-stream" in response.headers.get("Content-Type", ""))
            async for chunk in response.content.iter_any():
                for piece in reader.feed(chunk):
                    yield piece
            for piece in reader.finish():
                yield piece


def _read_some(body: Any) -> bytes:
    """Return the next bytes botocore's stream has (at most READ_SIZE), without waiting for READ_SIZE of them:
    StreamingBody.read(n) waits for n bytes, which would hold back short SSE events."""
    raw = getattr(body, "_raw_stream", None)
    if raw is not None and hasattr(raw, "read1"):
        return raw.read1(READ_SIZE)
    return body.read(1024)
