"""The Router: commands, card actions by verb, and a default handler for everything else."""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.catalog import ACTION_ACKS, UNKNOWN_ACTION, action_ack, split_command
from handlers.models import Replier, Turn
from services.quoting import quote

Handler = Callable[[Turn, Replier, str], Awaitable[None]]
ActionHandler = Callable[[Turn, Replier], Awaitable[bool | None]]  # False: refused, no acknowledgement

__all__ = ["UNKNOWN_ACTION", "Router", "split_command"]


@dataclass(frozen=True)
class Command:
    """A command: its name, other names it answers to, a one-line description and the handler. `shown_to`, when
    set, decides who sees it in `help` (an administrators' command); the manifest's menu lists it for no one."""

    name: str
    aliases: tuple[str, ...]
    description: str
    handler: Handler
    details: str = ""  # what `help <command>` shows: options and an example
    shown_to: Callable[[Turn], bool] | None = None


@dataclass(frozen=True)
class Action:
    """A card action: `ack` is the short confirmation shown to the user when the button is pressed."""

    verb: str
    ack: str
    handler: ActionHandler


class Router:
    """Routes a Turn to the handler registered for its command, card verb, or to the default handler."""

    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}
        self._names: dict[str, Command] = {}
        self.actions: dict[str, Action] = {}
        self._default: Handler | None = None
        self._welcome: ActionHandler | None = None

    def command(
        self,
        name: str,
        description: str,
        *aliases: str,
        details: str = "",
        shown_to: Callable[[Turn], bool] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register a command answered with or without a leading slash; `details` is its `help <command>` text
        (`shown_to`: see Command)."""

        def register(handler: Handler) -> Handler:
            command = Command(name, aliases, description, handler, details, shown_to)
            self.commands[name] = command
            for key in (name, *aliases):
                self._names[key] = command
            return handler

        return register

    def action(self, verb: str) -> Callable[[ActionHandler], ActionHandler]:
        """Register the handler of a card action verb; its acknowledgement comes from `catalog.ACTION_ACKS`,
        the table the ingress answers from (a verb missing there is a KeyError at start-up)."""

        def register(handler: ActionHandler) -> ActionHandler:
            self.actions[verb] = Action(verb, ACTION_ACKS[verb], handler)
            return handler

        return register

    @property
    def names(self) -> frozenset[str]:
        """Return every command name and alias, and every card verb, the router answers to."""
        return frozenset(self._names) | frozenset(self.actions)

    def default(self, handler: Handler) -> Handler:
        """Register the handler for messages that are not commands (the chat with the backend)."""
        self._default = handler
        return handler

    def welcome(self, handler: ActionHandler) -> ActionHandler:
        """Register the handler called when the bot is added to a conversation."""
        self._welcome = handler
        return handler

    def visible_commands(self, turn: Turn | None = None) -> list[Command]:
        """Return the commands `turn`'s user may see (without a turn: those shown to everyone)."""
        return [c for c in self.commands.values() if c.shown_to is None or (turn is not None and c.shown_to(turn))]

    def help_text(self, intro: str = "", turn: Turn | None = None) -> str:
        """Return the Markdown list of the commands `turn`'s user may see, after `intro` when given."""
        lines = [intro] if intro else []
        lines.append("Commands (with or without a leading `/`):")
        for command in self.visible_commands(turn):
            names = ", ".join(f"`{n}`" for n in (command.name, *command.aliases))
            lines.append(f"- {names}: {command.description}")
        return "\n".join(lines)

    def help_for(self, word: str) -> str | None:
        """Return the help of the command `word` names (its details, else its description), or None."""
        command = self._names.get(word.strip().lstrip("/").lower())
        if command is None:
            return None
        return command.details or f"`{command.name}`: {command.description}"

    def near_command(self, word: str) -> str | None:
        """Return the command name a mistyped `word` most likely meant (`drfit` → `drift`), or None."""
        if len(word) < 4 or word in self._names or len(word) > 40:  # `use` is a word, not a mistyped `usage`
            return None
        names = [name for name in self._names if len(name) > 3]  # `?` and `new` are too short to be mistyped
        matches = difflib.get_close_matches(word, names, n=1, cutoff=0.8)
        return self._names[matches[0]].name if matches else None

    def action_ack(self, verb: str) -> str:
        """Return the acknowledgement for a card verb, or UNKNOWN_ACTION when no handler has it."""
        return action_ack(verb) if verb in self.actions else UNKNOWN_ACTION

    async def handle(self, turn: Turn, replier: Replier) -> None:
        """Run the handler that the turn routes to."""
        if turn.kind == "welcome":
            if self._welcome:
                await self._welcome(turn, replier)
            return
        if turn.kind == "action":
            action = self.actions.get(turn.verb)
            if action is None:
                if not turn.invoke:
                    await replier.send_text(UNKNOWN_ACTION)
                return
            refused = await action.handler(turn, replier) is False  # e.g. another member's button press
            if not turn.invoke and action.ack and not refused:
                await replier.send_text(action.ack)
            return
        word, rest, slashed = split_command(turn.text)
        command = self._names.get(word)
        if command is not None:
            await command.handler(turn, replier, rest)
        elif slashed:
            near = self.near_command(word)
            hint = f" Did you mean `{near}`?" if near else ""
            await replier.send_text(f"I don't know the command /{quote(word)}.{hint}\n\n{self.help_text(turn=turn)}")
        elif (near := self.near_command(word)) is not None and _looks_like_a_command(rest, turn):
            await replier.send_text(f"Did you mean `{near}`? Send `help {near}` for its options and an example.")
        elif self._default is not None:
            await self._default(turn, replier, turn.text)


def _looks_like_a_command(rest: str, turn: Turn) -> bool:
    """True when a message whose first word is a near miss of a command reads as that command, not as a
    question for the backend: it has `key=value` options or files, or is at most three words."""
    return bool(turn.files) or "=" in rest or len(rest.split()) <= 2
