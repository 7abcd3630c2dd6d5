"""Amazon Q Business's Teams extras: plugin actions to review (a card only the asker may confirm) and plugin
sign-in links. Registered through the backend type's hook (`BackendType.teams_extras`), never by name.

The chat itself is the ordinary chat handler (handlers/app.py); sign-in, sign-out and feedback passed on are
generic (handlers/signin.py), driven by the backend's capabilities.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from handlers.cards import card, facts, text
from handlers.extras import Extras
from handlers.models import Replier, Turn
from services.backends import FinalAnswer
from services.store import Store

log = logging.getLogger(__name__)

ACTION_KEY = "qbusiness-action|"
ACTION_TTL = 60 * 60
ACTION_GONE = "This action is no longer waiting: it was confirmed, cancelled or has expired. Ask again if needed."
NOT_YOURS = "Only the person who asked can confirm or cancel this action."
CANCELLED = "Cancelled: I did not ask Amazon Q Business to run {plugin}, so nothing was done."


DEFAULT_SEPARATOR = "."  # as services/backends/qbusiness.py: for actions kept before it always set one
ARRAY_NOTE = "A list: sent as Amazon Q Business filled it in (lists cannot be edited here; ask again to change it)."


def _shown(value: Any) -> str:
    """Return a field value as text: strings as they are, lists of plain values joined, anything else as JSON."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(_shown(item) for item in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _choice_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def _number(value: Any) -> int | float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def _field_input(name: str, field: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the card elements for one field of a plugin action: an input where Q lets the user choose."""
    label = field["label"] + (" *" if field["required"] else "")
    choices = field["choices"]
    value = field["value"]
    if field["type"] == "ARRAY":  # nested items (arrayItemJsonSchema) have no Adaptive Card input: read-only
        shown = _shown(value) or "(empty)"
        return [facts([(field["label"], shown)]), text(ARRAY_NOTE, isSubtle=True, size="Small", spacing="None")]
    if len(choices) == 1:  # one allowed value: shown, not editable
        return [facts([(field["label"], _shown(choices[0]["title"]) or _shown(choices[0]["value"]))])]
    common = {"id": f"field_{name}", "label": label, "isRequired": field["required"]}
    if choices:
        options = [
            {"title": _shown(c["title"]) or _shown(c["value"]), "value": _choice_key(c["value"])} for c in choices
        ]
        selected = "" if value is None else _choice_key(value)
        return [{"type": "Input.ChoiceSet", **common, "choices": options, "value": selected}]
    if field["type"] == "BOOLEAN":
        toggle = {"title": field["label"], "value": "true" if _truthy(value) else "false"}
        return [{"type": "Input.Toggle", **common, **toggle}]
    if field["type"] == "NUMBER":
        number = _number(value)
        return [{"type": "Input.Number", **common, **({"value": number} if number is not None else {})}]
    shown = _shown(value)
    return [{"type": "Input.Text", **common, "value": shown, "isMultiline": len(shown) > 80}]


def review_card(
    pending: dict[str, Any], summary: str, verbs: tuple[str, str] = ("qbusiness_confirm", "qbusiness_cancel")
) -> dict[str, Any]:
    """Return the Adaptive Card for a plugin action Q wants to run: its fields (editable where allowed),
    Confirm and Cancel."""
    body = [text(summary, weight="Bolder")]
    for name, field in sorted(pending["fields"].items(), key=lambda item: item[1]["order"]):
        body += _field_input(name, field)
        if field["description"]:
            body.append(text(field["description"], isSubtle=True, size="Small", spacing="None"))
    data = {"review": pending["id"]}
    actions = [
        {"type": "Action.Execute", "title": "Confirm", "verb": verbs[0], "data": data, "style": "positive"},
        {"type": "Action.Execute", "title": "Cancel", "verb": verbs[1], "data": data},
    ]
    return card(body, actions)


def challenge_card(url: str) -> dict[str, Any]:
    """Return the card with the sign-in link a Q plugin asked for (authChallengeRequest)."""
    body = [text("A plugin of Amazon Q Business needs you to sign in to it. Sign in, then ask your question again.")]
    return card(body, [{"type": "Action.OpenUrl", "title": "Sign in to the plugin", "url": url}])


async def show_challenge(turn: Turn, replier: Replier, final: FinalAnswer) -> None:
    """Show the sign-in link a Q plugin asked for."""
    await replier.send_card(challenge_card((final.pending or {})["url"]), summary="Sign in to the plugin")


async def keep_for_review(store: Store, turn: Turn, replier: Replier, final: FinalAnswer) -> None:
    """Keep the plugin action Q wants to run (for the asker, and the backend that asked) and show its card."""
    pending = final.pending or {}
    key = f"{ACTION_KEY}{turn.conversation.key}|{pending['id']}"
    await store.put_value(key, {**pending, "user": turn.user.id, "backend": final.backend}, ttl_seconds=ACTION_TTL)
    await replier.send_card(review_card(pending, "Review the action"), summary="An action to review")


def _coerce(value: Any, kind: str) -> Any:
    if kind == "NUMBER":
        number = _number(value)
        if number is None:
            raise ValueError(value)
        return number
    if kind == "BOOLEAN":
        return _truthy(value)
    return value


def execution_of(pending: dict[str, Any], data: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """Return (the actionExecution for chat_sync with the user's edits, '') or (None, what to fix)."""
    payload: dict[str, Any] = {}
    for name, field in pending["fields"].items():
        if field["type"] == "ARRAY":  # shown read-only: sent as Q filled it in
            if field["required"] and field["value"] in (None, "", []):
                return None, f"{field['label']} is empty and cannot be filled in here: ask again and name it."
            payload[name] = {"value": field["value"]}
            continue
        choices = {_choice_key(choice["value"]): choice["value"] for choice in field["choices"]}
        value = data.get(f"field_{name}", field["value"])
        if len(choices) == 1:
            value = next(iter(choices.values()))
        if value in (None, "") and field["required"]:
            return None, f"Please fill in {field['label']} before you confirm."
        if choices and value not in ("", None):
            if _choice_key(value) not in choices:
                return None, f"{field['label']} must be one of the listed choices."
            payload[name] = {"value": choices[_choice_key(value)]}  # the allowed value itself, with its JSON type
            continue
        try:
            payload[name] = {"value": _coerce(value, field["type"]) if value not in ("", None) else value}
        except (TypeError, ValueError):
            return None, f"{field['label']} must be a number."
    execution = {
        "pluginId": pending["plugin_id"],
        "payload": payload,
        "payloadFieldNameSeparator": pending.get("separator") or DEFAULT_SEPARATOR,  # required by ActionExecution
    }
    return execution, ""


async def take_review(store: Any, key: str, turn: Turn, replier: Replier) -> dict[str, Any] | None:
    """Return the action kept under `key` for review when it is still there and `turn`'s user asked for it;
    otherwise say why (gone, or someone else's) and return None."""
    pending = await store.get_value(key)
    if pending is None:
        await replier.send_text(ACTION_GONE)
        return None
    if pending.get("user") != turn.user.id:
        await replier.send_text(NOT_YOURS)
        return None
    return pending


def register_qbusiness(extras: Extras) -> None:
    """The Teams extras of Amazon Q Business (BackendType.teams_extras): the plugin action buttons (the ingress's
    static table names them for every deployment) and how its pending answers are shown."""
    store, ask = extras.store, extras.ask
    extras.on_pending("auth_challenge")(show_challenge)

    @extras.on_pending("action_review")
    async def review(turn: Turn, replier: Replier, final: FinalAnswer) -> None:
        await keep_for_review(store, turn, replier, final)

    async def take(turn: Turn, replier: Replier) -> dict[str, Any] | None:
        key = f"{ACTION_KEY}{turn.conversation.key}|{turn.data.get('review', '')}"
        return await take_review(store, key, turn, replier)

    @extras.router.action("qbusiness_confirm")
    async def confirm(turn: Turn, replier: Replier) -> bool | None:
        pending = await take(turn, replier)
        if pending is None:
            return False  # refused (not yours, or gone): no "Running the action…" after the refusal
        execution, problem = execution_of(pending, turn.data)
        if execution is None:
            await replier.send_text(problem)
            return False
        # Forgotten before it runs: a second press (or a re-delivery) never runs the action twice.
        await store.delete_value(f"{ACTION_KEY}{turn.conversation.key}|{pending['id']}")
        await ask(turn, replier, "", action=execution, backend=str(pending.get("backend", "")))

    @extras.router.action("qbusiness_cancel")
    async def cancel(turn: Turn, replier: Replier) -> bool | None:
        pending = await take(turn, replier)
        if pending is None:
            return False
        await store.delete_value(f"{ACTION_KEY}{turn.conversation.key}|{pending['id']}")
        await replier.send_text(CANCELLED.format(plugin=pending.get("plugin_type") or "the plugin"))
