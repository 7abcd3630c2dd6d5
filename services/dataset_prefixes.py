"""Tables that are many files: an `s3://bucket/prefix/` or a folder inside DATA_DIR (Parquet, Hive-style
partitions included), named in chat or by a monitor.

Listing is bounded before anything is read: at most MAX_OBJECTS files and `max_bytes` in all, only buckets of
S3_ALLOWED_BUCKETS and folders inside DATA_DIR. A listing gives the sizes the engine choice needs
(services/analytics/engine.py); the local engine then downloads the files into a temporary folder, Spark reads
them where they are.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from services.datasets import DatasetError
from services.quoting import quote

MAX_OBJECTS = 10_000  # files in one table: ten S3 list pages; Spark's planning stays in seconds


@dataclass(frozen=True)
class Listing:
    """The files of a many-file table: `files` are (S3 key or local path, bytes); `rows` from Parquet footers
    when they were read (local folders), else None."""

    source: str
    files: tuple[tuple[str, int], ...]
    rows: int | None = None
    folder: str = ""  # a local folder's resolved path

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def name(self) -> str:
        return quote(self.source.rstrip("/").rsplit("/", 1)[-1] or self.source, 80)


def _hidden(relative: str) -> bool:
    """True for Spark's and Hadoop's bookkeeping files (`_SUCCESS`, `.crc`), which Spark skips too."""
    return any(part.startswith((".", "_")) for part in PurePosixPath(relative).parts)


def is_many(source: str, data_dir: Path | None) -> bool:
    """True when `source` names a many-file table: an `s3://` URI ending in `/`, or a folder inside DATA_DIR."""
    if source.startswith("s3://"):
        return source.endswith("/")
    if data_dir is None or "://" in source:
        return False
    root = data_dir.resolve()
    path = (root / PurePosixPath(source.replace("\\", "/"))).resolve()
    return path.is_dir() and (path == root or root in path.parents)


PREFIX_BOUND = "ANALYTICS_PREFIX_MAX_GB"  # the setting named when a listing passes `max_bytes`


def _amount(size: int) -> str:
    if size >= 1e9:
        return f"{size / 1e9:,.0f} GB"
    return f"{size / 1e6:,.0f} MB" if size >= 1e6 else f"{size:,} bytes"


def _check_bounds(source: str, count: int, total: int, max_bytes: int, bound: str) -> None:
    if count > MAX_OBJECTS:
        raise DatasetError(f"{quote(source, 100)} holds more than {MAX_OBJECTS:,} files: name a narrower prefix.")
    if total > max_bytes:
        raise DatasetError(
            f"{quote(source, 100)} holds more than {_amount(max_bytes)} ({bound}): name a narrower prefix, e.g. "
            "one partition."
        )


def _list_s3(uri: str, allowed_buckets: frozenset[str], max_bytes: int, bound: str) -> Listing:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    # One sentence for "not allowed", "does not exist" and "access denied", as services/datasets.py does.
    unreadable = DatasetError(
        f"I cannot read {quote(uri, 100)}: it holds no files or this gateway may not read it (S3_ALLOWED_BUCKETS "
        "and its role's s3:ListBucket decide). Check the bucket and the prefix."
    )
    if not bucket or bucket not in allowed_buckets:
        raise unreadable
    files: list[tuple[str, int]] = []
    total = 0
    try:
        pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                key, size = item["Key"], int(item["Size"])
                if key.endswith("/") or _hidden(key[len(prefix) :]):
                    continue
                files.append((key, size))
                total += size
                _check_bounds(uri, len(files), total, max_bytes, bound)  # stops listing at the first file past a bound
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "403", "AccessDenied", "Forbidden", "404"):
            raise unreadable from None
        raise DatasetError(f"Listing {quote(uri, 100)} failed ({code or 'S3 error'}).") from None
    except BotoCoreError:
        raise DatasetError(f"Listing {quote(uri, 100)} failed: the gateway cannot reach S3.") from None
    if not files:
        raise unreadable
    return Listing(uri, tuple(files))


def _list_folder(name: str, data_dir: Path, max_bytes: int, bound: str) -> Listing:
    import pyarrow.parquet as pq

    root = data_dir.resolve()
    folder = (root / PurePosixPath(name.replace("\\", "/"))).resolve()
    if folder != root and root not in folder.parents:
        raise DatasetError(f"{quote(name)} is outside the data folder: give a path relative to DATA_DIR.")
    files: list[tuple[str, int]] = []
    total = 0
    for path in sorted(folder.rglob("*")):  # a generator would not give a stable order; the count bound is next
        if not path.is_file() or _hidden(str(path.relative_to(folder))):
            continue
        size = path.stat().st_size
        files.append((str(path), size))
        total += size
        _check_bounds(name, len(files), total, max_bytes, bound)
    if not files:
        raise DatasetError(f"The folder {quote(name)} holds no data files.")
    rows: int | None = 0
    for path, _ in files:
        try:
            rows += pq.ParquetFile(path).metadata.num_rows  # type: ignore[operator]
        except Exception:  # noqa: BLE001 - not Parquet: rows unknown, bytes decide
            rows = None
            break
    return Listing(name, tuple(files), rows, str(folder))


async def list_many(
    source: str, *, data_dir: Path | None, allowed_buckets: Collection[str], max_bytes: int, bound: str = PREFIX_BOUND
) -> Listing:
    """Return the bounded listing of a many-file table (see `is_many`); raise DatasetError with one sentence
    (past `max_bytes` it names the setting `bound`)."""
    if source.startswith("s3://"):
        return await asyncio.to_thread(_list_s3, source, frozenset(allowed_buckets), max_bytes, bound)
    if data_dir is None:
        raise DatasetError("Local files are not enabled on this gateway (DATA_DIR is not set): attach the file.")
    return await asyncio.to_thread(_list_folder, source, data_dir, max_bytes, bound)


def _download(listing: Listing, into: Path) -> Path:
    import boto3

    bucket = urlparse(listing.source).netloc
    prefix = urlparse(listing.source).path.lstrip("/")
    client = boto3.client("s3")
    for key, _ in listing.files:
        target = into / PurePosixPath(key[len(prefix) :])
        if into.resolve() not in target.resolve().parents:  # a key with `..` never writes outside the folder
            raise DatasetError(f"{quote(key, 80)} is not a usable file name.")
        target.parent.mkdir(parents=True, exist_ok=True)
        client.download_file(bucket, key, str(target))
    return into


TOO_BIG_ADVICE = "use engine=spark, or name a narrower prefix"  # chat; monitors say their own (no engine=)


async def local_copy(listing: Listing, max_bytes: int, too_big: str = TOO_BIG_ADVICE) -> Path:
    """Return a local folder with the listing's files: the folder itself in DATA_DIR, or a temporary copy of an
    S3 prefix (at most `max_bytes`, ANALYTICS_MAX_FILE_MB: what the local engine may read), which the caller
    deletes. Past `max_bytes`, DatasetError ending with the advice `too_big`."""
    if listing.bytes > max_bytes:
        raise DatasetError(
            f"{listing.name} holds {listing.bytes / 1e6:,.0f} MB, more than the local engine's "
            f"{max_bytes // 1_000_000} MB: {too_big}."
        )
    if not listing.source.startswith("s3://"):
        return Path(listing.folder)
    into = Path(tempfile.mkdtemp(prefix="analytics-prefix-"))
    return await asyncio.to_thread(_download, listing, into)
