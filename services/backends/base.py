"""The backend protocol: a question in, a stream of answer events out.

Streaming backends (Bedrock) yield many `TextDelta`s; whole-answer backends (local, Q Business) yield
one. Both end with exactly one `FinalAnswer`, so handlers treat them the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class Citation(BaseModel):
    """A numbered source of an answer. `source` is a path relative to the knowledge folder or a URI."""

    number: int
    title: str
    source: str
    heading: str = ""
    excerpt: str = ""
    url: str | None = None


def excerpt_of(text: str, limit: int = 240) -> str:
    """Return `text` with whitespace collapsed, cut at a word boundary to about `limit` characters (with …)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


class TextDelta(BaseModel):
    """More answer text, to be appended to what came before."""

    kind: Literal["text"] = "text"
    text: str


class CitationsFound(BaseModel):
    """Sources found before or while the answer is written (e.g. a retrieval step)."""

    kind: Literal["citations"] = "citations"
    citations: list[Citation]


class TokenUsage(BaseModel):
    """Tokens one answer cost, as the backend reported them. `input_tokens` excludes the cached part:
    `cache_read_tokens` were read from the prompt cache, `cache_write_tokens` written to it. `estimated` is
    True when the backend reported nothing (a stopped stream) and the counts are a rough 4-characters-per-token
    guess."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False

    @property
    def prompt_tokens(self) -> int:
        """Return every token sent to the model: uncached input plus cache reads and writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        """Return the prompt tokens plus the output tokens."""
        return self.prompt_tokens + self.output_tokens


class FinalAnswer(BaseModel):
    """The complete answer. `state` is what the backend wants saved for the next turn of this conversation.

    `blocked` is True when a guardrail refused the question or the answer: `text` is then the guardrail's
    own message. `stop_reason` is the backend's reason for ending (e.g. `end_turn`, `max_tokens`).
    `usage` is None when the backend reports no token counts (the local backend). `pending` is something the
    user must do before the backend goes on (a plugin action to review, a sign-in link), with a `kind`; `notes`
    are short sentences shown under the answer (e.g. files that were skipped)."""

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
    usage: TokenUsage | None = None
    pending: dict[str, Any] | None = None
    notes: list[str] = Field(default_factory=list)


AnswerEvent = Annotated[TextDelta | CitationsFound | FinalAnswer, Field(discriminator="kind")]


class UserTokens(Protocol):
    """The user's own sign-in token for a backend that acts as the user (an OAuth connection of the bot)."""

    async def token(self) -> str | None:
        """Return the user's current access token, or None when the user has not signed in."""

    async def sign_out(self) -> None:
        """Forget the user's token (the next question needs a new sign-in)."""


class Identity(BaseModel):
    """Who asks, for backends that answer with the user's own permissions.

    `user_id` is the Microsoft Entra ID object id (stable per person and tenant), `tenant_id` the Entra
    tenant; `tokens` gets the user's token when a backend needs it (None: no sign-in is configured)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    user_id: str
    tenant_id: str = ""
    tokens: Any = Field(default=None, exclude=True, repr=False)


class Attachment(BaseModel):
    """A file sent with the question, already downloaded (bytes), for backends that read files."""

    name: str
    data: bytes = Field(repr=False)


class Question(BaseModel):
    """What a handler asks a backend: the text, who asks, and the conversation's saved backend state.

    `identity` is set when the backend answers as the user; `attachments` holds files sent with the text;
    `action` is a backend-specific follow-up the user confirmed (e.g. a plugin action), asked instead of text."""

    text: str
    conversation_key: str
    user_id: str = ""
    user_name: str = ""
    state: dict[str, Any] = Field(default_factory=dict)
    identity: Identity | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    action: dict[str, Any] | None = None


# A stopped answer ends without a FinalAnswer (its generator is closed), so a backend that knows what the
# unfinished answer cost hands it to whoever is collecting in this task's context.
_unfinished: ContextVar[Callable[[TokenUsage, str], None] | None] = ContextVar("unfinished_usage", default=None)


def report_unfinished_usage(usage: TokenUsage, model_id: str) -> None:
    """Hand the usage of an answer that was stopped before its FinalAnswer to the current collector, if any."""
    collector = _unfinished.get()
    if collector is not None:
        collector(usage, model_id)


@contextmanager
def collect_unfinished_usage() -> Iterator[list[tuple[TokenUsage, str]]]:
    """Yield a list that fills with (usage, model id) of answers stopped while the block runs in this task."""
    found: list[tuple[TokenUsage, str]] = []
    token = _unfinished.set(lambda usage, model_id: found.append((usage, model_id)))
    try:
        yield found
    finally:
        _unfinished.reset(token)


class BackendError(Exception):
    """A backend failure with a sentence safe to show to the user (no internals)."""

    def __init__(self, user_message: str, *, detail: str = "") -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


class SignInRequired(BackendError):
    """The backend needs the user's own sign-in (none yet, or it expired): show the sign-in card."""


class Backend(Protocol):
    """An answering backend. `max_input_chars` is the longest question it accepts; `status_text` is what
    the user sees while it works ("Thinking…")."""

    name: str
    max_input_chars: int
    status_text: str

    def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield answer events for `question`, ending with exactly one FinalAnswer."""
