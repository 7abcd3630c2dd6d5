"""Adaptive Cards (version 1.5) and entities for answers in Teams."""

from __future__ import annotations

from typing import Any

from bot.teams_text import (
    abstract,
    escape_link_text,
    fenced_blocks,
    no_exfiltration,
    plain_text,
    safe_placeholders,
    safe_url,
)
from handlers.cards import card
from services.backends import Citation, FinalAnswer

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
AI_GENERATED = {
    "type": "https://schema.org/Message",
    "@type": "Message",
    "@context": "https://schema.org",
    "additionalType": ["AIGeneratedContent"],
}
CITATION_NAME_CHARS = 80  # Teams' limits for a citation's name and abstract
CITATION_ABSTRACT_CHARS = 160
SNIPPET_CHARS = 300  # the excerpt under a source line in cards
_NBSP = "\u00a0"


def is_generated(answer: FinalAnswer) -> bool:
    """Return True when the answer was written by a model (label it "AI generated"), False for retrieved text
    and for a guardrail's own message."""
    return answer.generated and not answer.blocked


def code_block(code: str) -> dict[str, Any]:
    """Return a shaded container with one monospace line per code line. TextRuns take no Markdown, and one
    RichTextBlock per line keeps line breaks and indentation, which one TextBlock collapses in Teams."""
    lines = code.rstrip("\n").split("\n")
    return {
        "type": "Container",
        "style": "emphasis",
        "items": [
            {
                "type": "RichTextBlock",
                "spacing": "None",
                "inlines": [
                    {
                        "type": "TextRun",
                        "text": _NBSP * (len(line) - len(line.lstrip(" "))) + line.lstrip(" ") or _NBSP,
                        "fontType": "Monospace",
                    }
                ],
            }
            for line in lines
        ],
    }


def text_blocks(text: str) -> list[dict[str, Any]]:
    """Return card elements for Markdown text: prose as TextBlocks, fenced code as `code_block`s."""
    blocks: list[dict[str, Any]] = []
    position = 0
    for start, end, code_start, code_end in fenced_blocks(text, indented=False):
        prose = text[position:start].strip()
        if prose:
            blocks.append({"type": "TextBlock", "text": safe_placeholders(no_exfiltration(prose)), "wrap": True})
        blocks.append(code_block(text[code_start:code_end].expandtabs(4)))
        position = end
    rest = text[position:].strip()
    if rest:
        blocks.append({"type": "TextBlock", "text": safe_placeholders(no_exfiltration(rest)), "wrap": True})
    return blocks


def citation_label(citation: Citation) -> str:
    """Return the plain 'Document › Section › Subsection' label of a citation, without repeated parts."""
    parts: list[str] = []
    for part in [citation.title or citation.source, *citation.heading.split("›")]:
        part = plain_text(part)
        if part and (not parts or part.casefold() != parts[-1].casefold()):
            parts.append(part)
    return " › ".join(parts)


def citation_blocks(citations: list[Citation]) -> list[dict[str, Any]]:
    """Return the 'Sources' section: one numbered plain line per citation, with a plain excerpt."""
    if not citations:
        return []
    blocks: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": "Sources", "weight": "Bolder", "separator": True, "spacing": "Medium"}
    ]
    for citation in citations:
        # The source's URL is checked (http/https) and percent-encoded, so `)![x](…)` in it stays inside the link.
        url = safe_url(citation.url or "")
        where = f"[{escape_link_text(citation.source)}]({url})" if url else plain_text(citation.source)
        blocks.append(
            {
                "type": "TextBlock",
                "text": f"[{citation.number}] **{citation_label(citation)}** — {where}",
                "wrap": True,
                "size": "Small",
            }
        )
        snippet = safe_placeholders(abstract(citation.excerpt, SNIPPET_CHARS))  # `<account>` would vanish
        if snippet:
            blocks.append(
                {
                    "type": "TextBlock",
                    "text": snippet,
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


def answer_entities(answer: FinalAnswer) -> list[dict[str, Any]]:
    """Return the message entity of an answer: Teams citations for its [n] markers, and the "AI generated"
    label only when a model wrote it. Empty when there is neither."""
    entity: dict[str, Any] = (
        dict(AI_GENERATED)
        if is_generated(answer)
        else {key: value for key, value in AI_GENERATED.items() if key != "additionalType"}
    )
    if answer.citations:
        entity["citation"] = [
            {
                "@type": "Claim",
                "position": citation.number,
                "appearance": {
                    "@type": "DigitalDocument",
                    "name": abstract(citation_label(citation), CITATION_NAME_CHARS),
                    "abstract": abstract(citation.excerpt, CITATION_ABSTRACT_CHARS) or citation_label(citation),
                    **({"url": safe_url(citation.url)} if citation.url and safe_url(citation.url) else {}),
                },
            }
            for citation in answer.citations
        ]
    return [entity] if "additionalType" in entity or "citation" in entity else []


def card_attachment(card: dict[str, Any]) -> dict[str, Any]:
    """Return the attachment that carries an Adaptive Card in a message activity."""
    return {"contentType": CARD_CONTENT_TYPE, "content": card}
