"""Text as Teams shows it: plain citation abstracts, and Markdown reshaped where Teams renders it badly.

What a backend writes is Markdown for any chat client; Teams has its own quirks, fixed here and only here:
citation abstracts are shown as plain text, `[n]` markers inside Markdown list items do not become
interactive citations, and `<word>` placeholders arrive as `&lt;word&gt;`. Code is sent as written: an
earlier version broke long code lines to fit the personal chat pane, which made copied JSON invalid and
turned a shell comment's continuation into a command (seen in Agents Playground); a code block that is
wider than the pane scrolls, which is better than code that is wrong.
"""

from __future__ import annotations

import re

# The Markdown is stripped with a few regular expressions rather than a parser: excerpts are short snippets
# whose Markdown is often broken (cut mid-emphasis), which a parser would keep as literal asterisks.
_FENCE_MARK = re.compile(r"(?:```|~~~)[\w+#.-]*(?=\s|$)")  # with its language tag, wherever a cut left it
_LINE_MARKUP = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+•][ \t]+|\d{1,3}[.)][ \t]+)+", re.M)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_STRONG = re.compile(r"\*{2,}|_{2,}(?=\S|$)|(?<=\S)_{2,}")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])|(?<![\w])_(?=\S)|(?<=\S)_(?!\w)")
_CODE_TICKS = re.compile(r"`+")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)(?<!\bcf)[.!?…](?=\s)")  # not "e.g. "

_FENCE = re.compile(r"^([ \t]*)(```|~~~)([^\n]*)\n(.*?)^[ \t]*\2[ \t]*$", re.S | re.M)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+(?=\S)", re.M)
_NUMBERED = re.compile(r"^([ \t]*)(\d{1,3})[.)][ \t]+(?=\S)", re.M)
_PLACEHOLDER = re.compile(r"<([A-Za-z][\w-]*(?: [\w-]+)*)>")  # <column>, <label column>
# Tags Teams renders as HTML; any other <word> is a placeholder such as `<column>`.
_HTML_TAGS = frozenset("a at b blockquote br code em h1 h2 h3 hr i li ol p pre s strike strong sub sup u ul".split())


def plain_text(markdown: str) -> str:
    """Return `markdown` as one line of plain text: no emphasis, code ticks, fences, headings or list markers;
    links keep their text. Broken Markdown (emphasis cut in half) loses its stray markers too."""
    text = _FENCE_MARK.sub(" ", markdown)
    text = _LINE_MARKUP.sub("", text)
    text = _LINK.sub(r"\1", _IMAGE.sub(r"\1", text))
    text = _EMPHASIS.sub("", _STRONG.sub("", text))
    text = _CODE_TICKS.sub("", text)
    return _SPACES.sub(" ", text).strip()


def shorten(text: str, limit: int) -> str:
    """Return `text` (plain) cut to at most `limit` characters: at a sentence end when one falls in the second
    half, else at a word boundary with "…"."""
    if len(text) <= limit:
        return text
    ends = [
        m.end()
        for m in _SENTENCE_END.finditer(text, 0, limit)
        if text.count("(", 0, m.end()) <= text.count(")", 0, m.end())
    ]  # never inside parentheses
    if ends and ends[-1] >= limit // 2:
        return text[: ends[-1]]
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—(") + "…"


def abstract(markdown: str, limit: int) -> str:
    """Return the plain-text abstract of `markdown` in at most `limit` characters (see `shorten`)."""
    return shorten(plain_text(markdown), limit)


def safe_placeholders(text: str) -> str:
    """Return `text` with `<word>` placeholders written ‹word›: Teams shows them as `&lt;word&gt;` otherwise.
    Real tags Teams renders (`<at>`, `<b>`, `<br>`…) are left alone."""
    return _PLACEHOLDER.sub(
        lambda m: m.group(0) if m.group(1).split()[0].lower() in _HTML_TAGS else f"‹{m.group(1)}›", text
    )


def _outside_code(text: str, change) -> str:
    """Return `text` with `change` applied to the parts outside fenced code blocks."""
    parts, position = [], 0
    for match in _FENCE.finditer(text):
        parts += [change(text[position : match.start()]), match.group(0)]
        position = match.end()
    return "".join([*parts, change(text[position:])])


def _flat_lists(text: str) -> str:
    # Teams turns `[n]` into an interactive citation only outside list items: items become paragraphs
    # that start with a bullet (or a bold number), which look the same and keep every marker interactive.
    text = _BULLET.sub(r"\1• ", text)
    text = _NUMBERED.sub(r"\1**\2.** ", text)
    return re.sub(r"(?<!\n)\n(?=[ \t]*(?:• |\*\*\d{1,3}\.\*\* ))", "\n\n", text)


def teams_message_text(markdown: str) -> str:
    """Return Markdown for a Teams message: list items as bulleted paragraphs (so every [n] marker is an
    interactive citation) and `<word>` placeholders made safe, outside code blocks; code as written."""
    return _outside_code(markdown, lambda part: safe_placeholders(_flat_lists(part)))
