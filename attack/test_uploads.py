# ruff: noqa: E501
"""Item 3: uploads small on the wire, huge in memory, through the fake connector on loopback.
Run: .venv/bin/python -m pytest attack/test_uploads.py -q -s -p no:cacheprovider"""

from __future__ import annotations

import io
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def repeated_column_parquet(rows: int = 20_000_000, copies: int = 40) -> bytes:
    column = pa.array([0], type=pa.int64()).take(pa.array([0] * 1)).to_numpy()  # one zero
    import numpy as np

    zeros = pa.array(np.zeros(rows, dtype=np.int64))
    table = pa.table({"label": zeros, "p": zeros, **{f"c{i}": zeros for i in range(copies)}})
    del column
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", use_dictionary=True)
    return buffer.getvalue()


CASES = {
    "parquet repeated column": repeated_column_parquet,
    "csv 50 MB single line": lambda: b"label,p\n1," + b"9" * 50_000_000 + b"\n",
    "csv 100k fields in a data row": lambda: b"label,p\n" + b"1," * 100_000 + b"1\n" + b"0,0.5\n" * 10,
    "csv 100k columns quoted header": lambda: b'"' + b"c," * 100_000 + b'c"\n' + b"1\n" * 10,
}


@pytest.mark.parametrize("name", list(CASES))
async def test_upload(start_bot, name):
    data = CASES[name]()
    bot = await start_bot(analytics_max_file_mb=60, analytics_memory_mb=1024)
    chat = bot.channel()
    activity = chat.with_file(
        chat.message("metrics y_true=label y_score=p"), "f.csv", bot.connector.serve_file("f", data)
    )
    started = time.monotonic()
    status = (await bot.post(activity)).status
    await bot.settle()
    replies = [
        m.body.get("text", "")[:200] or "(card)"
        for m in bot.connector.messages()
        if m.body.get("text") != "Still working…"
    ]
    print(
        f"\n{name}: {len(data):,} bytes on the wire, status {status}, {time.monotonic() - started:.1f} s, replies: {replies}"
    )
