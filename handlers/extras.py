"""The one registration hook through which a backend type brings its own Teams extras.

A backend type names its hook in `BackendType.teams_extras` ("module:function"); the worker calls it once per
type present in the deployment with an `Extras`. There the hook adds its commands and card actions to the
router and says how to show each kind of `FinalAnswer.pending` it produces (a plugin action to review, a
sign-in link). The chat handler itself knows none of them: after an answer it calls `show_pending`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from handlers.models import Replier, Turn
from handlers.router import Router
from services.backends import Backend, FinalAnswer, Identity
from services.store import Store

log = logging.getLogger(__name__)

IdentityFor = Callable[[Turn], Identity | None]
# ask(turn, replier, text, *, action=None, backend=""): ask a backend (by name; '' = the turn's route) and show
# the answer as the chat handler does.
Ask = Callable[..., Awaitable[None]]
ShowPending = Callable[[Turn, Replier, FinalAnswer], Awaitable[None]]


@dataclass
class Extras:
    """What a backend type's Teams extras hook gets.

    `backends` are the deployment's backends of this type, by name; `ask` is the chat handler's way of asking
    one of them and showing the answer; `on_pending(kind)` registers how an answer's pending `kind` is shown."""

    router: Router
    store: Store
    backends: dict[str, Backend]
    identity_for: IdentityFor
    ask: Ask
    pending: dict[str, ShowPending] = field(default_factory=dict)

    def on_pending(self, kind: str) -> Callable[[ShowPending], ShowPending]:
        """Return a decorator registering how a FinalAnswer whose `pending["kind"]` is `kind` is shown."""

        def register(show: ShowPending) -> ShowPending:
            self.pending[kind] = show
            return show

        return register


async def show_pending(
    shows: dict[str, ShowPending], turn: Turn, replier: Replier, final: FinalAnswer
) -> None:  # fmt: skip
    """Show what the backend needs from the user after `final` (its `pending`), with the hook registered for its
    kind; a kind no hook registered is logged and the answer's text stands alone."""
    kind = str((final.pending or {}).get("kind", ""))
    show = shows.get(kind)
    if show is None:
        log.warning("backend %s left a pending %r that no Teams extras show", final.backend, kind)
        return
    await show(turn, replier, final)
