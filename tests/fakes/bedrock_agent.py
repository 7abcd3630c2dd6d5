"""A loopback stand-in for Amazon Bedrock Agents' InvokeAgent, so the real boto3 `bedrock-agent-runtime` client can
be pointed at it with AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME.

`POST /agents/{agentId}/agentAliases/{agentAliasId}/sessions/{sessionId}/text`, answered in the AWS event-stream
binary framing (tests/fakes/bedrock.py's encoder) with the events InvokeAgent sends: `trace` (a model call's token
counts and foundation model, a guardrail's verdict), `chunk` (`bytes` base64 in JSON, with `attribution`
citations), `returnControl`, and exception events mid-stream. With `streamFinalResponse` the final answer comes
in several chunks, else in one. Errors before the stream are answered as AWS does (status and x-amzn-ErrorType).
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer
from tests.fakes.bedrock import Failure, event, exception

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def reference(text: str, uri: str) -> dict[str, Any]:
    """Return a retrieved reference as a knowledge base's citation carries it."""
    location = {"type": "S3", "s3Location": {"uri": uri}} if uri.startswith("s3://") else {
        "type": "WEB", "webLocation": {"url": uri}}  # fmt: skip
    return {"content": {"text": text, "type": "TEXT"}, "location": location,
            "metadata": {"x-amz-bedrock-kb-source-uri": uri}}  # fmt: skip


def citation(passage: str, *references: dict[str, Any]) -> dict[str, Any]:
    """Return one attribution citation: the passage of the answer and the references that support it."""
    return {
        "generatedResponsePart": {"textResponsePart": {"text": passage, "span": {"start": 0, "end": len(passage)}}},
        "retrievedReferences": list(references),
    }


def function_control(invocation_id: str, function: str, parameters: dict[str, tuple[str, str]], *,
                     confirm: bool = True) -> dict[str, Any]:  # fmt: skip
    """Return a returnControl event asking for a function of the `hr` action group with `parameters` (name →
    (type, value))."""
    return {
        "invocationId": invocation_id,
        "invocationInputs": [{"functionInvocationInput": {
            "actionGroup": "hr", "function": function, "agentId": "AGENT12345",
            "actionInvocationType": "USER_CONFIRMATION" if confirm else "RESULT",
            "parameters": [{"name": k, "type": t, "value": v} for k, (t, v) in parameters.items()],
        }}],
    }  # fmt: skip


@dataclass
class FakeBedrockAgent(LoopbackServer):
    """Scripted InvokeAgent. Set `chunks`, `citations` (chunk index → citations), `usage`, `guardrail`,
    `return_control`, `after_results`, `failures`, `stream_exception`, `interval` per test."""

    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " agent."])
    citations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    usage: tuple[int, int] = (0, 0)
    guardrail: str = ""  # "input" or "output": the guardrail intervenes
    return_control: dict[str, Any] | None = None
    after_results: list[str] = field(default_factory=lambda: ["Done: your leave is booked."])
    failures: list[Failure] = field(default_factory=list)
    stream_exception: str = ""
    first_chunk_delay: float = 0.0
    interval: float = 0.0
    prompt_text: str = "<the whole prompt, with the question>"  # what the orchestration trace shows of the prompt
    requests: list[dict[str, Any]] = field(default_factory=list)
    chunk_times: list[float] = field(default_factory=list)
    closed_early: bool = False
    port: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/agents/{agent}/agentAliases/{alias}/sessions/{session}/text", self._invoke)

    def _trace(self, request: web.Request, inner: dict[str, Any]) -> bytes:
        return event("trace", {"agentId": request.match_info["agent"], "agentAliasId": request.match_info["alias"],
                               "sessionId": request.match_info["session"], "trace": inner})  # fmt: skip

    async def _invoke(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({**request.match_info, **body})
        if self.failures:
            failure = self.failures.pop(0)
            return web.json_response(
                {"message": failure.message}, status=failure.status, headers={"x-amzn-ErrorType": failure.code}
            )
        answering_results = bool((body.get("sessionState") or {}).get("returnControlInvocationResults"))
        response = web.StreamResponse(headers={
            "Content-Type": "application/vnd.amazon.eventstream",
            "x-amz-bedrock-agent-session-id": request.match_info["session"],
            "x-amzn-bedrock-agent-content-type": "application/json",
        })  # fmt: skip
        await response.prepare(request)
        try:
            prompt = {
                "foundationModel": MODEL,
                "text": self.prompt_text,
                "type": "ORCHESTRATION",
            }
            await response.write(self._trace(request, {"orchestrationTrace": {"modelInvocationInput": prompt}}))
            if self.guardrail:
                assessments = {"inputAssessments" if self.guardrail == "input" else "outputAssessments": [{}]}
                await response.write(self._trace(request, {"guardrailTrace": {"action": "INTERVENED", **assessments}}))
            if self.usage != (0, 0):
                usage = {"inputTokens": self.usage[0], "outputTokens": self.usage[1]}
                await response.write(self._trace(request, {"orchestrationTrace": {"modelInvocationOutput": {
                    "metadata": {"usage": usage}}}}))  # fmt: skip
                await response.write(
                    self._trace(request, {"orchestrationTrace": {"rationale": {"text": "<the agent's reasoning>"}}})
                )  # fmt: skip (a trace is a union: one member each)
            if self.stream_exception:
                await response.write(exception(self.stream_exception, "injected mid-stream failure"))
                await response.write_eof()
                return response
            if self.return_control is not None and not answering_results:
                await response.write(event("returnControl", self.return_control))
                await response.write_eof()
                return response
            chunks = self.after_results if answering_results else self.chunks
            if not (body.get("streamingConfigurations") or {}).get("streamFinalResponse"):
                chunks = ["".join(chunks)]
            await asyncio.sleep(self.first_chunk_delay)
            for index, text in enumerate(chunks):
                if index:
                    await asyncio.sleep(self.interval)
                self.chunk_times.append(time.monotonic())
                payload: dict[str, Any] = {"bytes": base64.b64encode(text.encode()).decode()}
                if index in self.citations:
                    payload["attribution"] = {"citations": self.citations[index]}
                await response.write(event("chunk", payload))
            await response.write_eof()
        except ConnectionResetError:
            self.closed_early = True
        return response
