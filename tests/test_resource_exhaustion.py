"""Resource exhaustion: what one request, or one text, may cost.

- Unauthenticated input up to the body limit (1 MB) is refused with a 4xx at O(size) cost: bounded CPU time
  and memory per request, nothing registered with the log scrubber, other requests still answered.
- Every regular expression that sees user or model text is linear: property-based (hypothesis) inputs made of
  the characters the patterns care about, at 4 KB and at 40 KB (the message text cap); the CPU time ratio must
  stay near 10 (linear), far from 100 (quadratic). Ratios, not absolute times: the machine is shared.

Other suites add their cases here (command options: see the bottom of the file).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import string
import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.activity import MAX_TEXT_CHARS, _unwrap_mentions, mentions
from bot.cards import text_blocks
from bot.teams_text import no_exfiltration, plain_text, safe_placeholders, safe_url, shorten, teams_message_text
from services.backends.local import plain as local_plain
from services.observability import scrub
from services.observability.scrub import scrub_text, sensitive
from services.quoting import quote
from services.textsplit import split_text
from tests.conftest import ScriptedBackend
from tests.test_auth import APP_ID, FixedTokenFactory, OpenIdServer

MB = 1024 * 1024


def _distinct_lines_body(channel) -> bytes:
    """The reported attack: a 1 MB body of 46,000 distinct lines (each became a branch of one regex)."""
    activity = channel.message("x")
    activity["text"] = "\n".join(f"line {i:05d} of this" for i in range(46_000))
    body = json.dumps(activity).encode()
    assert 0.85 * MB < len(body) <= MB
    return body


def _branching_body(channel) -> bytes:
    """Lines that branch at every character (each a prefix of the next plus one more): the trie of the old
    scrubber recursed once per character -> RecursionError inside logging -> HTTP 500."""
    stem = "".join(string.ascii_letters[(i * 7) % 52] for i in range(1400))
    activity = channel.message("x")
    activity["text"] = "\n".join(stem[:k] + "#" for k in range(12, 1390))
    return json.dumps(activity).encode()


def _mentions_body(channel) -> bytes:
    activity = channel.message("x")
    activity["text"] = "<at>" * 240_000
    return json.dumps(activity).encode()


@pytest.fixture(autouse=True)
def _scrubbed_logging():
    """Log records are scrubbed as they are in production (configure_logging installs this at start-up)."""
    from services.observability.logs import install_record_scrubber

    install_record_scrubber()


@pytest.fixture
async def secured_bot(start_bot):
    with OpenIdServer() as openid:
        yield await start_bot(
            credentials_factory=FixedTokenFactory(), microsoft_app_id=APP_ID,
            microsoft_app_password="not-used-in-tests", bot_openid_metadata_url=openid.url,
        )  # fmt: skip


class _RegisteredAtLogTime(logging.Filter):
    """Records how many values the scrubber holds when each gateway line is written."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen.append(len(scrub._turn_values.get()) + len(scrub._running_union))
        return True


@pytest.mark.parametrize("make_body", [_distinct_lines_body, _branching_body, _mentions_body])
@pytest.mark.parametrize("header", ["", "Bearer a.b.c"])
async def test_an_unauthenticated_megabyte_is_refused_cheaply_and_registers_nothing(secured_bot, make_body, header):
    bot = secured_bot
    body = make_body(bot.channel("groupChat"))
    assert len(body) > 300_000
    spy = _RegisteredAtLogTime()
    gateway_log = logging.getLogger("bot.gateway")
    gateway_log.addFilter(spy)
    tracemalloc.start()
    try:
        started = time.process_time()
        response = await bot.post(None, {"Authorization": header} if header else {}, raw=body)
        cpu = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gateway_log.removeFilter(spy)
    assert response.status == 401, await response.text()
    assert spy.seen and set(spy.seen) == {0}  # the refusal's own line was written with nothing registered
    # Before: 13 s of CPU (distinct lines), a RecursionError and a 500 (branching lines). Generous bounds: the
    # test client, JSON parsing and tracemalloc's own overhead are in there too.
    assert cpu < 1.5, cpu
    assert peak < 40 * MB, peak


async def test_the_bot_keeps_answering_while_unauthenticated_megabytes_arrive(secured_bot):
    bot = secured_bot
    bodies = [_distinct_lines_body(bot.channel()) for _ in range(4)]
    attacks = [asyncio.create_task(bot.post(None, raw=body)) for body in bodies]
    waits = []
    for _ in range(8):  # /healthz, asked again and again while the four bodies arrive and are refused
        started = time.perf_counter()
        health = await bot.client.get("/healthz")
        waits.append(time.perf_counter() - started)
        assert health.status == 200
        await asyncio.sleep(0.05)
    statuses = [(await a).status for a in attacks]
    assert statuses == [401] * 4
    assert max(waits) < 2, waits  # before: four of them took the bot away for 54 s


def test_a_turn_registers_at_most_128_values_of_at_most_4_kb_and_builds_no_pattern():
    text = "\n".join(f"line number {i:06d} of the attack" for i in range(46_000))
    started = time.process_time()
    with sensitive(text, "Alex Wilber"):
        registered = scrub._turn_values.get()
        assert len(registered) <= 128 and max(map(len, registered)) <= 4096
        assert "Alex Wilber" in registered  # the name is not crowded out by the text's chunks
        line = scrub_text(f"failed on {text[:3000]!r} by Alex Wilber")
    assert time.process_time() - started < 1.0
    assert "line number 000001" not in line and "Alex Wilber" not in line


def test_values_are_per_turn_and_lines_outside_any_turn_see_every_running_turn():
    seen: dict[str, str] = {}

    def in_a_thread_without_context() -> None:
        seen["thread"] = scrub_text("the thread logs Alice's secret question")

    with sensitive("Alice's secret question"):
        other = threading.Thread(target=in_a_thread_without_context)
        other.start()
        other.join()

        async def another_turn() -> str:
            with sensitive("Bob's own question"):
                return scrub_text("Bob's own question")

        assert asyncio.run(another_turn()) == "[redacted]"
    assert seen["thread"] == "the thread logs [redacted]"
    assert scrub._running_union == () and scrub_text("Alice's secret question") == "Alice's secret question"


def test_the_scrubber_never_raises_out_of_logging(monkeypatch):
    class Exploding:
        def sub(self, *args, **kwargs):
            raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(scrub, "_RULES", [(("a",), Exploding(), "")])
    assert scrub_text("a line") == scrub._UNSCRUBBABLE
    logging.getLogger("tests.exhaustion").warning("a line that cannot be scrubbed: %s", "a")  # does not raise


def test_a_long_line_is_cut_before_it_is_scrubbed():
    line = scrub_text("x" * (5 * MB))
    assert len(line) < 70_000 and "more characters not logged" in line


# --- every regex over user or model text is linear ------------------------------------------------------------

# The characters and words the patterns react to: tags, brackets, fences, markers, quotes, keys, addresses.
TOKENS = [
    "<at>", "<at id='0'>", "</at>", "<", ">", "[", "]", "(", ")", "![", "](", "```", "~~~", "\n", " ", "\t", "a",
    "-", "@", "eyJ", "eyJa", "token", "password", "=", ":", '"', "'", "http://", "https://x.example/", "?sig=",
    "*", "**", "_", "`", "#", ".", ". ", "\\", "text", '"text": "', "1. ", "- ", "> ", "<img src=", "bearer ",
]  # fmt: skip
SMALL, LARGE = 4_000, MAX_TEXT_CHARS


def _cpu(function: Callable[[str], object], text: str) -> float:
    best = math.inf
    for _ in range(3):
        started = time.process_time()
        function(text)
        best = min(best, time.process_time() - started)
    return best


def _scales_linearly(function: Callable[[str], object], unit: str, suffix: str, prefix: str = "") -> None:
    def sized(size: int) -> str:
        return prefix + (unit * (size // len(unit) + 1))[:size] + suffix

    small, large = _cpu(function, sized(SMALL)), _cpu(function, sized(LARGE))
    # Linear: about 10× from 4 KB to 40 KB; quadratic: about 100×. The constant absorbs timer noise.
    assert large <= 30 * small + 0.03, (unit, suffix, small, large)


TEXT_FUNCTIONS: dict[str, Callable[[str], object]] = {
    "scrub_text": scrub_text,
    "mentions": lambda text: _unwrap_mentions(text) if mentions(text) is not None else None,
    "plain_text": plain_text,
    "teams_message_text": teams_message_text,
    "safe_placeholders": safe_placeholders,
    "shorten": lambda text: shorten(text, 300),
    "card_blocks": text_blocks,
    "quote": lambda text: quote(text, len(text)),
    "split_text": lambda text: split_text(text, 4000),
    "local_backend_plain": local_plain,
    "no_exfiltration": no_exfiltration,
    "safe_url": safe_url,
}


@pytest.mark.parametrize("name", sorted(TEXT_FUNCTIONS))
@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    unit=st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6).map("".join),
    suffix=st.sampled_from(["", *TOKENS]),
    prefix=st.sampled_from(["", *TOKENS]),
)
@example(unit=" ", suffix="", prefix="[x](")  # one link opener, then a long run of spaces (9 s at 40 KB)
@example(unit="\n", suffix="", prefix="```")
@example(unit="<at>", suffix="", prefix="")  # the reported attack on mention stripping (100 KB blocked the loop 44 s)
@example(unit="<at ", suffix="", prefix="")
@example(unit="[", suffix="", prefix="")
@example(unit="![a", suffix="", prefix="")
@example(unit="[x](", suffix="", prefix="")
@example(unit="```\n", suffix="", prefix="")
@example(unit="eyJa-", suffix="", prefix="")
@example(unit="a-", suffix="token=1", prefix="")
@example(unit="a", suffix="@", prefix="")
def test_every_text_pattern_is_linear(name, unit, suffix, prefix):
    _scales_linearly(TEXT_FUNCTIONS[name], unit, suffix, prefix)


async def test_a_signed_text_of_unclosed_mentions_costs_milliseconds(start_bot):
    """The reported attack on mention stripping: 100 KB of unclosed `<at>` blocked the loop 44 s."""
    bot = await start_bot(backend=ScriptedBackend())
    activity = bot.channel("groupChat").message("x")
    activity["text"] = "<at>" * 60_000  # 240 KB
    started = time.process_time()
    response = await bot.post(activity)
    assert response.status == 200
    assert time.process_time() - started < 1.0
    await bot.settle()
