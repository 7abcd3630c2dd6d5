"""State store: per-conversation backend state, dedupe markers and feedback."""

from services.store.base import Feedback, Store
from services.store.sqlite import SQLiteStore

__all__ = ["Feedback", "Store", "SQLiteStore"]
