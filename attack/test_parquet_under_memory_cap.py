"""Item 3: a tiny, valid Parquet file under ANALYTICS_MEMORY_MB. pyarrow is first imported after RLIMIT_AS is set.
Run: .venv/bin/python -m pytest attack/test_parquet_under_memory_cap.py -q -s -p no:cacheprovider"""

from __future__ import annotations

import io

import pandas as pd
import pytest


@pytest.mark.parametrize("memory_mb", [512, 1024, 3008])
async def test_tiny_parquet(start_bot, memory_mb):
    buffer = io.BytesIO()
    pd.DataFrame({"label": [0, 1] * 50, "p": [0.2, 0.8] * 50}).to_parquet(buffer)
    bot = await start_bot(analytics_memory_mb=memory_mb)
    chat = bot.channel()
    url = bot.connector.serve_file("t", buffer.getvalue())
    await bot.post(chat.with_file(chat.message("metrics y_true=label y_score=p"), "t.parquet", url))
    await bot.settle()
    texts = [
        m.body.get("text", "")[:120] or "(card)"
        for m in bot.connector.messages()
        if m.body.get("text") != "Still working…"
    ]
    print(f"\nANALYTICS_MEMORY_MB={memory_mb}: {texts}")
