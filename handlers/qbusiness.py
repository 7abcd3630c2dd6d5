"""Amazon Q Business in Teams: sign-in and sign-out, plugin actions to review, feedback passed on to Q.

The chat itself is the ordinary chat handler (handlers/app.py); this module adds what only a backend that acts
as the user needs. A question asked before sign-in is kept (15 minutes) and answered once the user has signed in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from handlers.cards import card, facts, text
from handlers.models import Replier, Turn
from handlers.router import Router
from services.backends import Attachment, Backend, BackendError, FinalAnswer, Identity, SignInRequired
from services.datasets import DatasetError, download
from services.quoting import quote
from services.store import Store

log = logging.getLogger(__name__)

IdentityFor = Callable[[Turn], Identity | None]
Ask = Callable[..., Awaitable[None]]

QUESTION_KEY = "signin-question|"
ACTION_KEY = "qbusiness-action|"
QUESTION_TTL = 15 * 60
ACTION_TTL = 60 * 60
SIGNED_IN = "You are signed in to Amazon Q Business. Ask me your question."
SIGN_IN_FAILED = "Sign-in did not complete. Please press Sign in on the card again."
SIGNED_OUT = "Signed out: I forgot your Amazon Q Business credentials here. Your next question asks you to sign in."
NOTHING_TO_SIGN_OUT = "There is nothing to sign out of: this gateway asks Amazon Q Business without your sign-in."
ACTION_GONE = "This action is no longer waiting: it was confirmed, cancelled or has expired. Ask again if needed."
NOT_YOURS = "Only the person who asked can confirm or cancel this action."
FEEDBACK_KEY = "signin-feedback|"
FEEDBACK_SIGN_IN = (
    "I saved your feedback here. To pass it on to Amazon Q Business, which takes it only from you, sign in with "
    "the card below: I send it as soon as you have."
)
FEEDBACK_NOT_PASSED = "I saved your feedback here, but could not pass it on to Amazon Q Business:"
FEEDBACK_PASSED = "Your feedback is passed on to Amazon Q Business."
CANCELLED = "Cancelled: I did not ask Amazon Q Business to run {plugin}, so nothing was done."


def _question_key(turn: Turn) -> str:
    return f"{QUESTION_KEY}{turn.conversation.key}|{turn.user.id}"


async def remember_question(store: Store, turn: Turn, question: str) -> None:
    """Keep the question asked before sign-in, to answer it once the user has signed in."""
    if question.strip():
        await store.put_value(_question_key(turn), {"text": question}, ttl_seconds=QUESTION_TTL)


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


def review_card(pending: dict[str, Any], summary: str) -> dict[str, Any]:
    """Return the Adaptive Card for a plugin action Q wants to run: its fields (editable where allowed),
    Confirm and Cancel."""
    body = [text(summary, weight="Bolder")]
    for name, field in sorted(pending["fields"].items(), key=lambda item: item[1]["order"]):
        body += _field_input(name, field)
        if field["description"]:
            body.append(text(field["description"], isSubtle=True, size="Small", spacing="None"))
    data = {"review": pending["id"]}
    actions = [
        {"type": "Action.Execute", "title": "Confirm", "verb": "qbusiness_confirm", "data": data, "style": "positive"},
        {"type": "Action.Execute", "title": "Cancel", "verb": "qbusiness_cancel", "data": data},
    ]
    return card(body, actions)


def challenge_card(url: str) -> dict[str, Any]:
    """Return the card with the sign-in link a Q plugin asked for (authChallengeRequest)."""
    body = [text("A plugin of Amazon Q Business needs you to sign in to it. Sign in, then ask your question again.")]
    return card(body, [{"type": "Action.OpenUrl", "title": "Sign in to the plugin", "url": url}])


async def show_pending(store: Store, turn: Turn, replier: Replier, final: FinalAnswer) -> None:
    """Show what Q needs from the user after an answer: a plugin action to review, or a plugin sign-in link."""
    pending = final.pending or {}
    if pending.get("kind") == "auth_challenge":
        await replier.send_card(challenge_card(pending["url"]), summary="Sign in to the plugin")
    elif pending.get("kind") == "action_review":
        key = f"{ACTION_KEY}{turn.conversation.key}|{pending['id']}"
        await store.put_value(key, {**pending, "user": turn.user.id}, ttl_seconds=ACTION_TTL)
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


def _feedback_key(turn: Turn) -> str:
    return f"{FEEDBACK_KEY}{turn.conversation.key}|{turn.user.id}"


async def forward_feedback(
    backend: Backend, store: Store, turn: Turn, replier: Replier, identity: Identity | None, ids: dict[str, Any],
    reaction: str, comment: str,
) -> bool:  # fmt: skip
    """Pass a 👍/👎 on to a backend that takes feedback (Q Business PutFeedback); return True when it was. A user
    who must sign in first gets the sign-in card, and the feedback is passed on once they have signed in; any
    other failure is one sentence."""
    send = getattr(backend, "send_feedback", None)
    if send is None or ids.get("backend") != backend.name or not ids.get("answer_id"):
        return False
    try:
        await send(identity, str(ids.get("conversation_id", "")), str(ids["answer_id"]), reaction == "like", comment)
    except SignInRequired:
        kept = {"conversation_id": str(ids.get("conversation_id", "")), "answer_id": str(ids["answer_id"]),
                "backend": backend.name, "reaction": reaction, "comment": comment}  # fmt: skip
        await store.put_value(_feedback_key(turn), kept, ttl_seconds=QUESTION_TTL)
        await replier.send_sign_in(FEEDBACK_SIGN_IN)
    except BackendError as error:
        await replier.send_text(f"{FEEDBACK_NOT_PASSED} {error.user_message}")
    else:
        return True
    return False


# Files Q Business reads in chat (its documented attachment types), and the gateway's limits per turn.
ATTACHMENT_TYPES = frozenset(
    {"csv", "doc", "docx", "html", "htm", "json", "md", "pdf", "ppt", "pptx", "rtf", "txt", "xls", "xlsx", "xml"}
)
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


async def attachments_of(turn: Turn, *, allowed_hosts: Sequence[str]) -> tuple[list[Attachment], list[str]]:
    """Return (the turn's files downloaded for Q, one sentence per file skipped and why).

    At most MAX_ATTACHMENTS files are sent (skipped files do not count), of ATTACHMENT_TYPES, MAX_ATTACHMENT_BYTES
    each, downloaded only from `allowed_hosts` (DOWNLOAD_ALLOWED_HOSTS, checked by services/safe_fetch.py: the
    download URL comes from the request, so any other host is refused)."""
    files: list[Attachment] = []
    skipped: list[str] = []
    for file in turn.files:
        name = quote(file.name)  # user data: inert in the sentences below
        kind = (file.file_type or (file.name.rsplit(".", 1)[-1] if "." in file.name else "")).lower()
        if kind not in ATTACHMENT_TYPES:
            skipped.append(f"I skipped {name}: Amazon Q Business does not read .{quote(kind, 10) or '?'} files.")
        elif len(files) >= MAX_ATTACHMENTS:
            skipped.append(f"I skipped {name}: at most {MAX_ATTACHMENTS} files are read per message.")
        else:
            try:
                data = await download(file.download_url, file.name, MAX_ATTACHMENT_BYTES, allowed_hosts=allowed_hosts)
            except DatasetError as problem:
                skipped.append(str(problem))
            else:
                files.append(Attachment(name=file.name, data=data))
    return files, skipped


def register_qbusiness(router: Router, backend: Backend, store: Store, identity_for: IdentityFor, ask: Ask) -> None:
    """Register the sign-in completion and the plugin action buttons (the ingress's static table names them for
    every backend), and `signout` for backends that act as the user. `ask(turn, replier, text, action=...)` is
    the chat handler's way of asking the backend and showing the answer."""

    async def signout(turn: Turn, replier: Replier, rest: str) -> None:
        identity = identity_for(turn)
        if identity is None or identity.tokens is None:
            await replier.send_text(NOTHING_TO_SIGN_OUT)
            return
        await backend.forget(identity)
        await identity.tokens.sign_out()
        await store.delete_value(_question_key(turn))
        await store.delete_value(_feedback_key(turn))
        await replier.send_text(SIGNED_OUT)

    if hasattr(backend, "forget"):
        router.command("signout", "forget your sign-in to Amazon Q Business", "logout", "signoff")(signout)

    @router.action("signed_in")
    async def signed_in(turn: Turn, replier: Replier) -> None:
        if not turn.data.get("ok"):
            await replier.send_text(SIGN_IN_FAILED)
            return
        feedback = await store.get_value(_feedback_key(turn))
        if feedback:
            await store.delete_value(_feedback_key(turn))
            if await forward_feedback(
                backend, store, turn, replier, identity_for(turn), feedback, feedback["reaction"], feedback["comment"]
            ):
                await replier.send_text(FEEDBACK_PASSED)
        waiting = await store.get_value(_question_key(turn))
        if not waiting:
            await replier.send_text(SIGNED_IN)
            return
        await store.delete_value(_question_key(turn))
        await ask(turn, replier, waiting["text"])

    async def take(turn: Turn, replier: Replier) -> dict[str, Any] | None:
        key = f"{ACTION_KEY}{turn.conversation.key}|{turn.data.get('review', '')}"
        pending = await store.get_value(key)
        if pending is None:
            await replier.send_text(ACTION_GONE)
            return None
        if pending.get("user") != turn.user.id:
            await replier.send_text(NOT_YOURS)
            return None
        return pending

    @router.action("qbusiness_confirm")
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
        await ask(turn, replier, "", action=execution)

    @router.action("qbusiness_cancel")
    async def cancel(turn: Turn, replier: Replier) -> bool | None:
        pending = await take(turn, replier)
        if pending is None:
            return False
        await store.delete_value(f"{ACTION_KEY}{turn.conversation.key}|{pending['id']}")
        await replier.send_text(CANCELLED.format(plugin=pending.get("plugin_type") or "the plugin"))
