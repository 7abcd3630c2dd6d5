"""A monitor: a scheduled drift or metrics check, where its posts go, and what its last run found."""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import BaseModel, Field

Verdict = Literal["", "ok", "drift", "floor", "unreadable", "failed"]


class Floor(BaseModel):
    """A metric bound that, when crossed, makes a metrics monitor post: `auc<0.80` fires when AUC falls below
    0.80, `log_loss>0.4` when log loss rises above 0.4."""

    metric: str
    op: Literal["<", ">"]
    value: float = Field(allow_inf_nan=False)  # JSON has no inf: a stored inf came back null and unreadable

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    def crossed(self, observed: float) -> bool:
        """True when `observed` is on the wrong side of the floor."""
        return observed < self.value if self.op == "<" else observed > self.value


class Monitor(BaseModel):
    """One monitor as stored. Times are epoch seconds (UTC). `next_run` is None while paused.

    `service_url`, `conversation_id` (the channel itself for a channel: each post starts a new thread) and
    `audience` are the stored conversation reference the proactive posts go to."""

    id: str = Field(default_factory=lambda: secrets.token_hex(4))
    kind: Literal["drift", "metrics"]
    conversation_key: str
    conversation_type: str = "personal"
    service_url: str
    conversation_id: str
    audience: str = ""
    tenant_id: str = ""
    created_by: str
    created_by_name: str = ""
    created_at: float
    sources: list[str]
    options: str = ""
    floors: list[Floor] = Field(default_factory=list)
    schedule: str
    time_zone: str = "UTC"
    next_run: float | None = None
    last_run: float | None = None
    last_verdict: Verdict = ""
    last_summary: str = ""
    unreadable_runs: int = 0
    failed_runs: int = 0  # runs in a row that failed on our side (after the queue's retries)
    last_failed_due: float | None = None  # the due time of the last of them (a run's retries count once)
    muted_until: float | None = None
    paused: str = ""
    runs: int = 0
    posts: int = 0

    @property
    def command(self) -> str:
        """Return the analysis command the monitor runs (before its date placeholders are resolved)."""
        floors = " ".join(f.text for f in self.floors)
        return " ".join(p for p in (self.kind, *self.sources, self.options, floors) if p)
