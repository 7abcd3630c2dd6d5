"""Markdown, links and images in what data carries into analytics replies: file names, column names, category
values, for metrics, drift and uplift. Flags a reply whose raw body holds a link or image to evil.example that
is not escaped.

Run: .venv/bin/python -m pytest attack/test_markdown_in_data.py -q -s -p no:cacheprovider
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

LINK = "[Reset](https://evil.example/x)"
IMG = "![p](https://evil.example/p.png)"
LIVE = re.compile(r"(?<!\\)\]\(https://evil|<img|\]\(https:\\u2060|!\[p\]\(")


def _csv(n, shift, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "label": rng.integers(0, 2, n), IMG: rng.random(n) + shift, LINK: rng.choice([LINK, IMG, "b"], n),
        "treated": rng.integers(0, 2, n), "paid": rng.integers(0, 2, n),
    }).to_csv(index=False).encode()  # fmt: skip


async def test_markdown_in_data(start_bot):
    bot = await start_bot()
    chat = bot.channel()
    ref, cur = bot.connector.serve_file("r.csv", _csv(400, 0, 1)), bot.connector.serve_file("c.csv", _csv(400, 2, 2))
    for text, files in [
        (f"metrics y_true=label y_score={IMG}", [(f"{LINK}.csv", cur)]),
        ("metrics y_true=label y_score=nothere", [(f"{IMG}.csv", cur)]),
        ("drift", [(f"{LINK}.csv", ref), (f"{IMG}.csv", cur)]),
        ("uplift treatment=treated outcome=paid", [(f"{LINK}.csv", cur)]),
        (f"metrics y_true={LINK} y_score={IMG}", [("x.csv", cur)]),
    ]:
        activity = chat.message(text)
        for name, url in files:
            chat.with_file(activity, name, url)
        before = len(bot.connector.messages())
        await bot.post(activity)
        await bot.settle()
        raw = " ".join(json.dumps(c.body, ensure_ascii=False) for c in bot.connector.messages()[before:])
        live = LIVE.findall(raw)
        print(f"{'FLAG' if live else 'ok  '} {text[:50]!r:54} {len(raw):7} B, live: {live[:3]}")
        if live:
            i = raw.find(live[0])
            print("     ...", raw[max(0, i - 120) : i + 60])
