"""hostile26: option parsing, treated= labels, folders and partitions, engine= through /api/messages.

Run: OMP_NUM_THREADS=1 .venv/bin/python -m pytest attack/test_hostile26_chat.py -q -s -p no:cacheprovider
Prints each command, the seconds it took and its replies; flags exception text, 5xx, no reply, > 60 s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import card_text


def _data(root: Path) -> None:
    rng = np.random.default_rng(3)
    n = 400
    p = rng.random(n)
    pd.DataFrame(
        {
            "label": (rng.random(n) < p).astype(int),
            "p": p,
            "txt": ["a"] * n,
            "my label": (rng.random(n) < p).astype(int),
        }
    ).to_csv(root / "m.csv", index=False)
    x = rng.normal(size=n)
    arm = rng.choice(["Alpha", "Beta"], n)
    pd.DataFrame(
        {
            "arm": arm,
            "num": rng.integers(0, 2, n),
            "flt": rng.integers(0, 2, n).astype(float),
            "boo": rng.integers(0, 2, n).astype(bool),
            "three": rng.choice(["a", "b", "c"], n),
            "one": ["x"] * n,
            "y": (rng.random(n) < 0.3 + 0.2 * (arm == "Beta")).astype(int),
            "x": x,
            "x2": rng.normal(size=n),
        }
    ).to_csv(root / "u.csv", index=False)
    for day in ("dt=2026-9", "dt=2026-10", "dt=2026-11"):
        (root / "ev" / day).mkdir(parents=True)
        pd.DataFrame({"label": (rng.random(n) < p).astype(int), "p": p}).to_parquet(
            root / "ev" / day / "part-0.parquet"
        )
    (root / "mixed").mkdir()
    pd.DataFrame({"label": [0, 1] * 50, "p": rng.random(100)}).to_parquet(root / "mixed" / "a.parquet")
    pd.DataFrame({"label": [0, 1] * 50, "p": rng.random(100)}).to_csv(root / "mixed" / "b.csv", index=False)
    (root / "schema").mkdir()
    pd.DataFrame({"label": [0, 1] * 50, "p": rng.random(100)}).to_parquet(root / "schema" / "a.parquet")
    pd.DataFrame({"label": ["no", "yes"] * 50, "p": [str(v) for v in rng.random(100)]}).to_parquet(
        root / "schema" / "b.parquet"
    )
    (root / "empty").mkdir()
    (root / "nanscore").mkdir()
    sc = rng.random(100)
    sc[::7] = np.nan
    sc[3] = np.inf
    pd.DataFrame({"label": [0, 1] * 50, "p": sc}).to_parquet(root / "nanscore" / "a.parquet")
    (root / "labels3").mkdir()
    pd.DataFrame({"label": [0, 1, 2, 5] * 25, "p": rng.random(100)}).to_parquet(root / "labels3" / "a.parquet")
    (root / "oneclass").mkdir()
    pd.DataFrame({"label": [1] * 100, "p": rng.random(100)}).to_parquet(root / "oneclass" / "a.parquet")
    (root / "textscore").mkdir()
    pd.DataFrame({"label": [0, 1] * 50, "p": ["high", "low"] * 50}).to_parquet(root / "textscore" / "a.parquet")
    (root / "leak").mkdir()
    os.symlink("/etc/passwd", root / "leak" / "passwd.csv")
    os.symlink("/etc", root / "etclink")


COMMANDS = [
    "metrics y_true=label y_score=p ev/dt=2026-10/",
    "metrics y_true=label y_score=p ev/dt=2026-10",
    "metrics y_true=label y_score=p ev/",
    "drift ev/dt=2026-9/ ev/dt=2026-10/",
    "metrics y_true=label y_score=p y_true=p m.csv",
    'metrics y_true="my label" y_score=p m.csv',
    "metrics y_true=my\u00a0label y_score=p m.csv",
    "metrics y_true=label\u200b y_score=p m.csv",
    "metrics y_true=LABEL y_score=p m.csv",
    "metrics y_true=label y_score=txt m.csv",
    "metrics y_true=label y_score=p positive=2 m.csv",
    "metrics y_true=label y_score=p positive=1.0 m.csv",
    "metrics y_true=label y_score=p positive=\u200b m.csv",
    "metrics y_true=label y_score=p treated=1 m.csv",
    "metrics y_true=label y_score=p m.csv extra.csv",
    "metrics y_true=label y_score=p ../m.csv",
    "metrics y_true=label y_score=p /etc/passwd",
    "metrics y_true=label y_score=p ../",
    "metrics y_true=label y_score=p etclink/",
    "metrics y_true=label y_score=p etclink/passwd",
    "metrics y_true=label y_score=p leak/",
    "metrics y_true=label y_score=p leak",
    "metrics y_true=label y_score=p s3://other-bucket/x/",
    "metrics y_true=label y_score=p s3://other-bucket/x.csv",
    "metrics y_true=label y_score=p mixed/",
    "metrics y_true=label y_score=p schema/",
    "metrics y_true=label y_score=p empty/",
    "metrics y_true=label y_score=p nanscore/",
    "metrics y_true=label y_score=p labels3/",
    "metrics y_true=label y_score=p oneclass/",
    "metrics y_true=label y_score=p textscore/",
    "metrics y_true=label y_score=p engine=local mixed/",
    "metrics y_true=label y_score=p engine=local schema/",
    "uplift treatment=arm outcome=y u.csv",
    "uplift treatment=arm outcome=y treated=Beta u.csv",
    "uplift treatment=arm outcome=y treated=beta u.csv",
    "uplift treatment=arm outcome=y treated=' Beta' u.csv",
    "uplift treatment=arm outcome=y treated=Gamma u.csv",
    "uplift treatment=num outcome=y treated=1.0 u.csv",
    "uplift treatment=num outcome=y treated=True u.csv",
    "uplift treatment=flt outcome=y treated=1 u.csv",
    "uplift treatment=flt outcome=y treated=1.0 u.csv",
    "uplift treatment=boo outcome=y treated=true u.csv",
    "uplift treatment=boo outcome=y treated=1 u.csv",
    "uplift treatment=three outcome=y treated=a u.csv",
    "uplift treatment=one outcome=y treated=x u.csv",
    "uplift treatment=arm outcome=y treated=Alpha cluster=nope u.csv",
    "uplift treatment=arm outcome=y treated=Beta ignore=x,nope,arm u.csv",
    "uplift treatment=arm outcome=arm treated=Beta u.csv",
    "uplift treatment=arm outcome=y treated=Beta success=2 u.csv",
    "uplift treatment=arm outcome=y treated=Beta engine=spark u.csv",
    "uplift treatment=x outcome=y u.csv",
    "metrics " + "y_true=label " * 3000 + "m.csv",
    "metrics y_true=label y_score=p " + "m.csv " * 3000,
    "metrics y_true=label y_score=p " + "\u202e" * 5000 + " m.csv",
]
SPARK = [
    "metrics y_true=label y_score=p engine=spark nanscore/",
    "metrics y_true=label y_score=p engine=spark labels3/",
    "metrics y_true=label y_score=p engine=spark oneclass/",
    "metrics y_true=label y_score=p engine=spark textscore/",
    "metrics y_true=label y_score=p engine=spark mixed/",
    "metrics y_true=label y_score=p engine=spark schema/",
    "metrics y_true=label y_score=p engine=spark empty/",
    "metrics y_true=label y_score=p engine=spark m.csv",
    "metrics y_true=label y_score=p positive=7 engine=spark ev/",
]


async def test_hostile26(start_bot, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    _data(root)
    bot = await start_bot(data_dir=root, s3_allowed_buckets="events")
    channel = bot.channel()
    flagged = []
    only = os.environ.get("ONLY")
    for text in SPARK if os.environ.get("SPARK") else COMMANDS:
        if only and only not in text:
            continue
        before = len(bot.connector.messages())
        started = time.monotonic()
        response = await bot.post(channel.message(text))
        await bot.settle()
        took = time.monotonic() - started
        shown = []
        for r in bot.connector.messages()[before:]:
            body = r.body
            shown.append(
                card_text(body["attachments"][0]["content"]) if body.get("attachments") else body.get("text", "")
            )
        joined = " | ".join(s.replace("\n", " ")[:300] for s in shown)
        bad = (
            response.status >= 500
            or not shown
            or took > 60
            or any(w in joined for w in ("Traceback", "Error:", "something went wrong", "Exception", "reference"))
        )
        if bad:
            flagged.append(text[:60])
        print(f"{'FLAG' if bad else 'ok  '} {response.status} {took:5.1f}s {text[:80]!r}\n      -> {joined[:500]!r}")
    print("flagged:", flagged)
