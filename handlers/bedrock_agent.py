"""Amazon Bedrock Agents' Teams extras (BackendType.teams_extras): return of control as a review card.

The card is the review of Amazon Q Business plugin actions (handlers/qbusiness.py: the fields, editable where
allowed, Confirm and Cancel), with its own buttons. Only the person who asked may press them; the action is
forgotten before it is sent back, so a second press (or a re-delivery) never sends it twice.
"""

from __future__ import annotations

from typing import Any

from handlers.extras import Extras
from handlers.models import Replier, Turn
from handlers.qbusiness import execution_of, review_card, take_review
from services.backends import FinalAnswer
from services.backends.bedrock_agent.review import KIND

CONFIRM, CANCEL = "agent_action_confirm", "agent_action_cancel"  # their acknowledgements: handlers/catalog.py
ACTION_KEY = "agent-action|"
ACTION_TTL = 60 * 60
CANCELLED = "Cancelled: I did not send {action} back to the agent, so nothing was done."


def agent_review_card(pending: dict[str, Any]) -> dict[str, Any]:
    """Return the review card of an action the agent handed back (return of control), with this type's buttons."""
    return review_card(pending, "The agent asks you to review this action", (CONFIRM, CANCEL))


def register(extras: Extras) -> None:
    """Show the agent's return of control as a review, and send the confirmed values back to the agent."""
    store, ask = extras.store, extras.ask

    def key(turn: Turn, review: Any) -> str:
        return f"{ACTION_KEY}{turn.conversation.key}|{review}"

    @extras.on_pending(KIND)
    async def review(turn: Turn, replier: Replier, final: FinalAnswer) -> None:
        pending = final.pending or {}
        kept = {**pending, "user": turn.user.id, "backend": final.backend}
        await store.put_value(key(turn, pending["id"]), kept, ttl_seconds=ACTION_TTL)
        await replier.send_card(agent_review_card(pending), summary="An action to review")

    async def take(turn: Turn, replier: Replier) -> dict[str, Any] | None:
        return await take_review(store, key(turn, turn.data.get("review", "")), turn, replier)

    @extras.router.action(CONFIRM)
    async def confirm(turn: Turn, replier: Replier) -> bool | None:
        pending = await take(turn, replier)
        if pending is None:
            return False  # refused: no acknowledgement after the refusal (handlers/router.py)
        execution, problem = execution_of(pending, turn.data)
        if execution is None:
            await replier.send_text(problem)
            return False
        # What the agent waits for and its session go with the action (kept here, never taken from the card).
        execution |= {"return_control": pending.get("return_control"), "session_id": pending.get("session_id", "")}
        await store.delete_value(key(turn, pending["id"]))  # forgotten before it runs: a second press does nothing
        await ask(turn, replier, "", action=execution, backend=str(pending.get("backend", "")))

    @extras.router.action(CANCEL)
    async def cancel(turn: Turn, replier: Replier) -> bool | None:
        pending = await take(turn, replier)
        if pending is None:
            return False
        await store.delete_value(key(turn, pending["id"]))
        await replier.send_text(CANCELLED.format(action=pending.get("plugin_type") or "the action"))
