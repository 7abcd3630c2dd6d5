"""Usage accounting figures: what prompt caching saves, and what accounting and budgets cost per turn.

1. A 10-turn conversation with the real Bedrock backend (real boto3 client) against the loopback Bedrock fake,
   prompt caching on and then off: prompt tokens sent per turn, the share read from the cache, and the
   estimated cost at the model's list price. The fake ignores cache points under 1,024 prompt tokens, as
   Claude models on Bedrock do.
2. Per-turn overhead of the accounting path (SQLite usage store beside the state, JSON-lines audit), measured
   side by side with a reference loop that only hops to a thread and back: accounting alone, then with a
   user and a team budget (reservation before the backend, settlement after). Goal: under 2 ms locally.
Usage: python -m bench.usage [TURNS_FOR_OVERHEAD]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from services.backends import FinalAnswer, Question, TokenUsage
from services.backends.bedrock import BedrockBackend, BedrockConfig
from services.usage import Admission, Limits, TurnUsage, UsageService
from services.usage.audit import LocalAuditLog
from services.usage.prices import DEFAULT_PRICES, cost_of, price_for
from services.usage.sqlite import SQLiteUsageStore
from tests.fakes.bedrock import FakeBedrock

MODEL = "anthropic.claude-sonnet-4-20250514-v1:0"
QUESTION = "In our expense policy, what applies to {topic}? Give me the rules and the limits, and any exceptions " * 2
TOPICS = ["train travel", "hotels", "meals", "taxis", "conferences", "client dinners", "mileage", "visas",
          "laptops", "phone bills"]  # fmt: skip


async def conversation(caching: bool) -> list[TokenUsage]:
    """Return the usage of each turn of a 10-turn conversation with prompt caching on or off."""
    async with FakeBedrock(tokens=["The policy says this, with a limit. "] * 60, min_cache_tokens=1024) as fake:
        os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = fake.url
        backend = BedrockBackend(BedrockConfig(model_id=MODEL, region="us-east-1", prompt_caching=caching))
        state: dict = {}
        usages = []
        for topic in TOPICS:
            question = Question(text=QUESTION.format(topic=topic), conversation_key="bench", state=state)
            final = [e async for e in backend.answer(question) if isinstance(e, FinalAnswer)][0]
            state = final.state
            usages.append(final.usage)
        return usages


def caching_table(on: list[TokenUsage], off: list[TokenUsage]) -> None:
    price = price_for(MODEL, DEFAULT_PRICES)
    print(f"10-turn conversation, {MODEL} (loopback Bedrock fake; list prices of the default table)")
    print(f"{'turn':>4} | {'sent, caching off':>17} | {'sent, caching on':>16} | {'read from cache':>15} | "
          f"{'written to cache':>16}")  # fmt: skip
    for turn, (a, b) in enumerate(zip(off, on, strict=True), start=1):
        print(f"{turn:>4} | {a.prompt_tokens:>17,} | {b.prompt_tokens:>16,} | {b.cache_read_tokens:>15,} | "
              f"{b.cache_write_tokens:>16,}")  # fmt: skip
    sent_off, sent_on = sum(u.prompt_tokens for u in off), sum(u.prompt_tokens for u in on)
    read = sum(u.cache_read_tokens for u in on)
    cost_off, cost_on = (sum(cost_of(u, price) or 0 for u in run) for run in (off, on))
    print(f"total prompt tokens: {sent_off:,} off, {sent_on:,} on; cached share (read) with caching: "
          f"{read / sent_on:.0%}")  # fmt: skip
    print(f"estimated cost: ${cost_off:.4f} off, ${cost_on:.4f} on (caching saves {1 - cost_on / cost_off:.0%})\n")


async def overhead(turns: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        runs = {
            "reference (thread hop only)": None,
            "accounting + audit": Limits(),
            "accounting + audit + user & team budgets": Limits(user_daily_tokens=10**12, team_monthly_tokens=10**12),
        }
        print(f"per-turn overhead over {turns} turns (SQLite usage store and JSON-lines audit in a temp folder)")
        print(f"{'':45} {'median ms':>9} {'p95 ms':>8} {'mean ms':>8}")
        for name, limits in runs.items():
            times = await _timed(Path(folder) / name.replace(" ", "_"), limits, turns)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(f"{name:45} {statistics.median(times):9.3f} {p95:8.3f} {statistics.fmean(times):8.3f}")


async def _timed(folder: Path, limits: Limits | None, turns: int) -> list[float]:
    store = SQLiteUsageStore(folder / "state.db")
    service = UsageService(store, DEFAULT_PRICES, limits=limits, audit=LocalAuditLog(folder / "audit", 30))
    usage = TokenUsage(input_tokens=1500, output_tokens=300, cache_read_tokens=4000)
    times = []
    for n in range(turns):
        started = time.perf_counter()
        if limits is None:
            await asyncio.to_thread(lambda: None)
            await asyncio.to_thread(lambda: None)
        else:
            admission = await service.admit(f"user-{n % 20}", "tenant:t1", MODEL, 400)
            turn = TurnUsage(f"r{n}", "k", "bedrock", "answered", model_id=MODEL, usage=usage, answer_id=f"a{n}")
            await service.finish(admission if admission.allowed else Admission(True, "u", "t"), turn)
        times.append((time.perf_counter() - started) * 1000)
    await service.close()
    return times[10:]  # the first turns create files and tables


async def main(turns: int) -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    caching_table(await conversation(True), await conversation(False))
    await overhead(turns)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
