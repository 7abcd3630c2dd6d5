"""Split Markdown, plain-text and HTML documents into titled passages with their section path, for retrieval.

Structure is kept (title, section path, body) and boilerplate is dropped: in HTML, navigation bars,
sidebars, headers and footers ("Prev Up Next"), permalink marks, and whole pages that are mostly links
(generated indexes, tables of contents). Admonitions ("Note", "Tip", "Warning") stay in the body as
"Note: …" instead of becoming headings that swallow the text after them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser, LexborNode

from services.textsplit import split_text

SUPPORTED_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
MAX_SECTION_CHARS = 1500
SEPARATOR = " › "
# A page whose text is mostly link labels is an index or a table of contents, not content.
LINK_PAGE_SHARE = 0.6
ADMONITIONS = frozenset(
    "note notes tip tips hint warning caution danger attention important example see also seealso info todo".split()
)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_GFM_ALERT = re.compile(r"^(\s*>\s*)\[!(\w+)\]\s*$")
# Lines made only of navigation words ("Prev Up Next", "Previous topic", "« index | modules »").
_NAV_LINE = re.compile(
    r"^(?:\s|[|«»←→·•/]|prev(?:ious)?|next|up|home|top|index|modules|topic|contents|this page|show source"
    r"|report a bug|navigation)+$",
    re.I,
)


@dataclass(frozen=True)
class Section:
    """A passage of a document: `heading` is the section path ("Setup › Install"), empty at the top."""

    heading: str
    body: str


@dataclass(frozen=True)
class Document:
    """A parsed document: its title and its passages in reading order (none for a page of links)."""

    title: str
    sections: list[Section]


def parse_document(path: Path) -> Document:
    """Return the document at `path` split into passages; the kind is chosen by file suffix."""
    text = path.read_text(encoding="utf-8", errors="replace")
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower(), "text")
    fallback_title = path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    if kind == "markdown":
        return _parse_markdown(text, fallback_title)
    if kind == "html":
        return _parse_html(text, fallback_title)
    return Document(fallback_title, _chunk([], text))


def is_admonition(label: str) -> bool:
    """Return True for a label such as "Note", "Tip:" or "See also" that introduces a box, not a section."""
    return " ".join(re.sub(r"[^\w\s]", " ", label.lower()).split()) in ADMONITIONS


def heading_path(names: list[str], title: str = "") -> str:
    """Return the section path joined with " › ", without the title or a label repeating its parent."""
    kept: list[str] = []
    for name in names:
        if name and not _same(name, title) and (not kept or not _same(name, kept[-1])):
            kept.append(name)
    return SEPARATOR.join(kept)


def _same(a: str, b: str) -> bool:
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def _chunk(names: list[str], body: str, title: str = "") -> list[Section]:
    """Return `body` as passages of at most MAX_SECTION_CHARS, split at paragraphs, lines or sentences."""
    body = re.sub(r"<!--.*?-->", "", body, flags=re.S).strip()
    if not body:
        return []
    heading = heading_path(names, title)
    pieces = [piece.strip() for piece in split_text(body, MAX_SECTION_CHARS) if piece.strip()]
    return [Section(heading, piece) for piece in _repeat_table_headers(pieces)]


_TABLE_RULE = re.compile(r"\|(?:\s*:?-+:?\s*\|)+")


def _repeat_table_headers(pieces: list[str]) -> list[str]:
    """A Markdown table cut between two passages keeps its header (and rule line) on the second, so each
    passage quotes as a table and not as loose rows."""
    out: list[str] = []
    header: list[str] = []
    for piece in pieces:
        lines = piece.splitlines()
        if header and lines and lines[0].startswith("|") and not (len(lines) > 1 and _TABLE_RULE.fullmatch(lines[1])):
            piece = "\n".join([*header, piece])
            lines = piece.splitlines()
        for i in range(len(lines) - 1):  # the last table header the piece opens, for the next piece
            if lines[i].startswith("|") and _TABLE_RULE.fullmatch(lines[i + 1].strip()):
                header = lines[i : i + 2]
        if lines and not lines[-1].startswith("|"):
            header = []
        out.append(piece)
    return out


def _strip_inline(text: str) -> str:
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    return text.replace("`", "").replace("**", "").strip()


def _parse_markdown(text: str, fallback_title: str) -> Document:
    title = ""
    path: list[tuple[int, str]] = []
    pending: list[tuple[list[str], str]] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        pending.append(([name for _, name in path], "\n".join(lines)))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        alert = None if in_fence else _GFM_ALERT.match(line)
        if alert:  # GitHub's "> [!NOTE]" becomes "> Note:" in the body
            lines.append(f"{alert.group(1)}{alert.group(2).capitalize()}:")
            continue
        if heading is None:
            lines.append(line)
            continue
        level, name = len(heading.group(1)), _strip_inline(heading.group(2))
        if is_admonition(name):
            lines.append(f"{name.rstrip(':')}:")
            continue
        flush()
        if level == 1 and not title:
            title = name
            continue
        path = [(lvl, n) for lvl, n in path if lvl < level] + [(level, name)]
    flush()
    title = title or fallback_title
    return Document(title, [section for names, body in pending for section in _chunk(names, body, title)])


# Boilerplate removed before reading a page: navigation, sidebars, headers and footers, permalink marks.
_BOILERPLATE = (
    "script, style, noscript, template, svg, form, button, select, nav, aside, footer, "
    "[role=navigation], [role=banner], [role=contentinfo], [role=search], [role=complementary], "
    ".navheader, .navfooter, .navbar, .navigation, .related, .sphinxsidebar, .sidebar, .footer, .header, "
    ".breadcrumb, .breadcrumbs, .mobile-nav, .headerlink, .skip-link, table[summary^=Navigation], "
    ".toctree-wrapper, .toc, #toc"
)
# Inline formatting carries no structure: unwrapping it leaves fewer, longer text nodes to walk.
_INLINE = ["a", "span", "em", "strong", "code", "b", "i", "abbr", "cite", "kbd", "var", "samp", "small", "sub", "sup"]
_SPACES = re.compile(r"\s+")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCKS = frozenset("p div li tr pre section article ul ol dl dt dd table blockquote".split())
_PARAGRAPHS = frozenset("p div section table pre blockquote dl".split())


class _Events:
    """Turns a walk over a page's elements into events: ("h", level, name), ("t", text, ""),
    ("dl", depth, ""). API entries (Sphinx `<dt class="sig" id="os.makedirs">`) count as headings one
    level below the deepest HTML heading, so their passages are labelled with the function's name."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object, object]] = []
        self._dl = 0
        self._pre = 0
        self._heading: list[str] | None = None
        self._admonition = False  # inside the label paragraph of an admonition box
        self._glue = False  # a label or list marker was just written: no paragraph break before the text
        self._last = ""
        # Tables are written as Markdown tables (a row per line, the first row as the header) so an answer
        # can quote them with their structure: one entry per open <table>, [rows written, cells in the row].
        self._tables: list[list[int]] = []
        self._cell = 0  # inside this many open <td>/<th>: block tags add a space, not a line break

    def start(self, tag: str, attributes: dict[str, str | None]) -> None:
        classes = (attributes.get("class") or "").split()
        if self._table_start(tag):
            return
        if tag in _HEADINGS:
            self._heading = []
        elif tag == "dl":
            self._dl += 1
        elif tag == "dt" and attributes.get("id"):
            if "sig" in classes:  # an API signature: named by its qualified id, the signature stays in the text
                self.events.append(("h", 6 + self._dl, attributes["id"]))
            else:  # a defined term (a glossary entry): named by its text
                self._heading = []
        elif tag == "br":
            self._text("\n")
        elif tag == "pre":
            self._pre += 1
            self._text("\n\n```\n")
        elif tag == "p" and "admonition-title" in classes:
            self._text("\n\n")
            self._admonition = True
        elif tag in _BLOCKS and not self._glue:
            self._text("\n\n" if tag in _PARAGRAPHS else "\n")
            if tag == "li":
                self._text("- ")
                self._glue = True

    def _table_start(self, tag: str) -> bool:
        """Handle a tag that opens a table, a row or a cell, or any block inside a cell; return True if handled."""
        if tag == "table" and not self._cell:
            self._tables.append([0, 0])
            self._text("\n\n")
            return True
        if not self._tables or self._pre:
            return False
        if tag == "tr" and not self._cell:
            self._tables[-1][1] = 0
            self._text("\n|")
            return True
        if tag in ("td", "th") and not self._cell:
            self._cell += 1
            self._text(" ")
            return True
        if self._cell and (tag in _BLOCKS or tag in _HEADINGS or tag in ("br", "td", "th")):
            self._cell += tag in ("td", "th")  # a table inside a cell is read as the cell's text
            self._text(" ")
            return True
        return False

    def _table_end(self, tag: str) -> bool:
        if not self._tables or self._pre:
            return False
        if tag in ("td", "th") and self._cell:
            self._cell -= 1
            if not self._cell:
                self._tables[-1][1] += 1
                self._text(" |")
            return True
        if self._cell:
            return tag in _BLOCKS or tag in _HEADINGS
        if tag == "tr":
            rows, cells = self._tables[-1]
            if rows == 0 and cells:  # the first row is the header: Markdown wants the separator line under it
                self._text("\n|" + "---|" * cells)
            self._tables[-1][0] += 1
            return True
        if tag == "table":
            self._tables.pop()
            self._text("\n\n")
            return True
        return False

    def end(self, tag: str) -> None:
        if self._table_end(tag):
            return
        if tag == "pre":
            self._pre -= 1
            self._text("\n```\n\n")
        elif tag == "dl":
            self.events.append(("dl", self._dl, ""))
            self._dl -= 1
        elif (tag in _HEADINGS or tag == "dt") and self._heading is not None:
            name = " ".join("".join(self._heading).replace("¶", "").split())
            self._heading = None
            if is_admonition(name):
                self._text(f"\n\n{name.rstrip(':')}: ")
                self._glue = True
            elif name:
                self.events.append(("h", _HEADINGS.get(tag, 6 + self._dl), name))
        elif tag == "p" and self._admonition:
            self._admonition = False
            self._text(" " if self._last.rstrip().endswith(":") else ": ")
            self._glue = True

    def data(self, text: str) -> None:
        if self._heading is not None:
            self._heading.append(text)
            return
        if text.strip():
            self._glue = False
        if self._cell:
            text = text.replace("|", "\\|")
        self._text(text if self._pre else _SPACES.sub(" ", text))

    def _text(self, text: str) -> None:
        if text:
            self._last = text if text.strip() else self._last
            self.events.append(("t", text, ""))


def _walk(node: LexborNode, events: _Events) -> None:
    for child in node.iter(include_text=True):
        tag = child.tag
        if tag == "-text":
            events.data(child.text_content or "")
        elif not tag.startswith("-"):  # comments and doctypes
            events.start(tag, child.attributes)
            _walk(child, events)
            events.end(tag)


def _clean_title(page_title: str) -> str:
    """The <title> without a site suffix ("os — Python 3.11 documentation" → "os")."""
    parts = re.split(r"\s+[—|–-]\s+", " ".join(page_title.split()))
    return parts[0] if len(parts) > 1 and len(parts[0]) > 2 else " ".join(page_title.split())


def _tidy(raw: str) -> str:
    """Return body text with whitespace normalised outside code blocks and navigation-only lines dropped."""
    out: list[str] = []
    fenced = False
    for line in raw.split("\n"):
        if line.strip().startswith("```"):
            fenced = not fenced
            out.append(line.strip())
        elif fenced:
            out.append(line.rstrip())
        elif not line.strip() or not _NAV_LINE.match(line):
            out.append(" ".join(line.replace("¶", "").split()))
        else:
            out.append("")
    text = re.sub(r"```\n+```\n?", "", "\n".join(out))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _link_share(root: LexborNode) -> float:
    """Return the share of a page's text that is link labels (before links are unwrapped)."""
    total = len("".join(root.text(deep=True).split()))
    linked = sum(len("".join(a.text(deep=True).split())) for a in root.css("a"))
    return linked / total if total else 0.0


def _parse_html(text: str, fallback_title: str) -> Document:
    tree = LexborHTMLParser(text)
    root = tree.css_first("main, [role=main], article") or tree.body
    page_title = tree.css_first("title")
    if root is None:
        return Document(fallback_title, [])
    boilerplate = _BOILERPLATE if root.tag in ("main", "article") else f"{_BOILERPLATE}, header"
    for node in root.css(boilerplate):
        node.decompose()
    if _link_share(root) > LINK_PAGE_SHARE:
        return Document(_clean_title(page_title.text() if page_title else "") or fallback_title, [])
    for power in root.css("sup"):  # 2<sup>31</sup>-1 is 2^31-1, not the number 231-1 (not 25<sup>th</sup>, [a])
        if re.fullmatch(r"[-+−]?\d{1,4}", power.text(deep=True).strip()):
            power.insert_before("^")
    root.unwrap_tags(_INLINE)
    root.merge_text_nodes()
    walker = _Events()
    _walk(root, walker)
    events = walker.events
    h1s = list(dict.fromkeys(str(name) for kind, level, name in events if kind == "h" and level == 1))
    # One <h1> names the page; several are its sections ("1. Introduction", "2. Syntax") and the <title>
    # names the page ("Generated Columns").
    h1 = h1s[0] if len(h1s) == 1 or (h1s and not page_title) else ""
    title = h1 or _clean_title(page_title.text() if page_title else "") or fallback_title
    raw: list[tuple[list[str], list[str]]] = []
    path: list[tuple[int, str]] = []
    chunks: list[str] = []
    for kind, first, second in events:
        if kind == "t":
            chunks.append(str(first))
            continue
        level = int(first)
        if kind == "dl":  # an API entry list closed: its entries leave the path
            new_path = [(lvl, n) for lvl, n in path if lvl < 6 + level]
        elif level != 1 or second != h1:
            new_path = [(lvl, n) for lvl, n in path if lvl < level] + [(level, str(second))]
        else:
            new_path = path
        if new_path != path:
            raw.append(([name for _, name in path], chunks))
            chunks, path = [], new_path
    raw.append(([name for _, name in path], chunks))
    return Document(title, [section for names, parts in raw for section in _chunk(names, _tidy("".join(parts)), title)])
