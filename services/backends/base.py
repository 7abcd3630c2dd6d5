"""The backend protocol: a question in, a stream of answer events out.

Streaming backends (Bedrock) yield many `TextDelta`s; whole-answer backends (local, Q Business) yield
one. Both end with exactly one `FinalAnswer`, so handlers treat them the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field


class Citation(BaseModel):
    """A numbered source of an answer. `source` is a path relative to the knowledge folder or a URI."""

    number: int
    title: str
    source: str
    heading: str = ""
    excerpt: str = ""
    url: str | None = None


class TextDelta(BaseModel):
    """More answer text, to be appended to what came before."""

    kind: Literal["text"] = "text"
    text: str


class CitationsFound(BaseModel):
    """Sources found before or while the answer is written (e.g. a retrieval step)."""

    kind: Literal["citations"] = "citations"
    citations: list[Citation]


class FinalAnswer(BaseModel):
    """The complete answer. `state` is what the backend wants saved for the next turn of this conversation.

    `blocked` is True when a guardrail refused the question or the answer: `text` is then the guardrail's
    own message. `stop_reason` is the backend's reason for ending (e.g. `end_turn`, `max_tokens`)."""

    kind: Literal["final"] = "final"
    text: str
    citations: list[Citation] = Field(default_factory=list)
    backend: str
    conversation_id: str = ""
    message_id: str = ""
    model_id: str = ""
    state: dict[str, Any] = Field(default_factory=dict)
    blocked: bool = False
    stop_reason: str = ""


AnswerEvent = Annotated[TextDelta | CitationsFound | FinalAnswer, Field(discriminator="kind")]


class Question(BaseModel):
    """What a handler asks a backend: the text, who asks, and the conversation's saved backend state."""

    text: str
    conversation_key: str
    user_id: str = ""
    user_name: str = ""
    state: dict[str, Any] = Field(default_factory=dict)


class BackendError(Exception):
    """A backend failure with a sentence safe to show to the user (no internals)."""

    def __init__(self, user_message: str, *, detail: str = "") -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


class Backend(Protocol):
    """An answering backend. `max_input_chars` is the longest question it accepts; `status_text` is what
    the user sees while it works ("Thinking…")."""

    name: str
    max_input_chars: int
    status_text: str

    def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield answer events for `question`, ending with exactly one FinalAnswer."""
