"""Amazon Bedrock Agents backend: InvokeAgent on one agent alias, the final response streamed into Teams.

- `streamingConfigurations.streamFinalResponse` makes the agent send its final answer in chunks as it is written.
- Traces are on (`enableTrace`) for two things only: the token counts of each model call (for usage) and the
  guardrail's verdict. Traces also hold prompts and the agent's reasoning: they are never logged or kept.
- Knowledge-base citations (`attribution`) become numbered sources, marked [n] after the text they support.
- Return of control: the agent asks the application to run (or the user to confirm) an action. It becomes a review
  card (services/backends/bedrock_agent/review.py) that only the asker may confirm; the confirmed values go back to
  the agent in `sessionState.returnControlInvocationResults`, and the agent answers on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from services.backends._threaded import client_config, make_client, read_in_thread
from services.backends.base import (
    AnswerEvent,
    BackendError,
    Capabilities,
    Citation,
    CitationsFound,
    FinalAnswer,
    Question,
    TextDelta,
    TokenUsage,
    report_unfinished_usage,
)
from services.backends.bedrock import _source as source_of  # a retrieved reference has a retrieval result's shape
from services.backends.bedrock_agent.review import pending_of, results_of
from services.errors import aws_error_code, describe_error

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 200_000
MAX_SOURCES = 20
SENTENCES = {
    "credentials": "The gateway has no AWS credentials: the operator must give it a role that may call the agent.",
    "timeout": "The agent did not answer in time. Please try again.",
    "busy": "The agent is too busy right now. Please try again in a minute.",
    "conflict": "The agent is still working on an earlier message of this conversation. Please wait for it, then "
    "ask again.",
    "dependency": "A tool or knowledge base the agent uses failed. Please try again; if it keeps happening, tell the "
    "agent's owners.",
    "denied": "The gateway may not call this agent: the operator must grant its role bedrock:InvokeAgent on the "
    "alias {alias} of agent {agent}.",
    "missing": "The agent {agent} or its alias {alias} does not exist in {region}: the operator must check "
    "BEDROCK_AGENT_ID, BEDROCK_AGENT_ALIAS_ID and BEDROCK_AGENT_REGION.",
    "invalid": "The agent refused the request as invalid: the operator should check the agent's alias and its "
    "action groups.",
    "other": "The agent could not answer this time. Please try again.",
}
REASONS = {
    "throttlingexception": "busy", "servicequotaexceededexception": "busy", "modelnotreadyexception": "busy",
    "conflictexception": "conflict", "dependencyfailedexception": "dependency", "badgatewayexception": "dependency",
    "accessdeniedexception": "denied", "resourcenotfoundexception": "missing", "validationexception": "invalid",
}  # fmt: skip
BLOCKED_QUESTION = "The agent's guardrail blocked this question. Please ask differently."
BLOCKED_ANSWER = "The agent's guardrail stopped this answer."
ACTION_GONE = "The agent no longer waits for this action. Ask again if needed."
ACTION_TEXT = "The agent wants to run an action for you: review it below."
TRACE_STEPS = ("preProcessingTrace", "orchestrationTrace", "postProcessingTrace", "routingClassifierTrace",
               "customOrchestrationTrace")  # fmt: skip


@dataclass(frozen=True)
class BedrockAgentConfig:
    """What the Bedrock Agents backend needs from the settings."""

    agent_id: str
    alias_id: str
    region: str = ""
    timeout_seconds: float = 120.0
    max_attempts: int = 3
    max_input_chars: int = 20_000

    @classmethod
    def from_settings(cls, settings: Any) -> BedrockAgentConfig:
        """Return the config read from the gateway settings."""
        return cls(
            agent_id=settings.bedrock_agent_id,
            alias_id=settings.bedrock_agent_alias_id,
            region=settings.bedrock_agent_region,
            timeout_seconds=settings.bedrock_agent_timeout_seconds,
            max_input_chars=settings.bedrock_agent_max_input_chars,
        )


def session_id_for(agent_id: str, conversation_key: str) -> str:
    """Return a new sessionId for a conversation (63 characters of [0-9a-z-]): a hash of the agent and the
    conversation key, then a random part, so `new` starts a fresh agent session."""
    digest = hashlib.sha256(f"{agent_id}|{conversation_key}".encode()).hexdigest()[:24]
    return f"teams-{digest}-{uuid.uuid4().hex}"


def explain(error: BaseException, config: BedrockAgentConfig) -> BackendError:
    """Return the BackendError whose sentence says what went wrong (never the exception text)."""
    if isinstance(error, NoCredentialsError):
        reason = "credentials"
    elif isinstance(error, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError | TimeoutError):
        reason = "timeout"
    else:
        reason = REASONS.get(aws_error_code(error), "other")
    sentence = SENTENCES[reason].format(
        agent=config.agent_id, alias=config.alias_id, region=config.region or "the configured region"
    )
    return BackendError(sentence, detail=describe_error(error))


@dataclass
class _Reading:
    """What the events of one answer said, besides its text."""

    usage: TokenUsage
    model_id: str = ""
    blocked: str = ""  # "question" or "answer" when the guardrail intervened
    failed: bool = False


def _read_trace(trace: dict[str, Any], reading: _Reading) -> None:
    """Take token counts, the foundation model and the guardrail's verdict from one trace event; nothing else."""
    inner = trace.get("trace") or {}
    guardrail = inner.get("guardrailTrace") or {}
    if guardrail.get("action") == "INTERVENED":
        reading.blocked = "answer" if guardrail.get("outputAssessments") else "question"
    if inner.get("failureTrace"):
        reading.failed = True
    for step in TRACE_STEPS:
        part = inner.get(step) or {}
        model_input = part.get("modelInvocationInput") or {}
        if isinstance(model_input.get("foundationModel"), str):
            reading.model_id = model_input["foundationModel"][:200]
        usage = ((part.get("modelInvocationOutput") or {}).get("metadata") or {}).get("usage") or {}
        reading.usage.input_tokens += _count(usage.get("inputTokens"))
        reading.usage.output_tokens += _count(usage.get("outputTokens"))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else 0


def mark_citations(text: str, citations: list[tuple[str, list[int]]]) -> str:
    """Return `text` with [n] after each passage a citation supports (`(passage, source numbers)` in order); a
    passage not found in the text gets no mark (its sources are still listed)."""
    position = 0
    for passage, numbers in citations:
        passage = passage.strip()
        found = text.find(passage, position) if passage else -1
        if found < 0 or not numbers:
            continue
        end = found + len(passage)
        marks = "".join(f"[{n}]" for n in numbers)
        text = f"{text[:end]} {marks}{text[end:]}"
        position = end + len(marks) + 1
    return text


class BedrockAgentBackend:
    """Answers with an Amazon Bedrock agent (InvokeAgent on BEDROCK_AGENT_ID / BEDROCK_AGENT_ALIAS_ID)."""

    status_text = "Asking the agent…"

    def __init__(self, config: BedrockAgentConfig, client: Any = None, name: str = "bedrock-agent") -> None:
        self.config = config
        self.name = name
        self.model_id = f"bedrock-agent/{config.agent_id}"  # priced per agent until a trace names its model
        self.max_input_chars = config.max_input_chars
        self.capabilities = Capabilities(
            label="the agent", streams_text=True, citations=True, reviews_actions=True, model_id=self.model_id
        )
        boto_config = client_config(config.region, config.max_attempts, config.timeout_seconds)
        self.client = client or make_client(
            "bedrock-agent-runtime",
            boto_config,
            "Invalid setting BEDROCK_AGENT_REGION: no AWS region is configured (set it or AWS_REGION)",
        )

    def request_of(self, question: Question, session_id: str) -> dict[str, Any]:
        """Return the InvokeAgent request: the question, or the results of a confirmed action."""
        request: dict[str, Any] = {
            "agentId": self.config.agent_id,
            "agentAliasId": self.config.alias_id,
            "sessionId": session_id,
            "enableTrace": True,
            "streamingConfigurations": {"streamFinalResponse": True},
        }
        if question.action is not None:
            # The confirmed action carries what the agent waits for (kept server-side with the review), so it goes
            # back to the session that asked even after the conversation moved on (`use`, `new`).
            waiting = question.action.get("return_control") or question.state.get("return_control")
            if not waiting:
                raise BackendError(ACTION_GONE)
            invocation_id, results = results_of(waiting, question.action)
            request["sessionState"] = {"invocationId": invocation_id, "returnControlInvocationResults": results}
        else:
            request["inputText"] = question.text
        return request

    async def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield the final response as the agent streams it, then the FinalAnswer (sources, usage, an action to
        review in `pending`). State: the session id, and the action the agent waits for."""
        asked_in = (question.action or {}).get("session_id")  # a confirmed action goes back to its own session
        session_id = (
            asked_in
            or question.state.get("session_id")
            or session_id_for(self.config.agent_id, question.conversation_key)
        )
        request = self.request_of(question, session_id)
        reading = _Reading(TokenUsage())
        parts: list[str] = []
        size = 0
        sources: dict[str, Citation] = {}
        supported: list[tuple[str, list[int]]] = []
        control: dict[str, Any] | None = None
        try:
            async with contextlib.aclosing(self._events(request)) as events:
                async for kind, value in events:
                    if kind == "trace":
                        _read_trace(value, reading)
                    elif kind == "control":
                        control = value
                    elif kind == "chunk":
                        found = self._attribution(value.get("attribution") or {}, sources, supported)
                        if found:
                            yield CitationsFound(citations=found)
                        text = _bytes_text(value.get("bytes"))[: max(0, MAX_ANSWER_CHARS - size)]
                        if text and not reading.blocked:
                            size += len(text)
                            parts.append(text)
                            yield TextDelta(text=text)
        except (GeneratorExit, asyncio.CancelledError):
            if reading.usage.total_tokens:
                report_unfinished_usage(reading.usage, reading.model_id or self.model_id)
            raise
        except (ClientError, BotoCoreError) as error:
            log.warning("bedrock agent %s failed: %s", self.config.agent_id, describe_error(error))
            raise explain(error, self.config) from None
        text = "".join(parts).strip()
        state: dict[str, Any] = {"session_id": session_id}
        pending = None
        if reading.blocked:
            log.info("the agent's guardrail intervened in %s (%s)", question.conversation_key, reading.blocked)
            text = BLOCKED_QUESTION if reading.blocked == "question" else BLOCKED_ANSWER
        elif control is not None:
            pending = {**pending_of(control), "return_control": control, "session_id": session_id}
            state["return_control"] = control
            text = text or ACTION_TEXT
        citations = [] if reading.blocked else list(sources.values())
        yield FinalAnswer(
            text=mark_citations(text, supported) if citations else text or "The agent gave no answer.",
            citations=citations,
            backend=self.name,
            conversation_id=session_id,
            message_id=uuid.uuid4().hex,
            model_id=reading.model_id or self.model_id,
            state=state,
            blocked=bool(reading.blocked),
            usage=reading.usage if reading.usage.total_tokens else None,
            pending=pending,
        )

    @staticmethod
    def _attribution(
        attribution: dict[str, Any], sources: dict[str, Citation], supported: list[tuple[str, list[int]]]
    ) -> list[Citation]:
        """Number the references of a chunk's citations (one number per source document); return the new ones."""
        new: list[Citation] = []
        for citation in attribution.get("citations") or []:
            numbers: list[int] = []
            for reference in citation.get("retrievedReferences") or []:
                candidate = source_of(reference, len(sources) + 1)
                key = candidate.source or candidate.excerpt
                if key not in sources and len(sources) < MAX_SOURCES:
                    sources[key] = candidate
                    new.append(candidate)
                if key in sources and sources[key].number not in numbers:
                    numbers.append(sources[key].number)
            part = ((citation.get("generatedResponsePart") or {}).get("textResponsePart") or {}).get("text") or ""
            supported.append((part, numbers))
        return new

    async def _events(self, request: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        """Yield ("chunk" | "trace" | "control", event) read by boto3 on a thread of its own; an error event
        inside the stream is raised as botocore's EventStreamError (a ClientError)."""

        def read(emit: Callable[[Any], None], stop: threading.Event, hold: Callable[[Any], None]) -> None:
            stream = self.client.invoke_agent(**request)["completion"]
            hold(stream)
            for event in stream:
                if stop.is_set():
                    break
                for kind, key in (("chunk", "chunk"), ("trace", "trace"), ("control", "returnControl")):
                    if key in event:
                        emit((kind, event[key]))

        async with contextlib.aclosing(read_in_thread(read, "bedrock-agent")) as events:
            async for item in events:
                yield item


def _bytes_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, str):  # a client that left the blob base64-encoded
        with contextlib.suppress(ValueError):
            return base64.b64decode(value, validate=True).decode(errors="replace")
        return value
    return ""
