"""Multi-turn history kept in the conversation state, trimmed from the oldest turn to a character budget."""

from __future__ import annotations

from typing import Any


def trim_history(history: list[dict[str, str]], budget_chars: int, reserve: int = 0) -> list[dict[str, str]]:
    """Return the newest whole exchanges (user then assistant) whose text fits in `budget_chars - reserve`.

    The budget counts characters of message text (roughly four per token for English). Older exchanges
    go first; the result always starts with a user message, as the Converse API requires.
    """
    available = budget_chars - reserve
    kept: list[dict[str, str]] = []
    used = 0
    pairs = [history[i : i + 2] for i in range(0, len(history) - 1, 2)]
    for pair in reversed(pairs):
        if [m["role"] for m in pair] != ["user", "assistant"]:
            break
        size = sum(len(m["text"]) for m in pair)
        if used + size > available:
            break
        kept[:0] = pair
        used += size
    return kept


def to_converse(history: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Return history as Converse API messages."""
    return [{"role": m["role"], "content": [{"text": m["text"]}]} for m in history]
