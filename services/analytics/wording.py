"""How analyses word numbers and user data in sentences (no heavy imports: the Teams cards use it too)."""

from __future__ import annotations

import math

from services.quoting import quote

EXCERPT_CHARS = 60  # user data quoted in a sentence (a column name, a cell) is cut to this many characters


def short(text: object, limit: int = EXCERPT_CHARS) -> str:
    """Return `text` as an inert excerpt of at most `limit` characters on one line (services.quoting.quote:
    Markdown and HTML escaped, cut with an ellipsis)."""
    return quote(str(text), limit)


def readable(value: float, plus: bool = False) -> str:
    """Return a number for people, never in e-notation: 13,042 not 1.3e+04, 1982 (a year), 1234.5, 0.6207,
    0.00012; `plus` adds '+' to positives."""
    sign = "+" if plus and value > 0 else ""
    size = abs(value)
    if not math.isfinite(value) or size == 0:
        return f"{sign}{value:g}"
    if size >= 10_000:
        return f"{sign}{value:,.0f}"
    if size >= 1000:  # no separator below 10,000: a year reads 1982, not 1,982
        return f"{sign}{value:.0f}" if float(value).is_integer() else f"{sign}{value:.1f}"
    return f"{sign}{value:.4g}" if size >= 0.001 else f"{sign}{value:.2g}"


def signed(value: float | None, binary: bool) -> str:
    """Return an effect for people: percentage points for binary outcomes, the outcome's units otherwise."""
    if value is None:
        return "n/a"
    return f"{value * 100:+.1f} points" if binary else readable(value, plus=True)
