"""The store interface every state backend (SQLite locally, DynamoDB on AWS) implements.

Three kinds of state:
- idempotency records, one per activity, with states (Powertools' model): `accepting` while the ingress hands
  the job to the queue, `queued` once it is there, `running` while a worker answers it, `completed` after.
  A record that is not completed carries a lease; when the lease expires the record no longer blocks anyone,
  so a crash at any point loses nothing: a re-delivery or a queue retry runs the job again.
- conversation state with a version: a write names the version it read and fails with StateConflict when
  another writer got there first, so no turn silently overwrites another's history.
- small values with an optional time to live (encrypted credentials, one-time notes).

Why not Powertools' Idempotency utility: it wraps one handler call (claim, run, save the result, all in one
function invocation). Our records span two functions: the ingress claims (`accepting`, then `queued`) and
answers the HTTP request, and later a worker takes the record over (`running`) and completes or releases it
per job, each step with its own lease and owner token. Powertools has no hand-over between functions, no
`queued` state, no release of a record to let a queue retry, and no SQLite persistence for `make run`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

ACCEPTING = "accepting"
QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
Status = Literal["accepting", "queued", "running", "completed"]


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


@dataclass(frozen=True)
class Acquired:
    """The result of `Store.acquire`: `ok` when the caller now holds the record; `previous` is the status that
    was there ('' when none, or when it had expired); `owner` is the token to release it with."""

    ok: bool
    previous: str = ""
    owner: str = ""


@dataclass(frozen=True)
class Versioned:
    """A conversation's state and its version (0 when nothing is stored)."""

    state: dict[str, Any]
    version: int


class StateConflict(Exception):
    """Another writer saved the conversation since it was read: read again and redo the change."""


class StoreUnavailable(Exception):
    """The store cannot serve now (throttled, unreachable, failing): the caller asks for a retry later.

    `code` is the backend's error code (e.g. ProvisionedThroughputExceededException); the message never
    carries the backend's own text, which may quote a key or a value."""

    def __init__(self, operation: str, code: str) -> None:
        super().__init__(f"the state store failed on {operation}: {code}")
        self.operation, self.code = operation, code


class Store(Protocol):
    """Async state for the gateway. Implementations must be safe for concurrent turns and processes."""

    async def acquire(
        self, key: str, status: Status, lease_seconds: float, *, take_over: tuple[str, ...] = ()
    ) -> Acquired:
        """Atomically set the idempotency record `key` to `status` with a lease of `lease_seconds`.

        Succeeds when there is no record, when the record has expired, or when its live status is one of
        `take_over`; otherwise leaves it as it is and returns ok=False with the status found."""

    async def complete(self, key: str, ttl_seconds: int) -> None:
        """Mark the record `key` completed for `ttl_seconds` (whoever holds it: the answer has gone out)."""

    async def release(self, key: str, owner: str) -> None:
        """Delete the record `key` if `owner` still holds it, so that a retry can run the job again."""

    async def load_conversation(self, key: str) -> Versioned:
        """Return the state saved for a conversation key and its version ({} and 0 when none)."""

    async def save_conversation(self, key: str, state: dict[str, Any], *, version: int) -> int:
        """Save `state` if the stored version is still `version`; return the new version.

        Raises StateConflict when another writer saved since. `state` must be JSON-serialisable."""

    async def clear_conversation(self, key: str) -> None:
        """Forget the state of a conversation key (a fresh conversation with the backend)."""

    async def get_value(self, key: str) -> dict[str, Any] | None:
        """Return the value stored under `key`, or None when there is none or it has expired."""

    async def put_value(self, key: str, value: dict[str, Any], ttl_seconds: int | None = None) -> None:
        """Store a JSON-serialisable value under `key`, forever or for `ttl_seconds`."""

    async def delete_value(self, key: str) -> None:
        """Forget the value under `key`."""

    async def add_feedback(self, feedback: Feedback) -> None:
        """Record one piece of feedback; a second reaction by the same user on an answer replaces the first."""

    async def list_feedback(self) -> list[Feedback]:
        """Return all feedback, oldest first."""

    async def take_token(self, key: str, per_second: float, burst: int) -> float:
        """Take one token from the bucket `key` (refilled at `per_second`, holding at most `burst`): return 0.0
        when taken, else the seconds until one is there. Atomic across processes (one conditional write)."""

    async def close(self) -> None:
        """Release connections."""


def next_arrival(stored: float | None, now: float, per_second: float, burst: int) -> tuple[float, float]:
    """The token bucket as GCRA (one number per bucket: the theoretical arrival time `stored`). Return (the new
    value to store, 0.0) when a token is taken, or (stored, seconds to wait) when the bucket is empty."""
    interval = 1.0 / per_second
    tat = max(stored or now, now)
    wait = tat - now - (burst - 1) * interval
    if wait > 0:
        return tat, wait
    return tat + interval, 0.0


async def get_conversation(store: Store, key: str) -> dict[str, Any]:
    """Return the state saved for a conversation key, or an empty dict (read-only use)."""
    return (await store.load_conversation(key)).state


async def update_conversation(
    store: Store, key: str, change: Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]],
    *, attempts: int = 5,
) -> dict[str, Any]:  # fmt: skip
    """Apply `change` (old state → new state) with optimistic concurrency; return the state saved.

    On a conflict the state is read again and `change` applied to the fresh state, up to `attempts` times;
    the last conflict is raised."""
    for attempt in range(attempts):
        current = await store.load_conversation(key)
        new = change(dict(current.state))
        if isinstance(new, Awaitable):
            new = await new
        try:
            await store.save_conversation(key, new, version=current.version)
            return new
        except StateConflict:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
