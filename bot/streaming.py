"""Answers shown while they are written: Teams streaming in personal chats, in-place edits elsewhere.

Both send the first text as soon as it exists, then at most one update per `interval` (Teams allows about
one per 1.5 s), and the final answer as soon as it is known. A background pump does the sending, so the
backend is never slowed by the channel and a burst of tokens becomes one update.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from bot.cards import AI_GENERATED, answer_card, answer_entities, card_attachment, is_generated
from bot.connector import BotConnector, ConnectorError, ConversationRef
from bot.teams_text import teams_message_text
from handlers.models import StreamStopped
from services.backends import FinalAnswer
from services.textsplit import json_size, split_text

log = logging.getLogger(__name__)

# Teams refuses messages above about 100 KB (413 MessageSizeTooBig). Text pieces of at most 60,000
# JSON characters keep each activity, envelope and card included, under 80 KB.
MAX_TEXT_CHARS = 60_000
TEAMS_STREAM_LIMIT = 110.0  # Teams ends a stream after 2 minutes; stop updating a little before


class _Pumped:
    """The throttling shared by both kinds: `update` records text, the pump sends the newest at its pace."""

    def __init__(self, interval: float, first_gap: float, keepalive: float | None, limit: float | None) -> None:
        self.interval = interval
        self.first_gap = first_gap
        self.keepalive = keepalive
        self.limit = limit
        self.stopped = False
        self.expired = False
        self.answered = False  # the final answer reached the user (set by `finish`)
        self.ended = False  # the stream's last message reached the user (the answer, or the sentence of `fail`)
        self.updates_sent = 0
        self._latest = ""
        self._shown = ""
        self._started = time.monotonic()
        self._last_send = self._started
        self._wake = asyncio.Event()
        self._closing = False
        self._inflight: asyncio.Future | None = None
        self._pump: asyncio.Task | None = None

    @property
    def closed(self) -> bool:
        """True once the stream was finished or failed."""
        return self._closing

    def _start_pump(self) -> None:
        self._pump = asyncio.get_running_loop().create_task(self._run())

    async def update(self, text: str) -> None:
        if self.stopped:
            raise StreamStopped
        self._latest = text
        self._wake.set()

    async def _run(self) -> None:
        while not (self._closing or self.stopped or self.expired):
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that arrives as the
            # event is set, and the pump then outlived `finish` by a whole interval.
            try:
                async with asyncio.timeout(self.keepalive):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            gap = self.interval if self.updates_sent else self.first_gap
            await asyncio.sleep(max(0.0, self._last_send + gap - time.monotonic()))
            if self._closing:
                return
            now = time.monotonic()
            if self.limit is not None and now - self._started > self.limit:
                self.expired = True
                return
            due_keepalive = self.keepalive is not None and now - self._last_send >= self.keepalive
            if self._latest == self._shown and not due_keepalive:
                continue
            text = self._latest
            if json_size(text) > MAX_TEXT_CHARS:  # checked per update sent, not per token
                self.expired = True  # too long to stream: the final answer comes as messages
                return
            self._inflight = asyncio.ensure_future(self._send_update(text))
            await asyncio.shield(self._inflight)
            self._shown, self._last_send = text, time.monotonic()
            self.updates_sent += 1

    async def _send_update(self, text: str) -> None:
        raise NotImplementedError

    async def _close_pump(self) -> None:
        self._closing = True
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
        if self._inflight is not None:
            with contextlib.suppress(Exception):
                await self._inflight


def _text(text: str) -> dict[str, Any]:
    return {"type": "message", "text": teams_message_text(text), "textFormat": "markdown"}


def _card_message(card: dict[str, Any], answer: FinalAnswer) -> dict[str, Any]:
    """Return the message that carries the answer card (with the "AI generated" label for a model's answer)."""
    activity: dict[str, Any] = {"type": "message", "attachments": [card_attachment(card)]}
    if is_generated(answer):  # the card lists its sources itself: Teams citations are for message text
        activity["entities"] = [AI_GENERATED]
    return activity


def _with_sources(text: str, answer: FinalAnswer) -> str:
    """Return `text` ending with a 'Sources: [n]' line for the citations it does not mark, so that every
    source is an interactive citation of the one message (Teams lists only the citations marked in the text)."""
    unmarked = [f"[{c.number}]" for c in answer.citations if f"[{c.number}]" not in text]
    return f"{text}\n\nSources: {' '.join(unmarked)}" if unmarked else text


def _messages(answer: FinalAnswer, note: str) -> tuple[list[str], dict[str, Any]]:
    """Return the text pieces before the card, and the answer card (its text is the last piece)."""
    pieces = split_text(answer.text, MAX_TEXT_CHARS - 4_000) or [""]
    if len(pieces) > 1 and note:
        return [note, *pieces[:-1]], answer_card(pieces[-1], answer)
    return pieces[:-1], answer_card(pieces[-1], answer, note)


class TeamsStream(_Pumped):
    """The Teams streaming protocol (personal chats): informative → streaming… → final, one stream id."""

    def __init__(self, connector: BotConnector, ref: ConversationRef, **pace: Any) -> None:
        super().__init__(**{"interval": 1.5, "first_gap": 0.25, "keepalive": 15.0, "limit": TEAMS_STREAM_LIMIT, **pace})
        self.connector = connector
        self.ref = ref
        self.stream_id = ""
        self.sequence = 0

    async def start(self, status: str) -> TeamsStream:
        self.sequence = 1
        entity = {"type": "streaminfo", "streamType": "informative", "streamSequence": 1}
        self.stream_id = await self.connector.reply(
            self.ref, {"type": "typing", "text": status[:1000], "entities": [entity]}
        )
        self._last_send = time.monotonic()
        self._start_pump()
        return self

    def _info(self, stream_type: str) -> dict[str, Any]:
        info: dict[str, Any] = {"type": "streaminfo", "streamId": self.stream_id, "streamType": stream_type}
        if stream_type != "final":
            self.sequence += 1
            info["streamSequence"] = self.sequence
        return info

    async def _send_update(self, text: str) -> None:
        try:
            await self.connector.reply(
                self.ref, {"type": "typing", "text": teams_message_text(text), "entities": [self._info("streaming")]}
            )
        except ConnectorError as error:
            if error.status == 403:  # ContentStreamNotAllowed: the user pressed Stop
                log.info("stream %s stopped by the user", self.stream_id)
                self.stopped = True
            else:
                log.warning("stream update failed: %s", error)

    async def finish(self, answer: FinalAnswer, *, note: str = "") -> str:
        await self._close_pump()
        if self.stopped:
            return ""
        if self.expired:
            return await self._as_messages(answer, note)
        text = f"{note}\n\n{answer.text}" if note else answer.text
        if json_size(text) > MAX_TEXT_CHARS:
            return await self._as_messages(answer, note)
        # One bubble: the answer, its citations (Teams lists them under the text) and Teams' own 👍/👎.
        final: dict[str, Any] = {
            "type": "message",
            "text": teams_message_text(_with_sources(text, answer)),
            "textFormat": "markdown",
            "entities": [self._info("final"), *answer_entities(answer)],
            "channelData": {"feedbackLoopEnabled": True},
        }
        try:
            sent = await self.connector.reply(self.ref, final)
        except ConnectorError as error:
            if error.status != 403:
                raise
            self.stopped = True
            return ""
        self.answered = self.ended = True
        return sent

    async def _as_messages(self, answer: FinalAnswer, note: str) -> str:
        """Past the stream's time or size limit: the answer as ordinary messages."""
        texts, card = _messages(answer, note)
        for piece in texts:
            await self.connector.reply(self.ref, _text(piece))
        sent = await self.connector.reply(self.ref, _card_message(card, answer))
        self.answered = self.ended = True
        return sent

    async def fail(self, text: str) -> None:
        await self._close_pump()
        if self.stopped:  # the user ended the stream
            self.ended = True
            return
        activity = _text(text)
        if not self.expired:
            activity["entities"] = [self._info("final")]
        await self.connector.reply(self.ref, activity)
        self.ended = True


class InPlaceStream(_Pumped):
    """Group chats and channels, where Teams does not stream: one message, edited in place as the answer grows."""

    def __init__(self, connector: BotConnector, ref: ConversationRef, **pace: Any) -> None:
        super().__init__(**{"interval": 1.5, "first_gap": 0.25, "keepalive": None, "limit": None, **pace})
        self.connector = connector
        self.ref = ref
        self.message_id = ""

    async def start(self, status: str) -> InPlaceStream:
        self.message_id = await self.connector.reply(self.ref, {"type": "message", "text": "…"})
        self._last_send = time.monotonic()
        self._start_pump()
        return self

    async def _send_update(self, text: str) -> None:
        try:
            await self.connector.update(
                self.ref, self.message_id, {"type": "message", "text": f"{teams_message_text(text)} …"}
            )
        except ConnectorError as error:
            log.warning("in-place update failed: %s", error)

    async def finish(self, answer: FinalAnswer, *, note: str = "") -> str:
        await self._close_pump()
        texts, card = _messages(answer, note)
        final = _card_message(card, answer)
        if not texts:
            sent = await self.connector.update(self.ref, self.message_id, final)
        else:
            await self.connector.update(self.ref, self.message_id, _text(texts[0]))
            for piece in texts[1:]:
                await self.connector.reply(self.ref, _text(piece))
            sent = await self.connector.reply(self.ref, final)
        self.answered = self.ended = True
        return sent

    async def fail(self, text: str) -> None:
        await self._close_pump()
        await self.connector.update(self.ref, self.message_id, _text(text))
        self.ended = True
