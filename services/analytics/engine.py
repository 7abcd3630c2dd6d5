"""Which engine runs an analysis: the local path (pandas in the worker) or Spark, and the sentence that says so.

`engine=local|spark` in the command forces one; otherwise data over ANALYTICS_SPARK_ROWS rows or
ANALYTICS_SPARK_MB megabytes (both tables together) goes to Spark. Sizes come from Parquet footers (rows) and
file sizes, never from reading the data.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from services.analytics.errors import AnalyticsError

ENGINES = ("local", "spark")
LOCAL, SPARK = ENGINES  # engines, not backends: the `local` backend type is another thing
SPARK_ROWS_PER_SECOND = 20_000  # bench/spark_drift.py: 2.4 M rows in 97 s on 2 loaded cores (local mode), rounded down
MAX_PARTITION_FILES = 100_000  # file paths read for partition names (a listing is already in memory)
SPARK_MB_PER_SECOND = 2.0  # the same run: about 300 MB of Parquet (20 columns) in 97 s, rounded down


@dataclass(frozen=True)
class Size:
    """Rows (None when unknown, e.g. CSV) and bytes of a table's files."""

    rows: int | None
    bytes: int


@dataclass(frozen=True)
class Choice:
    """The engine chosen and the sentence to tell the user (empty for the local path chosen by size)."""

    engine: str
    message: str


def parquet_files(path: Path) -> list[Path]:
    """Return the Parquet files of a file or a (partitioned) folder, in a stable order (hidden files skipped)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith((".", "_")) for part in
                                                                            p.relative_to(path).parts))  # fmt: skip


def partition_columns(files: Iterable[str], base: str) -> tuple[str, ...]:
    """Return the Hive partition columns (the `name` of `name=value` folders) between `base` and `files`, in the
    order met: the columns a folder read adds that are not in the files. Paths are local, file: or s3:// URIs
    (Spark's `inputFiles()`); the first MAX_PARTITION_FILES files are looked at."""
    root = _plain(base).rstrip("/") + "/"
    found: dict[str, None] = {}
    for file in itertools.islice(files, MAX_PARTITION_FILES):
        text = _plain(str(file))
        if text.startswith(root):
            for folder in text[len(root) :].split("/")[:-1]:
                name, equals, _ = folder.partition("=")
                if equals and name:
                    found.setdefault(name, None)
    return tuple(found)


def _plain(path: str) -> str:
    """Return `path` without a file: scheme (file:/x, file:///x and /x are the same file)."""
    if path.startswith("file:"):
        return "/" + path[5:].lstrip("/")
    return path


def local_size(path: Path) -> Size:
    """Return the rows (from the Parquet footers) and bytes of a local file or folder."""
    import pyarrow.parquet as pq

    files = parquet_files(path)
    rows: int | None = 0
    for file in files:
        try:
            rows += pq.ParquetFile(file).metadata.num_rows  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - not Parquet (CSV): rows unknown, bytes decide
            rows = None
            break
    return Size(rows, sum(file.stat().st_size for file in files))


def choose(forced: str | None, sizes: list[Size], max_rows: int, max_mb: int) -> Choice:
    """Return the engine for tables of these sizes: `forced` when given (LOCAL or SPARK), else Spark
    when their rows or bytes together exceed the thresholds."""
    rows = sum(size.rows or 0 for size in sizes)
    megabytes = sum(size.bytes for size in sizes) / 1e6
    if forced:
        if forced not in ENGINES:
            raise AnalyticsError(f"engine= takes {' or '.join(ENGINES)}, not '{forced[:20]}'.")
        about = duration(rows, megabytes, sizes)
        return Choice(forced, f"Running on Spark, as you asked.{about}" if forced == "spark" else "")
    if rows > max_rows or megabytes > max_mb:
        shown = f"{rows:,} rows, " if rows and all(size.rows is not None for size in sizes) else ""
        return Choice(
            "spark",
            f"The data is large ({shown}{megabytes:,.0f} MB; the local path takes up to {max_rows:,} rows "
            f"or {max_mb:,} MB): running on Spark, from summaries of every row.{duration(rows, megabytes, sizes)}",
        )
    return Choice(LOCAL, "")


def duration(rows: int, megabytes: float, sizes: list[Size]) -> str:
    """Return " It should take about N minutes." from the rows when every table's are known, else the bytes
    (the rates bench/spark_drift.py measured on 2 cores: a rough figure, said as one)."""
    known = rows and all(size.rows is not None for size in sizes)
    seconds = rows / SPARK_ROWS_PER_SECOND if known else megabytes / SPARK_MB_PER_SECOND
    minutes = max(1, round(seconds / 60))
    return f" It should take about {minutes} minute{'s' if minutes != 1 else ''}."
