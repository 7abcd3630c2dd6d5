"""Split Markdown, plain-text and HTML documents into titled, headed sections for retrieval."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

SUPPORTED_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html"}
MAX_SECTION_CHARS = 2000
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Section:
    """A passage of a document: `heading` is the heading path ("Setup › Install"), empty at the top."""

    heading: str
    body: str


@dataclass(frozen=True)
class Document:
    """A parsed document: its title and its sections in reading order."""

    title: str
    sections: list[Section]


def parse_document(path: Path) -> Document:
    """Return the document at `path` split into sections; the kind is chosen by file suffix."""
    text = path.read_text(encoding="utf-8", errors="replace")
    kind = SUPPORTED_SUFFIXES.get(path.suffix.lower(), "text")
    fallback_title = path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    if kind == "markdown":
        return _parse_markdown(text, fallback_title)
    if kind == "html":
        return _parse_html(text, fallback_title)
    return Document(fallback_title, _chunk("", text))


def _parse_markdown(text: str, fallback_title: str) -> Document:
    title = ""
    path: list[tuple[int, str]] = []
    sections: list[Section] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        sections.extend(_chunk(" › ".join(name for _, name in path), "\n".join(lines)))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(line)
        if heading is None:
            lines.append(line)
            continue
        flush()
        level, name = len(heading.group(1)), _strip_inline(heading.group(2))
        if level == 1 and not title:
            title = name
            continue
        path = [(lvl, n) for lvl, n in path if lvl < level] + [(level, name)]
    flush()
    return Document(title or fallback_title, sections)


def _strip_inline(text: str) -> str:
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)
    return text.replace("`", "").replace("**", "").strip()


def _chunk(heading: str, body: str) -> list[Section]:
    """Split a section body into pieces of at most MAX_SECTION_CHARS at paragraph boundaries."""
    body = re.sub(r"<!--.*?-->", "", body, flags=re.S).strip()
    if not body:
        return []
    pieces: list[Section] = []
    current = ""
    for paragraph in re.split(r"\n\s*\n", body):
        if current and len(current) + len(paragraph) + 2 > MAX_SECTION_CHARS:
            pieces.append(Section(heading, current))
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        pieces.append(Section(heading, current))
    return pieces


class _HTMLSections(HTMLParser):
    _BLOCKS = {"p", "div", "li", "br", "tr", "pre", "section", "article", "ul", "ol", "table", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.sections: list[tuple[list[str], str]] = []
        self.path: list[tuple[int, str]] = []
        self.buffer: list[str] = []
        self._skip = 0
        self._heading_level = 0
        self._heading_text: list[str] = []
        self._in_title = False
        self._seen_h1 = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style", "noscript"):
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading_level, self._heading_text = int(tag[1]), []
        elif tag in self._BLOCKS:
            self.buffer.append("\n\n" if tag in ("p", "div", "section", "table", "pre") else "\n")
            if tag == "li":
                self.buffer.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript"):
            self._skip = max(0, self._skip - 1)
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag) and self._heading_level:
            name = " ".join("".join(self._heading_text).split())
            level, self._heading_level = self._heading_level, 0
            if level == 1 and not self._seen_h1:  # the first h1 names the document, as in Markdown
                self._seen_h1 = True
                self.title = self.title or name
            elif name:
                self.path = [(lvl, n) for lvl, n in self.path if lvl < level] + [(level, name)]

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title = self.title or data.strip()
        elif self._heading_level:
            self._heading_text.append(data)
        else:
            self.buffer.append(data)

    def _flush(self) -> None:
        text = "".join(self.buffer)
        text = "\n".join(" ".join(line.split()) for line in text.splitlines())
        text = re.sub(r"\n{3,}", "\n\n", text).strip()
        if text:
            self.sections.append(([n for _, n in self.path], text))
        self.buffer = []

    def close(self) -> None:
        super().close()
        self._flush()


def _parse_html(text: str, fallback_title: str) -> Document:
    parser = _HTMLSections()
    parser.feed(text)
    parser.close()
    sections = [piece for names, body in parser.sections for piece in _chunk(" › ".join(names), body)]
    return Document(parser.title or fallback_title, sections)
