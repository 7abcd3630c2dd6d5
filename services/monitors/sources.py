"""A monitor's many-file source (an `s3://bucket/prefix/` or a folder inside DATA_DIR): the snapshot a run reads.

Jobs that write a table by day write a folder of Hive-style partitions (`events/dt=2026-12-06/`,
`events/dt=2026-12-07/`, each holding part files and a `_SUCCESS` marker). What a monitor on such a table means:

- a prefix or folder whose sub-folders are partitions (`name=value/`), and which is not a partition itself,
  stands for its **newest partition**: the largest value (dates and numbers in their order, not the objects'
  times, which a re-run of an old day rewrites), read whole (every part file, its sub-partitions too);
- `monitor drift <table>/ every …`, with one table, compares its newest partition with **the one before it**;
- any other prefix or folder is one table, all of its data files (`events/dt={yesterday}/`: that day whole).

Only buckets in S3_ALLOWED_BUCKETS and folders inside DATA_DIR, checked before any request leaves; at most
MAX_PARTITIONS partitions are listed (S3: five pages of one-level listing).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from services.datasets import DatasetError
from services.quoting import quote

MAX_PARTITIONS = 5_000  # thirteen years of days
_PARTITION = re.compile(r"^[^=/.][^=/]*=[^/]*$")


def is_partition(name: str) -> bool:
    """True for a Hive-style partition folder's name (`dt=2026-12-07`)."""
    return bool(_PARTITION.match(name))


def _order(name: str) -> tuple:
    """Sort key of a partition by its value: numbers numerically, then the rest as text (ISO dates sort so)."""
    value = name.split("=", 1)[1]
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def _s3_children(uri: str, allowed_buckets: frozenset[str]) -> list[str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    if bucket not in allowed_buckets:
        raise DatasetError(f"The bucket {quote(bucket, 60)} is not in S3_ALLOWED_BUCKETS.")
    names: list[str] = []
    try:
        pages = (
            boto3.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(Bucket=bucket, Prefix=prefix, Delimiter="/", PaginationConfig={"MaxItems": MAX_PARTITIONS})
        )
        for page in pages:
            names += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    except ClientError:
        raise DatasetError(
            f"I cannot list {quote(uri, 100)} (S3_ALLOWED_BUCKETS and this gateway's s3:ListBucket decide)."
        ) from None
    except BotoCoreError:
        raise DatasetError(f"Listing {quote(uri, 100)} failed: the gateway cannot reach S3.") from None
    return names


def _folder_children(name: str, data_dir: Path) -> list[str]:
    root = data_dir.resolve()
    folder = (root / PurePosixPath(name.replace("\\", "/"))).resolve()
    if folder != root and root not in folder.parents:
        raise DatasetError(f"{quote(name, 80)} is outside the data folder: give a path relative to DATA_DIR.")
    if not folder.is_dir():
        raise DatasetError(f"There is no folder {quote(name, 80)} in the data folder.")
    return sorted(p.name for p in folder.iterdir() if p.is_dir())[:MAX_PARTITIONS]


async def partitions(source: str, *, data_dir: Path | None, allowed_buckets: Collection[str]) -> list[str]:
    """Return the partitions directly under `source` (an s3:// prefix or a DATA_DIR folder), oldest first, as
    sources of their own (`…/dt=2026-12-07/`); [] when it has none or is a partition itself."""
    base = source.rstrip("/")
    if is_partition(base.rsplit("/", 1)[-1]):
        return []
    if source.startswith("s3://"):
        children = await asyncio.to_thread(_s3_children, base + "/", frozenset(allowed_buckets))
    elif data_dir is None:
        raise DatasetError("DATA_DIR is not set on this gateway, so monitors can only read `s3://` data.")
    else:
        children = await asyncio.to_thread(_folder_children, base, data_dir)
    found = sorted((c for c in children if is_partition(c)), key=_order)
    return [f"{base}/{name}/" for name in found]


async def snapshots(
    source: str, count: int, *, data_dir: Path | None, allowed_buckets: Collection[str]
) -> list[str]:  # fmt: skip
    """Return the `count` newest snapshots of `source`, oldest first: its newest partitions, or (count 1) the
    source itself when it has none. Raises DatasetError with one sentence when there are too few."""
    found = await partitions(source, data_dir=data_dir, allowed_buckets=allowed_buckets)
    if not found:
        if count == 1:
            return [source]
        raise DatasetError(
            f"{quote(source, 100)} has no partition folders (such as `dt=2026-12-07/`) to compare: name a "
            "reference and a current table."
        )
    if len(found) < count:
        raise DatasetError(f"{quote(source, 100)} holds one partition so far: I compare it once there is a second.")
    return found[-count:]
