"""Flow control at the ingress: per-user and per-tenant token buckets, and one "slow down" sentence per window.

The buckets live in the store (SQLite, or DynamoDB with a conditional write), so they hold across processes
and Lambda instances. A turn over a bucket is acknowledged and not queued; the sender is told once per
SLOW_DOWN_WINDOW_SECONDS (not once per message: a flood must not become a flood of answers).
"""

from __future__ import annotations

import logging
import time

from handlers.models import Turn
from services.settings import Settings
from services.store import ACCEPTING, Store

log = logging.getLogger(__name__)
MEMORY_ENTRIES = 10_000


def sender_key(turn: Turn) -> str:
    """Return the key a sender's buckets and queue share: tenant and the channel's user id."""
    return f"{turn.conversation.tenant_id}|{turn.user.id}"


class FlowControl:
    """Admits turns while the sender's and the tenant's buckets have tokens. Rates of 0 turn a bucket off."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        # What the store said, remembered in this process so that a flood costs no store call per message: a
        # sender refused until T (the bucket has no token before T anywhere), a sender told until T.
        self._refused_until: dict[str, float] = {}
        self._told_until: dict[str, float] = {}

    @staticmethod
    def _remember(memory: dict[str, float], key: str, until: float) -> None:
        if len(memory) >= MEMORY_ENTRIES:  # bounded: forget the lot (the store still holds the truth)
            memory.clear()
        memory[key] = until

    async def admit(self, turn: Turn) -> float:
        """Return 0.0 when the turn may be queued, else the seconds until its sender may send again."""
        settings, sender, now = self.settings, sender_key(turn), time.monotonic()
        if self._refused_until.get(sender, 0.0) > now:
            return self._refused_until[sender] - now
        if settings.user_turns_per_minute:
            wait = await self.store.take_token(
                f"user|{sender}", settings.user_turns_per_minute / 60, settings.user_turn_burst
            )
            if wait:
                self._remember(self._refused_until, sender, now + wait)
                return wait
        if settings.tenant_turns_per_minute:
            wait = await self.store.take_token(
                f"tenant|{turn.conversation.tenant_id}", settings.tenant_turns_per_minute / 60,
                settings.tenant_turn_burst,
            )  # fmt: skip
            if wait:
                return wait
        return 0.0

    async def tell_once(self, turn: Turn) -> bool:
        """Return True for the first refused turn of a sender in each SLOW_DOWN_WINDOW_SECONDS (the one whose
        sender is told), False for the rest (acknowledged, logged, not answered)."""
        window, sender, now = self.settings.slow_down_window_seconds, sender_key(turn), time.monotonic()
        if self._told_until.get(sender, 0.0) > now:
            return False
        self._remember(self._told_until, sender, now + window)
        return (await self.store.acquire(f"slow-down|{sender}", ACCEPTING, window)).ok
