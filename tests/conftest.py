"""Shared fixtures: a bot on aiohttp's test server, a fake Bot Connector on loopback, Teams-shaped activities."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector
from bot.gateway import Gateway
from bot.server import create_app
from entrypoints.wiring import build_local
from services.backends import AnswerEvent, BackendError, Citation, FinalAnswer, Question, TextDelta
from services.settings import BOT_SERVICE_HOSTS, LOCAL_SERVICE_HOSTS, REPO_ROOT, Settings, load_settings

DOCS = REPO_ROOT / "docs"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come only from what each test passes: the developer's environment must not leak in."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("PORT", raising=False)


@pytest.fixture(autouse=True)
def _no_analysis_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """An analysis shows progress after 4 s, which a loaded test machine reaches at random: tests that count
    messages see none unless they lower this again (tests/test_analysis_process.py does)."""
    monkeypatch.setattr("handlers.analytics.PROGRESS_AFTER_SECONDS", 600.0)


@pytest.fixture
def make_settings(tmp_path):
    def make(**overrides: Any) -> Settings:
        # The fake connector serves attachments on loopback over plain HTTP: allowed only in tests.
        hosts = "*.sharepoint.com,http://127.0.0.1"
        values = {
            "state_db": tmp_path / "state.db",
            "knowledge_dir": DOCS,
            "download_allowed_hosts": hosts,
            # Replies go to the fake connector on loopback: as `serve --dev` allows (the default does not).
            "bot_service_hosts": [*BOT_SERVICE_HOSTS, *LOCAL_SERVICE_HOSTS],
            # Flow control off unless a test turns it on (tests/test_flow_control.py): most tests send bursts.
            "user_turns_per_minute": 0,
            "tenant_turns_per_minute": 0,
            "max_queued_turns_per_user": 0,
            **overrides,
        }
        return load_settings(_env_file=None, **values)

    return make


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with FakeConnector() as fake:
        yield fake


class ScriptedBackend:
    """A backend that answers with a fixed text and citations, or raises, and records the questions."""

    name = "scripted"
    status_text = "Thinking…"
    max_input_chars = 500
    generated = True  # False: it returns retrieved passages as they are (no "AI generated" label)

    def __init__(
        self, text: str = "The answer.", citations: list[Citation] | None = None, error: Exception | None = None
    ):
        self.text = text
        self.citations = citations or []
        self.error = error
        self.questions: list[Question] = []

    async def answer(self, question: Question) -> AsyncIterator[AnswerEvent]:
        self.questions.append(question)
        if self.error:
            raise self.error
        yield TextDelta(text=self.text)
        turns = int(question.state.get("turns", 0)) + 1
        yield FinalAnswer(
            text=self.text, citations=self.citations, backend=self.name, conversation_id="conv-1",
            message_id=f"msg-{turns}", model_id="scripted-model", state={"turns": turns}, generated=self.generated,
        )  # fmt: skip


__all__ = ["BackendError", "ScriptedBackend"]


@dataclass
class Bot:
    """A running bot: its HTTP test client, its gateway and the fake connector its replies go to."""

    client: Any
    gateway: Gateway
    connector: FakeConnector

    def channel(self, shape: str = "personal", **kwargs: Any) -> TeamsChannel:
        return TeamsChannel(self.connector.url, shape=shape, **kwargs)

    async def post(self, activity: Any, headers: dict[str, str] | None = None, raw: bytes | None = None):
        data = raw if raw is not None else json.dumps(activity).encode()
        return await self.client.post(
            "/api/messages", data=data, headers={"Content-Type": "application/json", **(headers or {})}
        )

    async def settle(self) -> None:
        """Wait until every dispatched turn has finished."""
        await self.gateway.queue.drain(timeout=90)  # a loaded CI machine: charts are drawn in processes


@pytest.fixture
def start_bot(connector, aiohttp_client, make_settings):  # connector first: it must outlive the bot
    async def start(backend=None, credentials_factory=None, **overrides: Any) -> Bot:
        if isinstance(backend, str):  # the BACKEND setting, not a backend object
            overrides["backend"], backend = backend, None
        settings = make_settings(**overrides)
        gateway = build_local(settings, backend=backend, credentials_factory=credentials_factory)
        client = await aiohttp_client(create_app(gateway))
        return Bot(client, gateway, connector)

    return start


def card_of(call) -> dict[str, Any]:
    """Return the Adaptive Card carried by a recorded message call."""
    return call.body["attachments"][0]["content"]


def card_text(card: dict[str, Any]) -> str:
    """Return all TextBlock texts of a card joined by newlines."""
    return "\n".join(e.get("text", "") for e in card.get("body", []) if e.get("type") == "TextBlock")
