"""Adaptive Cards (version 1.5) and entities for answers in Teams."""

from __future__ import annotations

import re
from typing import Any

from handlers.cards import card
from services.backends import Citation, FinalAnswer

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
AI_GENERATED = {
    "type": "https://schema.org/Message",
    "@type": "Message",
    "@context": "https://schema.org",
    "additionalType": ["AIGeneratedContent"],
}
_FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.S | re.M)


def text_blocks(text: str) -> list[dict[str, Any]]:
    """Return TextBlocks for Markdown text; fenced code becomes monospace blocks (cards do not render fences)."""
    blocks: list[dict[str, Any]] = []
    position = 0
    for match in _FENCE.finditer(text):
        prose = text[position : match.start()].strip()
        if prose:
            blocks.append({"type": "TextBlock", "text": prose, "wrap": True})
        blocks.append({"type": "TextBlock", "text": match.group(2).rstrip("\n"), "wrap": True, "fontType": "Monospace"})
        position = match.end()
    rest = text[position:].strip()
    if rest:
        blocks.append({"type": "TextBlock", "text": rest, "wrap": True})
    return blocks


def citation_blocks(citations: list[Citation]) -> list[dict[str, Any]]:
    """Return the 'Sources' section: one numbered line per citation, with its excerpt."""
    if not citations:
        return []
    blocks: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": "Sources", "weight": "Bolder", "separator": True, "spacing": "Medium"}
    ]
    for citation in citations:
        label = f"{citation.title} › {citation.heading}" if citation.heading else citation.title
        where = f"[{citation.source}]({citation.url})" if citation.url else f"`{citation.source}`"
        blocks.append(
            {"type": "TextBlock", "text": f"[{citation.number}] **{label}** — {where}", "wrap": True, "size": "Small"}
        )
        if citation.excerpt:
            blocks.append(
                {
                    "type": "TextBlock",
                    "text": citation.excerpt,
                    "wrap": True,
                    "size": "Small",
                    "isSubtle": True,
                    "spacing": "None",
                }
            )
    return blocks


def feedback_actions(answer: FinalAnswer) -> list[dict[str, Any]]:
    """Return the 👍/👎 Action.Execute buttons; their data carries the ids stored with the feedback."""
    data = {
        "verb": "feedback",
        "answer_id": answer.message_id,
        "backend": answer.backend,
        "conversation_id": answer.conversation_id,
        "model_id": answer.model_id,
    }
    return [
        {"type": "Action.Execute", "title": "👍 Helpful", "verb": "feedback", "data": {**data, "reaction": "like"}},
        {
            "type": "Action.Execute",
            "title": "👎 Not helpful",
            "verb": "feedback",
            "data": {**data, "reaction": "dislike"},
        },
    ]


def answer_card(text: str, answer: FinalAnswer, note: str = "") -> dict[str, Any]:
    """Return the Adaptive Card for (the last part of) an answer with its citations and feedback buttons."""
    body: list[dict[str, Any]] = []
    if note:
        body.append({"type": "TextBlock", "text": note, "wrap": True, "isSubtle": True, "size": "Small"})
    body += text_blocks(text) + citation_blocks(answer.citations)
    return card(body, feedback_actions(answer))


def sources_card(answer: FinalAnswer) -> dict[str, Any]:
    """Return a card with only the numbered sources (the answer itself is the message text)."""
    return card(citation_blocks(answer.citations), full_width=False)


def citation_entity(citations: list[Citation]) -> dict[str, Any]:
    """Return the AI-generated label with Teams citation entries for the [n] markers in the message text."""
    entity = dict(AI_GENERATED)
    if citations:
        entity["citation"] = [
            {
                "@type": "Claim",
                "position": citation.number,
                "appearance": {
                    "@type": "DigitalDocument",
                    "name": (citation.title or citation.source)[:80],
                    "abstract": citation.excerpt[:160],
                    **({"url": citation.url} if citation.url else {}),
                },
            }
            for citation in citations
        ]
    return entity


def card_attachment(card: dict[str, Any]) -> dict[str, Any]:
    """Return the attachment that carries an Adaptive Card in a message activity."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}
