"""The store interface every state backend (SQLite locally, DynamoDB on AWS) implements."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field


class Feedback(BaseModel):
    """One 👍/👎 on an answer, with the ids needed to find the answer again."""

    conversation_key: str
    answer_id: str
    reaction: Literal["like", "dislike"]
    user_id: str = ""
    comment: str = ""
    backend: str = ""
    backend_conversation_id: str = ""
    model_id: str = ""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Store(Protocol):
    """Async key-value state for the gateway. Implementations must be safe for concurrent turns."""

    async def get_conversation(self, key: str) -> dict[str, Any]:
        """Return the state saved for a conversation key, or an empty dict."""

    async def put_conversation(self, key: str, state: dict[str, Any]) -> None:
        """Replace the state saved for a conversation key (must be JSON-serialisable)."""

    async def clear_conversation(self, key: str) -> None:
        """Forget the state of a conversation key (a fresh conversation with the backend)."""

    async def claim(self, marker: str, ttl_seconds: int) -> bool:
        """Atomically set a dedupe marker; return True the first time, False while it has not expired."""

    async def add_feedback(self, feedback: Feedback) -> None:
        """Record one piece of feedback; a second reaction by the same user on an answer replaces the first."""

    async def list_feedback(self) -> list[Feedback]:
        """Return all feedback, oldest first."""

    async def close(self) -> None:
        """Release connections."""
