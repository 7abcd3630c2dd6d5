"""Render the bot's activities (text, Adaptive Cards, streaming updates) as readable terminal text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CARD = "application/vnd.microsoft.card.adaptive"
FEEDBACK = "teams.feedback"  # the kind of Teams' own 👍/👎 buttons (not card actions)


@dataclass
class Button:
    """A card button the user can press from the terminal."""

    title: str
    kind: str
    verb: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    card: dict[str, Any] = field(default_factory=dict)  # what an Action.ShowCard opens


def _element(element: dict[str, Any], lines: list[str], buttons: list[Button]) -> None:
    kind = element.get("type")
    if kind == "TextBlock":
        text = str(element.get("text", ""))
        if element.get("weight") == "Bolder":
            text = f"**{text}**"
        if element.get("fontType") == "Monospace":
            text = "\n".join(f"    {line}" for line in text.splitlines())
        lines.append(text)
    elif kind == "RichTextBlock":
        lines.append(
            "".join(str(i.get("text", "")) if isinstance(i, dict) else str(i) for i in element.get("inlines", []))
        )
    elif kind == "FactSet":
        lines += [f"{fact.get('title', '')}: {fact.get('value', '')}" for fact in element.get("facts", [])]
    elif kind == "Image":
        lines.append(f"[image: {element.get('altText') or element.get('url', '')[:60]}]")
    elif kind == "ActionSet":
        _actions(element.get("actions", []), buttons)
    for child_key in ("items", "columns", "body"):
        for child in element.get(child_key, []) or []:
            _element(child, lines, buttons)


def _actions(actions: list[dict[str, Any]], buttons: list[Button]) -> None:
    for action in actions:
        buttons.append(
            Button(
                title=str(action.get("title", "")),
                kind=str(action.get("type", "")),
                verb=str(action.get("verb", "")),
                data=action.get("data") if isinstance(action.get("data"), dict) else {},
                url=str(action.get("url", "")),
                card=action.get("card") if isinstance(action.get("card"), dict) else {},
            )
        )


def render_card(card: dict[str, Any]) -> tuple[list[str], list[Button]]:
    """Return the card's text lines and its buttons, in reading order."""
    lines: list[str] = []
    buttons: list[Button] = []
    for element in card.get("body", []):
        _element(element, lines, buttons)
    _actions(card.get("actions", []), buttons)
    return lines, buttons


def stream_info(activity: dict[str, Any]) -> dict[str, Any] | None:
    """Return the activity's `streaminfo` entity, if any."""
    return next((e for e in activity.get("entities") or [] if e.get("type") == "streaminfo"), None)


def citation_lines(entity: dict[str, Any]) -> list[str]:
    """Return the references Teams lists under a message for the citations of its message entity."""
    lines = []
    for claim in entity.get("citation") or []:
        appearance = claim.get("appearance") or {}
        where = f" <{appearance['url']}>" if appearance.get("url") else ""
        lines.append(
            f"  [{claim.get('position')}] {appearance.get('name', '')}{where}: {appearance.get('abstract', '')}"
        )
    return ["References:", *lines] if lines else []


def render_activity(activity: dict[str, Any], method: str = "POST") -> tuple[str, list[Button]]:
    """Return (text to print, buttons) for one activity the bot sent. Empty text means nothing to show."""
    info = stream_info(activity)
    if activity.get("type") == "typing":
        if info and activity.get("text"):
            label = f"{info.get('streamType', 'stream')} #{info.get('streamSequence', '')}".strip(" #")
            return f"  ⋯ [{label}] {activity['text']}", []
        return "  ⋯ typing", []
    lines = [str(activity["text"])] if activity.get("text") else []
    buttons: list[Button] = []
    for attachment in activity.get("attachments") or []:
        if attachment.get("contentType") == CARD and isinstance(attachment.get("content"), dict):
            card_lines, card_buttons = render_card(attachment["content"])
            lines += card_lines
            buttons += card_buttons
        else:
            lines.append(f"[attachment: {attachment.get('name') or attachment.get('contentType')}]")
    for entity in activity.get("entities") or []:
        if entity.get("type") == "https://schema.org/Message":
            lines += citation_lines(entity)
            if "AIGeneratedContent" in (entity.get("additionalType") or []):
                lines.append("(AI generated)")
    if info and info.get("streamType") == "final":
        lines.insert(0, "[final]")
    if (activity.get("channelData") or {}).get("feedbackLoopEnabled"):
        # Teams' own 👍/👎 under the message; pressing one sends a message/submitAction invoke.
        reply_to = str(activity.get("id", ""))
        buttons += [
            Button("👍", FEEDBACK, data={"reaction": "like", "reply_to": reply_to}),
            Button("👎", FEEDBACK, data={"reaction": "dislike", "reply_to": reply_to}),
        ]
    prefix = "bot (edited)> " if method == "PUT" else "bot> "
    return prefix + "\n".join(lines), buttons
