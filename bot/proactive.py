"""Proactive posts: a message the bot starts, with no activity to answer (monitors' results).

It goes to the stored conversation reference with no `replyToId`: in a channel, whose reference is the
channel itself, that starts a new thread; in a chat it is a new message."""

from __future__ import annotations

from typing import Any

from bot.connector import BotConnector
from bot.replier import TeamsReplier
from handlers.jobs import ConversationRef
from services.monitors.model import Monitor
from services.safe_fetch import AllowList


class ProactivePoster:
    """Posts a card as a new message into a monitor's conversation through the Bot Connector (which retries
    429 with Retry-After: Teams' per-conversation and per-tenant limits)."""

    def __init__(self, connector: BotConnector, service_hosts: AllowList | None = None) -> None:
        self.connector = connector
        self.service_hosts = service_hosts  # BOT_SERVICE_HOSTS: checked before the bot's token is sent anywhere

    def _ref(self, monitor: Monitor) -> ConversationRef:
        if self.service_hosts is not None:
            self.service_hosts.check(monitor.service_url)  # raises FetchRefused: nothing is sent
        return _ref(monitor)

    async def __call__(self, monitor: Monitor, card: dict[str, Any], summary: str) -> None:
        await TeamsReplier(self.connector, self._ref(monitor)).send_card(card, summary=summary)

    async def creator_is_member(self, monitor: Monitor) -> bool | None:
        """Whether the monitor's creator is still in its conversation (None when Teams cannot say)."""
        return await self.connector.is_member(self._ref(monitor), monitor.created_by)


def _ref(monitor: Monitor) -> ConversationRef:
    return ConversationRef(monitor.service_url, monitor.conversation_id, "", monitor.audience)
