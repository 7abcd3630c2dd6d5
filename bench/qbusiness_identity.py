"""Per-turn cost of answering as the user (QBUSINESS_IDENTITY=idc) against the anonymous path.

Everything runs in this process against loopback fakes of Q Business, IAM Identity Center (sso-oidc) and STS,
with the real boto3 clients, so the figures are the gateway's own overhead plus loopback HTTP:
- anonymous: one `answer` with the gateway's shared client;
- idc, cached: one `answer` as a user whose credentials and client are cached (the usual turn);
- idc, cold: one `answer` as a new user (token exchange + AssumeRole + encrypting the credentials into the store
  + a new qbusiness client), and the credential lookup alone for the cached and the store-only cases.
Goal (issue 11): idc cached under 5 ms more than anonymous per turn (median).
Usage: python -m bench.qbusiness_identity [TURNS]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from services.backends import Identity, Question
from services.backends.qbusiness import QBusinessBackend, QBusinessConfig
from services.store import SQLiteStore
from tests.fakes.qbusiness import FakeQBusiness
from tests.fakes.sso_oauth import FakeSsoOauth
from tests.fakes.sts import FakeSts

APP = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


class Tokens:
    def __init__(self, token: str) -> None:
        self.value = token

    async def token(self) -> str:
        return self.value

    async def sign_out(self) -> None:
        pass


async def _answer(backend, identity) -> float:
    started = time.perf_counter()
    question = Question(text="hello", conversation_key="bench", identity=identity)
    async for _ in backend.answer(question):
        pass
    return time.perf_counter() - started


async def _timed(call) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


def _line(label: str, values: list[float], reference: list[float] | None = None) -> None:
    median = statistics.median(values) * 1000
    extra = f"   (+{median - statistics.median(reference) * 1000:6.2f} ms over anonymous)" if reference else ""
    p90 = sorted(values)[int(len(values) * 0.9) - 1] * 1000
    print(f"  {label:<44} median {median:7.2f} ms   p90 {p90:7.2f} ms{extra}")


async def main(turns: int) -> None:
    async with FakeQBusiness() as qbusiness, FakeSsoOauth() as oidc, FakeSts() as sts:
        os.environ.update(
            AWS_ENDPOINT_URL_QBUSINESS=qbusiness.url, AWS_ENDPOINT_URL_SSO_OIDC=oidc.url,
            AWS_ENDPOINT_URL_STS=sts.url, AWS_ACCESS_KEY_ID="AKIABENCH", AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
        )  # fmt: skip
        users = [f"user{i}" for i in range(turns + 1)]
        oidc.users = {f"entra-{u}": u for u in users}
        with tempfile.TemporaryDirectory() as folder:
            store = SQLiteStore(Path(folder) / "state.db")
            common = {"application_id": APP, "region": "us-east-1", "timeout_seconds": 10.0}
            anonymous = QBusinessBackend(QBusinessConfig(identity="anonymous", **common))
            config = QBusinessConfig(
                identity="idc", idc_application_arn=oidc.client_id, role_arn=sts.role_arn,
                credentials_key=Fernet.generate_key().decode(), **common,
            )  # fmt: skip
            idc = QBusinessBackend(config, store)
            alice = Identity(user_id="user0", tokens=Tokens("entra-user0"))
            await _answer(anonymous, None), await _answer(idc, alice)  # warm up both clients and connections
            # Interleaved, so both paths see the same machine load.
            plain, cached = [], []
            for _ in range(turns):
                plain.append(await _answer(anonymous, None))
                cached.append(await _answer(idc, alice))
            cold = [await _answer(idc, Identity(user_id=u, tokens=Tokens(f"entra-{u}"))) for u in users[1:]]
            lookup = [await _timed(lambda: idc.client_for(alice)) for _ in range(turns)]
            fresh = QBusinessBackend(config, store)  # another worker: credentials only in the (encrypted) store
            from_store = []
            for user in users[1:]:
                fresh.vault._memory.clear()
                from_store.append(await _timed(lambda user=user: fresh.vault.get(user)))
            await store.close()
    print(f"Q Business per-turn cost, {turns} turns each, loopback fakes, real boto3 clients (this process)")
    _line("anonymous answer", plain)
    _line("idc answer, cached credentials", cached, plain)
    _line("idc answer, cold (exchange + assume role)", cold, plain)
    _line("idc client lookup, cached in memory", lookup)
    _line("idc credentials from the store (decrypt)", from_store)
    print(f"  STS AssumeRole calls: {sts.issued} for {len(users)} users (cached turns made none)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
