# ruff: noqa: E501
"""`usage`/`usage-export` arguments (as an admin) and `drift` options at extremes, through /api/messages.
Prints each reply; flags "went wrong", exception text and turns over 60 s.

Run: .venv/bin/python -m pytest attack/test_usage_and_drift_options.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from tests.conftest import card_text

ADMIN = "6f1c0e2a-0000-4000-8000-00000000e001"
USAGE = ["usage 1e9", "usage -1", "usage 0", "usage ٣٠", "usage nan", "usage 30.5", "usage 99999999999999999999",
         "usage 7 7 7", "usage-export 1e9", "usage-export -5", "usage-export ٧", "usage-export inf",
         "usage by=" + "x" * 5000]  # fmt: skip
DRIFT = ["drift threshold=١", "drift threshold=0x1p-3", "drift threshold=1e-320", "drift threshold=-0",
         "drift correction=BH", "drift target=" + "é" * 300, "drift categorical=" + ",".join(["a"] * 5000),
         "drift numeric=a,a,a", "drift ignore=" + ",".join(f"c{i}" for i in range(3000)), "drift top=1e9",
         "drift threshold=1 threshold=0", "drift =", "drift ==", "drift a=b=c"]  # fmt: skip


def _frame(n, shift, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.integers(0, 3, n)}).to_csv(index=False).encode()


async def test_options(start_bot):
    bot = await start_bot(admin_users=ADMIN)
    chat = bot.channel()
    ref, cur = (
        bot.connector.serve_file("r.csv", _frame(300, 0, 1)),
        bot.connector.serve_file("c.csv", _frame(300, 1, 2)),
    )
    for text in USAGE + DRIFT:
        activity = chat.message(text)
        if text.startswith("drift"):
            chat.with_file(activity, "r.csv", ref)
            chat.with_file(activity, "c.csv", cur)
        before = len(bot.connector.messages())
        started = time.monotonic()
        response = await bot.post(activity)
        await bot.settle()
        took = time.monotonic() - started
        replies = bot.connector.messages()[before:]
        shown = " ".join(
            (
                r.body.get("text")
                or (card_text(r.body["attachments"][0]["content"]) if r.body.get("attachments") else "")
            )
            for r in replies
        )
        bad = response.status >= 500 or not replies or took > 60 or any(
            w in shown for w in ("went wrong", "Traceback", "Error:", "Exception"))  # fmt: skip
        print(f"{'FLAG' if bad else 'ok  '} {response.status} {took:5.1f}s {text[:50]!r:54} -> {shown[:130]!r}")
