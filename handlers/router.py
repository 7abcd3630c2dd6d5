"""The Router: commands, card actions by verb, and a default handler for everything else."""

from __future__ import annotations

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
    """A command: its name, other names it answers to, a one-line description and the handler."""

    name: str
    aliases: tuple[str, ...]
    description: str
    handler: Handler


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

    def command(self, name: str, description: str, *aliases: str) -> Callable[[Handler], Handler]:
        """Register a command answered with or without a leading slash."""

        def register(handler: Handler) -> Handler:
            command = Command(name, aliases, description, handler)
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

    def help_text(self, intro: str = "") -> str:
        """Return the Markdown list of commands, after `intro` when given."""
        lines = [intro] if intro else []
        lines.append("Commands (with or without a leading `/`):")
        for command in self.commands.values():
            names = ", ".join(f"`{n}`" for n in (command.name, *command.aliases))
            lines.append(f"- {names}: {command.description}")
        return "\n".join(lines)

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
            await replier.send_text(f"I don't know the command /{quote(word)}.\n\n{self.help_text()}")
        elif self._default is not None:
            await self._default(turn, replier, turn.text)
