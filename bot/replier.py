"""The Teams Replier: answer events and texts become Bot Connector activities."""

from __future__ import annotations

import json
import logging

from bot.cards import AI_GENERATED, answer_card, card_attachment, citation_blocks
from bot.connector import BotConnector, ConnectorError, ConversationRef
from bot.streaming import InPlaceStream, TeamsStream
from services.backends import FinalAnswer
from services.textsplit import json_size, split_text

log = logging.getLogger(__name__)

# Teams refuses messages above about 100 KB (413 MessageSizeTooBig). Text pieces of at most 60,000
# JSON characters keep each activity, envelope and card included, under 80 KB.
MAX_TEXT_CHARS = 60_000


class TeamsReplier:
    """Replies into one conversation (a channel reply goes into the thread of the activity answered)."""

    def __init__(
        self, connector: BotConnector, ref: ConversationRef, *, streaming: bool = False, interval: float = 1.5
    ) -> None:
        self.connector = connector
        self.ref = ref
        self.streaming = streaming
        self.interval = interval
        self.sent_ids: list[str] = []
        self._open: TeamsStream | InPlaceStream | None = None

    async def start_stream(self, status: str) -> TeamsStream | InPlaceStream:
        """Start an answer stream: Teams streaming when `streaming` (personal chats), else an in-place message."""
        kind = TeamsStream if self.streaming else InPlaceStream
        stream = kind(self.connector, self.ref, interval=self.interval)
        self._open = await stream.start(status)
        return self._open

    async def _send(self, activity: dict) -> str:
        activity_id = await self.connector.reply(self.ref, activity)
        self.sent_ids.append(activity_id)
        return activity_id

    async def typing(self) -> None:
        """Show the typing indicator; a failure here is logged and does not stop the turn."""
        try:
            await self.connector.reply(self.ref, {"type": "typing"})
        except ConnectorError as error:
            log.warning("typing indicator failed: %s", error)

    async def send_text(self, text: str) -> None:
        """Send Markdown text, split into several messages when over the size limit.

        While an answer stream is open (a turn failed half-way), the text ends that stream instead."""
        if self._open is not None and not self._open.closed:
            await self._open.fail(text)
            return
        for piece in split_text(text, MAX_TEXT_CHARS):
            await self._send({"type": "message", "text": piece, "textFormat": "markdown"})

    async def send_card(self, card: dict, *, summary: str = "") -> None:
        """Send an Adaptive Card; `summary` is what notifications and the chat list show."""
        activity = {"type": "message", "attachments": [card_attachment(card)]}
        if summary:
            activity["summary"] = summary[:200]
        await self._send(activity)

    async def send_answer(self, answer: FinalAnswer, *, note: str = "") -> None:
        """Send the answer card (citations, 👍/👎, AI label); a long answer's earlier parts go first as text."""
        sources_size = len(json.dumps(citation_blocks(answer.citations))) + json_size(note)
        budget = max(4_000, MAX_TEXT_CHARS - sources_size)
        pieces = split_text(answer.text, budget) or [""]
        if len(pieces) > 1 and note:  # the note must come before the first part, not inside the last
            await self.send_text(note)
            note = ""
        for piece in pieces[:-1]:
            await self._send({"type": "message", "text": piece, "textFormat": "markdown"})
        card = answer_card(pieces[-1], answer, note)
        await self._send({"type": "message", "attachments": [card_attachment(card)], "entities": [AI_GENERATED]})
