"""Hostile activities, generated with hypothesis: wrong types, huge and deeply nested fields, unicode edge
cases, Markdown/HTML/card injection in echoed text, hostile attachment URLs and redirects.

Whatever arrives: no 5xx, no unhandled exception (no ERROR log record, no "Sorry… (reference …)" reply), the
server keeps serving, nothing is fetched outside the download allow-list, and text echoed back is escaped.
Examples are bounded (count and size) so the suite stays fast.
"""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.emulator.loopback import LoopbackServer
from tests.conftest import ScriptedBackend

EXAMPLES = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
FIELDS = ["type", "id", "text", "from", "conversation", "recipient", "channelData", "entities", "attachments",
          "value", "name", "timestamp", "localTimestamp", "locale", "replyToId", "textFormat", "membersAdded",
          "serviceUrl", "channelId", "service_url"]  # fmt: skip
EDGE_TEXT = st.sampled_from([
    "", " ", "\x00", "\ud800", "\udfff", "\u202eevil", "\u200b" * 50, "𝕳" * 100, "e\u0301" * 100, "\r\n" * 100,
    "<at>Gateway</at>", "<at>" * 100, "/", "/" * 1000, "explain", "explain " + "a" * 5000, "metrics =", "=" * 500,
    "\ufeff/help", "ｈｅｌｐ", "HELP", "/help me", "\\", "`" * 1000, "%s%s%n", "{{7*7}}", "${jndi:ldap://x}",
])  # fmt: skip
TEXT = st.one_of(EDGE_TEXT, st.text(max_size=300), st.text(alphabet=st.characters(codec="utf-8"), max_size=2000))
SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False), TEXT
)
JSON = st.recursive(
    SCALAR,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(TEXT, children, max_size=5)),
    max_leaves=30,
)
INJECTION = st.sampled_from([
    "[official notice](https://evil.example/login)", "![pixel](https://evil.example/p.png)",
    "<a href=\"https://evil.example\">click</a>", "<img src=x onerror=alert(1)>", "<script>alert(1)</script>",
    "**bold** _it_ `code` # heading", "| a | b |\n|---|---|", "&lt;b&gt;", "<at>Everyone</at>",
    '{"type": "AdaptiveCard", "body": []}', "https://evil.example/login",
])  # fmt: skip


class Hosts(LoopbackServer):
    """Two roles on loopback: `/redirect` (reached as 127.0.0.1, on the test allow-list) sends the client to
    `localhost` (not on the list); anything that reaches `/forbidden` is a fetch outside the allow-list."""

    def __init__(self) -> None:
        self.forbidden_hits = 0

    def routes(self, app: web.Application) -> None:
        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(f"http://localhost:{self.port}/forbidden")

        async def forbidden(request: web.Request) -> web.Response:
            self.forbidden_hits += 1
            return web.Response(body=b"secret,value\n1,2\n")

        app.router.add_get("/redirect", redirect)
        app.router.add_get("/forbidden", forbidden)


@pytest.fixture
async def hosts():
    async with Hosts() as server:
        yield server


class ErrorRecords(logging.Handler):
    """Keeps every log record at ERROR or above, whichever logger wrote it (a turn that failed, a traceback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def errors():
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
async def bot(start_bot, errors):
    bot = await start_bot(backend=ScriptedBackend())
    bot.errors = errors
    return bot


def _mark(bot) -> tuple[int, int]:
    """Where the replies and the error records stand before an example."""
    return len(bot.connector.messages()), len(bot.errors.records)


def _assert_handled(bot, mark: tuple[int, int]) -> None:
    """No unhandled exception since `mark`: no ERROR record (a traceback or a failed turn) and no failure reply."""
    records = bot.errors.records[mark[1] :]
    shown = [f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in records]
    assert not records, "\n".join(shown)[:3000]
    replies = [str(call.body.get("text", "")) for call in bot.connector.messages()[mark[0] :]]
    assert not [text for text in replies if "(reference " in text], replies


async def _still_serving(bot) -> None:
    assert (await bot.post(bot.channel().message("help"))).status == 200


@EXAMPLES
@given(changes=st.dictionaries(st.sampled_from(FIELDS), JSON, min_size=1, max_size=4))
async def test_wrong_types_and_odd_values_never_give_a_5xx(bot, changes):
    mark = _mark(bot)
    activity = bot.channel().message("hello")
    activity.update(changes)
    raw = json.dumps(activity).encode()
    response = await bot.post(None, raw=raw)
    assert response.status < 500, (response.status, await response.text())
    await bot.settle()
    _assert_handled(bot, mark)


@EXAMPLES
@given(depth=st.integers(min_value=1, max_value=5_000), width=st.integers(min_value=0, max_value=3))
async def test_huge_and_deeply_nested_fields_never_give_a_5xx(bot, depth, width):
    mark = _mark(bot)
    nested = "[" * depth + ",".join(["1"] * width) + "]" * depth
    raw = json.dumps(bot.channel().message("hello"))[:-1] + f', "value": {nested}, "channelData": {nested}}}'
    response = await bot.post(None, raw=raw.encode())
    assert response.status < 500
    await _still_serving(bot)
    await bot.settle()
    _assert_handled(bot, mark)


@EXAMPLES
@given(payload=INJECTION, prefix=st.sampled_from(["explain ", "/", "metrics ", "metrics x=1 ", "uplift "]),
       suffix=st.sampled_from(["", "=1", " " * 3, "\n"]))  # fmt: skip
async def test_echoed_text_is_escaped(bot, payload, prefix, suffix):
    mark = _mark(bot)
    before = len(bot.connector.messages())
    text = prefix + (payload.replace(" ", "") + suffix if prefix in ("/", "metrics ", "metrics x=1 ") else payload)
    assert (await bot.post(bot.channel().message(text))).status == 200
    await bot.settle()
    for call in bot.connector.messages()[before:]:
        first = str(call.body.get("text", "")).split("\n\n")[0]  # the sentence that quotes the user
        for raw in ("](http", "<a ", "<img", "<script", "https://evil", "**bold**"):
            assert raw not in first, first
    _assert_handled(bot, mark)


@EXAMPLES
@given(url=st.one_of(
    st.sampled_from([
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/", "http://[::1]:{port}/forbidden",
        "http://localhost:{port}/forbidden", "https://localhost:{port}/forbidden", "http://127.0.0.1:{port}/redirect",
        "file:///etc/passwd", "gopher://127.0.0.1:{port}/", "http://0x7f000001:{port}/forbidden",
        "http://2130706433:{port}/forbidden", "http://127.1:{port}/forbidden", "https://evil.example/x.csv",
        "https://contoso.sharepoint.com.evil.example/x.csv", "http://contoso.sharepoint.com/x.csv", "", "   ",
        "https://user:pass@localhost:{port}/forbidden", "//localhost:{port}/forbidden", "javascript:alert(1)",
    ]),
    st.text(max_size=100),
), name=TEXT)  # fmt: skip
async def test_hostile_attachment_urls_fetch_nothing_outside_the_allow_list(bot, hosts, url, name):
    mark = _mark(bot)
    chat = bot.channel()
    activity = chat.with_file(chat.message("metrics"), "p.csv", url.replace("{port}", str(hosts.port)))
    activity["attachments"][0]["name"] = name
    response = await bot.post(activity)
    assert response.status < 500
    await bot.settle()
    assert hosts.forbidden_hits == 0
    for call in bot.connector.messages()[-1:]:
        assert len(str(call.body.get("text", ""))) < 2_000  # one sentence, not the file name a thousand times
    _assert_handled(bot, mark)
