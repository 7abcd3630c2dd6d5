"""Analyses of many-file tables named in chat (an `s3://bucket/prefix/` or a DATA_DIR folder): which engine runs
them and where, decided before the analysis process starts.

The engine: the command's `engine=local|spark`, else ANALYTICS_ENGINE, else (`auto`) Spark when the tables
together exceed ANALYTICS_SPARK_ROWS rows or ANALYTICS_SPARK_MB megabytes (services/analytics/engine.py).
Where: the local engine reads a DATA_DIR folder in place and an S3 prefix from a temporary copy (at most
ANALYTICS_MAX_FILE_MB); Spark reads a DATA_DIR folder in the analysis process (pyspark in local mode) and an S3
prefix on EMR Serverless when the template turned it on (the answer is posted when the job run ends).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.analytics import engine
from services.analytics.commands import CommandSpec
from services.analytics.errors import AnalyticsError
from services.dataset_prefixes import Listing, local_copy

PENDING_TTL_SECONDS = 3 * 3600  # a run lasts at most emr.MAX_MINUTES; its record outlives it


@dataclass
class Placed:
    """Where an analysis runs: the sources and values for the analysis process, the sentence to say first,
    temporary folders to delete afterwards, and the EMR job run when it was started there instead."""

    sources: list[tuple[Any, str]]
    values: dict[str, Any]
    message: str = ""
    cleanup: list[Path] = field(default_factory=list)
    emr_run: str = ""

    def remove(self) -> None:
        for folder in self.cleanup:
            shutil.rmtree(folder, ignore_errors=True)


def _size(source: tuple[Any, str] | Listing) -> engine.Size:
    if isinstance(source, Listing):
        return engine.Size(source.rows, source.bytes)
    return engine.Size(None, len(source[0]))


def job_id(conversation_key: str, turn_id: str) -> str:
    """Return the EMR client token of a turn: the same activity delivered twice starts one job run."""
    return hashlib.sha256(f"{conversation_key}\n{turn_id}".encode()).hexdigest()[:32]


async def place(
    spec: CommandSpec, values: dict[str, Any], sources: list[tuple[Any, str] | Listing], *, default_engine: str,
    spark_rows: int, spark_mb: int, max_local_bytes: int, emr: Any = None, allowed_buckets: tuple[str, ...] = (),
    token: str = "",
) -> Placed:  # fmt: skip
    """Return where `spec` runs on `sources` (attachments' (bytes, name) or listings). Raises AnalyticsError
    with one sentence when it cannot run anywhere (e.g. Spark asked for an S3 prefix without EMR)."""
    given = values.get("engine") or "auto"
    forced = given if given != "auto" else (default_engine if default_engine != "auto" else None)
    choice = engine.choose(forced, [_size(s) for s in sources], spark_rows, spark_mb)
    if choice.engine == "spark" and spec.large is None:
        raise AnalyticsError(
            f"`{spec.name}` does not run on Spark yet: name a narrower prefix or folder (the local engine reads up "
            f"to {max_local_bytes // 1_000_000:,} MB)."
        )
    listings = [s for s in sources if isinstance(s, Listing)]
    if choice.engine == engine.LOCAL:
        placed = Placed([], {**values, "engine": engine.LOCAL} if "engine" in values else dict(values))
        try:
            for source in sources:
                if isinstance(source, Listing):
                    folder = await local_copy(source, max_local_bytes)
                    if source.source.startswith("s3://"):
                        placed.cleanup.append(folder)
                    placed.sources.append((folder, source.name))
                else:
                    placed.sources.append(source)
        except BaseException:
            placed.remove()
            raise
        return placed
    if len(listings) != len(sources):
        raise AnalyticsError("To run on Spark, name every table as a folder or an s3:// prefix (not attachments).")
    spark_values = {**values, "engine": "spark"}
    if all(not s.source.startswith("s3://") for s in listings):
        return Placed([(s.folder, s.name) for s in listings], spark_values, choice.message)
    if emr is None:
        raise AnalyticsError(
            "Spark on s3:// prefixes runs on EMR Serverless, which this gateway has not turned on "
            f"(EnableEmrServerless): use engine=local for prefixes up to {max_local_bytes // 1_000_000:,} MB, or "
            "ask an admin."
        )
    if any(not s.source.startswith("s3://") for s in listings):
        raise AnalyticsError("On EMR Serverless both tables must be s3:// prefixes.")
    from services.analytics import emr as emr_jobs

    # JSON for the job's command line: lists of columns (`ignore=dt`) are tuples here, and were dropped silently
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in spark_values.items()
               if isinstance(v, str | int | float | bool | list | tuple | type(None))}  # fmt: skip
    run = await asyncio.to_thread(
        emr_jobs.start_analysis, emr_jobs.client(), emr, spec.name, [s.source for s in listings], options, token,
        allowed_buckets,
    )  # fmt: skip
    return Placed([], spark_values, choice.message, emr_run=run)
