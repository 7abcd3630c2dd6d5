"""The embedded default backend: extractive answers from the knowledge folder, with numbered citations.

It plays the part of Amazon Q Business's retrieval mode: find the passages that answer the question
(FTS5, BM25), quote the paragraphs that match best, and cite file and heading for each.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

from services.backends.base import AnswerEvent, Citation, CitationsFound, FinalAnswer, Question, TextDelta
from services.knowledge import KnowledgeIndex, Passage, query_terms

MAX_SOURCES = 3
MAX_QUOTE_CHARS = 900
PARTIAL_MATCH = 0.75  # below this idf-weighted share of the question's words, say the match is partial
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "ly", "s")


def _stem(word: str) -> str:
    """A crude suffix stripper, only to match question words inside a passage already found by FTS5."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


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


def _score(block: str, stems: set[str]) -> int:
    words = {_stem(w.lower()) for w in re.findall(r"\w+", block)}
    return len(stems & words)


def best_quote(passage: Passage, question: str) -> str:
    """Return the paragraph(s) of `passage` that match `question` best, at most MAX_QUOTE_CHARS long."""
    stems = {_stem(term) for term in query_terms(question)}
    blocks = _blocks(passage.body) or [passage.body]
    best = max(range(len(blocks)), key=lambda i: (_score(blocks[i], stems), -i))
    quote = blocks[best]
    # An intro that ends with a colon announces a list or a command: show what it announces.
    if quote.rstrip().endswith(":") and best + 1 < len(blocks):
        quote = (
            f"{quote}\n{blocks[best + 1]}"
            if blocks[best + 1].lstrip().startswith(("-", "*", "1"))
            else (f"{quote}\n\n{blocks[best + 1]}")
        )
    if len(quote) > MAX_QUOTE_CHARS and "```" not in quote:
        cut = quote[:MAX_QUOTE_CHARS]
        end = max(cut.rfind(". "), cut.rfind("\n"))
        quote = (cut[: end + 1] if end > MAX_QUOTE_CHARS // 2 else cut).rstrip() + " …"
    return quote


def first_sentence(text: str, limit: int = 300) -> str:
    """Return the first sentence (or list item) of Markdown text, with soft line breaks joined."""
    first_block = text.split("\n- ")[0] if not text.lstrip().startswith("-") else text.lstrip().split("\n")[0]
    flat = " ".join(first_block.split())
    end = re.search(r"(?<=[.!?])\s", flat)
    sentence = flat[: end.start()] if end else flat
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + " …"


def _label(passage: Passage) -> str:
    return f"{passage.title} › {passage.heading}" if passage.heading else passage.title


class LocalBackend:
    """Answers from a KnowledgeIndex. Stateless apart from a conversation id and a turn counter."""

    name = "local"
    max_input_chars = 2000
    status_text = "Searching the documents…"

    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index

    async def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        """Yield the citations found, the answer text, then the FinalAnswer."""
        passages = await asyncio.to_thread(self.index.search, question.text, 8)
        chosen: list[Passage] = []
        for passage in passages:
            if all((p.path, p.heading) != (passage.path, passage.heading) for p in chosen):
                chosen.append(passage)
            if len(chosen) == MAX_SOURCES:
                break
        state = dict(question.state)
        state.setdefault("conversation_id", uuid.uuid4().hex)
        state["turns"] = int(state.get("turns", 0)) + 1

        citations = [
            Citation(number=i, title=p.title, source=p.path, heading=p.heading, excerpt=p.snippet.strip())
            for i, p in enumerate(chosen, start=1)
        ]
        if citations:
            yield CitationsFound(citations=citations)
        text = self._compose(question.text, chosen) if chosen else self._nothing_found(question.text)
        yield TextDelta(text=text)
        yield FinalAnswer(
            text=text,
            citations=citations,
            backend=self.name,
            conversation_id=state["conversation_id"],
            message_id=uuid.uuid4().hex,
            state=state,
        )

    def _compose(self, question: str, passages: list[Passage]) -> str:
        first, *others = passages
        parts = [f"**{_label(first)}** [1]", best_quote(first, question)]
        if first.coverage < PARTIAL_MATCH:
            parts.insert(
                0, "No passage in the knowledge folder has every word of your question; this one comes closest."
            )
        if others:
            parts.append("Also relevant:")
            for number, passage in enumerate(others, start=2):
                lead = first_sentence(best_quote(passage, question))
                parts.append(f"- **{_label(passage)}** [{number}]: {lead}")
        head, tail = (parts[: -len(others) - 1], parts[-len(others) - 1 :]) if others else (parts, [])
        return "\n\n".join(head + tail[:1]) + "".join(f"\n{line}" for line in tail[1:])

    def _nothing_found(self, question: str) -> str:
        count = self.index.document_count()
        shown = question if len(question) <= 80 else question[:80] + "…"
        return (
            f"I found nothing about “{shown}” in the {count} document(s) of the knowledge folder. "
            "Try other words, or send `help` to see what I can do."
        )
