"""Quote what a user typed back to them without letting it act as the bot's own Markdown or HTML."""

from __future__ import annotations

import re

EXCERPT_CHARS = 60
# Markdown that Teams and Adaptive Cards render (emphasis, links, images, code, headings, lists, tables) and
# the characters of HTML tags and entities.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()!|~>])")
_LINE_START = re.compile(r"^(\d+)\.|^([#+\-=])")  # a list, heading or rule only where a line starts
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


def quote(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Return `text` as a short, inert excerpt for a message or a card: on one line, cut to `limit` characters
    (ending in "…"), HTML escaped as entities, Markdown escaped with backslashes, and `://` broken so that a
    link is not made of it."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    escaped = "".join(_HTML.get(ch, ch) for ch in flat)
    escaped = _LINE_START.sub(lambda m: f"{m[1]}\\." if m[1] else f"\\{m[2]}", _MARKDOWN.sub(r"\\\1", escaped))
    return escaped.replace("://", ":\u2060//")  # a word joiner: invisible, but no URL for the autolinker
