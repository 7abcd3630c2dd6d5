"""Adaptive Card (1.5) building blocks, shared by the Teams replies and the analytics answers."""

from __future__ import annotations

from typing import Any

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def card(
    body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None, *, full_width: bool = True
) -> dict[str, Any]:
    """Return an Adaptive Card 1.5 with `body` and `actions`; `full_width` asks Teams for the full message width."""
    content: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}
    if actions:
        content["actions"] = actions
    if full_width:
        content["msteams"] = {"width": "Full"}
    return content


def text(value: str, **style: Any) -> dict[str, Any]:
    """Return a wrapping TextBlock."""
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


def facts(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Return a FactSet."""
    return {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in pairs]}
