"""Amazon Bedrock backend: Converse (streaming or not), knowledge-base retrieval, guardrails, history.

boto3 is synchronous; a stream is read on a thread of its own and handed to the event loop through a
queue, so a slow model never blocks other conversations and a stopped answer stops reading at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
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
    budget_chars,
    excerpt_of,
    report_unfinished_usage,
)
from services.backends.history import to_converse, trim_history
from services.backends.registry import BackendType
from services.errors import Backoff, aws_error_code, aws_error_message, describe_error

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are the company's AI assistant and you answer inside Microsoft Teams. Write concise Markdown that "
    "Teams renders well: short paragraphs, lists, code blocks. When numbered sources are given, base the "
    "answer on them and cite them inline as [1], [2]; if they do not contain the answer, say so. Never "
    "invent sources, numbers or links."
)
RETRYABLE = frozenset({
    "throttlingexception", "serviceunavailableexception", "internalserverexception",
    "modelnotreadyexception", "modelstreamerrorexception", "servicequotaexceededexception",
})  # fmt: skip
_CITE = re.compile(r"\[(\d{1,3})\]")
# Models whose Converse API accepts cache points (Bedrock prompt caching); ids may carry a region prefix
# such as `eu.` or `global.` (inference profiles). Other models would reject a cachePoint block.
PROMPT_CACHING_MODELS = (
    "anthropic.claude-3-7-sonnet", "anthropic.claude-3-5-haiku", "anthropic.claude-sonnet-4",
    "anthropic.claude-opus-4", "anthropic.claude-haiku-4", "amazon.nova-micro", "amazon.nova-lite",
    "amazon.nova-pro", "amazon.nova-premier", "amazon.nova-2",
)  # fmt: skip
CACHE_POINT = {"cachePoint": {"type": "default"}}


def supports_prompt_caching(model_id: str) -> bool:
    """Return True when Bedrock's prompt caching is available for `model_id` (a model or inference profile id)."""
    return any(name in model_id for name in PROMPT_CACHING_MODELS)


def usage_of(report: dict[str, Any]) -> TokenUsage:
    """Return the TokenUsage of a Converse `usage` object (inputTokens excludes the cached tokens)."""
    return TokenUsage(
        input_tokens=int(report.get("inputTokens", 0)),
        output_tokens=int(report.get("outputTokens", 0)),
        cache_read_tokens=int(report.get("cacheReadInputTokens", 0)),
        cache_write_tokens=int(report.get("cacheWriteInputTokens", 0)),
    )


def guess_tokens(chars: int) -> int:
    """Return a rough token count for `chars` characters of English text (about four characters a token)."""
    return -(-chars // 4)


@dataclass(frozen=True)
class BedrockConfig:
    """What the Bedrock backend needs from the settings."""

    model_id: str
    region: str = ""
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_tokens: int = 1024
    temperature: float = 0.2
    guardrail_id: str = ""
    guardrail_version: str = ""
    knowledge_base_id: str = ""
    kb_top_k: int = 5
    streaming: bool = True
    max_input_chars: int = 20_000
    history_max_chars: int = 24_000
    timeout_seconds: float = 60.0
    max_attempts: int = 4
    prompt_caching: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> BedrockConfig:
        """Return the config read from the gateway settings."""
        return cls(
            model_id=settings.bedrock_model_id,
            region=settings.bedrock_region,
            system_prompt=settings.bedrock_system_prompt or DEFAULT_SYSTEM_PROMPT,
            max_tokens=settings.bedrock_max_tokens,
            temperature=settings.bedrock_temperature,
            guardrail_id=settings.bedrock_guardrail_id,
            guardrail_version=settings.bedrock_guardrail_version,
            knowledge_base_id=settings.bedrock_knowledge_base_id,
            kb_top_k=settings.bedrock_kb_top_k,
            streaming=settings.bedrock_streaming,
            max_input_chars=settings.bedrock_max_input_chars,
            history_max_chars=settings.history_max_chars,
            timeout_seconds=settings.bedrock_timeout_seconds,
            max_attempts=settings.bedrock_max_attempts,
            prompt_caching=settings.bedrock_prompt_caching,
        )


# One sentence per failure, naming what the operator must fix; never the exception text.
SENTENCES = {
    "credentials": "The gateway has no AWS credentials: the operator must give it a role or keys that may call "
    "Bedrock.",
    "timeout": "Amazon Bedrock did not answer in time. Please try again; if it keeps happening, the operator "
    "should check the gateway's network path to Bedrock.",
    "model_access": "The model {model} is not enabled for this AWS account in {region}: the operator must "
    "request model access in the Bedrock console.",
    "denied": "The gateway is not allowed to call Amazon Bedrock: the operator must grant its role "
    "bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream on {model}.",
    "unknown_model": "Amazon Bedrock does not know the model {model} in {region}: the operator must check "
    "BEDROCK_MODEL_ID and BEDROCK_REGION.",
    "bad_model": "Amazon Bedrock cannot run {model} as configured: the operator must set BEDROCK_MODEL_ID to a "
    "model or inference profile id enabled in {region}.",
    "invalid": "Amazon Bedrock rejected the request as invalid: the operator should check the model, "
    "BEDROCK_MAX_TOKENS, BEDROCK_TEMPERATURE and the guardrail settings.",
    "busy": "Amazon Bedrock is too busy right now. Please try again in a minute.",
    "other": "Amazon Bedrock could not answer this time. Please try again.",
    "kb_denied": "I may not read the knowledge base {kb}: the operator must grant the gateway bedrock:Retrieve on it.",
    "kb_missing": "The knowledge base {kb} does not exist in {region}: the operator must check "
    "BEDROCK_KNOWLEDGE_BASE_ID.",
}
_MODEL_ID_PROBLEMS = ("model identifier", "inference profile", "on-demand throughput")


def _reason(error: Exception, during: str) -> str:
    code, message = aws_error_code(error), aws_error_message(error)
    if during == "retrieve" and code == "accessdeniedexception":
        return "kb_denied"
    if during == "retrieve" and code == "resourcenotfoundexception":
        return "kb_missing"
    if isinstance(error, NoCredentialsError):
        return "credentials"
    if isinstance(error, ReadTimeoutError | ConnectTimeoutError | EndpointConnectionError):
        return "timeout"
    if code == "accessdeniedexception":
        return "model_access" if "access to the model" in message else "denied"
    if code == "resourcenotfoundexception":
        return "unknown_model"
    if isinstance(error, ParamValidationError):
        return "invalid"
    if code == "validationexception":
        return "bad_model" if any(p in message for p in _MODEL_ID_PROBLEMS) else "invalid"
    return "busy" if code in RETRYABLE else "other"


def explain(error: Exception, config: BedrockConfig, during: str = "answer") -> BackendError:
    """Return the BackendError whose sentence tells the user what the operator must fix (no internals)."""
    sentence = SENTENCES[_reason(error, during)].format(
        model=config.model_id, region=config.region or "the configured region", kb=config.knowledge_base_id
    )
    return BackendError(sentence, detail=describe_error(error))


def _source(result: dict[str, Any], number: int) -> Citation:
    location = result.get("location") or {}
    uri = (result.get("metadata") or {}).get("x-amz-bedrock-kb-source-uri", "")
    url = None
    for value in location.values():
        if isinstance(value, dict):
            uri = uri or value.get("uri") or value.get("url") or ""
            url = url or value.get("url")
    url = url or (uri if uri.startswith(("https://", "http://")) else None)
    name = unquote(urlparse(uri).path.rstrip("/").rsplit("/", 1)[-1]) if uri else ""
    excerpt = excerpt_of((result.get("content") or {}).get("text") or "")
    return Citation(number=number, title=name or f"Source {number}", source=uri, excerpt=excerpt, url=url)


PASSAGE_MAX_CHARS = 4_000  # of one retrieved passage in the prompt: bounds the budget reservation's estimate
TITLE_MAX_CHARS = 300
_GROUNDING_CHARS = 200  # the fixed words around the sources and the question


def grounded_prompt(question: str, results: list[dict[str, Any]]) -> str:
    """Return the user message with the retrieved passages (each cut to PASSAGE_MAX_CHARS) as numbered sources
    before the question."""
    blocks = []
    for number, result in enumerate(results, start=1):
        text = ((result.get("content") or {}).get("text") or "").strip()[:PASSAGE_MAX_CHARS]
        blocks.append(f"[{number}] {_source(result, number).title[:TITLE_MAX_CHARS]}\n{text}")
    return (
        "Sources:\n\n" + "\n\n".join(blocks) + "\n\nAnswer the question below from these sources and cite them "
        f"as [n]. If they do not answer it, say so.\n\nQuestion: {question}"
    )


def cited(text: str, sources: list[Citation]) -> list[Citation]:
    """Return the sources whose number the answer cites, in number order."""
    numbers = {int(n) for n in _CITE.findall(text)}
    return [s for s in sources if s.number in numbers]


class BedrockBackend:
    """Answers with a Bedrock model through the Converse API."""

    def __init__(self, config: BedrockConfig, runtime: Any = None, agent: Any = None, name: str = "bedrock") -> None:
        self.config = config
        self.name = name
        self.model_id = config.model_id
        self.capabilities = Capabilities(
            label="Amazon Bedrock", streams_text=config.streaming, citations=bool(config.knowledge_base_id),
            model_id=config.model_id, answer_tokens=config.max_tokens,
        )  # fmt: skip
        self.max_input_chars = config.max_input_chars
        boto_config = client_config(config.region, config.max_attempts, config.timeout_seconds)
        self.runtime = runtime or make_client(
            "bedrock-runtime",
            boto_config,
            "Invalid setting BEDROCK_REGION: no AWS region is configured (set BEDROCK_REGION or AWS_REGION)",
        )
        self._agent = agent
        self._boto_config = boto_config

    @property
    def status_text(self) -> str:
        """What the user sees while the backend works."""
        return "Searching the knowledge base…" if self.config.knowledge_base_id else "Thinking…"

    @property
    def agent(self) -> Any:
        """The bedrock-agent-runtime client (created on first use: only knowledge bases need it)."""
        if self._agent is None:
            self._agent = boto3.client("bedrock-agent-runtime", config=self._boto_config)
        return self._agent

    @property
    def caching(self) -> bool:
        """True when requests carry cache points (the setting is on and the model supports them)."""
        return self.config.prompt_caching and supports_prompt_caching(self.config.model_id)

    def _request(self, history: list[dict[str, Any]], prompt: str) -> dict[str, Any]:
        """Return the Converse request; with caching, cache points follow the system prompt and the kept history.

        The history also keeps a point where the previous turn's history ended (before the last exchange): that
        prefix is what the previous turn wrote to the cache, so this turn reads it there even on models that
        only look for cached prefixes at cache points. Three points in all, under Bedrock's limit of four."""
        system: list[dict[str, Any]] = [{"text": self.config.system_prompt}]
        messages = to_converse(history)
        if self.caching:
            system.append(CACHE_POINT)
            for index in (-3, -1):  # messages alternate user, assistant: -3 ends the previous turn's history
                if len(messages) >= -index:
                    messages[index]["content"].append(CACHE_POINT)
        request: dict[str, Any] = {
            "modelId": self.config.model_id,
            "messages": messages + [{"role": "user", "content": [{"text": prompt}]}],
            "system": system,
            "inferenceConfig": {"maxTokens": self.config.max_tokens, "temperature": self.config.temperature},
        }
        if self.config.guardrail_id:
            request["guardrailConfig"] = {
                "guardrailIdentifier": self.config.guardrail_id,
                "guardrailVersion": self.config.guardrail_version,
                "trace": "enabled",
            }
            if self.config.streaming:  # check the whole output before any of it is shown
                request["guardrailConfig"]["streamProcessingMode"] = "sync"
        return request

    async def _retrieve(self, text: str) -> list[dict[str, Any]]:
        try:
            response = await asyncio.to_thread(
                self.agent.retrieve,
                knowledgeBaseId=self.config.knowledge_base_id,
                retrievalQuery={"text": text[:1000]},
                retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": self.config.kb_top_k}},
            )
        except (ClientError, BotoCoreError) as error:
            log.warning("bedrock retrieve failed: %s", describe_error(error))
            raise explain(error, self.config, "retrieve") from None  # the cause's text may quote the question
        return response.get("retrievalResults", [])

    def prompt_chars(self, question: Question) -> int:
        """Return an upper bound of the characters `answer` sends for `question` (the system prompt, the kept
        history, the retrieved passages at their cap and the question), for the budget reservation."""
        history = trim_history(question.state.get("history", []), self.config.history_max_chars)
        sources = 0
        if self.config.knowledge_base_id:
            per_source = PASSAGE_MAX_CHARS + TITLE_MAX_CHARS + 10
            sources = self.config.kb_top_k * per_source + _GROUNDING_CHARS
        kept = sum(budget_chars(message.get("text", "")) for message in history)
        return budget_chars(self.config.system_prompt) + kept + budget_chars(question.text) + sources

    async def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield the text as the model writes it, then the FinalAnswer with the sources the answer cites."""
        results = await self._retrieve(question.text) if self.config.knowledge_base_id else []
        sources = [_source(result, n) for n, result in enumerate(results, start=1)]
        if sources:
            yield CitationsFound(citations=sources)
        prompt = grounded_prompt(question.text, results) if results else question.text
        history = trim_history(question.state.get("history", []), self.config.history_max_chars, len(prompt))
        request = self._request(history, prompt)

        parts: list[str] = []
        stop_reason = ""
        usage: TokenUsage | None = None
        try:
            async with contextlib.aclosing(self._events(request)) as events:  # closing the answer stops the stream
                async for kind, value in events:
                    if kind == "text":
                        parts.append(value)
                        yield TextDelta(text=value)
                    elif kind == "usage":
                        usage = usage_of(value)
                    else:
                        stop_reason = value
        except (GeneratorExit, asyncio.CancelledError):  # stopped, timed out or cancelled: Bedrock sends no usage
            sent = sum(len(b.get("text", "")) for m in request["messages"] for b in m["content"])
            sent += len(self.config.system_prompt)
            estimate = TokenUsage(
                input_tokens=guess_tokens(sent), output_tokens=guess_tokens(len("".join(parts))), estimated=True
            )
            report_unfinished_usage(estimate, self.config.model_id)
            raise
        text = "".join(parts).strip()
        blocked = stop_reason in ("guardrail_intervened", "content_filtered")
        if blocked:
            log.info("guardrail blocked a turn in %s (stop reason %s)", question.conversation_key, stop_reason)
            text = text or "This request was blocked by the content policy."
        elif stop_reason == "max_tokens":
            text += "\n\n*(The answer reached the length limit and may be incomplete.)*"
        exchange = [] if blocked else [{"role": "user", "text": question.text}, {"role": "assistant", "text": text}]
        state = {
            "history": trim_history(history + exchange, self.config.history_max_chars),
            "conversation_id": question.state.get("conversation_id") or uuid.uuid4().hex,
        }
        yield FinalAnswer(
            text=text,
            citations=[] if blocked else cited(text, sources),
            backend=self.name,
            conversation_id=state["conversation_id"],
            message_id=uuid.uuid4().hex,
            model_id=self.config.model_id,
            state=state,
            blocked=blocked,
            stop_reason=stop_reason,
            usage=usage,
        )

    async def _events(self, request: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        """Yield ("text", delta), ("stop", reason) and ("usage", usage dict); retry a stream that fails early.

        botocore retries throttling and 5xx on the initial call; an error event inside the stream is ours
        to retry, with backoff, while no text has reached the user and the time budget lasts.
        """
        deadline = time.monotonic() + self.config.timeout_seconds
        policy = Backoff(RETRYABLE, base=0.5, max_attempts=self.config.max_attempts)
        for attempt in range(1, self.config.max_attempts + 1):
            produced = False
            try:
                source = self._stream(request) if self.config.streaming else self._whole(request)
                async with contextlib.aclosing(source) as items:
                    async for item in items:
                        produced = produced or item[0] == "text"
                        yield item
                return
            except (ClientError, BotoCoreError) as error:
                backoff = None if produced else policy.delay(error, attempt, deadline)
                log.warning("bedrock %s failed (attempt %d): %s", request["modelId"], attempt, describe_error(error))
                if backoff is None:
                    raise explain(error, self.config) from None  # the cause's text may quote the question
                await asyncio.sleep(backoff)

    async def _whole(self, request: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        response = await asyncio.to_thread(self.runtime.converse, **request)
        content = response.get("output", {}).get("message", {}).get("content", [])
        yield "text", "".join(block.get("text", "") for block in content)
        yield "stop", response.get("stopReason", "")
        if response.get("usage"):
            yield "usage", response["usage"]

    async def _stream(self, request: dict[str, Any]) -> AsyncIterator[tuple[str, Any]]:
        def read(emit: Callable[[Any], None], stop: threading.Event, hold: Callable[[Any], None]) -> None:
            stream = self.runtime.converse_stream(**request)["stream"]
            hold(stream)
            for event in stream:
                if stop.is_set():
                    break
                if "contentBlockDelta" in event:
                    text = event["contentBlockDelta"].get("delta", {}).get("text")
                    if text:
                        emit(("text", text))
                elif "messageStop" in event:
                    emit(("stop", event["messageStop"].get("stopReason", "")))
                elif "metadata" in event and event["metadata"].get("usage"):
                    emit(("usage", event["metadata"]["usage"]))

        async with contextlib.aclosing(read_in_thread(read, "bedrock-stream")) as events:
            async for event in events:
                yield event


def _check(settings: Any) -> None:
    if not settings.bedrock_model_id:
        raise ValueError("BEDROCK_MODEL_ID: required when BACKEND is bedrock (a model or inference profile id)")


BACKEND_TYPE = BackendType(
    name="bedrock",
    create=lambda settings, store, name: BedrockBackend(BedrockConfig.from_settings(settings), name=name),
    check=_check,
    summary="Company AI on Amazon Bedrock, in Teams.",
    description="Answers questions with your company's model on Amazon Bedrock (in your company's AWS account), "
    "streaming the answer as it is written, with numbered sources when a knowledge base is configured and the "
    "company's guardrail applied when one is set.",
)
