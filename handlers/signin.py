"""Sign-in, sign-out and feedback passed on, for every backend that acts as the signed-in user.

Driven by capabilities, never by a backend's name: `acts_as_user` (a question may end in SignInRequired),
`signs_out` (the backend implements `SignsOut`), `feedback` (it implements `TakesFeedback`). A question asked
before sign-in is kept (15 minutes) and answered once the user has signed in; so is a 👍/👎 that needs the
user's own sign-in to be passed on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from handlers.extras import Ask, IdentityFor
from handlers.models import Replier, Turn
from handlers.router import Router
from services.backends import Backend, BackendError, Identity, SignInRequired, SignsOut, TakesFeedback
from services.backends.base import capabilities_of
from services.store import Store

log = logging.getLogger(__name__)

QUESTION_KEY = "signin-question|"
FEEDBACK_KEY = "signin-feedback|"
QUESTION_TTL = 15 * 60
SIGNED_IN = "You are signed in to {label}. Ask me your question."
SIGN_IN_FAILED = "Sign-in did not complete. Please press Sign in on the card again."
SIGNED_OUT = "Signed out: I forgot your {label} credentials here. Your next question asks you to sign in."
NOTHING_TO_SIGN_OUT = "There is nothing to sign out of: this gateway asks {label} without your sign-in."
FEEDBACK_SIGN_IN = (
    "I saved your feedback here. To pass it on to {label}, which takes it only from you, sign in with "
    "the card below: I send it as soon as you have."
)
FEEDBACK_NOT_PASSED = "I saved your feedback here, but could not pass it on to {label}:"
FEEDBACK_PASSED = "Your feedback is passed on to {label}."


def label_of(backend: Backend | None) -> str:
    """Return the name users know the backend's service by (its capabilities' label, else its name)."""
    if backend is None:
        return "the assistant"
    return capabilities_of(backend).label or backend.name


def _question_key(turn: Turn) -> str:
    return f"{QUESTION_KEY}{turn.conversation.key}|{turn.user.id}"


def _feedback_key(turn: Turn) -> str:
    return f"{FEEDBACK_KEY}{turn.conversation.key}|{turn.user.id}"


async def remember_question(store: Store, turn: Turn, question: str, backend: str = "") -> None:
    """Keep the question asked before sign-in (and the backend it was for), to answer it once the user has
    signed in."""
    if question.strip():
        await store.put_value(_question_key(turn), {"text": question, "backend": backend}, ttl_seconds=QUESTION_TTL)


async def forward_feedback(
    backends: Mapping[str, Backend], store: Store, turn: Turn, replier: Replier, identity: Identity | None,
    ids: dict[str, Any], reaction: str, comment: str,
) -> bool:  # fmt: skip
    """Pass a 👍/👎 on to the backend that wrote the answer when it takes feedback; return True when it was. A
    user who must sign in first gets the sign-in card, and the feedback is passed on once they have signed in;
    any other failure is one sentence."""
    backend = backends.get(str(ids.get("backend", "")))
    if backend is None or not capabilities_of(backend).feedback or not isinstance(backend, TakesFeedback):
        return False
    if not ids.get("answer_id"):
        return False
    label = label_of(backend)
    try:
        await backend.send_feedback(
            identity, str(ids.get("conversation_id", "")), str(ids["answer_id"]), reaction == "like", comment
        )
    except SignInRequired:
        kept = {"conversation_id": str(ids.get("conversation_id", "")), "answer_id": str(ids["answer_id"]),
                "backend": backend.name, "reaction": reaction, "comment": comment}  # fmt: skip
        await store.put_value(_feedback_key(turn), kept, ttl_seconds=QUESTION_TTL)
        await replier.send_sign_in(FEEDBACK_SIGN_IN.format(label=label))
    except BackendError as error:
        await replier.send_text(f"{FEEDBACK_NOT_PASSED.format(label=label)} {error.user_message}")
    else:
        return True
    return False


def register_sign_in(
    router: Router, store: Store, backends: Mapping[str, Backend], identity_for: IdentityFor, ask: Ask
) -> None:
    """Register the sign-in completion (`signed_in`: the ingress's static table names it for every deployment),
    and `signout` when a backend keeps something per user."""
    acting = [b for b in backends.values() if capabilities_of(b).acts_as_user]
    forgetting = [b for b in backends.values() if capabilities_of(b).signs_out and isinstance(b, SignsOut)]
    labels = " and ".join(dict.fromkeys(label_of(b) for b in (forgetting or acting))) or "the assistant"

    async def signout(turn: Turn, replier: Replier, rest: str) -> None:
        identity = identity_for(turn)
        if identity is None or identity.tokens is None:
            await replier.send_text(NOTHING_TO_SIGN_OUT.format(label=labels))
            return
        for backend in forgetting:
            await backend.forget(identity)
        await identity.tokens.sign_out()
        await store.delete_value(_question_key(turn))
        await store.delete_value(_feedback_key(turn))
        await replier.send_text(SIGNED_OUT.format(label=labels))

    if forgetting:
        router.command("signout", f"forget your sign-in to {labels}", "logout", "signoff")(signout)

    @router.action("signed_in")
    async def signed_in(turn: Turn, replier: Replier) -> None:
        if not turn.data.get("ok"):
            await replier.send_text(SIGN_IN_FAILED)
            return
        feedback = await store.get_value(_feedback_key(turn))
        if feedback:
            await store.delete_value(_feedback_key(turn))
            if await forward_feedback(
                backends, store, turn, replier, identity_for(turn), feedback, feedback["reaction"], feedback["comment"]
            ):
                await replier.send_text(FEEDBACK_PASSED.format(label=label_of(backends.get(feedback["backend"]))))
        waiting = await store.get_value(_question_key(turn))
        if not waiting:
            await replier.send_text(SIGNED_IN.format(label=labels))
            return
        await store.delete_value(_question_key(turn))
        await ask(turn, replier, waiting["text"], backend=str(waiting.get("backend", "")))
