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
import math
import os
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


_DIGITS = re.compile(r"[0-9]+")
_YEAR_LAST = re.compile(r"^[0-9]{1,2}[-/._][0-9]{1,2}[-/._][0-9]{4}$")  # 07-12-2026: day or month first?
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # the partition of rows whose value is missing: never the newest


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _natural(value: str) -> tuple:
    """Sort key reading each run of digits as a number: 2026-9 before 2026-10, T9 before T10."""
    return tuple((int(run), "") if run.isdigit() else (-1, run) for run in re.findall(r"[0-9]+|[^0-9]+", value))


def newest_last(source: str, names: list[str]) -> list[str]:
    """Return the partition folder names `names` (`dt=…`) oldest first: numbers by value, dates and other values
    with digits run by run (dt=2026-9 before dt=2026-10). Partitions of another column whose values are all numbers
    (`hour=9/` beside `dt=…/`) come first, as before. Raises DatasetError with one sentence when the order cannot
    be told: two columns of non-numeric values (dt=… and region=…), values of different formats (dt=2026-12-07 and
    dt=20261208), or dates written year last (dt=07-12-2026)."""
    groups: dict[str, list[str]] = {}
    for name in names:
        key, value = name.split("=", 1)
        if value != HIVE_NULL:
            groups.setdefault(key, []).append(value)
    ordered = {key: _ordered(source, values) for key, values in sorted(groups.items())}
    numeric = [key for key, (is_numeric, _) in ordered.items() if is_numeric]
    others = [key for key in ordered if key not in numeric]
    if len(others) > 1:
        shown = ", ".join(f"`{quote(key, 30)}=`" for key in others[:5])
        raise DatasetError(f"{quote(source, 100)} holds partitions of different columns ({shown}): name the folder "
                           "of one of them.")  # fmt: skip
    return [f"{key}={value}" for key in (*numeric, *others) for value in ordered[key][1]]


def _ordered(source: str, values: list[str]) -> tuple[bool, list[str]]:
    """Return (whether every value is a number, the values oldest first) of one partition column."""
    numbers = [_number(value) for value in values]
    if all(number is not None for number in numbers):
        return True, [value for _, value in sorted(zip(numbers, values, strict=True))]
    shapes = {_DIGITS.sub("9", value) for value in values}
    if len(shapes) > 1 and any(_DIGITS.search(value) for value in values):
        examples = sorted({_DIGITS.sub("9", v): v for v in values}.values())[:2]
        shown = " and ".join(quote(example, 30) for example in examples)
        raise DatasetError(
            f"The partitions of {quote(source, 100)} are not written one way ({shown}): I cannot tell which is the "
            "newest. Name a reference and a current table."
        )
    if any(_YEAR_LAST.match(value) for value in values):
        raise DatasetError(
            f"The partitions of {quote(source, 100)} write dates year last ({quote(values[0], 30)}): I cannot tell "
            "the day from the month. Write them year first (dt=2026-12-07) or name a reference and a current table."
        )
    return False, sorted(values, key=_natural)


def _too_many(source: str) -> DatasetError:
    return DatasetError(f"{quote(source, 100)} holds more than {MAX_PARTITIONS:,} partitions: name a narrower folder "
                        "(e.g. one year) so that the newest ones are among those I list.")  # fmt: skip


def _s3_children(uri: str, allowed_buckets: frozenset[str]) -> list[str]:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    if bucket not in allowed_buckets:
        raise DatasetError(f"The bucket {quote(bucket, 60)} is not in S3_ALLOWED_BUCKETS.")
    names: list[str] = []
    try:
        # MaxItems would count the files, not the folders: the bound is checked page by page (1,000 a page), and
        # a listing cut short is refused, since S3 lists in name order and the cut drops the newest partitions
        pages = (
            boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
        )
        for page in pages:
            names += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
            if len(names) > MAX_PARTITIONS:
                raise _too_many(uri)
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
    try:
        if not folder.is_dir():
            raise DatasetError(f"There is no folder {quote(name, 80)} in the data folder.")
        names: list[str] = []
        for entry in os.scandir(folder):  # bounded while listing: a folder of a million entries stops at once
            if entry.is_dir():
                names.append(entry.name)
                if len(names) > MAX_PARTITIONS:
                    raise _too_many(name)
    except OSError:  # a name too long for the file system, a folder that cannot be read
        raise DatasetError(f"There is no folder {quote(name, 80)} in the data folder.") from None
    return names


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
    found = newest_last(source, [c for c in children if is_partition(c)])
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
    chosen = found[-count:]
    if len({snapshot.rstrip("/").rsplit("/", 1)[-1].split("=", 1)[0] for snapshot in chosen}) > 1:
        shown = " and ".join(quote(snapshot, 60) for snapshot in chosen)
        raise DatasetError(
            f"The newest partitions of {quote(source, 100)} are of different columns ({shown}): name the folder of one "
            "of them."
        )
    return chosen
