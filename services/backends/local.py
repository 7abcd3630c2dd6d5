"""The embedded default backend: extractive answers from the knowledge folder, with numbered citations.

It plays the part of Amazon Q Business's retrieval mode: find the passages that answer the question
(services/knowledge.py), quote the sentences of them that answer it, each with its [n], and cite the file
and section. When the best passage is a weak match it says it found nothing rather than paste unrelated
text. A short follow-up ("and for a channel?") is read with the conversation's previous question, and a
question about a metric ("what does normalized entropy mean?") is answered from the metric glossary.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from services.analytics.glossary import Entry, glossary
from services.backends.base import (
    AnswerEvent,
    Capabilities,
    Citation,
    CitationsFound,
    FinalAnswer,
    Question,
    TextDelta,
)
from services.backends.registry import BackendType
from services.quoting import quote

# The retrieval libraries load with the index, not with this module (the ingress reads BACKEND_TYPE).
if TYPE_CHECKING:
    from services.knowledge import KnowledgeIndex, Passage, Query

log = logging.getLogger(__name__)

MAX_SOURCES = 3
MAX_ANSWER_CHARS = 700
MAX_EXCERPT_CHARS = 240
# The best passage is an answer when it holds this idf-weighted share of the question's words, or the
# lower share when its title and section path hold a good part of them; otherwise "I found nothing"
# (calibrated on bench/retrieval_eval.py's in- and out-of-corpus questions).
ANSWER_COVERAGE = 0.6
ANSWER_COVERAGE_WITH_HEADING, HEADING_SHARE = 0.45, 0.3
# A further source is quoted only if it covers the question nearly as well as the first.
SECOND_SOURCE_SHARE = 0.7
FOLLOW_UP_WORDS = 4  # a follow-up has at most this many content words
_FOLLOW_UP = re.compile(
    r"^\s*(?:and|also|but|or|what about|how about|and what about|same for|same with|what if|and if)\b", re.I
)
_PRONOUN = re.compile(r"\b(?:it|its|that|this|them|those|these|one)\b", re.I)
_DEFINITION = re.compile(
    r"^\s*(?:what\s+(?:is|are|does)|what's|whats|define|definition\s+of|meaning\s+of|explain)\s+"
    r"(?:an?\s+|the\s+)?(?P<term>.+?)(?:\s+(?:mean|means|stand\s+for|measure))?\s*[?.!]*\s*$",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“‘(\[`*_])")


def _units(body: str) -> list[tuple[str, str]]:
    """Split a passage into answer units, each with the separator that preceded it ("\n\n", "\n" or " "):
    sentences of paragraphs, list items and whole code blocks.

    A sentence end inside parentheses, brackets, code ticks or bold markers is not a boundary, so no unit
    is cut mid-parenthesis or leaves Markdown unbalanced."""
    units: list[tuple[str, str]] = []
    for block in _blocks(body):
        if block.lstrip().startswith(("```", "~~~")):
            units.append(("\n\n", _short_code(block)))
            continue
        table = _table(block)
        if table is not None:  # a Markdown table is quoted as a table: its rows joined would be unreadable
            units.extend(table)
            continue
        separator = "\n\n"
        for line in _lines(block):
            current = ""
            for piece in _SENTENCE_END.split(line):
                current = f"{current} {piece}" if current else piece
                if _balanced(current):
                    units.append((separator, current))
                    current, separator = "", " "
            if current:
                units.append((separator, current))
            separator = "\n"
    return units


def _table(block: str, max_rows: int = 12, max_chars: int = 1200, max_cell: int = 80) -> list[tuple[str, str]] | None:
    """Return a Markdown table block as answer units (any text before it, then the table), or None when the
    block holds no table. The table keeps its header (the first row when the block has no rule line, as in a
    passage cut from a longer table) and at most `max_rows` rows and `max_chars` characters; a longer cell is
    cut at `max_cell` characters, so the quote stays a readable table of bounded size."""
    lines = [line.strip() for line in block.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("|") and line.endswith("|")), None)
    if start is None:
        return None
    rows = [line for line in lines[start:] if line.startswith("|") and line.endswith("|")]
    ruled = len(rows) > 1 and re.fullmatch(r"\|[\s:|-]+\|", rows[1])
    if not ruled and len(rows) < 2:
        return None
    cells = [_cells(row, max_cell) for row in rows if not re.fullmatch(r"\|[\s:|-]+\|", row)]
    width = len(cells[0])
    shown, size = [cells[0]], 0
    for row in cells[1:]:
        line = "| " + " | ".join(row) + " |"
        if len(shown) > max_rows or size + len(line) > max_chars:
            break
        shown.append(row)
        size += len(line)
    text = ["| " + " | ".join(row) + " |" for row in shown]
    text.insert(1, "|" + "---|" * width)
    if len(shown) < len(cells):
        text.append("| … " + f"{len(cells) - len(shown)} more rows |" + " |" * (width - 1))
    before = " ".join(lines[:start]).strip()
    units = [("\n\n", before)] if before else []
    return [*units, ("\n\n", "\n".join(text))]


def _cells(row: str, limit: int) -> list[str]:
    """The cells of a Markdown table row (an escaped \\| stays in its cell), each cut to `limit` characters."""
    parts = re.split(r"(?<!\\)\|", row.strip()[1:-1])
    return [shorten(part.strip(), limit) for part in parts]


def _short_code(block: str, max_lines: int = 14) -> str:
    """A fenced code block of at most `max_lines` lines, closed again when it is cut."""
    lines = block.splitlines()
    if len(lines) <= max_lines + 2:
        return block
    return "\n".join([*lines[: max_lines + 1], "...", lines[0].strip()[:3]])


def _lines(block: str) -> list[str]:
    """The lines of a block that are list items stay apart; soft-wrapped lines of a paragraph are joined."""
    out: list[str] = []
    for line in block.splitlines():
        if out and not re.match(r"\s*(?:[-*+]|\d{1,2}[.)])\s", line) and not out[-1].rstrip().endswith(":"):
            out[-1] = f"{out[-1]} {line.strip()}"
        else:
            out.append(line.strip())
    return [line for line in out if line]


def _balanced(text: str) -> bool:
    return (
        text.count("(") <= text.count(")")
        and text.count("[") <= text.count("]")
        and text.count("`") % 2 == 0
        and text.count("**") % 2 == 0
    )


def _blocks(body: str) -> list[str]:
    """Split a passage into paragraphs, keeping fenced code blocks whole."""
    blocks, current, fenced = [], [], False
    for line in body.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and not line.strip():
            if current:
                blocks.append("\n".join(current))
                current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def plain(markdown: str) -> str:
    """Return Markdown as one line of plain text: no emphasis, code ticks, list markers, fences or link URLs."""
    # [ \t]*, not \s*: \s also reads line ends, so every line start re-read all the blank lines after it
    text = re.sub(r"^[ \t]*(```|~~~)\S*[ \t]*$", " ", markdown, flags=re.M)
    text = re.sub(r"!?\[([^\][]*)\]\([^()]*\)", r"\1", text)  # no run past the next bracket: linear
    text = re.sub(r"^[ \t]*(?:[-*+]|\d+[.)]|>)[ \t]+", "", text, flags=re.M)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = re.sub(r"(?<!\w)[*_](\S[^*_]*?)[*_](?!\w)", r"\1", text)
    return " ".join(text.split())


def shorten(text: str, limit: int) -> str:
    """Return `text` cut to at most `limit` characters at a sentence end, else at a word with "…"."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if end > limit // 3:
        return cut[: end + 1]
    return cut[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:(") + "…"


def _unit_score(unit: str, query: Query) -> float:
    from services.knowledge import stems_of

    stems = set(stems_of(unit))
    return sum(weight for term, weight in query.stems.items() if term in stems)


def best_sentences(passage: Passage, query: Query, limit: int = MAX_ANSWER_CHARS) -> str:
    """Return the sentences of `passage` that answer `query`, in their order and layout: from the passage's
    lead (an API entry's signature and summary, a section's first sentence) when the best sentence is near
    it, else from the best sentence (or the line that introduces it), while room is left."""
    units = _units(passage.body) or [("", passage.body)]
    scores = [_unit_score(text, query) for _, text in units]
    best = max(range(len(units)), key=lambda i: (scores[i], -i))
    start = 0 if best <= 2 else best
    if start and units[start - 1][1].rstrip().endswith(":"):
        start -= 1
    text, size = "", 0
    for index in range(start, len(units)):
        separator, unit = units[index]
        announced = text.rstrip().endswith(":")
        if text and index > best and size + len(unit) > limit and not (announced and size < limit):
            break
        text = f"{text}{separator}{unit}" if text else unit
        size += len(unit)
    if len(text) > 2 * limit and "```" not in text and "\n|" not in text:
        text = shorten(text, limit)
    return text


def best_sentence(passage: Passage, query: Query) -> str:
    """Return the one sentence of `passage` (not code, not a line announcing code) that matches `query` best."""
    prose = [u for _, u in _units(passage.body) if not u.startswith("```") and not u.rstrip().endswith(":")]
    if not prose:
        return ""
    return shorten(max(prose, key=lambda u: (_unit_score(u, query), -prose.index(u))), MAX_ANSWER_CHARS // 2)


def _with_marker(text: str, number: int) -> str:
    """Append the citation marker `[n]` to the answer text (after a trailing code block or table, below it)."""
    return f"{text}\n\n[{number}]" if text.rstrip().endswith(("```", "|")) else f"{text} [{number}]"


def _citation(number: int, passage: Passage, query: Query) -> Citation:
    """The citation of a passage; its excerpt is the passage's best sentence as plain text (never code)."""
    return Citation(
        number=number,
        title=passage.title,
        source=passage.path,
        heading=passage.heading,
        excerpt=shorten(plain(best_sentence(passage, query) or passage.body), MAX_EXCERPT_CHARS),
    )


def is_answer(passage: Passage) -> bool:
    """Return True when the best passage matches the question well enough to be quoted as the answer."""
    if passage.coverage >= ANSWER_COVERAGE:
        return True
    return passage.coverage >= ANSWER_COVERAGE_WITH_HEADING and passage.heading_coverage >= HEADING_SHARE


def resolve_follow_up(text: str, topic: str) -> tuple[str, bool]:
    """Return (the text to search, whether it is a follow-up read with the previous question `topic`).

    A follow-up is short ("and for a channel?", "what about tabs?", "how do I undo it?"): it opens with a
    connective or leans on a pronoun, and has at most FOLLOW_UP_WORDS content words."""
    from services.knowledge import query_terms

    if not topic:
        return text, False
    words = [w for w in query_terms(text) if w not in ("and", "also", "but", "or", "about")]
    short = len(words) <= FOLLOW_UP_WORDS
    if short and (_FOLLOW_UP.match(text) or _PRONOUN.search(text)):
        return f"{topic} {text}", True
    return text, False


def glossary_entry(text: str) -> Entry | None:
    """Return the metric glossary entry a definitional question asks about ("what does NE mean?"), or None."""
    match = _DEFINITION.match(text)
    if match is None:
        return None
    term = match.group("term")
    entries = glossary()
    entry = entries.lookup(term)
    if entry is None and len(term.split()) <= 4:
        entry, _ = entries.resolve(term)
    return entry


def glossary_answer(entry: Entry) -> tuple[str, Citation]:
    """Return the answer text and the citation for a glossary entry."""
    lines = [f"**{entry.name}**: {entry.meaning} [1]", f"Formula: `{entry.formula}`", f"Range: {entry.range}"]
    if entry.when:
        lines.append(f"When to use it: {entry.when}")
    if entry.pitfalls:
        lines.append("Pitfalls:\n" + "\n".join(f"- {pitfall}" for pitfall in entry.pitfalls))
    lines.append(f"Send `explain {entry.key.replace('_', ' ')}` for the full card.")
    citation = Citation(
        number=1,
        title="Metric glossary",
        source="glossary.toml",
        heading=entry.name,
        excerpt=shorten(plain(entry.meaning), MAX_EXCERPT_CHARS),
    )
    return "\n\n".join(lines), citation


class LocalBackend:
    """Answers from a KnowledgeIndex (and the metric glossary). Its state per conversation: an id, a turn
    counter and the last question that was not a follow-up (`topic`)."""

    max_input_chars = 2000
    status_text = "Searching the documents…"
    answers_small_talk = False  # a search for "hi" finds nothing: the Router greets instead (handlers/greetings.py)
    capabilities = Capabilities(label="the documents", citations=True, generated=False)

    def __init__(self, index: KnowledgeIndex, name: str = "local") -> None:
        self.index = index
        self.name = name

    async def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield the citations found, the answer text, then the FinalAnswer."""
        state = dict(question.state)
        state.setdefault("conversation_id", uuid.uuid4().hex)
        state["turns"] = int(state.get("turns", 0)) + 1
        entry = glossary_entry(question.text)
        if entry is not None:
            text, citation = glossary_answer(entry)
            citations = [citation]
            state["topic"] = question.text
        else:
            text, citations, state["topic"] = await asyncio.to_thread(
                self.respond, question.text, str(state.get("topic", ""))
            )
        if citations:
            yield CitationsFound(citations=citations)
        yield TextDelta(text=text)
        yield FinalAnswer(
            text=text,
            citations=citations,
            backend=self.name,
            conversation_id=state["conversation_id"],
            message_id=uuid.uuid4().hex,
            state=state,
            generated=False,
        )

    def respond(self, text: str, topic: str = "") -> tuple[str, list[Citation], str]:
        """Return (answer text, citations, the topic to remember) for a question, read with `topic` if it
        is a follow-up. Runs in a thread: the search is synchronous SQLite."""
        search_text, follow_up = resolve_follow_up(text, topic)
        self.index.refresh()
        query = self.index.parse_query(search_text)
        if follow_up:  # the follow-up's own words count four times the topic's ("and for flights?" after trains)
            own = set(self.index.parse_query(text).stems)
            query = replace(query, stems={t: w * (2.0 if t in own else 0.5) for t, w in query.stems.items()})
        passages = self.index.search_query(query, 8)
        # The answer is the first of the top three that matches well enough: the ranking may put a passage
        # that names the topic in its headings just above one that holds more of the question's words.
        first = next((i for i, passage in enumerate(passages[:3]) if is_answer(passage)), None)
        passages = passages[first:] if first is not None else []
        if not passages:
            if follow_up:  # the topic did not help: try the words on their own before giving up
                return self.respond(text, "")
            return self._nothing_found(text), [], ""
        chosen = self._sources(passages)
        parts: list[str] = []
        citations: list[Citation] = []
        for number, passage in enumerate(chosen, start=1):
            quote = best_sentences(passage, query) if number == 1 else best_sentence(passage, query)
            citations.append(_citation(number, passage, query))
            if number <= 2 and quote:
                parts.append(_with_marker(quote, number))
        return "\n\n".join(parts), citations, (topic if follow_up else text)

    @staticmethod
    def _sources(passages: list[Passage]) -> list[Passage]:
        """The best passage, then up to two more that cover the question nearly as well, from other documents
        first (another section of the same document only when no other document qualifies)."""
        first = passages[0]
        good = [p for p in passages[1:] if p.coverage >= SECOND_SOURCE_SHARE * first.coverage]
        chosen = [first]
        for same_document_too in (False, True):
            for passage in good:
                if len(chosen) == MAX_SOURCES:
                    return chosen
                if all((p.path, p.heading) != (passage.path, passage.heading) for p in chosen) and (
                    same_document_too or all(p.path != passage.path for p in chosen)
                ):
                    chosen.append(passage)
        return chosen

    def _nothing_found(self, question: str) -> str:
        count = self.index.document_count()
        return (
            f"I found nothing about “{quote(question, 80)}” in the knowledge folder ({count} document(s)). "
            "Try other words, or send `help` to see what I can do."
        )


def _create(settings: Any, store: Any, name: str) -> LocalBackend:
    from services.knowledge import KnowledgeIndex

    index_path = settings.state_db.parent / ("knowledge.db" if name == "local" else f"knowledge-{name}.db")
    return LocalBackend(KnowledgeIndex(settings.knowledge_dir, index_path), name)


def _check_knowledge(settings: Any) -> str | None:
    """Return the one line that stops the server (no such folder), after logging one when it holds no document."""
    import itertools

    from services.documents import SUPPORTED_SUFFIXES

    folder = settings.knowledge_dir
    if not folder.is_dir():
        return (
            f"Invalid setting KNOWLEDGE_DIR: no such folder (got '{folder}'); give a folder of .md, .txt or .html files"
        )
    if not any(path.suffix.lower() in SUPPORTED_SUFFIXES for path in itertools.islice(folder.rglob("*"), 100_000)):
        log.warning("KNOWLEDGE_DIR %s holds no .md, .txt or .html file: every question will get 'I found nothing'",
                    folder)  # fmt: skip
    return None


BACKEND_TYPE = BackendType(
    name="local",
    create=_create,
    check_local=_check_knowledge,
    summary="Answers from your company's documents, with numbered sources.",
    description="Answers questions in plain words from the documents in the gateway's knowledge folder, quoting the "
    "passages that answer them with numbered sources, and says so when the documents do not cover a question.",
)
