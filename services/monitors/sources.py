"""A monitor's `s3://bucket/prefix/` source: the newest data object under the prefix.

Jobs that write a day's data often write a folder (`dt=2026-12-07/part-00000.parquet`, `_SUCCESS`): a monitor
names the folder and reads its newest object. Only the first 1,000 keys are listed (one ListObjectsV2 page),
and only buckets in S3_ALLOWED_BUCKETS, before any request leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from urllib.parse import urlparse

from services.datasets import DatasetError
from services.quoting import quote

DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".json", ".jsonl", ".gz")


def _newest(uri: str, allowed_buckets: Collection[str]) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, prefix = parsed.netloc, parsed.path.lstrip("/")
    unreadable = DatasetError(
        f"I cannot read {quote(uri, 100)}: it holds no data file or this gateway may not list it "
        "(S3_ALLOWED_BUCKETS and its role's s3:ListBucket decide)."
    )
    if bucket not in allowed_buckets:
        raise unreadable
    try:
        page = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
    except ClientError:
        raise unreadable from None
    except BotoCoreError:
        raise DatasetError(f"Listing {quote(uri, 100)} failed: the gateway cannot reach S3.") from None
    objects = [
        o for o in page.get("Contents", [])
        if o.get("Size", 0) > 0 and o["Key"].lower().endswith(DATA_SUFFIXES) and "/_" not in f"/{o['Key']}"
    ]  # fmt: skip
    if not objects:
        raise unreadable
    newest = max(objects, key=lambda o: (o["LastModified"], o["Key"]))
    return f"s3://{bucket}/{newest['Key']}"


async def newest_object(uri: str, *, allowed_buckets: Collection[str]) -> str:
    """Return the `s3://` URI of the newest data object under the prefix `uri` (which ends with `/`); raise
    DatasetError when the bucket is not allowed or the prefix holds no data file."""
    return await asyncio.to_thread(_newest, uri, frozenset(allowed_buckets))
