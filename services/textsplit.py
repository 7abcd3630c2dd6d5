"""Split long text into pieces under a size limit at natural boundaries, never cutting or dropping content."""

from __future__ import annotations

import json
import re

_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")


def json_size(text: str) -> int:
    """Return the length of `text` as a JSON string body (escapes included, quotes excluded)."""
    return len(json.dumps(text)) - 2


def split_text(text: str, limit: int) -> list[str]:
    """Return pieces of `text`, each at most `limit` by `json_size`, split at the largest boundary that fits.

    Boundaries, in order: blank lines, line ends, sentence ends, spaces, and as a last resort characters.
    Only the whitespace at a boundary is dropped; a fenced code block split in two is closed and reopened.
    """
    if limit < 16:
        raise ValueError("limit must be at least 16")
    pieces = _split(text, limit - 8)  # room to close and reopen a code fence
    return _balance_fences(pieces)


def _split(text: str, limit: int) -> list[str]:
    if json_size(text) <= limit:
        return [text] if text.strip() else []
    for pattern in (r"\n\s*\n", r"\n", _SENTENCE_END, r" +"):
        parts = [p for p in re.split(pattern, text) if p.strip()]
        if len(parts) > 1:
            break
    else:
        return _hard_split(text, limit)
    separator = {r"\n\s*\n": "\n\n", r"\n": "\n"}.get(pattern if isinstance(pattern, str) else "", " ")
    pieces: list[str] = []
    current, current_size = "", 0
    for part in parts:
        size = json_size(part)
        if size > limit:
            if current:
                pieces.append(current)
                current, current_size = "", 0
            pieces.extend(_split(part, limit))
            continue
        joined = current_size + json_size(separator) + size if current else size
        if current and joined > limit:
            pieces.append(current)
            current, current_size = part, size
        else:
            current = f"{current}{separator}{part}" if current else part
            current_size = joined
    if current:
        pieces.append(current)
    return pieces


def _hard_split(text: str, limit: int) -> list[str]:
    pieces, current, size = [], [], 0
    for char in text:
        char_size = json_size(char)
        if size + char_size > limit:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += char_size
    if current:
        pieces.append("".join(current))
    return pieces


def _balance_fences(pieces: list[str]) -> list[str]:
    balanced, reopen = [], ""
    for piece in pieces:
        piece = reopen + piece
        fences = re.findall(r"^\s*(```|~~~)(\S*)", piece, flags=re.M)
        if len(fences) % 2:
            fence, language = fences[-1]
            piece += f"\n{fence}"
            reopen = f"{fence}{language}\n"
        else:
            reopen = ""
        balanced.append(piece)
    return balanced
