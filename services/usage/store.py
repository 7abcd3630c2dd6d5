"""The usage store interface: daily token tallies and budget counters (SQLite locally, DynamoDB on AWS).

Kept apart from `services.store` (conversation state): its own tables, its own protocol. Costs are stored as
integer micro-dollars so that increments stay exact and atomic in both implementations.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, Protocol

Dimension = Literal["user", "team", "model", "backend"]
COUNTERS = (
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_micro", "turns",
    "unpriced_turns", "estimated_turns",
)  # fmt: skip


@dataclass(frozen=True)
class Tally:
    """What one turn adds to a day's row: tokens, estimated cost (micro-dollars) and turn counts.
    `unpriced_turns` counts turns on models without a price; `estimated_turns` turns whose tokens were guessed."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_micro: int = 0
    turns: int = 0
    unpriced_turns: int = 0
    estimated_turns: int = 0

    @property
    def tokens(self) -> int:
        """Return every token of the tally: input, output, cache reads and writes."""
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Tally)))


@dataclass(frozen=True)
class UsageRow:
    """The tally of one user, team, model or backend on one day (`day` is YYYY-MM-DD, UTC)."""

    day: str
    dimension: Dimension
    key: str
    tally: Tally


@dataclass(frozen=True)
class Hold:
    """A budget counter a turn reserves: `scope` (`user:<id>` or `team:<key>`), `period` (a day or a month),
    the reserved amounts, the limits (None: no limit of that kind) and when the counter may be forgotten
    (epoch seconds)."""

    scope: str
    period: str
    tokens: int
    cost_micro: int
    token_limit: int | None
    cost_limit_micro: int | None
    expires_at: int


@dataclass(frozen=True)
class Balance:
    """A budget counter after a turn settled: what it holds now (used plus other turns' open reservations)."""

    hold: Hold
    tokens: int
    cost_micro: int


class UsageStore(Protocol):
    """Atomic usage tallies and budget counters. Implementations must be safe for concurrent turns and processes."""

    async def add(self, day: str, keys: dict[Dimension, str], tally: Tally) -> None:
        """Add `tally` to the row of each (day, dimension, key), all in one atomic write."""

    async def reserve(self, holds: list[Hold]) -> Hold | None:
        """Reserve every hold, or none: return the first hold whose counter is already at its limit, else None."""

    async def settle(self, holds: list[Hold], tokens: int, cost_micro: int) -> list[Balance]:
        """Replace each hold's reservation by the turn's actual tokens and cost; return the counters after."""

    async def mark_noted(self, hold: Hold) -> bool:
        """Mark the counter of `hold` as having had its 80% note; return True only the first time."""

    async def rows(self, first_day: str, last_day: str) -> list[UsageRow]:
        """Return every row from `first_day` to `last_day` inclusive."""

    async def close(self) -> None:
        """Release connections."""
