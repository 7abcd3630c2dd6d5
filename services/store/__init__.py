"""State store: idempotency records, versioned conversation state, small values and feedback."""

from services.store.base import (
    ACCEPTING,
    COMPLETED,
    QUEUED,
    RUNNING,
    Acquired,
    Feedback,
    StateConflict,
    Store,
    StoreUnavailable,
    Versioned,
    get_conversation,
    next_arrival,
    update_conversation,
)
from services.store.sqlite import SQLiteStore

__all__ = [
    "ACCEPTING", "COMPLETED", "QUEUED", "RUNNING", "Acquired", "Feedback", "SQLiteStore", "StateConflict", "Store",
    "StoreUnavailable", "Versioned", "get_conversation", "next_arrival", "update_conversation",
]  # fmt: skip
