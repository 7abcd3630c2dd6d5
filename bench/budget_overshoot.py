"""Budget overshoot: 20 concurrent turns of one user with long histories against a daily token limit.

The real Bedrock backend (boto3) against the loopback Bedrock fake (which counts four characters a token),
the real ingress, worker and SQLite usage store in this process. Each of 20 conversations has a 40,000-
character history; all 20 ask at once under USER_DAILY_TOKEN_LIMIT. Printed: tokens really used / the limit,
with the reservation on the prompt actually built (now) and on the question and answer cap only (before).
Goal: now <= 1.1x. Usage: python -m bench.budget_overshoot [LIMIT]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector
from bot.server import create_app
from entrypoints.wiring import build_local
from services.backends.bedrock import BedrockBackend, BedrockConfig
from services.settings import REPO_ROOT, load_settings
from tests.fakes.bedrock import FakeBedrock


class QuestionOnly(BedrockBackend):
    """The backend as the reservation saw it before: no prompt size, so the question's length is reserved."""

    def __getattribute__(self, name: str):
        if name == "prompt_chars":
            raise AttributeError(name)
        return super().__getattribute__(name)


async def overshoot(limit: int, kind: type[BedrockBackend]) -> float:
    async with FakeBedrock() as fake, FakeConnector() as connector:
        os.environ.update({"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fake.url, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
                           "AWS_EC2_METADATA_DISABLED": "true"})  # fmt: skip
        fake.tokens = ["Hello"] * 200
        with tempfile.TemporaryDirectory() as folder:
            settings = load_settings(
                _env_file=None, state_db=Path(folder) / "state.db", knowledge_dir=REPO_ROOT / "docs",
                user_daily_token_limit=limit, max_concurrent_turns=40, history_max_chars=40_000,
                user_turns_per_minute=0, max_queued_turns_per_user=0,  # all 20 run at once (40 slots: 20 a sender)
                bot_service_hosts="http://127.0.0.1",  # the fake connector on loopback
            )  # fmt: skip
            answering = kind(BedrockConfig(model_id="mistral.mistral-large-2402-v1:0", region="eu-west-1"))
            gateway = build_local(settings, backend=answering)
            history = [{"role": r, "text": "an earlier exchange " * 50} for r in ("user", "assistant")] * 20
            chats = [TeamsChannel(connector.url) for _ in range(20)]
            async with TestClient(TestServer(create_app(gateway))) as client:
                for chat in chats:
                    key = chat.message("x")["conversation"]["id"]
                    state = {"backend": "bedrock", "backend_state": {"history": history}}
                    await gateway.store.save_conversation(key, state, version=0)
                await asyncio.gather(*(client.post("/api/messages", json=chat.message("and now?")) for chat in chats))
                await gateway.queue.drain(120)
        return sum(usage["totalTokens"] for usage in fake.usages) / limit


async def main(limit: int) -> None:
    print(f"20 concurrent turns of one user, 40,000-character histories, USER_DAILY_TOKEN_LIMIT={limit:,}")
    now = await overshoot(limit, BedrockBackend)
    before = await overshoot(limit, QuestionOnly)
    print(f"reservation on the prompt built (now)        used / limit {now:5.2f}x  (goal <= 1.1x)")
    print(f"reservation on question + answer cap (before) used / limit {before:5.2f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
