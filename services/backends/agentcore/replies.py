"""What an AgentCore Runtime agent answers, read into text, token counts and errors.

InvokeAgentRuntime hands back whatever the agent's own code wrote, with its content type:

- `text/event-stream`: Server-Sent Events. The starter toolkit's `BedrockAgentCoreApp` writes each value an
  async-generator entrypoint yields as one `data: <json>` event (older releases: a string value raw, newer:
  JSON-encoded). A JSON string is answer text; a JSON object is read by `_read_object`.
- `application/json` (or anything else): one value, returned whole by a plain entrypoint (`return {...}`).

An SSE parser library would be one more runtime dependency for the twenty lines of `SseLines` below (the
format is `data:` lines ended by a blank line); aiohttp-sse-client and sseclient-py also read from their
own HTTP clients rather than from botocore's stream.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Keys under which agents put their answer text in a JSON object, in the order they are tried:
# `data` is Strands' text delta event, `result` the starter toolkit's JSON return, the others common choices.
TEXT_KEYS = ("data", "result", "response", "output", "answer", "text", "content", "message", "completion")
MAX_EVENT_CHARS = 1_000_000  # one SSE event or JSON body past this is cut: an agent cannot exhaust memory
MAX_DEPTH = 6


@dataclass
class Piece:
    """What one event or body said: answer text, token counts (Strands' model metadata) and an agent error."""

    text: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    error: bool = False
    whole: bool = False  # the whole answer again (Strands' closing `result`, `message`): used if nothing streamed


def _text_of(value: Any, depth: int = 0) -> str:
    """Return the answer text inside `value`: a string, a list of content blocks, or an object with a text key."""
    if depth > MAX_DEPTH:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # Converse-style content blocks: [{"text": "..."}, ...]
        return "".join(_text_of(item, depth + 1) for item in value if isinstance(item, dict | str))
    if isinstance(value, dict):
        for key in TEXT_KEYS:
            if key in value and not (key == "data" and not isinstance(value[key], str)):
                text = _text_of(value[key], depth + 1)
                if text:
                    return text
    return ""


def _read_object(value: dict[str, Any], *, streamed: bool) -> Piece:
    """Read one JSON object an agent sent.

    - `{"error": ..., "error_type": ...}`: the toolkit's report of an exception inside the agent.
    - `{"event": {"metadata": {"usage": {...}}}}`: Strands' raw model event with token counts. Strands also sends
      every text delta twice, as a raw `{"event": {"contentBlockDelta": ...}}` and as `{"data": "...", ...}`:
      only the `data` one is read, so the text is not doubled.
    - Strands' closing `{"message": {...}}` and `{"result": "<AgentResult>"}` repeat the whole answer: `whole`.
    - LangChain/LangGraph message chunks (`{"content": "...", "type": "AIMessageChunk"}`) and anything with a
      key of TEXT_KEYS: text."""
    if "error" in value and ("error_type" in value or len(value) <= 3):
        return Piece(error=True)
    raw = value.get("event")
    if isinstance(raw, dict):
        usage = (raw.get("metadata") or {}).get("usage") if isinstance(raw.get("metadata"), dict) else None
        if isinstance(usage, dict):
            return Piece(input_tokens=_int(usage.get("inputTokens")), output_tokens=_int(usage.get("outputTokens")))
        return Piece()
    if streamed and "data" not in value and ("result" in value or isinstance(value.get("message"), dict)):
        return Piece(text=_text_of(value), whole=True)  # Strands' closing events repeat the streamed text
    return Piece(text=_text_of(value))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else 0


def read_value(raw: str, *, streamed: bool) -> Piece:
    """Read one SSE event's data (streamed) or a whole JSON body: JSON when it parses, else plain text."""
    raw = raw[:MAX_EVENT_CHARS]
    if streamed and raw.strip() == "[DONE]":
        return Piece()
    try:
        value = json.loads(raw)
    except ValueError:
        return Piece(text=raw)
    if isinstance(value, str):
        return Piece(text=value)
    if isinstance(value, dict):
        return _read_object(value, streamed=streamed)
    if isinstance(value, list):
        return Piece(text=_text_of(value))
    return Piece(text="" if value is None else str(value))


@dataclass
class SseLines:
    """Assemble Server-Sent Events from lines: `data:` lines joined with newlines, an event per blank line.
    Other fields (`event:`, `id:`, `retry:`) and comments are ignored; an event longer than MAX_EVENT_CHARS is cut."""

    _data: list[str] = field(default_factory=list)
    _size: int = 0

    def feed(self, line: str) -> str | None:
        """Take one line (without its end); return an event's data when the line ends one, else None."""
        line = line.rstrip("\r")
        if not line:
            return self.flush()
        if line.startswith(":") or not line.startswith("data"):
            return None
        name, _, value = line.partition(":")
        if name != "data":
            return None
        value = value[1:] if value.startswith(" ") else value
        if self._size < MAX_EVENT_CHARS:
            self._data.append(value[: MAX_EVENT_CHARS - self._size])
            self._size += len(value) + 1
        return None

    def flush(self) -> str | None:
        """Return the data of the event in progress (the stream ended without a blank line), or None."""
        if not self._data:
            return None
        data, self._data, self._size = "\n".join(self._data), [], 0
        return data


MAX_BODY_BYTES = 4 * MAX_EVENT_CHARS  # a whole (not streamed) answer read past this is cut
MAX_LINE_BYTES = 4 * MAX_EVENT_CHARS  # a line without an end is cut, never held whole


@dataclass
class BodyReader:
    """Read an agent's answer from bytes as they arrive: `streamed` (SSE) answers piece by piece, others whole
    at the end. Bounded: a line or a whole body past its limit is cut."""

    streamed: bool
    _events: SseLines = field(default_factory=SseLines)
    _pending: bytes = b""
    _chunks: list[bytes] = field(default_factory=list)
    _size: int = 0

    def feed(self, chunk: bytes) -> list[Piece]:
        """Take the next bytes; return the pieces of the events they complete (none for a whole answer)."""
        if not self.streamed:
            if self._size < MAX_BODY_BYTES:
                self._chunks.append(chunk[: MAX_BODY_BYTES - self._size])
                self._size += len(chunk)
            return []
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        self._pending = self._pending[:MAX_LINE_BYTES]  # the start of an overlong line is kept, the rest dropped
        return self._lines(lines)

    def finish(self) -> list[Piece]:
        """Return the pieces left when the answer has ended (the whole answer, or an unterminated last event)."""
        if not self.streamed:
            return [read_value(b"".join(self._chunks).decode(errors="replace"), streamed=False)]
        pieces = self._lines([self._pending] if self._pending else [])
        data = self._events.flush()
        return pieces + ([read_value(data, streamed=True)] if data is not None else [])

    def _lines(self, lines: list[bytes]) -> list[Piece]:
        pieces = []
        for line in lines:
            data = self._events.feed(line.decode(errors="replace"))
            if data is not None:
                pieces.append(read_value(data, streamed=True))
        return pieces
