"""The Teams Replier: answer events and texts become Bot Connector activities."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.cards import card_attachment
from bot.connector import BotConnector, ConnectorError, ConversationRef
from bot.streaming import MAX_TEXT_CHARS, InPlaceStream, TeamsStream
from bot.teams_text import host_allowed, no_exfiltration, safe_placeholders, teams_message_text
from bot.user_tokens import TokenServiceError
from services.textsplit import split_text

log = logging.getLogger(__name__)

INTERRUPTED = "This answer was interrupted; retrying…"
ABANDON_SECONDS = 5.0


class TeamsReplier:
    """Replies into one conversation (a channel reply goes into the thread of the activity answered)."""

    def __init__(
        self,
        connector: BotConnector,
        ref: ConversationRef,
        *,
        streaming: bool = False,
        interval: float = 1.5,
        sign_in: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
        on_placeholder: Callable[[dict[str, str]], Awaitable[None]] | None = None,
    ) -> None:
        self.connector = connector
        self.on_placeholder = on_placeholder
        self.placeholder: dict[str, str] | None = None
        self.sign_in = sign_in
        self.ref = ref
        self.streaming = streaming
        self.interval = interval
        self._open: TeamsStream | InPlaceStream | None = None
        self._card_sent = False

    @property
    def answered(self) -> bool:
        """True once an answer reached the user: a finished answer stream, or a card (analytics results, answers
        past a stream's limits). Texts do not count: they are commands' short replies, notes and error sentences."""
        return self._card_sent or (self._open is not None and self._open.answered)

    async def start_stream(self, status: str) -> TeamsStream | InPlaceStream:
        """Start an answer stream: Teams streaming when `streaming` (personal chats), else an in-place message."""
        kind = TeamsStream if self.streaming else InPlaceStream
        stream = kind(self.connector, self.ref, interval=self.interval)
        self._open = await stream.start(status)
        if isinstance(stream, TeamsStream):
            self.placeholder = {"kind": "stream", "id": stream.stream_id}
        else:
            self.placeholder = {"kind": "message", "id": stream.message_id}
        if self.on_placeholder is not None and self.placeholder["id"]:
            await self.on_placeholder(self.placeholder)
        return self._open

    async def abandon(self, text: str = INTERRUPTED) -> bool:
        """End an answer stream left open by a turn that was cut off (it runs again) with `text`, so that no
        "…" placeholder or half-written answer is left behind. Takes at most ABANDON_SECONDS (the channel may
        be what failed); a failure here is logged, never raised. Returns True when no stream is left open."""
        stream = self._open
        if stream is None or stream.ended:
            return True
        try:
            async with asyncio.timeout(ABANDON_SECONDS):
                await stream.fail(text)
        except (TimeoutError, ConnectorError) as error:
            await stream._close_pump()
            log.warning("could not close the interrupted answer: %s", type(error).__name__)
            return False
        return True

    async def close_earlier(self, placeholder: dict[str, str], text: str = INTERRUPTED) -> None:
        """End the "…" message or Teams stream an earlier attempt of the turn opened and never closed (its worker
        died) with `text`, so the retry's answer is the only answer on screen. Failures are logged (Teams ends
        a stream by itself after two minutes), never raised; takes at most ABANDON_SECONDS."""
        message = {"type": "message", "text": teams_message_text(text), "textFormat": "markdown"}
        try:
            async with asyncio.timeout(ABANDON_SECONDS):
                if placeholder.get("kind") == "stream":
                    final = {"type": "streaminfo", "streamId": str(placeholder.get("id", "")), "streamType": "final"}
                    await self.connector.reply(self.ref, {**message, "entities": [final]})
                else:
                    await self.connector.update(self.ref, str(placeholder.get("id", "")), message)
        except (TimeoutError, ConnectorError) as error:
            log.warning("could not close an earlier attempt's placeholder: %s", type(error).__name__)

    async def _send(self, activity: dict) -> str:
        return await self.connector.reply(self.ref, activity)

    async def typing(self) -> None:
        """Show the typing indicator; a failure here is logged and does not stop the turn."""
        try:
            await self.connector.reply(self.ref, {"type": "typing"})
        except ConnectorError as error:
            log.warning("typing indicator failed: %s", error)

    async def send_text(self, text: str) -> None:
        """Send Markdown text, split into several messages when over the size limit.

        While an answer stream has not ended (a turn failed half-way), the text ends that stream instead."""
        if self._open is not None and not self._open.ended:
            await self._open.fail(text)
            return
        for piece in split_text(text, MAX_TEXT_CHARS):
            await self._send({"type": "message", "text": teams_message_text(piece), "textFormat": "markdown"})

    async def send_card(self, card: dict, *, summary: str = "") -> None:
        """Send an Adaptive Card; `summary` is what notifications and the chat list show."""
        activity = {"type": "message", "attachments": [card_attachment(_safe_card(card))]}
        if summary:
            activity["summary"] = summary[:200]
        await self._send(activity)
        self._card_sent = True

    async def send_sign_in(self, text: str) -> None:
        """Send `text` with the OAuth card of the bot's connection (Teams tries single sign-on with it first)."""
        if self.sign_in is None:
            await self.send_text(text)
            return
        try:
            attachment = await self.sign_in(text)
        except TokenServiceError as error:
            log.warning("no sign-in card: %s", error)
            await self.send_text(f"{text} The sign-in service cannot be reached right now: try again in a minute.")
            return
        if self._open is not None and not self._open.ended:
            await self._open.fail(text)
        await self._send({"type": "message", "attachments": [attachment]})


def _safe_card(element: Any) -> Any:
    """Return a copy of a card with `<word>` placeholders in its texts made safe for Teams and nothing that
    exfiltrates (see teams_text): images from hosts not in CONTENT_ALLOWED_HOSTS are dropped (a `data:` image,
    drawn by the gateway, stays), texts lose such Markdown images and links."""
    if isinstance(element, list):
        return [_safe_card(item) for item in element if not _foreign_image(item)]
    if not isinstance(element, dict):
        return element
    copy = {key: _safe_card(value) for key, value in element.items()}
    if element.get("type") in ("TextBlock", "TextRun") and isinstance(element.get("text"), str):
        copy["text"] = safe_placeholders(no_exfiltration(element["text"]))
    if isinstance(copy.get("backgroundImage"), str | dict) and _foreign_image(
        {"type": "Image", "url": copy["backgroundImage"]}
    ):
        del copy["backgroundImage"]
    return copy


def _foreign_image(element: Any) -> bool:
    """Return True for a card Image whose URL Teams would fetch from a host that is not allowed."""
    if not isinstance(element, dict) or element.get("type") != "Image":
        return False
    url = element.get("url")
    url = url.get("url") if isinstance(url, dict) else url
    return not (isinstance(url, str) and (url.startswith("data:image/") or host_allowed(url)))
