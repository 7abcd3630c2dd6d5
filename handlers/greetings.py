"""Small talk a Teams user opens with: a greeting gets a greeting and what the bot can do, not a search for 'hi'."""

from __future__ import annotations

import re

from handlers.models import Turn
from services.quoting import quote

_GREETING = re.compile(
    r"(hi|hello|hey|hiya|howdy|greetings|good (morning|afternoon|evening|day)|hallo|bonjour|hola|ciao|salut|moin)"
    r"( (there|all|everyone|team|bot|again))?"
)
MAX_GREETING_CHARS = 40  # longer messages are questions, whatever they start with


def is_greeting(text: str) -> bool:
    """True when the whole message is a greeting such as "hi", "Hello there!" or "good morning 👋"."""
    if len(text) > MAX_GREETING_CHARS:
        return False
    words = re.sub(r"[^\w\s]", " ", text.lower())  # punctuation and emoji
    return _GREETING.fullmatch(" ".join(words.split())) is not None


def greeting(turn: Turn, what_i_do: str) -> str:
    """Return the answer to a greeting: hello by first name, then what the bot can do."""
    first = quote(turn.user.name.split()[0], 40) if turn.user.name.strip() else ""  # the name is the sender's data
    return f"Hello{' ' + first if first else ''}! {what_i_do}"


def whoami(turn: Turn) -> str:
    """Return who Teams says the user is, with the ids an operator puts in ADMIN_USERS or ALLOWED_TENANTS."""

    def code(value: str) -> str:  # a backtick in an id a client wrote (Web Chat) would end the code span
        return value.replace("`", "'")

    lines = [
        f"You are **{quote(turn.user.name, 100) if turn.user.name else 'an unnamed user'}**.",
        f"- Entra object id: `{code(turn.user.aad_object_id or 'not sent by Teams')}` (what ADMIN_USERS lists)",
        f"- Teams user id: `{code(turn.user.id)}`",
        f"- tenant id: `{code(turn.conversation.tenant_id or 'not sent by Teams')}` (what ALLOWED_TENANTS lists)",
    ]
    return "\n".join(lines)
