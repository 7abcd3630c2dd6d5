"""`python -m bot chat`: a terminal client that plays the Teams channel against the bot's HTTP endpoint."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from typing import Any

import aiohttp
from dotenv import dotenv_values

from bot.emulator.activities import TeamsChannel
from bot.emulator.charts import ChartSaver
from bot.emulator.connector import Call, FakeConnector
from bot.emulator.render import FEEDBACK, Button, render_activity, render_card

HELP = """Type a message and press Enter. Emulator commands:
  :click N     press button N of the last card    :thread  start a new channel thread (--channel)
  :click N TEXT  press 👍/👎 N with a comment     :bot-added  send the 'bot added' event
  :attach PATH attach a file to the next message (personal chat only, as in Teams)
  :quit        leave (or Ctrl+D)"""
PROMPT = "you> "
EMULATOR_COMMAND = re.compile(r":[A-Za-z][\w-]*")  # `:word` is for the emulator; `:)` still goes to the bot
NO_FILES_HERE = (
    "(Teams lets you attach files to a bot only in a personal chat; in group chats and channels, put the data "
    "in DATA_DIR or S3 and name it in your message instead)"
)


class ChatSession:
    """Sends Teams-shaped activities to `endpoint` and prints what the bot sends back to the local connector."""

    def __init__(
        self,
        endpoint: str,
        channel: TeamsChannel,
        connector: FakeConnector,
        token: str = "",
        timeout: float = 60.0,
        *,
        open_charts: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout  # seconds to wait for the final answer to a message
        self.channel = channel
        self.connector = connector
        self.token = token
        self.buttons: list[Button] = []
        self.attachments: list[tuple[str, str]] = []
        self.last_call = 0.0
        self.message_calls = 0
        self.interim = False  # the last thing the bot sent is a progress note, a placeholder or a typing update
        self.prompting = False  # the terminal shows "you> " and waits for a line
        self.wait_for_final = False  # one-shot (--say): wait past progress notes for the answer itself
        self.output_closed = False  # standard output went away (`| head`): stop quietly
        self.http: aiohttp.ClientSession | None = None
        self.charts = ChartSaver(open_charts=open_charts)

    def on_call(self, call: Call) -> None:
        """Print one activity the bot sent, and remember its buttons."""
        self.last_call = time.monotonic()
        if call.type == "message":
            self.message_calls += 1
        # "Still working…", a "…" placeholder or a typing update: the answer is yet to come (or to be edited in).
        self.interim = call.type != "message" or str(call.body.get("text") or "").rstrip().endswith("…")
        text, buttons = render_activity(call.body, call.method)
        if buttons:
            self.buttons = buttons
            text += "\n" + "  ".join(f"[{i}] {b.title}" for i, b in enumerate(buttons, start=1))
            text += "   (:click N)"
        for path in self.charts.save(call.body):
            text += f"\n(chart saved to {path})"
        try:
            if self.prompting and sys.stdout.isatty():  # a reply while the user types: print it above a new prompt
                print(f"\r\x1b[K{text}\n{PROMPT}{_typed()}", end="", flush=True)
            else:
                print(text, flush=True)
        except BrokenPipeError:  # raised again by send(), in the CLI's task rather than the connector's handler
            self.output_closed = True

    async def post(self, activity: dict[str, Any]) -> tuple[int, Any]:
        """POST an activity to the bot; return (status, decoded body or text)."""
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.post(self.endpoint, json=activity, headers=headers) as response:
            text = await response.text()
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, text

    async def deliver(self, activity: dict[str, Any]) -> tuple[bool, Any]:
        """POST an activity; return (accepted, body), printing one sentence when the bot is down or refused it."""
        try:
            status, body = await self.post(activity)
        except aiohttp.ClientError as error:
            print(f"(cannot reach the bot at {self.endpoint}: {error}; is `make run` running?)", flush=True)
            return False, None
        if status >= 400:
            message = body.get("error", {}).get("message") if isinstance(body, dict) else body
            print(f"(the bot answered HTTP {status}: {message})", flush=True)
            return False, body
        return True, body

    async def send(self, activity: dict[str, Any], settle: float = 1.5, timeout: float | None = None) -> bool:
        """Send an activity and wait until the bot's replies settle (quiet for `settle` seconds after something
        that is not a progress note); return False when the bot refused it or said nothing final in `timeout`."""
        timeout = self.timeout if timeout is None else timeout
        before = self.message_calls
        accepted, body = await self.deliver(activity)
        if not accepted:
            return False
        if isinstance(body, dict) and body.get("type", "").startswith("application/vnd.microsoft"):
            print(f"bot (card action)> {body.get('value')}", flush=True)
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            if self.output_closed:
                raise BrokenPipeError("standard output was closed")
            final = not (self.wait_for_final and self.interim)
            if self.message_calls > before and time.monotonic() - self.last_call >= settle and final:
                return True
        said = "no final reply" if self.message_calls > before else "no reply"
        print(f"({said} within {timeout:g} s; --timeout waits longer)", flush=True)
        return False

    async def handle_line(self, line: str) -> bool | None:
        """Act on one line the user typed; return None to quit, else whether it went well."""
        line = line.strip()
        if line in (":quit", ":q", ":exit"):
            return None
        if line in (":help", ":h"):
            print(HELP)
            return True
        if line == ":thread":
            self.channel.new_thread()
            print("(the next message starts a new thread)")
            return True
        if line == ":bot-added":
            return await self.send(self.channel.bot_added())
        if line.startswith(":click"):
            return await self.click(line.removeprefix(":click").strip())
        if line.startswith(":attach"):
            return self.attach(line.removeprefix(":attach").strip())
        if EMULATOR_COMMAND.match(line):
            print(f"(unknown emulator command {line.split()[0]}: type :help for the list; nothing was sent to the bot)")
            return False
        if not line:
            return True
        activity = self.channel.message(line)
        for name, url in self.attachments:
            self.channel.with_file(activity, name, url)
        self.attachments = []
        return await self.send(activity)

    def attach(self, path: str) -> bool:
        """Serve a local file from the emulator's connector and attach it to the next message."""
        if self.channel.shape != "personal":
            print(NO_FILES_HERE)
            return False
        try:
            with open(os.path.expanduser(path), "rb") as handle:
                data = handle.read()
        except OSError as error:
            print(f"(cannot read {path}: {error.strerror})")
            return False
        name = os.path.basename(path)
        self.attachments.append((name, self.connector.serve_file(name, data)))
        print(f"(attached {name}, {len(data):,} bytes: it goes with your next message)")
        return True

    async def click(self, line: str) -> bool:
        """Press a button of the last card by its number (a 👍/👎 takes an optional comment after it)."""
        which, _, comment = line.partition(" ")
        if not which.isdigit() or not 1 <= int(which) <= len(self.buttons):
            print(f"(no button {which!r}; the last card has {len(self.buttons)})")
            return False
        button = self.buttons[int(which) - 1]
        if button.kind == "Action.OpenUrl":
            print(f"(opens {button.url})")
            return True
        if button.kind == "Action.ShowCard":
            return self.show_card(button)
        if button.kind == FEEDBACK:
            return await self.feedback(button, comment.strip())
        if button.kind == "Action.Execute":
            return await self.send(self.channel.execute(button.verb, button.data))
        return await self.send(self.channel.submit(button.data))

    def show_card(self, button: Button) -> bool:
        """Open an Action.ShowCard's card below its card, locally, as Teams does (nothing goes to the bot)."""
        lines, buttons = render_card(button.card)
        first = len(self.buttons) + 1
        self.buttons += buttons
        text = "\n".join(f"  │ {line}" for line in lines) or "  │ (empty)"
        if buttons:
            text += "\n  │ " + "  ".join(f"[{i}] {b.title}" for i, b in enumerate(buttons, start=first))
        print(f"  ▼ {button.title}\n{text}", flush=True)
        return True

    async def feedback(self, button: Button, comment: str) -> bool:
        """Press Teams' own 👍/👎 under an answer: the `message/submitAction` invoke, with the optional comment."""
        activity = self.channel.feedback(button.data["reaction"], button.data["reply_to"], comment)
        if not (await self.deliver(activity))[0]:
            return False
        print(f"(feedback {button.title} sent{' with your comment' if comment else ''})", flush=True)
        return True

    async def close(self) -> None:
        """Close the HTTP session."""
        if self.http is not None:
            await self.http.close()


async def run_chat(args: argparse.Namespace) -> int:
    """Run the emulator; return the process exit code."""
    connector = FakeConnector(port=args.port)
    await connector.start()
    channel = TeamsChannel(args.service_url or connector.url, shape=args.shape, user_name=args.user)
    session = ChatSession(
        args.endpoint, channel, connector, args.token, args.timeout if args.say else 60.0, open_charts=args.open_charts
    )
    connector.on_call = session.on_call
    try:
        for path in args.attach:
            if not session.attach(path):
                return 1
        if args.say:
            session.wait_for_final = True
            ok = True
            for text in args.say:
                print(f"you> {text}", flush=True)
                ok = bool(await session.handle_line(text)) and ok
            return 0 if ok else 1
        where = {"personal": "a personal chat", "groupChat": "a group chat", "channel": "a channel thread"}[args.shape]
        print(f"Teams emulator: {where} with the bot at {args.endpoint}\n"
              f"(replies come to the local connector at {connector.url})\n{HELP}\n", flush=True)  # fmt: skip
        loop = asyncio.get_running_loop()
        while True:
            session.prompting = True
            try:
                line = await loop.run_in_executor(None, input, PROMPT)
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            finally:
                session.prompting = False
            if await session.handle_line(line) is None:
                return 0
    finally:
        await session.close()
        await connector.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `chat` options to an argument parser."""
    parser.add_argument("--endpoint", default=None,
                        help="the bot's messaging endpoint (default: 127.0.0.1 and the PORT of the environment "
                        "or .env, as `make run` uses)")  # fmt: skip
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--group", dest="shape", action="store_const", const="groupChat", help="a group chat")
    shape.add_argument("--channel", dest="shape", action="store_const", const="channel", help="a channel thread")
    parser.set_defaults(shape="personal")
    parser.add_argument("--user", default="Alex Wilber", help="the user's display name")
    parser.add_argument("--port", type=int, default=0, help="port of the local connector (default: any free port)")
    parser.add_argument("--service-url", default="", help="serviceUrl to send (when the bot cannot reach loopback)")
    parser.add_argument("--token", default="", help="a bearer token to send (default: none, local development)")
    parser.add_argument("--say", action="append", help="send this message, wait for the answer and exit (repeatable)")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="with --say: how long to wait for each final answer (default 300: an analysis may "
                        "take minutes)")  # fmt: skip
    parser.add_argument("--attach", action="append", default=[], help="attach this file to the first --say message")
    parser.add_argument(
        "--no-open-charts", dest="open_charts", action="store_false",
        help="only save the charts of cards to files (by default they also open in the desktop's viewer)",
    )  # fmt: skip


def _typed() -> str:
    """Return what the user has typed at the prompt so far (readline's buffer), to draw it again."""
    try:
        import readline
    except ImportError:  # Windows
        return ""
    return readline.get_line_buffer()


def default_endpoint() -> str:
    """Return the endpoint `make run` listens on: 127.0.0.1 and PORT from the environment, else `.env`, else 3978."""
    port = os.environ.get("PORT") or (dotenv_values(".env").get("PORT") if os.path.exists(".env") else None)
    return f"http://127.0.0.1:{(port or '3978').strip()}/api/messages"


def main(args: argparse.Namespace) -> int:
    """Entry point of `python -m bot chat`."""
    args.endpoint = args.endpoint or default_endpoint()
    try:
        return asyncio.run(run_chat(args))
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        raise  # entrypoints/cli.py ends quietly
    except OSError as error:
        print(f"cannot start the local connector: {error}", file=sys.stderr)
        return 1
