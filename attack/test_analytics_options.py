"""Analytics commands with options at extremes, through /api/messages (the conftest bot, fake connector).

Run: .venv/bin/python -m pytest attack/test_analytics_options.py -q -s -p no:cacheprovider
Prints each command, the seconds it took and the first reply; flags replies that show exception text or
"something went wrong", and turns over 60 s. Every analysis runs in the gateway's capped process.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from tests.conftest import card_text


def _csv(n=400):
    rng = np.random.default_rng(1)
    p = rng.random(n)
    return (
        pd.DataFrame(
            {
                "label": (rng.random(n) < p).astype(int),
                "p": p,
                "q": rng.integers(0, 5, n),
                "treated": rng.integers(0, 2, n),
                "paid": rng.integers(0, 2, n),
                "rev": rng.random(n) * 10,
                "é\u202e": rng.random(n),
            }
        )
        .to_csv(index=False)
        .encode()
    )


COMMANDS = [
    "metrics y_true=label y_score=p k=1e308",
    "metrics y_true=label y_score=p k=9" + "9" * 5000,
    "metrics y_true=label y_score=p k=-0",
    "metrics y_true=label y_score=p k=0x10",
    "metrics y_true=label y_score=p k=1_000",
    "metrics y_true=label y_score=p k=١٠",  # Arabic-Indic digits
    "metrics y_true=label y_score=p threshold=1e-400",
    "metrics y_true=label y_score=p threshold=-0.0",
    "metrics y_true=label y_score=p threshold=Infinity",
    "metrics y_true=label y_score=p threshold=nan(123)",
    "metrics y_true=label y_score=p sampling_rate=1e-320",
    "metrics y_true=label y_score=p sampling_rate=0.0000001",
    "metrics y_true=label y_score=p query=q k=400",
    "metrics y_true=label y_score=p query=q positive=" + "x" * 200,
    "metrics y_true=p y_score=label",
    "metrics y_true=label y_score=label",
    "metrics y_true=q y_score=p",
    "metrics y_true=é\u202e y_score=p",
    "metrics y_true=label y_score=" + ",".join(f"c{i}" for i in range(2000)),
    "metrics " + " ".join(f"opt{i}=1" for i in range(3000)),
    "uplift treatment=treated outcome=paid cost=1e308 budget=400",
    "uplift treatment=treated outcome=paid cost=-1e308",
    "uplift treatment=treated outcome=paid cost=5e-324",
    "uplift treatment=treated outcome=paid budget=1e18",
    "uplift treatment=treated outcome=paid budget=400.5",
    "uplift treatment=treated outcome=paid revenue=rev cost=0.01 budget=1",
    "uplift treatment=paid outcome=paid",
    "uplift treatment=treated outcome=rev",
    "uplift treatment=treated outcome=paid score=label categorical=" + ",".join(["p"] * 200),
    "uplift treatment=treated outcome=paid numeric=" + ",".join(f"n{i}" for i in range(201)),
    "uplift treatment=treated outcome=paid ignore=treated,paid,label,p,q,rev,é\u202e",
    "explain " + "ndcg " * 2000,
    "explain " + "a" * 40000,
    "explain " + "\u0301" * 5000,
]


async def test_extremes(start_bot):
    bot = await start_bot()
    channel = bot.channel()
    data = _csv()
    flagged = []
    for text in COMMANDS:
        before = len(bot.connector.messages())
        activity = channel.message(text)
        if not text.startswith("explain"):
            channel.with_file(activity, "t.csv", bot.connector.serve_file("t.csv", data))
        started = time.monotonic()
        response = await bot.post(activity)
        await bot.settle()
        took = time.monotonic() - started
        replies = bot.connector.messages()[before:]
        shown = []
        for r in replies:
            body = r.body
            shown.append(
                body.get("text") or card_text(body["attachments"][0]["content"])
                if body.get("attachments")
                else body.get("text", "")
            )
        first = (shown[0] if shown else "<no reply>")[:160].replace("\n", " ")
        bad = (
            response.status >= 500
            or not shown
            or took > 60
            or any(
                w in " ".join(s or "" for s in shown)
                for w in ("Traceback", "Error:", "something went wrong", "Exception")
            )
        )
        if bad:
            flagged.append(text[:60])
        print(f"{'FLAG' if bad else 'ok  '} {response.status} {took:5.1f}s {text[:70]!r} -> {first!r}")
    print("flagged:", flagged)
