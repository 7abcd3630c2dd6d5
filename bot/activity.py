"""Teams activities in: validate the JSON shape and turn it into a neutral `Turn`."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.models import Conversation, FileAttachment, Turn, User

KNOWN_TYPES = frozenset(
    [
        "message",
        "conversationUpdate",
        "contactRelationUpdate",
        "typing",
        "endOfConversation",
        "event",
        "invoke",
        "deleteUserData",
        "messageUpdate",
        "messageDelete",
        "installationUpdate",
        "messageReaction",
        "suggestion",
        "trace",
        "handoff",
        "command",
        "commandResult",
    ]
)
MAX_DEPTH = 64  # Teams activities nest about 8 levels (cards in attachments in channelData); 64 is generous
FILE_DOWNLOAD = "application/vnd.microsoft.teams.file.download.info"
CARD_ACTION = "adaptiveCard/action"
FEEDBACK_LOOP = "message/submitAction"  # Teams' own 👍/👎 under a message with feedbackLoopEnabled
TOKEN_EXCHANGE = "signin/tokenExchange"  # Teams SSO: the user's token for the bot's OAuth connection
VERIFY_STATE = "signin/verifyState"  # the sign-in card's flow finished (the value's state is a magic code)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff]")
# The tags of a mention, `<at>` or `<at id="0">` and `</at>`, scanned once, left to right: the pattern used
# before (`<at[^>]*>(.*?)</at>`) restarted at every `<at` and read to the end of the text each time, so a text
# of repeated unclosed `<at>` cost quadratic time (100 KB blocked the loop 44 s). `[^<>]*` stops at the next
# tag, so every character is read a bounded number of times.
_AT_TAG = re.compile(r"<at(?:\s[^<>]*)?>|</at>", re.I)
MAX_TEXT_CHARS = 40_000  # Teams caps a message at about 28 KB: mention patterns read no further than this
MAX_MENTIONS = 64  # mention entities read per activity
# Teams' ids are under 200 characters; ours become parts of store keys (a DynamoDB key is at most 2048 bytes: a
# longer one was refused as a store failure, a 503 the channel retried forever)
MAX_ID_BYTES = 512


class ActivityError(ValueError):
    """The body is not an activity we can answer; the message is safe to return to the client."""


class _Model(BaseModel):
    # Only the wire spelling (camelCase aliases) is read: one key per field, so the serviceUrl that is checked
    # against the token is the only one replies can go to (no `service_url` spelling beside it).
    model_config = ConfigDict(populate_by_name=False, extra="ignore")


class Account(_Model):
    id: str = ""
    name: str | None = ""
    aad_object_id: str | None = Field("", alias="aadObjectId")


class ConversationAccount(_Model):
    id: str = ""
    conversation_type: str | None = Field(None, alias="conversationType")
    tenant_id: str | None = Field(None, alias="tenantId")
    is_group: bool | None = Field(None, alias="isGroup")


class InboundActivity(_Model):
    """The fields of a Bot Framework Activity the gateway reads (camelCase on the wire)."""

    type: str
    id: str = ""
    timestamp: datetime | None = None
    local_timestamp: datetime | None = Field(None, alias="localTimestamp")
    service_url: str = Field("", alias="serviceUrl")
    channel_id: str = Field("", alias="channelId")
    from_: Account = Field(default_factory=Account, alias="from")
    conversation: ConversationAccount = Field(default_factory=ConversationAccount)
    recipient: Account = Field(default_factory=Account)
    text: str | None = None
    reply_to_id: str | None = Field(None, alias="replyToId")
    text_format: str | None = Field(None, alias="textFormat")
    value: Any = None
    name: str | None = None
    locale: str | None = None
    entities: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    channel_data: dict[str, Any] | None = Field(None, alias="channelData")
    members_added: list[Account] | None = Field(None, alias="membersAdded")


def load_json(body: bytes) -> Any:
    """Return the decoded JSON body; raise ActivityError for invalid JSON or nesting deeper than MAX_DEPTH."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ActivityError("The body is not valid JSON.") from None
    stack = [(value, 1)]
    while stack:  # iterative: a recursive walk is what the deep body would break
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_DEPTH:
                    raise ActivityError(f"The body is nested deeper than {MAX_DEPTH} levels.")
                stack.append((child, depth + 1))
    return value


def dedupe_key(activity: InboundActivity) -> str:
    """Return the key under which a delivery of `activity` is remembered: its conversation and id, or for an
    activity without an id a digest of its content (a re-delivery is byte-for-byte the same activity)."""
    if activity.id:
        return f"activity|{activity.conversation.id}|{activity.id}"
    content = activity.model_dump(mode="json", by_alias=True, exclude={"id"})
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"activity|{activity.conversation.id}|sha256:{digest}"


def parse_activity(body: Any) -> InboundActivity:
    """Return the activity in a decoded JSON body; raise ActivityError with a client-facing sentence."""
    if not isinstance(body, dict):
        raise ActivityError("The request body must be a JSON object (a Bot Framework Activity).")
    try:
        activity = InboundActivity.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ActivityError(f"Invalid activity: field '{where}': {first['msg']}.") from None
    if not activity.type:
        raise ActivityError("Invalid activity: field 'type' is empty.")
    return activity


def check_routable(activity: InboundActivity) -> None:
    """Raise ActivityError unless the activity has a known type and what a reply needs."""
    if activity.type not in KNOWN_TYPES:
        raise ActivityError(f"Unsupported activity type '{activity.type[:40]}'.")
    if not activity.service_url:
        raise ActivityError("Invalid activity: 'serviceUrl' is required.")
    if not re.match(r"^https?://[^\s/]+", activity.service_url):
        raise ActivityError("Invalid activity: 'serviceUrl' must be an http(s) URL.")
    if not activity.conversation.id:
        raise ActivityError("Invalid activity: 'conversation.id' is required.")
    ids = {"id": activity.id, "conversation.id": activity.conversation.id, "from.id": activity.from_.id,
           "tenant id": tenant_of(activity)}  # fmt: skip
    for where, value in ids.items():  # they make store keys: DynamoDB refuses a key over 2048 bytes
        if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
            raise ActivityError(f"Invalid activity: '{where}' is longer than {MAX_ID_BYTES} bytes.")


def tenant_of(activity: InboundActivity) -> str:
    """Return the tenant id from `channelData.tenant.id` (where Teams puts it), else `conversation.tenantId`.
    A channel that asserts no Entra identity (Web Chat) gets `<channel id>:` whatever its body claims: its
    client writes the body, so a claimed tenant would pass ALLOWED_TENANTS, take that tenant's routes and
    usage, and, rotated per message, escape the tenant's rate bucket (or drain a real tenant's)."""
    if not asserts_entra_identity(activity):
        return f"{activity.channel_id}:"
    tenant = (activity.channel_data or {}).get("tenant")
    if isinstance(tenant, dict) and isinstance(tenant.get("id"), str) and tenant["id"]:
        return tenant["id"]
    return activity.conversation.tenant_id or ""


def clean_text(text: str) -> str:
    """Return `text` with control and invisible characters removed and line ends normalised."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("&nbsp;", " ")
    return _CONTROL.sub("", text)


def mentions(text: str) -> list[tuple[int, int, int, int]]:
    """Return the `<at …>name</at>` mentions in `text` as (start, end, name start, name end), left to right;
    an opening tag pairs with the first closing tag after it. Linear in the text's length."""
    found, opened = [], None
    for tag in _AT_TAG.finditer(text):
        if tag.group(0)[1] != "/":
            if opened is None:
                opened = tag
        elif opened is not None:
            found.append((opened.start(), tag.end(), opened.end(), tag.start()))
            opened = None
    return found


def _unwrap_mentions(text: str) -> str:
    parts, position = [], 0
    for start, end, inner_start, inner_end in mentions(text):
        parts += [text[position:start], text[inner_start:inner_end]]
        position = end
    return "".join([*parts, text[position:]])


def strip_bot_mention(activity: InboundActivity, text: str) -> str:
    """Remove the `<at>…</at>` mention of the bot; mentions of people are kept as their names."""
    bot_id = activity.recipient.id
    found = False
    for entity in (activity.entities or [])[:MAX_MENTIONS]:
        mentioned = entity.get("mentioned") if entity.get("type") == "mention" else None
        if isinstance(mentioned, dict) and mentioned.get("id") == bot_id and isinstance(entity.get("text"), str):
            found = found or entity["text"] in text
            text = text.replace(entity["text"], " ")
    if not found and activity.conversation.conversation_type in ("groupChat", "channel"):
        first = mentions(text.lstrip())[:1]
        if first and first[0][0] == 0:  # no mention entity: a leading mention is the bot's
            text = text.lstrip()[first[0][1] :]
    return re.sub(r"[ \t]+", " ", _unwrap_mentions(text)).strip()


def conversation_of(activity: InboundActivity) -> Conversation:
    """Return the neutral conversation; channel threads get a key of their own (the thread's root id)."""
    kind = activity.conversation.conversation_type or ("groupChat" if activity.conversation.is_group else "personal")
    if kind not in ("personal", "groupChat", "channel"):
        kind = "groupChat" if activity.conversation.is_group else "personal"
    key = activity.conversation.id
    if kind == "channel" and ";messageid=" not in key and activity.id:
        key = f"{key};messageid={activity.id}"  # a new post is the root of its own thread
    if not asserts_entra_identity(activity):  # another channel's client names its own ids: never a Teams chat's
        key = f"{activity.channel_id}:{key}"
    team = (activity.channel_data or {}).get("team")
    team_id = team.get("id") if isinstance(team, dict) and isinstance(team.get("id"), str) else ""
    return Conversation(
        id=activity.conversation.id, type=kind, key=key, tenant_id=tenant_of(activity), team_id=team_id[:256]
    )


def _files(activity: InboundActivity) -> list[FileAttachment]:
    files = []
    for attachment in activity.attachments or []:
        content = attachment.get("content")
        if attachment.get("contentType") == FILE_DOWNLOAD and isinstance(content, dict) and content.get("downloadUrl"):
            files.append(
                FileAttachment(
                    name=str(attachment.get("name") or "file"),
                    download_url=str(content["downloadUrl"]),
                    file_type=str(content.get("fileType") or ""),
                )
            )
    return files


def _feedback_text(feedback: Any) -> str:
    """Return the text a user typed in Teams' feedback form (sent as a JSON string or an object)."""
    if isinstance(feedback, str):
        try:
            feedback = json.loads(feedback)
        except (ValueError, RecursionError):  # nested past the parser's depth: still just a string
            return feedback
    if isinstance(feedback, dict):
        return str(feedback.get("feedbackText", ""))
    return ""


def card_action(activity: InboundActivity) -> tuple[str, dict[str, Any]] | None:
    """Return (verb, data) when the activity is a card action (Action.Submit or Action.Execute), else None."""
    if activity.type == "invoke" and activity.name == FEEDBACK_LOOP:
        value = activity.value if isinstance(activity.value, dict) else {}
        action = value.get("actionValue") if isinstance(value.get("actionValue"), dict) else {}
        if value.get("actionName") != "feedback" or not action:
            raise ActivityError("Invalid message/submitAction invoke: expected actionName 'feedback' and actionValue.")
        return "feedback", {
            "reaction": str(action.get("reaction", "")),
            "comment": _feedback_text(action.get("feedback")),
            "reply_to": activity.reply_to_id or "",
        }
    if activity.type == "invoke" and activity.name == CARD_ACTION:
        action = (activity.value or {}).get("action") if isinstance(activity.value, dict) else None
        if not isinstance(action, dict):
            raise ActivityError("Invalid adaptiveCard/action invoke: 'value.action' is missing.")
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        return str(action.get("verb") or data.get("verb") or ""), data
    if activity.type == "message" and isinstance(activity.value, dict) and not (activity.text or "").strip():
        data = activity.value
        return str(data.get("verb") or data.get("action") or ""), data
    return None


# Channels whose service asserts the sender's Entra object id (`from.aadObjectId`): the channel id is the one
# endorsed by the token's signing key (bot/auth.py). Elsewhere (Web Chat, Direct Line) the client writes the
# body, ids included: such a user gets no Entra id (so no admin features and no per-user identity, such as
# the Q Business credential vault) and a user id and conversation key namespaced by the channel.
ENTRA_CHANNELS = frozenset({"msteams"})


def asserts_entra_identity(activity: InboundActivity) -> bool:
    """True when the activity's channel asserts who the sender is (Teams)."""
    return activity.channel_id in ENTRA_CHANNELS


def turn_fields(activity: InboundActivity) -> dict[str, Any]:
    """Return the fields every Turn of `activity` has: id, user, conversation and locale."""
    trusted = asserts_entra_identity(activity)
    user = User(
        id=activity.from_.id if trusted else f"{activity.channel_id}:{activity.from_.id}",
        name=activity.from_.name or "",
        aad_object_id=(activity.from_.aad_object_id or "") if trusted else "",
    )
    return {
        "id": activity.id,
        "user": user,
        "conversation": conversation_of(activity),
        "locale": activity.locale or "en-US",
    }


def to_turn(activity: InboundActivity) -> Turn | None:
    """Return the Turn for an activity the gateway answers, or None for one it only acknowledges."""
    common = turn_fields(activity)
    action = card_action(activity)
    if action is not None:
        verb, data = action
        return Turn(kind="action", verb=verb, data=data, invoke=activity.type == "invoke", **common)
    if activity.type == "message":
        # Mentions are looked for in the first MAX_TEXT_CHARS only; the rest (what the backend will trim, and
        # tell the user about with the message's real length) is only cleaned.
        raw = activity.text or ""
        text = strip_bot_mention(activity, clean_text(raw[:MAX_TEXT_CHARS]))
        if len(raw) > MAX_TEXT_CHARS:
            text += (" " if raw[MAX_TEXT_CHARS - 1].isspace() else "") + clean_text(raw[MAX_TEXT_CHARS:])
        return Turn(kind="message", text=text, files=_files(activity), **common)
    if activity.type == "conversationUpdate" and any(
        m.id == activity.recipient.id for m in activity.members_added or []
    ):
        return Turn(kind="welcome", **common)
    return None
