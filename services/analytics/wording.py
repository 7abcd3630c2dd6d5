"""How analyses word numbers and user data in sentences (no heavy imports: the Teams cards use it too)."""

from __future__ import annotations

from services.quoting import quote

EXCERPT_CHARS = 60  # user data quoted in a sentence (a column name, a cell) is cut to this many characters


def short(text: object, limit: int = EXCERPT_CHARS) -> str:
    """Return `text` as an inert excerpt of at most `limit` characters on one line (services.quoting.quote:
    Markdown and HTML escaped, cut with an ellipsis)."""
    return quote(str(text), limit)


def signed(value: float | None, binary: bool) -> str:
    """Return an effect for people: percentage points for binary outcomes, the outcome's units otherwise."""
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f} points" if binary else f"{value:+,.4g}"
