"""How fast unauthenticated 1 MB bodies are refused while signed conversations run (issue 19 item 1).

Starts the bot's server (bench/_signed_bot.py: `python -m bot serve`'s server with authentication on, signed by
a loopback issuer) as its own process, with the fake connector in this process. Then, at the same time:
- C signed conversations (default 50), each sending M questions one after the other and waiting for each answer;
- an attacker posting N unauthenticated 1 MB bodies of 46,000 distinct lines (the reported attack), one after
  the other, with no token and with a garbage one.
Prints the refusal latency (p50/p99/max; the goal is p99 < 50 ms), the same with no conversation running, and
the refusal latency of a 1 KB body in the same run as the reference, and the signed conversations' answer
latency with and without the attack (ratio).
The machine is shared with other work: figures vary from run to run.
Usage: python -m bench.unauthenticated_refusal [N] [C] [M]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

import aiohttp

from bench._bot import running_bot
from bot.emulator.activities import TeamsChannel
from bot.emulator.connector import FakeConnector
from tests.test_auth import APP_ID, OpenIdServer, mint


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"p50 {statistics.median(values) * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms  max {values[-1] * 1000:7.2f} ms"


def attack_body(connector_url: str, lines: int = 46_000) -> bytes:
    activity = TeamsChannel(connector_url).message("x")
    activity["text"] = "\n".join(f"line {i:05d} of this" for i in range(lines))
    return json.dumps(activity).encode()


async def main(attacks: int, conversations: int, questions: int) -> None:
    with OpenIdServer() as openid:
        async with FakeConnector() as connector, aiohttp.ClientSession() as http:
            env = {"MICROSOFT_APP_ID": APP_ID, "MICROSOFT_APP_PASSWORD": "not-used",
                   "BOT_OPENID_METADATA_URL": openid.url, "LOG_LEVEL": "WARNING"}  # fmt: skip
            async with running_bot(http, module="bench._signed_bot", args=(), **env) as url:
                big, small = attack_body(connector.url), attack_body(connector.url, lines=40)
                assert len(big) <= 1024 * 1024 and len(big) > 900_000, len(big)

                async def refuse(body: bytes, header: str) -> float:
                    headers = {"Content-Type": "application/json", **({"Authorization": header} if header else {})}
                    started = time.perf_counter()
                    async with http.post(url, data=body, headers=headers) as response:
                        await response.read()
                        assert response.status == 401, response.status
                    return time.perf_counter() - started

                # One token for every request: minting costs about 0.3 s of this process's loop (RSA, PEM round
                # trip), which would delay the requests and measure the client, not the server.
                signed = {"Authorization": f"Bearer {mint(connector.url)}"}

                async def conversation(i: int, answers: list[float]) -> None:
                    channel = TeamsChannel(connector.url)
                    for _ in range(questions):
                        activity = channel.message("help")  # a command: cheap, so the figures show the refusals
                        started = time.perf_counter()
                        async with http.post(url, json=activity, headers=signed) as response:
                            assert response.status == 200, response.status
                        await connector.wait_for(
                            lambda calls, a=activity: any(
                                c.type == "message" and c.body.get("replyToId") == a["id"] for c in calls
                            ),
                            120,
                        )
                        answers.append(time.perf_counter() - started)

                await refuse(small, "")  # warm up
                quiet: list[float] = []
                await asyncio.gather(*(conversation(i, quiet) for i in range(conversations)))
                reference = [await refuse(small, "") for _ in range(20)]
                quiet_big = [await refuse(big, "") for _ in range(20)]
                loaded: list[float] = []
                running = asyncio.gather(*(conversation(i, loaded) for i in range(conversations)))
                refusals = []
                for n in range(attacks):
                    refusals.append(await refuse(big, "" if n % 2 else "Bearer not.a.token"))
                await running
    print(f"{attacks} unauthenticated {len(big):,}-byte bodies while {conversations} signed conversations ran "
          f"({questions} questions each); shared machine")  # fmt: skip
    print(f"{'refusal, 1 MB body, under load':<40} {percentiles(refusals)}   (goal: p99 < 50 ms)")
    print(f"{'refusal, 1 MB body, quiet':<40} {percentiles(quiet_big)}")
    print(f"{'refusal, 1 KB body, quiet (reference)':<40} {percentiles(reference)}")
    print(f"{'signed answers, no attack':<40} {percentiles(quiet)}")
    print(f"{'signed answers, during the attack':<40} {percentiles(loaded)}")
    ratio = statistics.median(loaded) / statistics.median(quiet)
    print(f"{'answer p50 during / without the attack':<40} {ratio:.2f}x")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [40, 50, 4][len(args) :])))
