"""Hostile files: malformed, empty, binary, enormous-line, decompression-bomb and formula-injection CSV and
Parquet inputs get one clear sentence (or the normal card), never a crash, a hang or a flood of messages."""

from __future__ import annotations

import gzip
import io
import time

import numpy as np
import pandas as pd
import pytest


def parquet(table: pd.DataFrame, **options) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, **options)
    return buffer.getvalue()


def bomb_parquet() -> bytes:
    """A Parquet file of about 100 KB that expands to about 400 MB of strings in memory."""
    return parquet(pd.DataFrame({"label": np.zeros(4_000, dtype=int), "p": ["x" * 100_000] * 4_000}),
                   compression="zstd")  # fmt: skip


HOSTILE: dict[str, bytes] = {
    "parquet-bomb": b"",
    "empty": b"",
    "only-header": b"label,p\n",
    "whitespace": b" \n\n\t\n",
    "binary": bytes(range(256)) * 40,
    "nul-bytes": b"label,p\n\x00\x00\x00,\x00\n",
    "ragged": b"label,p\n1,0.5,7,8\n0\n1,0.2\n" * 50,
    "unclosed-quote": b'label,p\n1,"0.5\n0,0.3\n' * 50,
    "enormous-line": b"label,p\n" + b"1," + b"9" * 5_000_000 + b"\n",
    "enormous-header": b",".join(b"c%d" % i for i in range(200_000)) + b"\n" + b"1," * 199_999 + b"1\n",
    "gzip-csv": gzip.compress(b"label,p\n" + b"1,0.5\n" * 1_000_000),
    "gzip-bomb": gzip.compress(b"\0" * 50_000_000),
    "bad-parquet": b"PAR1" + b"\xff" * 1000 + b"PAR1",
    "truncated-parquet": parquet(pd.DataFrame({"label": [0, 1] * 500, "p": [0.1, 0.9] * 500}))[:-50],
    "huge-number": b"label,p\n1,1e309\n0,0.2\n1,-1e309\n" * 100,
    "non-numeric-scores": b"label,p\n1,high\n0,low\n" * 100,
    "formula-injection": b"label,p,=HYPERLINK(\"https://evil.example\")\n1,0.9,=cmd|' /C calc'!A0\n0,0.1,@SUM(1)\n"
    * 99,
    "injection-column-names": b"[x](https://evil.example),<img src=x>\n1,0.5\n0,0.2\n" * 10,
    "one-huge-bad-cell": b"label,p\n1," + b"[x](https://evil.example) " * 4000 + b"\n0,0.2\n",
    "huge-column-name": b"label,p," + b"c" * 100_000 + b"\n1,0.5,1\n0,0.2,1\n",
    "utf16": "label,p\n1,0.5\n0,0.2\n".encode("utf-16"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_files_get_one_clear_sentence(start_bot, name):
    data = bomb_parquet() if name == "parquet-bomb" else HOSTILE[name]
    bot = await start_bot(analytics_max_file_mb=20)
    chat = bot.channel()
    activity = chat.with_file(
        chat.message("metrics y_true=label y_score=p"), f"{name}.csv", bot.connector.serve_file(name, data)
    )
    started = time.monotonic()
    assert (await bot.post(activity)).status == 200
    await bot.settle()
    assert time.monotonic() - started < 60
    replies = [m for m in bot.connector.messages() if m.body.get("text") != "Still working…"]
    assert len(replies) == 1, [r.body.get("text") for r in replies]
    text = replies[0].body.get("text") or ""
    if not replies[0].body.get("attachments"):
        assert text and len(text) < 600 and "Traceback" not in text and "Sorry" not in text, text
        assert "Error" not in text.split(".")[0], text  # no exception names
    for raw in ("](https://evil", "<img", '=HYPERLINK("https://evil'):
        assert raw not in str(replies[0].body), raw


@pytest.mark.parametrize(
    ("text", "files", "words"),
    [
        ("metrics y_true=label y_score=p", [("big.csv", b"label,p\n1,0.2\n0,1e309\n1,0.3\n0,0.1\n")],
         "too large for a 64-bit float in column 'p' (data row 2)"),
        ("drift", [("a.csv", b"x\n1\n2\n"), ("b.csv", b"x\n3\n4\n")], "at least 10 rows in each table"),
    ],
    ids=["1e309", "tiny-drift"],
)  # fmt: skip
async def test_overflowing_numbers_and_tiny_tables_get_a_specific_sentence(start_bot, text, files, words):
    bot = await start_bot()
    chat = bot.channel()
    activity = chat.message(text)
    for name, data in files:
        chat.with_file(activity, name, bot.connector.serve_file(name, data))
    await bot.post(activity)
    await bot.settle()
    assert words in bot.connector.messages()[-1].body["text"]


def test_the_command_line_gives_the_sentence_not_a_traceback(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "big.csv"
    path.write_bytes(b"label,p\n1,1e309\n0,0.2\n")
    done = subprocess.run([sys.executable, "-m", "services.analytics", "metrics", str(path), "--y-true", "label",
                           "--y-score", "p"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert "too large for a 64-bit float" in done.stderr + done.stdout and "Traceback" not in done.stderr


async def test_a_huge_file_name_is_quoted_short(start_bot):
    bot = await start_bot()
    chat = bot.channel()
    name = "[x](https://evil.example)" * 400 + ".csv"
    activity = chat.with_file(chat.message("metrics"), name, bot.connector.serve_file("bad", b"\x00\x01garbage"))
    await bot.post(activity)
    await bot.settle()
    (reply,) = bot.connector.messages()
    assert len(reply.body["text"]) < 400 and "](https://evil" not in reply.body["text"]


def test_a_first_row_wider_than_the_header_is_refused_not_made_an_index():
    """pandas made the extra fields of a first data row an index (100,000 fields: 30 s, past MAX_COLUMNS)."""
    from services.analytics.errors import AnalyticsError
    from services.analytics.tables import read_table

    with pytest.raises(AnalyticsError, match="more fields than its header"):
        read_table(b"label,p\n" + b"1," * 5_000 + b"1\n" + b"0,0.5\n" * 10, "wide.csv")


async def test_a_parquet_file_too_big_for_memory_is_said_to_be_so_not_unreadable(start_bot):
    """pyarrow's memory error was caught as "cannot read as a CSV or Parquet table": the user was misled."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    zeros = pa.array(np.zeros(5_000_000, dtype=np.int64))  # 40 MB; the file is about 0.5 MB
    buffer = io.BytesIO()
    pq.write_table(pa.table({"label": zeros, "p": zeros, **{f"c{i}": zeros for i in range(40)}}), buffer)
    bot = await start_bot(analytics_memory_mb=1024)
    chat = bot.channel()
    url = bot.connector.serve_file("wide", buffer.getvalue())
    assert (
        await bot.post(chat.with_file(chat.message("metrics y_true=label y_score=p"), "w.parquet", url))
    ).status == 200
    await bot.settle()
    (reply,) = [m for m in bot.connector.messages() if m.body.get("text") != "Still working…"]
    assert "MB of memory" in reply.body["text"] and "cannot read" not in reply.body["text"]
