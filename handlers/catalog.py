"""What the ingress must know about the conversation logic without building it: a static table.

The ingress acknowledges card actions with a sentence and sends each turn to the chat or the analytics
queue, but it imports no backend and builds no Router. These tables are that knowledge; the Router reads
the same table when it registers actions, and a test checks the analytics commands against the Router.
"""

from __future__ import annotations

import math
import re
from typing import Literal

from handlers.models import Turn

JobKind = Literal["chat", "analytics"]

UNKNOWN_ACTION = "That button is no longer supported. Send `help` to see what I can do."
ACTION_ACKS: dict[str, str] = {
    "feedback": "Thanks for your feedback.",
    "signed_in": "",
    "qbusiness_confirm": "Running the action…",
    "qbusiness_cancel": "Cancelled.",
    "agent_action_confirm": "Sending it to the agent…",
    "agent_action_cancel": "Cancelled.",
    "slow_down": "",
}
SLOW_DOWN_VERB = "slow_down"  # the turn the ingress queues, once per window, to tell a sender over their rate


def slow_down_sentence(seconds: float) -> str:
    """Return what a sender over their rate is told (once per window)."""
    wait = min(3600, max(1, math.ceil(seconds))) if math.isfinite(seconds) else 60  # a forged press names any number
    return (
        "You are sending messages faster than I can answer, so I skipped some of them. "
        f"Please wait {wait} seconds, then send again what still needs an answer."
    )


# The commands (and their aliases) that run on the analytics worker: numpy, pandas, scikit-learn and matplotlib
# live there (`usage` draws its chart with matplotlib; `monitor run` runs an analysis, and monitors live beside it).
ANALYTICS_COMMANDS = frozenset({"metrics", "evaluate", "drift", "compare", "uplift", "usage", "monitor", "monitors"})


_COMMAND = re.compile(r"^/?([A-Za-z][\w-]*)(?:\s+(.*))?$", re.S)


def split_command(text: str) -> tuple[str, str, bool]:
    """Return (word, rest, slashed) for the first word of `text`; word is lower-cased, '' if none."""
    match = _COMMAND.match(text.strip())
    if not match:
        return "", text.strip(), False
    return match.group(1).lower(), (match.group(2) or "").strip(), text.strip().startswith("/")


def action_ack(verb: str) -> str:
    """Return the sentence that acknowledges a card action with `verb`, or UNKNOWN_ACTION."""
    return ACTION_ACKS.get(verb, UNKNOWN_ACTION)


def job_kind(turn: Turn) -> JobKind:
    """Return which worker answers `turn`: `analytics` for the analytics commands, `chat` for everything else."""
    if turn.kind != "message":
        return "chat"
    word, _, _ = split_command(turn.text)
    return "analytics" if word in ANALYTICS_COMMANDS else "chat"
