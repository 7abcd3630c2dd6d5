"""The report of one turn: what happened, for the one log line and the metrics of the turn (never any text).

`run_turn` opens a report for each turn and makes it the current one; the code that answers notes what it
learns on it (the command, the backend, when the first text showed, tokens, the outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Outcome = Literal["answered", "blocked", "stopped", "failed", "over_budget", "user_error"]


@dataclass
class TurnReport:
    """Facts about one turn. Times are seconds from when the worker started the turn; None when not reached.
    `ack_seconds` (the ingress's receipt to its acknowledgement) and `queue_seconds` (then to the worker) come
    from the job."""

    activity_id: str
    conversation_key: str
    kind: str
    command: str = ""
    backend: str = ""
    outcome: Outcome = "answered"
    reference: str = ""
    error_kind: str = ""
    first_text_seconds: float | None = None
    final_seconds: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    ack_seconds: float | None = None
    queue_seconds: float | None = None
    started: float = field(default_factory=time.monotonic, repr=False)

    def elapsed(self) -> float:
        """Return the seconds since the turn started."""
        return time.monotonic() - self.started

    def first_text(self) -> None:
        """Note that the user now sees the first text of the answer (only the first call counts)."""
        if self.first_text_seconds is None:
            self.first_text_seconds = round(self.elapsed(), 4)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as plain data (without the monotonic start)."""
        data = asdict(self)
        data.pop("started")
        return data


_current: contextvars.ContextVar[TurnReport | None] = contextvars.ContextVar("turn_report", default=None)


def current_report() -> TurnReport:
    """Return the report of the turn being answered (a throw-away one outside a turn, e.g. in a test)."""
    report = _current.get()
    return report if report is not None else TurnReport("", "", "")


def user_error(kind: BaseException | str) -> None:
    """Note on the current report that the turn ended in the user's own mistake, answered with one sentence
    (an unknown option, an unreadable table, a column that is not there): outcome `user_error`, with the
    mistake's kind (the exception's class). Not a failure: it is counted, and nothing goes to Sentry."""
    report = current_report()
    report.outcome = "user_error"
    report.error_kind = kind if isinstance(kind, str) else type(kind).__name__


def open_report(report: TurnReport) -> contextvars.Token:
    """Make `report` the current one; return the token to reset it with."""
    return _current.set(report)


def close_report(token: contextvars.Token) -> None:
    """Restore the report that was current before `open_report`."""
    _current.reset(token)


_limit: contextvars.ContextVar[asyncio.Timeout | None] = contextvars.ContextVar("turn_time_limit", default=None)


@contextlib.asynccontextmanager
async def time_limit(seconds: float) -> AsyncIterator[None]:
    """Run the block under `asyncio.timeout(seconds)` (TimeoutError when it expires), and let the code inside
    tell, with `timed_out()`, a cancellation by this limit from any other cancellation."""
    async with asyncio.timeout(seconds) as limit:
        token = _limit.set(limit)
        try:
            yield
        finally:
            _limit.reset(token)


def timed_out() -> bool:
    """True when the turn's time limit (`time_limit`) has expired: its cancellation is a timeout."""
    limit = _limit.get()
    return limit is not None and limit.expired()
