"""Amazon Q Business backend: `chat_sync` (boto3 has no streaming Q chat), as the gateway or as each user.

- `QBUSINESS_IDENTITY=anonymous`: applications created as anonymous; one client with the gateway's role.
- `QBUSINESS_IDENTITY=idc`: IAM Identity Center applications; every call uses the asking user's own
  credentials (services/identity), so Q answers with that user's permissions. Clients are never shared.
Continuity: the conversation id and the last system message id (the next turn's parentMessageId) are the
backend state; a conversation Q no longer knows is started again once, and the user is told.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    ReadTimeoutError,
)

from services.backends._threaded import client_config
from services.backends.base import (
    AnswerEvent,
    AttachmentRules,
    BackendError,
    Capabilities,
    Citation,
    FinalAnswer,
    Identity,
    Question,
    SignInRequired,
    excerpt_of,
)
from services.backends.registry import BackendType
from services.errors import Backoff, aws_error_code, aws_error_message, describe_error
from services.identity import CredentialVault, FernetCipher, IdcExchange, IdentityConfig, KmsCipher
from services.identity.exchange import Credentials
from services.settings import IDC_APPLICATION_ARN, PLUGIN_ID, ROLE_ARN, SettingsError

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 7_000  # Q Business's limit on userMessage
RETRYABLE = frozenset({"throttlingexception", "internalserverexception"})
BACKOFF = Backoff(RETRYABLE, base=0.25)
# Files Q Business reads in chat (its documented attachment types), and the gateway's limits per turn.
ATTACHMENTS = AttachmentRules(
    frozenset({"csv", "doc", "docx", "html", "htm", "json", "md", "pdf", "ppt", "pptx", "rtf", "txt", "xls", "xlsx",
               "xml"}),
    max_files=5,
    max_bytes=10 * 1024 * 1024,
)  # fmt: skip
CLIENT_CACHE_USERS = 256
MIN_ATTEMPT_SECONDS = 1.0  # an attempt with less time left than this is not started: it would only time out
CONVERSATION_RESET = (
    "Your earlier conversation with Amazon Q Business had expired, so I started a new one: it does not know "
    "the earlier context."
)
SIGN_IN_FIRST = "Amazon Q Business answers with your own permissions: please sign in first (the card below)."
NO_USER = (
    "Amazon Q Business needs to know who you are, and Teams did not say: ask in a chat or channel of your "
    "organisation's Teams."
)
ACTION_WAITING = "Amazon Q Business wants to run the action below: check the fields, then confirm or cancel."
PLUGIN_MODE_NEEDS_ID = (
    "Invalid setting QBUSINESS_PLUGIN_ID: required when QBUSINESS_CHAT_MODE is PLUGIN_MODE (the plugin's "
    "36-character id: Q Business console → your application → Plugins)"
)
AUTH_CHALLENGE = "Amazon Q Business needs you to sign in to a plugin first: use the link below, then ask again."


@dataclass(frozen=True)
class QBusinessConfig:
    """What the Q Business backend needs from the settings."""

    application_id: str
    region: str = ""
    identity: str = "idc"
    chat_mode: str = ""
    plugin_id: str = ""
    idc_application_arn: str = ""
    idc_region: str = ""
    role_arn: str = ""
    credentials_key: str = ""
    kms_key_id: str = ""
    timeout_seconds: float = 60.0
    max_input_chars: int = MAX_INPUT_CHARS

    @classmethod
    def from_settings(cls, settings: Any) -> QBusinessConfig:
        """Return the config read from the gateway settings."""
        return cls(
            application_id=settings.qbusiness_application_id,
            region=settings.qbusiness_region,
            identity=settings.qbusiness_identity,
            chat_mode=settings.qbusiness_chat_mode,
            plugin_id=settings.qbusiness_plugin_id,
            idc_application_arn=settings.qbusiness_idc_application_arn,
            idc_region=settings.qbusiness_idc_region,
            role_arn=settings.qbusiness_role_arn,
            credentials_key=settings.credentials_key.get_secret_value(),
            kms_key_id=settings.credentials_kms_key_id,
            timeout_seconds=settings.qbusiness_timeout_seconds,
        )


# One sentence per failure, naming what to fix; never the exception text.
SENTENCES = {
    "credentials": "The gateway has no AWS credentials: the operator must give it a role that may call Amazon Q "
    "Business.",
    "timeout": "Amazon Q Business did not answer in time. Please try again.",
    "denied_gateway": "The gateway may not call Amazon Q Business: the operator must grant its role "
    "qbusiness:ChatSync and qbusiness:PutFeedback on the application {app}.",
    "denied_user": "Amazon Q Business refused your request: you may lack a Q Business subscription, or the role "
    "QBUSINESS_ROLE_ARN lacks qbusiness:ChatSync on {app}. Ask the admin to check both.",
    "license": "You have no Amazon Q Business subscription for this application: ask the admin to subscribe you.",
    "missing": "Amazon Q Business has no application {app} in {region}: the operator must check "
    "QBUSINESS_APPLICATION_ID and QBUSINESS_REGION.",
    "invalid": "Amazon Q Business rejected the request as invalid: the operator should check QBUSINESS_CHAT_MODE "
    "and QBUSINESS_IDENTITY against the application's settings.",
    "external": "A data source or plugin behind Amazon Q Business failed. Please try again; if it keeps "
    "happening, the admin should check the plugin's connection.",
    "busy": "Amazon Q Business is too busy right now. Please try again in a minute.",
    "other": "Amazon Q Business could not answer this time. Please try again.",
}


def conversation_gone(error: Exception) -> bool:
    """Return True when Q says the conversation (or its parent message) is not found or expired."""
    code, message = aws_error_code(error), aws_error_message(error)
    if "conversation" not in message and "message" not in message:
        return False
    if code == "resourcenotfoundexception":
        return True
    return code == "validationexception" and any(w in message for w in ("expired", "not found", "does not exist"))


def explain(error: Exception, config: QBusinessConfig) -> BackendError:
    """Return the BackendError whose sentence says what to do (the user, or the operator)."""
    code = aws_error_code(error)
    if isinstance(error, NoCredentialsError):
        reason = "credentials"
    elif isinstance(error, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError | TimeoutError):
        reason = "timeout"
    elif code == "accessdeniedexception":
        reason = "denied_user" if config.identity == "idc" else "denied_gateway"
    elif code == "licensenotfoundexception":
        reason = "license"
    elif code == "resourcenotfoundexception":
        reason = "missing"
    elif code == "validationexception" or isinstance(error, ParamValidationError):
        reason = "invalid"
    elif code == "externalresourceexception":
        reason = "external"
    else:
        reason = "busy" if code in RETRYABLE else "other"
    sentence = SENTENCES[reason].format(app=config.application_id, region=config.region or "the configured region")
    return BackendError(sentence, detail=describe_error(error))


def citations_of(response: dict[str, Any]) -> tuple[str, list[Citation]]:
    """Return (the answer text with [n] after each passage a source supports, the numbered citations)."""
    text = response.get("systemMessage") or ""
    citations: list[Citation] = []
    marks: list[tuple[int, int]] = []
    for index, source in enumerate(response.get("sourceAttributions") or [], start=1):
        number = source.get("citationNumber") or index
        url = source.get("url") or None
        title = source.get("title") or (url.rstrip("/").rsplit("/", 1)[-1] if url else "") or f"Source {number}"
        citations.append(
            Citation(
                number=number, title=title, source=url or source.get("documentId") or title,
                excerpt=excerpt_of(source.get("snippet") or ""), url=url,
            )
        )  # fmt: skip
        for segment in source.get("textMessageSegments") or []:
            end = segment.get("endOffset")
            if isinstance(end, int) and 0 <= end <= len(text):
                marks.append((end, number))
    if marks and "[" not in text:  # Q's text has no markers of its own: place them where its segments end
        for end, number in sorted(set(marks), reverse=True):
            text = f"{text[:end]} [{number}]{text[end:]}"
    return text, sorted(citations, key=lambda c: c.number)


FAILED_ATTACHMENT = {
    "invalidfiletype": "Amazon Q Business does not read this type of file",
    "filetoolarge": "it is larger than Amazon Q Business accepts",
}


def failed_attachment_notes(response: dict[str, Any]) -> list[str]:
    """Return one sentence per attachment Q reports it could not use."""
    notes = []
    for failed in response.get("failedAttachments") or []:
        code = str((failed.get("error") or {}).get("errorCode") or "").lower().replace("_", "")
        reason = FAILED_ATTACHMENT.get(code, "Amazon Q Business could not read it")
        notes.append(f"I could not use {failed.get('name') or 'a file'}: {reason}.")
    return notes


DEFAULT_SEPARATOR = "."  # ActionExecution requires payloadFieldNameSeparator; Q's own default


def plain(value: Any) -> Any:
    """Return a plugin field value as it is: Q types values as free JSON documents, and some plugins wrap them
    as {"value": x} (the shape the ActionExecution payload uses); both are read as x."""
    while isinstance(value, dict) and set(value) == {"value"}:
        value = value["value"]
    return value


def _choice(allowed: Any) -> dict[str, Any]:
    if isinstance(allowed, dict) and ("value" in allowed or "displayValue" in allowed):
        value, title = plain(allowed.get("value")), plain(allowed.get("displayValue"))
    else:  # a bare allowed value
        value, title = plain(allowed), None
    return {"value": value, "title": title if isinstance(title, str | int | float) else None}


def review_of(response: dict[str, Any]) -> dict[str, Any] | None:
    """Return the plugin action Q wants reviewed as a plain dict (`kind` action_review), or None."""
    review = response.get("actionReview")
    if not review:
        return None
    fields = {}
    for name, field in (review.get("payload") or {}).items():
        field = field if isinstance(field, dict) else {"value": field}
        kind = str(field.get("type") or "STRING").upper()
        order = field.get("displayOrder")
        fields[name] = {
            "label": str(field.get("displayName") or name),
            "description": str(field.get("displayDescription") or ""),
            "order": order if isinstance(order, int) else 0,
            "type": kind,
            "value": plain(field.get("value")),
            "required": bool(field.get("required")),
            "choices": [] if kind == "ARRAY" else [_choice(c) for c in field.get("allowedValues") or []],
        }
    return {
        "kind": "action_review",
        "id": uuid.uuid4().hex[:12],
        "plugin_id": review.get("pluginId", ""),
        "plugin_type": review.get("pluginType", ""),
        "separator": review.get("payloadFieldNameSeparator") or DEFAULT_SEPARATOR,
        "fields": fields,
    }


class QBusinessBackend:
    """Answers with an Amazon Q Business application through ChatSync."""

    status_text = "Asking Amazon Q Business…"

    def __init__(
        self,
        config: QBusinessConfig,
        store: Any = None,
        *,
        client: Any = None,
        exchange: IdcExchange | None = None,
        vault: CredentialVault | None = None,
        name: str = "qbusiness",
    ) -> None:
        self.name = name
        self.capabilities = Capabilities(
            label="Amazon Q Business", citations=True, acts_as_user=config.identity == "idc", feedback=True,
            signs_out=config.identity == "idc", reviews_actions=True, model_id=config.application_id,
            attachments=ATTACHMENTS,
        )  # fmt: skip
        if config.chat_mode == "PLUGIN_MODE" and not config.plugin_id:
            raise SettingsError(PLUGIN_MODE_NEEDS_ID)
        self.config = config
        self.max_input_chars = min(config.max_input_chars, MAX_INPUT_CHARS)
        # Retries are ours (bounded by the turn's time budget, with the same clientToken), not botocore's.
        self._boto_config = client_config(None, 1, config.timeout_seconds)
        self._clients: OrderedDict[str, tuple[Credentials, Any]] = OrderedDict()
        self._shared = client
        self.exchange = exchange
        self.vault = vault
        if config.identity == "anonymous":
            self._shared = client or self._new_client()
        elif exchange is None or vault is None:
            if store is None:
                raise ValueError("the Q Business backend (QBUSINESS_IDENTITY=idc) needs the store for credentials")
            self.exchange = exchange or IdcExchange(
                IdentityConfig(config.idc_application_arn, config.role_arn, config.idc_region, config.region)
            )
            cipher = KmsCipher(config.kms_key_id) if config.kms_key_id else FernetCipher(config.credentials_key)
            self.vault = vault or CredentialVault(store, cipher)

    def _new_client(self, credentials: Credentials | None = None) -> Any:
        keys = {}
        if credentials is not None:
            keys = {
                "aws_access_key_id": credentials.access_key_id,
                "aws_secret_access_key": credentials.secret_access_key,
                "aws_session_token": credentials.session_token,
            }
        try:
            return boto3.client("qbusiness", region_name=self.config.region or None, config=self._boto_config, **keys)
        except NoRegionError:
            raise SettingsError(
                "Invalid setting QBUSINESS_REGION: no AWS region is configured (set QBUSINESS_REGION or AWS_REGION)"
            ) from None

    async def client_for(self, identity: Identity | None) -> Any:
        """Return the qbusiness client to ask with: the gateway's (anonymous) or the user's own (idc).

        Raises SignInRequired when the user has no usable sign-in yet."""
        if self.config.identity == "anonymous":
            return self._shared
        if identity is None or not identity.user_id:
            raise BackendError(NO_USER)
        user = identity.user_id
        credentials = await self.vault.get(user)
        if credentials is None:
            token = await identity.tokens.token() if identity.tokens is not None else None
            if not token:
                raise SignInRequired(SIGN_IN_FIRST)
            credentials = await self.exchange.exchange(token, user)
            await self.vault.put(user, credentials)
        cached = self._clients.get(user)
        if cached is not None and cached[0] == credentials:
            self._clients.move_to_end(user)
            return cached[1]
        client = self._new_client(credentials)
        self._clients[user] = (credentials, client)
        while len(self._clients) > CLIENT_CACHE_USERS:
            self._clients.popitem(last=False)
        return client

    async def forget(self, identity: Identity) -> None:
        """Forget the user's credentials and client (sign-out)."""
        self._clients.pop(identity.user_id, None)
        if self.vault is not None:
            await self.vault.forget(identity.user_id)

    async def _call(self, method: Any, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Return `method(**request)`; throttling and internal errors are retried with backoff while the turn's
        time budget lasts (ChatSync is idempotent for one clientToken). No attempt starts with less than
        MIN_ATTEMPT_SECONDS left (a quarter of a budget shorter than 4 s), and none runs past `deadline`
        (TimeoutError)."""
        floor = min(MIN_ATTEMPT_SECONDS, self.config.timeout_seconds / 4)
        attempt = 0
        while True:
            attempt += 1
            left = deadline - time.monotonic()
            if left < floor:
                raise TimeoutError("the time budget of the turn is spent")
            try:
                async with asyncio.timeout(left):
                    return await asyncio.to_thread(method, **request)
            except ClientError as error:
                backoff = BACKOFF.delay(error, attempt, deadline, floor=floor)
                if backoff is None:
                    raise
                log.warning("qbusiness %s (attempt %d): retrying in %.2f s", describe_error(error), attempt, backoff)
                await asyncio.sleep(backoff)

    def _request(self, question: Question, state: dict[str, Any]) -> dict[str, Any]:
        request: dict[str, Any] = {"applicationId": self.config.application_id, "clientToken": str(uuid.uuid4())}
        if question.action:
            request["actionExecution"] = question.action
        else:
            request["userMessage"] = question.text[: self.max_input_chars]
        if self.config.chat_mode and not question.action:
            request["chatMode"] = self.config.chat_mode
            if self.config.chat_mode == "PLUGIN_MODE":  # Q refuses PLUGIN_MODE without the plugin to use
                request["chatModeConfiguration"] = {"pluginConfiguration": {"pluginId": self.config.plugin_id}}
        if question.attachments:
            request["attachments"] = [{"name": a.name, "data": a.data} for a in question.attachments]
        if state.get("conversation_id"):
            request["conversationId"] = state["conversation_id"]
            if state.get("parent_message_id"):
                request["parentMessageId"] = state["parent_message_id"]
        return request

    async def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield one FinalAnswer: Q's answer with numbered sources, or a plugin action / sign-in to do first."""
        deadline = time.monotonic() + self.config.timeout_seconds  # one budget for the turn: sign-in, Q, the retry
        client = await self.client_for(question.identity)
        notes: list[str] = []
        state = question.state
        try:
            try:
                response = await self._call(client.chat_sync, self._request(question, state), deadline)
            except ClientError as error:
                if not (state.get("conversation_id") and conversation_gone(error)) or question.action:
                    raise
                log.info("qbusiness conversation of %s is gone: starting a new one", question.conversation_key)
                notes.append(CONVERSATION_RESET)
                state = {}
                response = await self._call(client.chat_sync, self._request(question, state), deadline)
        except (ClientError, BotoCoreError, TimeoutError) as error:
            log.warning("qbusiness chat_sync failed: %s", describe_error(error))
            raise explain(error, self.config) from None  # the cause's text may quote the question
        text, citations = citations_of(response)
        pending = review_of(response)
        challenge = (response.get("authChallengeRequest") or {}).get("authorizationUrl")
        if pending is None and challenge:
            pending = {"kind": "auth_challenge", "url": challenge}
        if pending is not None and not text:
            text = ACTION_WAITING if pending["kind"] == "action_review" else AUTH_CHALLENGE
        notes += failed_attachment_notes(response)
        conversation_id = response.get("conversationId") or state.get("conversation_id", "")
        new_state = {
            "conversation_id": conversation_id,
            "parent_message_id": response.get("systemMessageId") or state.get("parent_message_id", ""),
        }
        yield FinalAnswer(
            text=text or "Amazon Q Business returned no answer.",
            citations=citations,
            backend=self.name,
            conversation_id=conversation_id,
            message_id=response.get("systemMessageId", ""),
            model_id=self.config.application_id,
            state=new_state,
            pending=pending,
            notes=notes,
        )

    async def send_feedback(
        self, identity: Identity | None, conversation_id: str, message_id: str, useful: bool, comment: str = ""
    ) -> None:
        """Tell Q the user found an answer useful or not (PutFeedback, as the user in idc mode)."""
        client = await self.client_for(identity)
        usefulness: dict[str, Any] = {
            "usefulness": "USEFUL" if useful else "NOT_USEFUL",
            "submittedAt": datetime.now(UTC),
        }
        if comment:
            usefulness["comment"] = comment[:1000]
        request = {
            "applicationId": self.config.application_id, "conversationId": conversation_id, "messageId": message_id,
            "messageUsefulness": usefulness,
        }  # fmt: skip
        try:
            await self._call(client.put_feedback, request, time.monotonic() + self.config.timeout_seconds)
        except (ClientError, BotoCoreError, TimeoutError) as error:
            log.warning("qbusiness put_feedback failed: %s", describe_error(error))
            raise explain(error, self.config) from None  # the cause's text may quote the comment


def _check(settings: Any) -> None:
    if not settings.qbusiness_application_id:
        raise ValueError("QBUSINESS_APPLICATION_ID: required when BACKEND is qbusiness (the application's id)")
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9-]{35}", settings.qbusiness_application_id):
        raise ValueError(
            "QBUSINESS_APPLICATION_ID: must be the application's 36-character id (Q Business console → "
            "Application details), not its name or ARN"
        )
    if settings.qbusiness_chat_mode == "PLUGIN_MODE" and not settings.qbusiness_plugin_id:
        raise ValueError(
            "QBUSINESS_PLUGIN_ID: required when QBUSINESS_CHAT_MODE is PLUGIN_MODE (the plugin's 36-character id: "
            "Q Business console → your application → Plugins)"
        )
    if settings.qbusiness_plugin_id and not re.fullmatch(PLUGIN_ID, settings.qbusiness_plugin_id):
        raise ValueError(
            "QBUSINESS_PLUGIN_ID: must be the plugin's 36-character id (Q Business console → your application → "
            "Plugins), not its name"
        )
    if settings.qbusiness_identity == "idc":
        for name in ("qbusiness_idc_application_arn", "qbusiness_role_arn", "qbusiness_oauth_connection"):
            if not getattr(settings, name):
                raise ValueError(f"{name.upper()}: required when QBUSINESS_IDENTITY is idc (see docs/qbusiness.md)")
        if not re.fullmatch(IDC_APPLICATION_ARN, settings.qbusiness_idc_application_arn):
            raise ValueError(
                "QBUSINESS_IDC_APPLICATION_ARN: must be the ARN of the IAM Identity Center customer-managed "
                "application, like arn:aws:sso::<account>:application/ssoins-…/apl-… (IAM Identity Center "
                "console → Applications → the application)"
            )
        if not re.fullmatch(ROLE_ARN, settings.qbusiness_role_arn):
            raise ValueError(
                "QBUSINESS_ROLE_ARN: must be the ARN of the role assumed for each user, like "
                "arn:aws:iam::<account>:role/<name> (IAM console → Roles → the role)"
            )
        if not (settings.credentials_key.get_secret_value() or settings.credentials_kms_key_id):
            raise ValueError(
                "CREDENTIALS_KEY: set CREDENTIALS_KEY (a Fernet key) or CREDENTIALS_KMS_KEY_ID when "
                "QBUSINESS_IDENTITY is idc: users' credentials are kept encrypted"
            )


def _sign_in_connection(settings: Any) -> str:
    return settings.qbusiness_oauth_connection if settings.qbusiness_identity == "idc" else ""


def _create(settings: Any, store: Any, name: str) -> QBusinessBackend:
    return QBusinessBackend(QBusinessConfig.from_settings(settings), store, name=name)


BACKEND_TYPE = BackendType(
    name="qbusiness",
    create=_create,
    check=_check,
    sign_in_connection=_sign_in_connection,
    teams_extras="handlers.qbusiness:register_qbusiness",
    summary="Amazon Q Business answers, with sources, in Teams.",
    description="Answers questions from your company's Amazon Q Business application with numbered sources from "
    "the company data it indexes.",
    as_user="Each person signs in once (Teams single sign-on) and Q Business answers with what they may see.",
)
