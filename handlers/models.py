"""The neutral models handlers work on: a Turn in, calls on a Replier out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from services.backends import FinalAnswer


class User(BaseModel):
    """Who sent the turn. `aad_object_id` is the Entra ID object id when Teams provides it."""

    id: str
    name: str = ""
    aad_object_id: str = ""


class Conversation(BaseModel):
    """Where the turn happened. `key` identifies the context kept for it: one per chat, one per channel thread;
    `team_id` is the Teams team of a channel ('' elsewhere)."""

    id: str
    type: Literal["personal", "groupChat", "channel"]
    key: str
    tenant_id: str = ""
    team_id: str = ""


class FileAttachment(BaseModel):
    """A file the user attached (personal chat): a short-lived, pre-authenticated download URL."""

    name: str
    download_url: str
    file_type: str = ""


class Turn(BaseModel):
    """One thing a user did that the gateway answers.

    kind: `message` (text), `action` (a card button: `verb` and `data`), `welcome` (the bot was added).
    `text` has the bot's @mention removed and control characters stripped; `invoke` is True for
    Action.Execute, whose acknowledgement already went back in the HTTP response.
    """

    id: str
    kind: Literal["message", "action", "welcome"]
    text: str = ""
    verb: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    invoke: bool = False
    user: User
    conversation: Conversation
    locale: str = "en-US"
    files: list[FileAttachment] = Field(default_factory=list)
    received_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class StreamStopped(Exception):
    """The user stopped the answer (Teams' Stop button): stop producing it."""


class ChannelUnavailable(Exception):
    """The channel could not be reached even after its own retries (a 5xx or a network error, not a refusal):
    no sentence would reach the user either, so the turn is not answered here but run again later."""


class AnswerStream(Protocol):
    """An answer shown while it is written: in Teams, a stream in personal chats, a message edited in place
    elsewhere. Updates are throttled inside; the handler sends every change."""

    async def update(self, text: str) -> None:
        """Show `text`, the whole answer so far. Raises StreamStopped once the user has stopped the answer."""

    async def finish(self, answer: FinalAnswer, *, note: str = "") -> str:
        """Show the final answer with its citations and feedback; return the id of the message that carries it."""

    async def fail(self, text: str) -> None:
        """End the stream with `text` instead of an answer (an error sentence)."""


class Replier(Protocol):
    """How handlers answer. The Teams implementation lives in `bot/replier.py`."""

    async def start_stream(self, status: str) -> AnswerStream:
        """Start showing an answer: `status` ("Thinking…") appears at once."""

    async def typing(self) -> None:
        """Show the typing indicator."""

    async def send_text(self, text: str) -> None:
        """Send Markdown text; text over the message size limit is split into several messages, never cut."""

    async def send_card(self, card: dict[str, Any], *, summary: str = "") -> None:
        """Send an Adaptive Card (a dict in the Adaptive Cards 1.5 schema); `summary` is the notification text."""

    async def send_sign_in(self, text: str) -> None:
        """Send `text` with the sign-in card of the bot's OAuth connection (or `text` alone when none is set)."""
