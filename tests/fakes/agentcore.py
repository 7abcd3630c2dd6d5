"""A loopback stand-in for Amazon Bedrock AgentCore Runtime (InvokeAgentRuntime), so the real boto3
`bedrock-agentcore` client can be pointed at it with AWS_ENDPOINT_URL_BEDROCK_AGENTCORE.

`POST /runtimes/{url-encoded runtime ARN}/invocations?qualifier=…` with the session id and user id headers,
answered as an agent deployed with the starter toolkit answers:
- `mode="sse"`: `text/event-stream`, one `data: <json>` event per chunk, as BedrockAgentCoreApp writes the values
  an async-generator entrypoint yields. `chunks` are those values (strings, or dicts such as Strands' events).
- `mode="json"`: `application/json`, the value a plain entrypoint returns (`body`).
Errors are answered as AWS does (HTTP status and `x-amzn-ErrorType`). With `bearer` set the fake acts as an agent
with a JWT authoriser: a request without `Authorization: Bearer <bearer>` gets 401.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer
from tests.fakes.bedrock import Failure

SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
USER_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-User-Id"


def strands_events(tokens: list[str], input_tokens: int = 0, output_tokens: int = 0) -> list[Any]:
    """Return what a Strands agent's `stream_async` yields for `tokens`, as BedrockAgentCoreApp sends it: each text
    delta twice (the raw model event and the `data` event), then the model's usage metadata and the final message."""
    events: list[Any] = [{"init_event_loop": True}, {"event": {"messageStart": {"role": "assistant"}}}]
    for token in tokens:
        events.append({"event": {"contentBlockDelta": {"delta": {"text": token}, "contentBlockIndex": 0}}})
        events.append({"data": token, "delta": {"text": token}, "agent": "<strands.agent.agent.Agent object>"})
    events.append({"event": {"messageStop": {"stopReason": "end_turn"}}})
    if input_tokens or output_tokens:
        usage = {
            "inputTokens": input_tokens,
            "outputTokens": output_tokens,
            "totalTokens": input_tokens + output_tokens,
        }
        events.append({"event": {"metadata": {"usage": usage, "metrics": {"latencyMs": 5}}}})
    message = {"role": "assistant", "content": [{"text": "".join(tokens)}]}
    events.append({"message": message})
    events.append({"result": "AgentResult(stop_reason='end_turn', ...)"})
    return events


@dataclass
class FakeAgentCore(LoopbackServer):
    """Scripted AgentCore Runtime. Set `mode`, `chunks`, `body`, `interval`, `failures`, `bearer` per test."""

    mode: str = "sse"
    chunks: list[Any] = field(default_factory=lambda: ["Hello", " from", " the", " agent."])
    body: Any = field(default_factory=lambda: {"result": "Hello from the agent."})
    first_chunk_delay: float = 0.0
    interval: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    bearer: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    chunk_times: list[float] = field(default_factory=list)
    closed_early: bool = False
    port: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/runtimes/{arn:.+}/invocations", self._invoke)

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(
            {
                "arn": request.match_info["arn"],
                "qualifier": request.query.get("qualifier", ""),
                "session_id": request.headers.get(SESSION_HEADER, ""),
                "user_id": request.headers.get(USER_HEADER, ""),
                "authorization": request.headers.get("Authorization", ""),
                "content_type": request.headers.get("Content-Type", ""),
                "payload": json.loads(raw) if raw else None,
            }
        )
        if self.bearer and request.headers.get("Authorization") != f"Bearer {self.bearer}":
            return web.json_response({"message": "invalid token"}, status=401,
                                     headers={"x-amzn-ErrorType": "AccessDeniedException"})  # fmt: skip
        if self.failures:
            failure = self.failures.pop(0)
            return web.json_response(
                {"message": failure.message}, status=failure.status, headers={"x-amzn-ErrorType": failure.code}
            )
        session = {SESSION_HEADER: request.headers.get(SESSION_HEADER, "")}
        if self.mode == "json":
            await asyncio.sleep(self.first_chunk_delay)
            return web.json_response(self.body, headers=session)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8", **session})
        await response.prepare(request)
        try:
            await asyncio.sleep(self.first_chunk_delay)
            for index, chunk in enumerate(self.chunks):
                if index:
                    await asyncio.sleep(self.interval)
                self.chunk_times.append(time.monotonic())
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write_eof()
        except ConnectionResetError:  # the client closed the stream: what a stopped answer does
            self.closed_early = True
        return response
