"""Fetch the bytes of a data file named in chat: a Teams file attachment, an `s3://` URI, or a path in DATA_DIR."""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import aiohttp


class DatasetError(ValueError):
    """The file cannot be had; the message says what to send instead."""


def _too_big(name: str, limit: int) -> DatasetError:
    return DatasetError(f"{name} is larger than the {limit // 1_000_000} MB limit: send a smaller extract or a sample.")


async def download(url: str, name: str, max_bytes: int, timeout: float = 120.0) -> bytes:
    """Return the file at a pre-authenticated download URL (a Teams attachment), at most `max_bytes` long."""
    if urlparse(url).scheme not in ("https", "http"):
        raise DatasetError(f"I cannot download {name}: its link is not a web address.")
    try:
        timeout_config = aiohttp.ClientTimeout(total=timeout)
        async with aiohttp.ClientSession(timeout=timeout_config) as session, session.get(url) as response:
            if response.status in (401, 403, 404, 410):
                raise DatasetError(f"The link to {name} has expired or is not allowed: attach the file again.")
            if response.status >= 400:
                raise DatasetError(f"Downloading {name} failed (HTTP {response.status}): attach it again.")
            if (response.content_length or 0) > max_bytes:
                raise _too_big(name, max_bytes)
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > max_bytes:
                    raise _too_big(name, max_bytes)
                chunks.append(chunk)
            return b"".join(chunks)
    except (aiohttp.ClientError, TimeoutError):
        raise DatasetError(f"I could not download {name}: attach it again in a moment.") from None


def _read_s3(uri: str, max_bytes: int) -> bytes:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise DatasetError(f"{uri} is not a full S3 address: use s3://bucket/path/to/file.csv.")
    client = boto3.client("s3")
    try:
        size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if size > max_bytes:
            raise _too_big(uri, max_bytes)
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NoSuchBucket", "NotFound"):
            raise DatasetError(f"{uri} does not exist: check the bucket and the path.") from None
        if code in ("403", "AccessDenied"):
            raise DatasetError(f"The gateway may not read {uri}: its role needs s3:GetObject on it.") from None
        raise DatasetError(f"Reading {uri} failed ({code or 'S3 error'}).") from None
    except BotoCoreError:
        raise DatasetError(f"Reading {uri} failed: the gateway cannot reach S3 or has no AWS credentials.") from None


async def read_s3(uri: str, max_bytes: int) -> bytes:
    """Return the object at an `s3://bucket/key` URI (read with the gateway's AWS role), at most `max_bytes`."""
    return await asyncio.to_thread(_read_s3, uri, max_bytes)


def local_path(name: str, data_dir: Path | None) -> Path:
    """Return the file `name` inside `data_dir`; raise DatasetError for paths outside it or files that do not exist."""
    if data_dir is None:
        raise DatasetError(
            "Local files are not enabled on this gateway (DATA_DIR is not set): attach the file instead."
        )
    relative = PurePosixPath(name.replace("\\", "/"))
    root = data_dir.resolve()
    path = (root / relative).resolve()
    if relative.is_absolute() or root not in path.parents:
        raise DatasetError(f"{name} is outside the data folder: give a path relative to DATA_DIR.")
    if not path.is_file():
        available = sorted(p.name for p in root.iterdir() if p.is_file())[:10] if root.is_dir() else []
        listing = f" Files there: {', '.join(available)}." if available else ""
        raise DatasetError(f"There is no file {name} in the data folder.{listing}")
    return path


async def fetch(source: str, *, data_dir: Path | None, max_bytes: int) -> bytes:
    """Return the bytes of `source`: an `s3://` URI, or a path inside `data_dir`."""
    if source.startswith("s3://"):
        return await read_s3(source, max_bytes)
    path = local_path(source, data_dir)
    if path.stat().st_size > max_bytes:
        raise _too_big(source, max_bytes)
    return await asyncio.to_thread(path.read_bytes)
