"""A loopback stand-in for Amazon Bedrock that speaks the real wire protocols, so the real boto3 client can
be pointed at it with AWS_ENDPOINT_URL_BEDROCK_RUNTIME / AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME.

- `POST /model/{id}/converse`: JSON.
- `POST /model/{id}/converse-stream`: the AWS event-stream binary framing (prelude with total and header
  lengths and a CRC32, typed headers, JSON payload, message CRC32), tokens on a fixed schedule.
- `POST /knowledgebases/{id}/retrieve`: JSON retrieval results.
Errors are answered as AWS does: an HTTP status with `x-amzn-ErrorType`, or an exception event mid-stream.
Usage is reported as Bedrock does (`inputTokens`, `outputTokens`, `totalTokens`, and with cache points
`cacheReadInputTokens` / `cacheWriteInputTokens`), counting a token per four characters of prompt text and
one per scripted output token; prompt caching is simulated by remembering the prefixes ending at cache points.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


def encode_message(headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    """Return one event-stream message (see the AWS event-stream encoding)."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(raw_headers) + len(body), len(raw_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw_headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    """Return an event message of `event_type`."""
    return encode_message(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}, payload
    )


def exception(exception_type: str, message: str) -> bytes:
    """Return an exception message, as Bedrock sends mid-stream."""
    return encode_message(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"},
        {"message": message},
    )


@dataclass
class Failure:
    """An error answer: HTTP status and AWS error code."""

    status: int
    code: str
    message: str = "injected failure"


@dataclass
class FakeBedrock(LoopbackServer):
    """Scripted Bedrock. Set `tokens`, `first_token_delay`, `interval`, `stop_reason` and `failures` per test."""

    tokens: list[str] = field(default_factory=lambda: ["Hello", " from", " Bedrock", "."])
    first_token_delay: float = 0.0
    interval: float = 0.0
    stop_reason: str = "end_turn"
    failures: list[Failure] = field(default_factory=list)
    stream_exception_after: int | None = None
    stream_exception: str = "throttlingException"
    stream_exception_times: int = 1
    retrieval_results: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    retrieve_requests: list[dict[str, Any]] = field(default_factory=list)
    token_times: list[float] = field(default_factory=list)
    stream_closed_early: bool = False
    min_cache_tokens: int = 0  # Bedrock ignores a cache point whose prefix is shorter (1,024 for most models)
    cached_prefixes: set[str] = field(default_factory=set)
    usages: list[dict[str, int]] = field(default_factory=list)
    # Tokens of a text block: four characters a token (English-like) unless a test sets a tokenizer of its own.
    count_tokens: Callable[[str], int] = lambda text: -(-len(text) // 4)  # noqa: E731
    port: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model}/converse", self._converse)
        app.router.add_post("/model/{model}/converse-stream", self._converse_stream)
        app.router.add_post("/knowledgebases/{kb}/retrieve", self._retrieve)

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Return the usage report of a request: the prompt's tokens split at its cache points."""
        blocks = list(body.get("system", []))
        for message in body.get("messages", []):
            blocks.extend(message.get("content", []))
        tokens, read, last_point, prefix = 0, 0, 0, hashlib.sha256()
        for block in blocks:
            if "text" in block:
                prefix.update(block["text"].encode() + b"\x00")
                tokens += self.count_tokens(block["text"])
            elif "cachePoint" in block and tokens >= self.min_cache_tokens:
                digest = prefix.hexdigest()
                if digest in self.cached_prefixes:
                    read = tokens  # the longest cached prefix is read; the rest up to the last point is written
                self.cached_prefixes.add(digest)
                last_point = tokens
        written = last_point - read
        usage = {"inputTokens": tokens - read - written, "outputTokens": len(self.tokens)}
        if any("cachePoint" in block for block in blocks):
            usage |= {"cacheReadInputTokens": read, "cacheWriteInputTokens": written}
        usage["totalTokens"] = tokens + len(self.tokens)
        self.usages.append(usage)
        return usage

    def _failure(self) -> web.Response | None:
        if not self.failures:
            return None
        failure = self.failures.pop(0)
        return web.json_response(
            {"message": failure.message}, status=failure.status, headers={"x-amzn-ErrorType": failure.code}
        )

    async def _record(self, request: web.Request) -> dict[str, Any]:
        body = await request.json()
        body["modelId"] = request.match_info.get("model", "")
        self.requests.append(body)
        return body

    async def _converse(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        failure = self._failure()
        if failure:
            return failure
        return web.json_response(
            {
                "output": {"message": {"role": "assistant", "content": [{"text": "".join(self.tokens)}]}},
                "stopReason": self.stop_reason,
                "usage": self._usage(body),
                "metrics": {"latencyMs": 5},
            }
        )

    async def _converse_stream(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        failure = self._failure()
        if failure:
            return failure
        response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
        await response.prepare(request)
        try:
            await response.write(event("messageStart", {"role": "assistant"}))
            await asyncio.sleep(self.first_token_delay)
            for index, token in enumerate(self.tokens):
                if index == self.stream_exception_after and self.stream_exception_times > 0:
                    self.stream_exception_times -= 1
                    await response.write(exception(self.stream_exception, "injected mid-stream failure"))
                    await response.write_eof()
                    return response
                if index:
                    await asyncio.sleep(self.interval)
                self.token_times.append(time.monotonic())
                await response.write(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": token}}))
            await response.write(event("contentBlockStop", {"contentBlockIndex": 0}))
            await response.write(event("messageStop", {"stopReason": self.stop_reason}))
            await response.write(event("metadata", {"usage": self._usage(body), "metrics": {"latencyMs": 5}}))
            await response.write_eof()
        except ConnectionResetError:  # the client closed the stream: what a stopped answer does
            self.stream_closed_early = True
        return response

    async def _retrieve(self, request: web.Request) -> web.Response:
        self.retrieve_requests.append({"knowledgeBaseId": request.match_info["kb"], **await request.json()})
        failure = self._failure()
        if failure:
            return failure
        return web.json_response({"retrievalResults": self.retrieval_results})


def kb_result(text: str, uri: str, score: float = 0.8) -> dict[str, Any]:
    """Return one retrieval result shaped as Bedrock knowledge bases return them."""
    location = (
        {"type": "S3", "s3Location": {"uri": uri}}
        if uri.startswith("s3://")
        else {"type": "WEB", "webLocation": {"url": uri}}
    )
    return {
        "content": {"text": text, "type": "TEXT"},
        "location": location,
        "metadata": {"x-amz-bedrock-kb-source-uri": uri},
        "score": score,
    }
