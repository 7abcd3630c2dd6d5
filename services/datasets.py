"""Fetch the bytes of a data file named in chat: a Teams file attachment, an `s3://` URI, or a path in DATA_DIR."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import aiohttp

from services.quoting import quote
from services.safe_fetch import AllowList, FetchFailed, FetchRefused, FetchTooLarge, fetch_url

log = logging.getLogger(__name__)

MAX_PATH_CHARS = 1024  # a data name in DATA_DIR: Linux allows 4,096 bytes, 255 per part


class DatasetError(ValueError):
    """The file cannot be had; the message says what to send instead."""


def _too_big(name: str, limit: int) -> DatasetError:
    return DatasetError(f"{name} is larger than the {limit // 1_000_000} MB limit: send a smaller extract or a sample.")


async def download(
    url: str, name: str, max_bytes: int, *, allowed_hosts: Sequence[str] | AllowList, timeout: float = 120.0
) -> bytes:
    """Return the file at a pre-authenticated download URL (a Teams attachment), at most `max_bytes` long.

    Only HTTPS from `allowed_hosts` (DOWNLOAD_ALLOWED_HOSTS), public addresses, allowed redirects, bounded size
    after decompression and `timeout` seconds in all: services/safe_fetch.py. Raises DatasetError.
    """
    name = quote(name)  # a file name is user data: a short, inert excerpt in every sentence below
    try:
        return await fetch_url(url, allowed_hosts=allowed_hosts, max_bytes=max_bytes, timeout=timeout)
    except FetchRefused as refused:
        log.warning("download refused: %s", refused.reason)
        raise DatasetError(
            f"I cannot download {name}: its link is not on a file host this gateway accepts. Attach the file "
            "from Teams (OneDrive or SharePoint)."
        ) from None
    except FetchTooLarge:
        raise _too_big(name, max_bytes) from None
    except FetchFailed as failed:
        if failed.status in (401, 403, 404, 410):
            raise DatasetError(f"The link to {name} has expired or is not allowed: attach the file again.") from None
        raise DatasetError(f"Downloading {name} failed (HTTP {failed.status}): attach it again.") from None
    except (aiohttp.ClientError, TimeoutError, OSError):
        raise DatasetError(f"I could not download {name}: attach it again in a moment.") from None


def _read_s3(uri: str, max_bytes: int, allowed_buckets: Collection[str]) -> bytes:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    uri = quote(uri, 100)  # shown to the user from here on
    if not bucket or not key:
        raise DatasetError(f"{uri} is not a full S3 address: use s3://bucket/path/to/file.csv.")
    # One sentence for "not allowed", "does not exist" and "access denied", so that a refusal never tells
    # whether an object exists.
    unreadable = DatasetError(
        f"I cannot read {uri}: it does not exist or this gateway may not read it (S3_ALLOWED_BUCKETS and its "
        "role's s3:GetObject decide). Check the bucket and the path."
    )
    if bucket not in allowed_buckets:
        raise unreadable
    client = boto3.client("s3")
    try:
        size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if size > max_bytes:
            raise _too_big(uri, max_bytes)
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read(max_bytes + 1)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound", "403", "AccessDenied", "Forbidden"):
            raise unreadable from None
        raise DatasetError(f"Reading {uri} failed ({code or 'S3 error'}).") from None
    except BotoCoreError:
        raise DatasetError(f"Reading {uri} failed: the gateway cannot reach S3 or has no AWS credentials.") from None
    if len(data) > max_bytes:  # replaced by a larger object between the two calls
        raise _too_big(uri, max_bytes)
    return data


async def read_s3(uri: str, max_bytes: int, *, allowed_buckets: Collection[str] = ()) -> bytes:
    """Return the object at an `s3://bucket/key` URI (read with the gateway's AWS role), at most `max_bytes`.

    Only buckets in `allowed_buckets` (S3_ALLOWED_BUCKETS) are read; raises DatasetError otherwise.
    """
    return await asyncio.to_thread(_read_s3, uri, max_bytes, frozenset(allowed_buckets))


def is_file(path: Path) -> bool:
    """`path.is_file()`, False where the file system refuses the name (a part over 255 bytes: ENAMETOOLONG)."""
    try:
        return path.is_file()
    except OSError:
        return False


def local_path(name: str, data_dir: Path | None, *, list_files: bool = False) -> Path:
    """Return the file `name` inside `data_dir`; raise DatasetError for paths outside it or files that do not exist
    (the sentence names up to 10 files that are there only when `list_files`: for admins)."""
    shown = quote(name)
    if data_dir is None:
        raise DatasetError(
            "Local files are not enabled on this gateway (DATA_DIR is not set): attach the file instead."
        )
    if len(name) > MAX_PATH_CHARS:  # the file system refuses it (ENAMETOOLONG): one sentence, not a crash
        raise DatasetError(f"{shown} is not a file name ({len(name):,} characters): {MAX_PATH_CHARS:,} at most.")
    relative = PurePosixPath(name.replace("\\", "/"))
    root = data_dir.resolve()
    path = (root / relative).resolve()
    if relative.is_absolute() or root not in path.parents:
        raise DatasetError(f"{shown} is outside the data folder: give a path relative to DATA_DIR.")
    if not is_file(path):
        available = sorted(p.name for p in root.iterdir() if p.is_file())[:10] if list_files and root.is_dir() else []
        listing = f" Files there: {', '.join(available)}." if available else ""
        raise DatasetError(f"There is no file {shown} in the data folder.{listing}")
    return path


async def fetch(
    source: str,
    *,
    data_dir: Path | None,
    max_bytes: int,
    allowed_buckets: Collection[str] = (),
    list_files: bool = False,
) -> bytes:
    """Return the bytes of `source`: an `s3://` URI in one of `allowed_buckets`, or a path inside `data_dir`
    (`list_files`: a missing file's sentence names the files there; for admins only)."""
    if source.startswith("s3://"):
        return await read_s3(source, max_bytes, allowed_buckets=allowed_buckets)
    path = local_path(source, data_dir, list_files=list_files)
    if path.stat().st_size > max_bytes:
        raise _too_big(quote(source), max_bytes)
    return await asyncio.to_thread(path.read_bytes)
