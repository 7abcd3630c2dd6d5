"""Budgets: optional daily limits per user and monthly limits per team, in tokens or estimated cost.

A turn reserves, before the backend is called, the question's tokens plus the longest answer the backend
may write (and their price); the store admits it only while the counter is under the limit, so two
concurrent turns of one user cannot both start past it. When the turn ends the reservation is replaced by
what the turn really used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.usage.store import Balance, Hold

NOTE_SHARE = 0.8
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class Limits:
    """The configured limits; None means no limit of that kind. Costs are US dollars."""

    user_daily_tokens: int | None = None
    user_daily_cost: float | None = None
    team_monthly_tokens: int | None = None
    team_monthly_cost: float | None = None

    @property
    def user(self) -> bool:
        """True when a per-user limit is set."""
        return self.user_daily_tokens is not None or self.user_daily_cost is not None

    @property
    def team(self) -> bool:
        """True when a per-team limit is set."""
        return self.team_monthly_tokens is not None or self.team_monthly_cost is not None

    @classmethod
    def from_settings(cls, settings: object) -> Limits:
        """Return the limits read from the gateway settings."""
        return cls(
            user_daily_tokens=getattr(settings, "user_daily_token_limit", None),
            user_daily_cost=getattr(settings, "user_daily_cost_limit", None),
            team_monthly_tokens=getattr(settings, "team_monthly_token_limit", None),
            team_monthly_cost=getattr(settings, "team_monthly_cost_limit", None),
        )


def micro(dollars: float | None) -> int | None:
    """Return dollars as integer micro-dollars (None stays None)."""
    return None if dollars is None else round(dollars * 1_000_000)


def holds_for(limits: Limits, user_id: str, team: str, tokens: int, cost_micro: int, now: datetime) -> list[Hold]:
    """Return the budget counters a turn at `now` (UTC) must reserve `tokens` and `cost_micro` on."""
    counters = (  # (applies, scope, period, token limit, cost limit, days the counter is kept)
        (limits.user and user_id, f"user:{user_id}", "%Y-%m-%d", limits.user_daily_tokens, limits.user_daily_cost, 2),
        (limits.team and team, f"team:{team}", "%Y-%m", limits.team_monthly_tokens, limits.team_monthly_cost, 62),
    )
    return [
        Hold(scope, now.strftime(period), tokens, cost_micro, token_limit, micro(cost_limit),
             int((now + timedelta(days=kept)).timestamp()))
        for applies, scope, period, token_limit, cost_limit, kept in counters
        if applies
    ]  # fmt: skip


def refusal(hold: Hold) -> str:
    """Return the sentence a user sees when `hold`'s counter has reached its limit."""
    if hold.scope.startswith("user:"):
        return (
            "You have reached your daily allowance for the AI assistant. It renews at midnight UTC; "
            "an administrator can raise the limit if you need more today."
        )
    return (
        "This team has reached its monthly allowance for the AI assistant. It renews on the first day of "
        "next month (UTC); an administrator can raise the limit."
    )


def near_limit(balance: Balance) -> bool:
    """True when the counter holds at least 80% of one of its limits."""
    hold = balance.hold
    share = 0.0
    if hold.token_limit:
        share = max(share, balance.tokens / hold.token_limit)
    if hold.cost_limit_micro:
        share = max(share, balance.cost_micro / hold.cost_limit_micro)
    return share >= NOTE_SHARE


def note(balance: Balance) -> str:
    """Return the one-time note for a counter past 80% of its limit."""
    if balance.hold.scope.startswith("user:"):
        return "Note: you have used over 80% of your daily allowance for the AI assistant (it renews at midnight UTC)."
    return "Note: this team has used over 80% of its monthly allowance for the AI assistant."
