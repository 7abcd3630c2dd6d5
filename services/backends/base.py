"""The backend protocol: a question in, a stream of answer events out.

Streaming backends (Bedrock) yield many `TextDelta`s; whole-answer backends (local, Q Business) yield
one. Both end with exactly one `FinalAnswer`, so handlers treat them the same.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from services.errors import BackendError, SignInRequired

__all__ = ["BackendError", "SignInRequired"]  # re-exported: they live on the ground floor (services/errors.py)


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
    generated: bool = True  # written by a model (labelled "AI generated"); False for retrieved passages as they are


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


@dataclass(frozen=True)
class AttachmentRules:
    """Which files a backend reads with a question: their extensions (lower case, no dot), how many per message
    and how large each may be."""

    types: frozenset[str]
    max_files: int = 5
    max_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so that generic code never asks for a backend by name.

    - `label`: the service's name for users' sentences ("Amazon Q Business");
    - `streams_text`: many TextDeltas while the answer is written (else one);
    - `citations`: answers carry numbered sources;
    - `generated`: a model writes the answers (so it can answer free follow-up questions, e.g. `explain`);
      False for a backend that returns retrieved passages as they are;
    - `acts_as_user`: asks with the signed-in user's own identity (Question.identity; may raise SignInRequired);
    - `feedback`: takes 👍/👎 (implements `TakesFeedback`); `signs_out`: forgets a user (implements `SignsOut`);
    - `reviews_actions`: an answer can end with an action for the user to confirm (FinalAnswer.pending);
    - `model_id`: the id the price table knows the backend's cost by ('' when it has none);
    - `answer_tokens`: the most output tokens one answer may cost (budgets reserve this much before a turn);
    - `attachments`: the files it reads with a question (None: it reads none)."""

    label: str = ""
    streams_text: bool = False
    citations: bool = True
    generated: bool = True
    acts_as_user: bool = False
    feedback: bool = False
    signs_out: bool = False
    reviews_actions: bool = False
    model_id: str = ""
    answer_tokens: int = 1024
    attachments: AttachmentRules | None = None


class Backend(Protocol):
    """An answering backend. `name` is what this deployment calls it (its route name; by default its type),
    `max_input_chars` the longest question it accepts, `status_text` what the user sees while it works
    ("Thinking…"), `capabilities` what it can do."""

    name: str
    max_input_chars: int
    status_text: str
    capabilities: Capabilities

    def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield answer events for `question`, ending with exactly one FinalAnswer."""


DEFAULT_CAPABILITIES = Capabilities()


def capabilities_of(backend: Backend) -> Capabilities:
    """Return what `backend` declares it can do; a backend written before capabilities existed (a test's fake)
    is taken as a plain model backend that writes one answer (DEFAULT_CAPABILITIES)."""
    found = getattr(backend, "capabilities", None)  # the protocol's one default, not a probe for a feature
    return found if isinstance(found, Capabilities) else DEFAULT_CAPABILITIES


# One piece per token a BPE tokenizer may spend, counted without its vocabulary (none is published for every model):
# at most two lowercase letters (with the space before them), a capital and one lowercase letter, two digits, a
# run of spaces, a line end, any other ASCII character. Measured against Anthropic's published Claude tokenizer
# (attack/budget_estimate_vs_tokenizer.py): random printable ASCII, base64, hex, uuids, digits and gibberish
# letters spend 0.8-1.06 tokens a piece, English prose and code about 0.45 (over-reserved, settled after the
# turn). Three characters a token, the earlier rule, let such text spend 1.8-2.4 times what was reserved.
_TOKEN_PIECE = re.compile(r" ?[a-z]{1,2}| ?[A-Z][a-z]?|[0-9]{1,2}|[ \t]{1,4}|[\x00-\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def budget_chars(text: str) -> int:
    """Return the length of `text` for a budget reservation, in units of which the reservation takes three a token:
    three per `_TOKEN_PIECE` of its ASCII text, and for the rest three quarters of a token per UTF-8 byte (a rare
    Chinese character costs two tokens, an emoji two or three, an accent mark one). An upper estimate for any
    text, not a count: tokenizers differ by model."""
    ascii_only = _NON_ASCII.sub(" ", text)
    pieces = sum(1 for _ in _TOKEN_PIECE.finditer(ascii_only))
    other_bytes = len(text.encode("utf-8", "surrogatepass")) - len(text.encode("ascii", "ignore"))
    return 3 * (pieces + -(-other_bytes * 3 // 4))


@runtime_checkable
class SizesPrompts(Protocol):
    """A backend that can say how long the prompt it sends for a question is (system prompt, kept history,
    retrieved passages), so that budgets reserve what the turn really costs."""

    def prompt_chars(self, question: Question) -> int:
        """Return an upper bound of the characters `answer` sends for `question`."""


@runtime_checkable
class TakesFeedback(Protocol):
    """A backend that passes users' 👍/👎 on to its service (Capabilities.feedback)."""

    async def send_feedback(
        self, identity: Identity | None, conversation_id: str, message_id: str, useful: bool, comment: str = ""
    ) -> None:
        """Pass the reaction on; raise SignInRequired when the user must sign in first, BackendError otherwise."""


@runtime_checkable
class SignsOut(Protocol):
    """A backend that keeps something per user (credentials, a client) and forgets it at sign-out."""

    async def forget(self, identity: Identity) -> None:
        """Forget what is kept for this user."""
