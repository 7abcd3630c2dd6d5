"""Which of the deployment's named backends answers a turn, and the `agents` and `use <name>` commands.

The route table (services/routing.py) maps tenant, team, channel, chat type and user to a backend; where it
lets users choose, `use <name>` picks a backend for this conversation (a chat, or one channel thread) and
starts a fresh context; `agents` lists the choice. The choice is a small store value of its own, so `new`
keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping

from handlers.models import Replier, Turn
from handlers.router import Router
from services.backends import Backend
from services.backends.base import capabilities_of
from services.quoting import quote
from services.routing import RouteTable, Where
from services.store import Store

USE_KEY = "use|"
ALREADY = "**{title}** already answers in {where}."
SWITCHED = "Now **{title}** answers in {where}. I started a new conversation: the earlier context is forgotten."
UNKNOWN = "There is no assistant called {name} to choose. Send `agents` to see the ones you can use."


def where_of(turn: Turn) -> Where:
    """Return where the turn happened, as the route table matches it."""
    conversation = turn.conversation
    channel = conversation.id.split(";messageid=", 1)[0] if conversation.type == "channel" else ""
    return Where(
        tenant=conversation.tenant_id, team=conversation.team_id, channel=channel, chat_type=conversation.type,
        user=turn.user.aad_object_id or turn.user.id,
    )  # fmt: skip


def _place(turn: Turn) -> str:
    return "this thread" if turn.conversation.type == "channel" else "this chat"


class Picker:
    """Picks the backend of a turn from the named backends and the route table."""

    def __init__(self, named: Mapping[str, Backend], routes: RouteTable, store: Store) -> None:
        self.named, self.routes, self.store = dict(named), routes, store

    async def chosen(self, turn: Turn) -> str:
        """Return the backend the user chose with `use` in this conversation ('' for none, or no choice here)."""
        if not self.routes.choosable:
            return ""
        value = await self.store.get_value(USE_KEY + turn.conversation.key)
        return str((value or {}).get("backend", ""))

    async def pick(self, turn: Turn, name: str = "") -> Backend:
        """Return the backend for `turn`: `name` when given (a follow-up, such as a confirmed action, goes back to
        the backend that asked for it), else the route table's choice."""
        if name in self.named:
            return self.named[name]
        return self.named[self.routes.route(where_of(turn), await self.chosen(turn))]

    def attribution(self, backend: Backend) -> str:
        """Return the line naming the assistant that answered ('' when the deployment has only one)."""
        return f"Answered by **{self.routes.title(backend.name)}**." if len(self.named) > 1 else ""


def register_routing(router: Router, picker: Picker) -> None:
    """Add `agents` and `use <name>` when the route table lets users choose."""
    routes, store = picker.routes, picker.store
    if not routes.choosable:
        return

    async def listing(turn: Turn, current: Backend) -> str:
        lines = ["You can ask these assistants here (`use <name>` switches, for this conversation):"]
        for name in routes.choosable:
            backend = picker.named[name]
            spec = routes.specs[name]
            about = spec.description or capabilities_of(backend).label
            mark = " ← answers now" if name == current.name else ""
            lines.append(f"- `{name}`: **{routes.title(name)}**" + (f", {about}" if about else "") + mark)
        if current.name not in routes.choosable:
            lines.append(f"Now **{routes.title(current.name)}** answers here (the gateway's choice).")
        return "\n".join(lines)

    @router.command("agents", "list the assistants you can choose here", "assistants")
    async def agents(turn: Turn, replier: Replier, rest: str) -> None:
        await replier.send_text(await listing(turn, await picker.pick(turn)))

    @router.command("use", "choose the assistant for this conversation: `use <name>`", "switch")
    async def use(turn: Turn, replier: Replier, rest: str) -> None:
        name = rest.strip().strip("`").lower()
        current = await picker.pick(turn)
        if not name:
            await replier.send_text(await listing(turn, current))
            return
        if name not in routes.specs or not routes.may_choose(name):
            await replier.send_text(UNKNOWN.format(name=quote(name, 40)))
            return
        title = routes.title(name)
        if name == current.name:
            await replier.send_text(ALREADY.format(title=title, where=_place(turn)))
            return
        await store.put_value(USE_KEY + turn.conversation.key, {"backend": name})
        await store.clear_conversation(turn.conversation.key)  # a fresh context for the new assistant
        await replier.send_text(SWITCHED.format(title=title, where=_place(turn)))
