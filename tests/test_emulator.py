"""The terminal Teams emulator: rendering, buttons, and a real `python -m bot serve` + `python -m bot chat` run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request

from bot.cards import card_attachment
from bot.emulator.cli import ChatSession
from bot.emulator.connector import Call
from bot.emulator.render import render_activity
from services.settings import REPO_ROOT


def test_adaptive_card_renders_as_readable_text_with_numbered_buttons():
    card = {
        "type": "AdaptiveCard",
        "body": [
            {"type": "TextBlock", "text": "Title", "weight": "Bolder"},
            {"type": "Container", "items": [{"type": "FactSet", "facts": [{"title": "AUC", "value": "0.91"}]}]},
            {"type": "TextBlock", "text": "x = 1", "fontType": "Monospace"},
            {"type": "Image", "url": "https://example.invalid/c.png", "altText": "ROC curve"},
        ],
        "actions": [
            {"type": "Action.Execute", "title": "👍", "verb": "feedback", "data": {"reaction": "like"}},
            {"type": "Action.OpenUrl", "title": "Docs", "url": "https://example.invalid"},
        ],
    }
    activity = {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }
    text, buttons = render_activity(activity)
    assert text.splitlines() == ["bot> **Title**", "AUC: 0.91", "    x = 1", "[image: ROC curve]"]
    assert [(b.kind, b.title) for b in buttons] == [("Action.Execute", "👍"), ("Action.OpenUrl", "Docs")]


def test_streaming_updates_and_edits_are_shown():
    informative = {"type": "typing", "text": "Thinking…", "entities": [
        {"type": "streaminfo", "streamType": "informative", "streamSequence": 1}]}  # fmt: skip
    assert render_activity(informative)[0] == "  ⋯ [informative #1] Thinking…"
    final = {"type": "message", "text": "Done.", "entities": [{"type": "streaminfo", "streamType": "final"}]}
    assert render_activity(final)[0] == "bot> [final]\nDone."
    assert render_activity({"type": "message", "text": "v2"}, "PUT")[0] == "bot (edited)> v2"


async def test_chat_session_sends_presses_buttons_and_prints(start_bot, capsys):
    bot = await start_bot()
    channel = bot.channel("channel")
    session = ChatSession(str(bot.client.make_url("/api/messages")), channel, bot.connector)
    bot.connector.on_call = session.on_call
    try:
        assert await session.handle_line("which port does the bot listen on?")
        assert session.buttons and session.buttons[0].title == "👍 Helpful"
        assert await session.handle_line(":click 1")
        assert not await session.handle_line(":click 9")
        assert await session.handle_line(":thread")
        assert await session.handle_line("help")
        assert await session.handle_line(":quit") is None
    finally:
        await session.close()
    out = capsys.readouterr().out
    assert "Settings › Server" in out and "[1] 👍 Helpful" in out
    assert "bot (card action)> Thanks for your feedback." in out
    assert "no button '9'" in out and "Commands" in out
    roots = {c.conversation_id.split(";messageid=")[1] for c in bot.connector.messages()}
    assert len(roots) == 2  # :thread started a new thread


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_and_chat_processes_talk_over_http(tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO_ROOT),
        "PORT": str(port),
        "STATE_DB": str(tmp_path / "state.db"),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--dev"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read().decode()
                time.sleep(0.2)
        chat = subprocess.run(
            [sys.executable, "-m", "bot", "chat", "--endpoint", f"http://127.0.0.1:{port}/api/messages",
             "--group", "--say", "help", "--say", "how do I run the Agents Playground headless?"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert chat.returncode == 0, chat.stdout + chat.stderr
    assert "Commands (with or without a leading `/`)" in chat.stdout
    assert "TEAMSAPPTESTER_BROWSER=none" in chat.stdout and "— local-development.md" in chat.stdout
    assert f"messaging endpoint: http://127.0.0.1:{port}/api/messages" in out.decode()
    assert "LOCAL DEVELOPMENT MODE" in err.decode()
    assert server.returncode in (0, -15)


def test_chat_reports_a_bot_that_is_not_running(tmp_path):
    port = free_port()
    chat = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--endpoint", f"http://127.0.0.1:{port}/api/messages", "--say", "hi"],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert chat.returncode == 1
    assert "cannot reach the bot" in chat.stdout and "make run" in chat.stdout


async def test_show_card_buttons_open_locally_without_calling_the_bot(start_bot, capsys):
    bot = await start_bot()
    session = ChatSession(str(bot.client.make_url("/api/messages")), bot.channel("personal"), bot.connector)
    details = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Decile 1: 0.42"}],
               "actions": [{"type": "Action.OpenUrl", "title": "Docs", "url": "https://example.invalid"}]}  # fmt: skip
    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Uplift"}],
            "actions": [{"type": "Action.ShowCard", "title": "Calibration table", "card": details}]}  # fmt: skip
    session.on_call(Call("POST", "a:1", "", {"type": "message", "attachments": [card_attachment(card)]}, {}))
    try:
        assert await session.handle_line(":click 1")
        assert await session.handle_line(":click 2")  # the shown card's own button
    finally:
        await session.close()
    out = capsys.readouterr().out
    assert "▼ Calibration table" in out and "│ Decile 1: 0.42" in out and "[2] Docs" in out
    assert "(opens https://example.invalid)" in out and not bot.connector.calls  # nothing went to the bot


async def test_teams_feedback_on_a_streamed_answer_reaches_the_bot_as_teams_sends_it(start_bot, capsys):
    bot = await start_bot()
    session = ChatSession(str(bot.client.make_url("/api/messages")), bot.channel("personal"), bot.connector)
    bot.connector.on_call = session.on_call
    try:
        assert await session.handle_line("how long are dedupe markers kept?")
        assert [b.title for b in session.buttons] == ["👍", "👎"]
        assert await session.handle_line(":click 2 the excerpt was cut")
        await bot.settle()
    finally:
        await session.close()
    (stored,) = await bot.gateway.store.list_feedback()
    assert (stored.reaction, stored.comment, stored.backend) == ("dislike", "the excerpt was cut", "local")
    assert stored.answer_id  # found through the message the 👎 was under
    out = capsys.readouterr().out
    assert "References:" in out and "(feedback 👎 sent with your comment)" in out


async def test_attachments_only_in_personal_chat(start_bot, tmp_path, capsys):
    bot = await start_bot()
    data = tmp_path / "preds.csv"
    data.write_text("label,p\n1,0.9\n")
    for shape, attached in (("groupChat", False), ("channel", False), ("personal", True)):
        session = ChatSession(str(bot.client.make_url("/api/messages")), bot.channel(shape), bot.connector)
        assert session.attach(str(data)) is attached
        assert bool(session.attachments) is attached
    out = capsys.readouterr().out
    assert out.count("only in a personal chat") == 2 and "(attached preds.csv" in out


class Silent:
    """Stands in for the bot's HTTP endpoint: accepts every activity; replies come through on_call."""

    def __init__(self, session: ChatSession) -> None:
        self.sent: list[dict] = []
        session.deliver = self.deliver

    async def deliver(self, activity: dict) -> tuple[bool, dict]:
        self.sent.append(activity)
        return True, {}


def reply(text: str, method: str = "POST") -> Call:
    return Call(method, "a:1", "", {"type": "message", "text": text}, {})


async def test_one_shot_mode_waits_past_still_working_for_the_answer(capsys):
    import asyncio

    from bot.emulator.activities import TeamsChannel

    session = ChatSession("http://127.0.0.1:9/api/messages", TeamsChannel("http://127.0.0.1:9"), None, timeout=10)
    Silent(session)

    async def bot_works_slowly() -> None:
        await asyncio.sleep(0.05)
        session.on_call(reply("Still working…"))
        await asyncio.sleep(0.8)  # longer than the settle time: the old one-shot mode had left by now
        session.on_call(reply("The model's AUC is 0.91."))

    session.wait_for_final = True
    worker = asyncio.create_task(bot_works_slowly())
    assert await session.send({"type": "message"}, settle=0.3)
    assert worker.done() and "The model's AUC is 0.91." in capsys.readouterr().out
    # and a bot that never finishes is one sentence after --timeout
    session.timeout = 0.5
    asyncio.get_running_loop().call_later(0.05, session.on_call, reply("Still working…"))
    assert not await session.send({"type": "message"}, settle=0.1)
    assert "(no final reply within 0.5 s; --timeout waits longer)" in capsys.readouterr().out


async def test_unknown_emulator_commands_are_not_sent_and_replies_redraw_the_prompt(capsys, monkeypatch):
    from bot.emulator.activities import TeamsChannel

    session = ChatSession("http://127.0.0.1:9/api/messages", TeamsChannel("http://127.0.0.1:9"), None)
    bot = Silent(session)
    assert await session.handle_line(":foo bar") is False
    assert "(unknown emulator command :foo: type :help" in capsys.readouterr().out and bot.sent == []
    import asyncio

    asyncio.get_running_loop().call_later(0.05, session.on_call, reply("ok"))
    assert await session.handle_line(":)") and bot.sent[-1]["text"] == ":)"  # a smiley is a message
    capsys.readouterr()
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    session.prompting = True  # the user is at the prompt when an answer arrives
    session.on_call(reply("Here is the answer."))
    assert capsys.readouterr().out == "\r\x1b[Kbot> Here is the answer.\nyou> "


def test_the_cli_piped_into_head_ends_without_a_traceback(tmp_path):
    port = free_port()
    for command in (["chat", "--help"], ["chat", "--endpoint", f"http://127.0.0.1:{port}/api/messages", "--say", "hi"]):
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
        run = subprocess.Popen([sys.executable, "-m", "bot", *command], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)  # fmt: skip
        run.stdout.close()  # what `| head -1` does once it has its line
        _, err = run.communicate(timeout=60)
        assert "Traceback" not in err.decode() and "Exception ignored" not in err.decode(), err.decode()
        assert run.returncode == 1
