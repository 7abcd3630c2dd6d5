"""How fast unauthenticated 1 MB bodies are refused while signed conversations run (issue 19 item 1).

Starts the bot's server (bench/_signed_bot.py: `python -m bot serve`'s server with authentication on, signed by
a loopback issuer) as its own process, with the fake connector in this process. Then, at the same time:
- C signed conversations (default 50, one user each), each sending at least M questions one after the other
  and waiting for each answer, until the attack is over;
- an attacker, its own process, posting N unauthenticated 1 MB bodies of 46,000 distinct lines (the reported
  attack), one after the other, with no token and with a garbage one.
Prints the refusal latency (p50/p99/max; the goal is p99 < 50 ms), the same with no conversation running, the
refusal latency of a 1 KB body in the same run as the reference (quiet, and interleaved with the attack: what
any request waits for on the loaded server and machine, whatever its size), and the signed conversations'
answer latency with and without the attack (ratio).
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
from services.settings import REPO_ROOT
from tests.test_auth import APP_ID, OpenIdServer, mint


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"p50 {statistics.median(values) * 1000:7.2f} ms  p99 {p99 * 1000:7.2f} ms  max {values[-1] * 1000:7.2f} ms"


def attack_body(connector_url: str, lines: int = 46_000) -> bytes:
    activity = TeamsChannel(connector_url).message("x")
    activity["text"] = "\n".join(f"line {i:05d} of this" for i in range(lines))
    return json.dumps(activity).encode()


async def attacker(url: str, connector_url: str) -> None:
    """The attacking client, its own process (as a real one is: its timings do not wait for the conversations'
    loop). Reads commands on stdin: `quiet` times 20 small and 20 big refusals, `attack N` N big ones (no token
    and a garbage one, alternately), each followed by a small one; prints each result as one JSON line."""
    big, small = attack_body(connector_url), attack_body(connector_url, lines=40)
    assert 900_000 < len(big) <= 1024 * 1024, len(big)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:

        async def refuse(body: bytes, header: str) -> float:
            headers = {"Content-Type": "application/json", **({"Authorization": header} if header else {})}
            started = time.perf_counter()
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 401, response.status
            return time.perf_counter() - started

        await refuse(small, "")  # warm up
        print(json.dumps({"ready": len(big)}), flush=True)
        while command := (await loop.run_in_executor(None, sys.stdin.readline)).split():
            if command[0] == "quiet":
                reference = [await refuse(small, "") for _ in range(20)]
                print(json.dumps({"small": reference, "big": [await refuse(big, "") for _ in range(20)]}), flush=True)
            else:
                refusals: dict[str, list[float]] = {"big": [], "small": []}
                for n in range(int(command[1])):  # a 1 KB body after each big one: the reference under load
                    refusals["big"].append(await refuse(big, "" if n % 2 else "Bearer not.a.token"))
                    refusals["small"].append(await refuse(small, "" if n % 2 else "Bearer not.a.token"))
                print(json.dumps(refusals), flush=True)


async def main(attacks: int, conversations: int, questions: int) -> None:
    with OpenIdServer() as openid:
        async with FakeConnector() as connector, aiohttp.ClientSession() as http:
            env = {"MICROSOFT_APP_ID": APP_ID, "MICROSOFT_APP_PASSWORD": "not-used",
                   "BOT_OPENID_METADATA_URL": openid.url, "LOG_LEVEL": "WARNING",
                   # 2 x C x M turns from one tenant in well under a minute: over the default tenant bucket
                   # (burst 200, 10 a second), whose throttled turns get one "slow down" and then no reply.
                   # This bench measures refusals, not flow control (bench/flood.py does that).
                   "TENANT_TURNS_PER_MINUTE": "0"}  # fmt: skip
            async with running_bot(http, module="bench._signed_bot", args=(), **env) as url:
                attack = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.unauthenticated_refusal", "--attacker", url, connector.url,
                    cwd=REPO_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                )  # fmt: skip

                async def ask(command: str) -> dict:
                    if command:
                        attack.stdin.write(f"{command}\n".encode())
                        await attack.stdin.drain()
                    return json.loads(await attack.stdout.readline())

                size = (await ask(""))["ready"]
                # One token for every request: minting costs about 0.3 s of this process's loop (RSA, PEM round
                # trip), which would delay the requests and measure the client, not the server.
                signed = {"Authorization": f"Bearer {mint(connector.url)}"}

                async def conversation(i: int, answers: list[float], until: asyncio.Future | None = None) -> None:
                    # One user a conversation: one user's C x M turns would exceed the per-user bucket (burst
                    # 10) and the throttled turns would never be answered.
                    channel = TeamsChannel(
                        connector.url, user_id=f"29:bench-user-{i}", aad_object_id=f"6f1c0e2a-0000-4000-8000-{i:012d}"
                    )
                    asked = 0
                    while asked < questions or (until is not None and not until.done()):
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
                        asked += 1

                quiet: list[float] = []
                await asyncio.gather(*(conversation(i, quiet) for i in range(conversations)))
                alone = await ask("quiet")
                loaded: list[float] = []
                # The conversations keep asking (at least M questions each) until the attack is over.
                refused = asyncio.ensure_future(ask(f"attack {attacks}"))
                await asyncio.gather(*(conversation(i, loaded, refused) for i in range(conversations)))
                refusals = await refused
                attack.stdin.close()
                await attack.wait()
    print(f"{attacks} unauthenticated {size:,}-byte bodies while {conversations} signed conversations ran "
          f"(at least {questions} questions each); the attacker is its own process; shared machine")  # fmt: skip
    print(f"{'refusal, 1 MB body, under load':<40} {percentiles(refusals['big'])}   (goal: p99 < 50 ms)")
    print(f"{'refusal, 1 KB body, under load (ref.)':<40} {percentiles(refusals['small'])}")
    print(f"{'refusal, 1 MB body, quiet':<40} {percentiles(alone['big'])}")
    print(f"{'refusal, 1 KB body, quiet (reference)':<40} {percentiles(alone['small'])}")
    print(f"{'signed answers, no attack':<40} {percentiles(quiet)}")
    print(f"{'signed answers, during the attack':<40} {percentiles(loaded)}")
    ratio = statistics.median(loaded) / statistics.median(quiet)
    print(f"{'answer p50 during / without the attack':<40} {ratio:.2f}x")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--attacker"]:
        asyncio.run(attacker(sys.argv[2], sys.argv[3]))
        sys.exit(0)
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [40, 50, 4][len(args) :])))
