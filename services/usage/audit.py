"""The audit trail: one record per turn, as JSON lines in AUDIT_DIR locally or one object per turn in S3.

Records carry ids, counts and outcomes; the question and answer text only when AUDIT_INCLUDE_TEXT is on
(the caller leaves them None otherwise). Nothing here logs a record's content.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import boto3
from pydantic import BaseModel, Field, ValidationError

from services.backends.base import TokenUsage

log = logging.getLogger(__name__)
Outcome = Literal["answered", "blocked", "stopped", "failed", "timeout", "cancelled", "over_budget"]


class AuditRecord(BaseModel):
    """What happened in one turn. `answer_id` is the id a 👍/👎 on the answer refers to; `user_id` the Entra
    object id; `cost_usd` None for a model without a price; `question`/`answer` None unless text is kept."""

    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    reference_id: str
    user_id: str
    conversation_key: str
    team: str = ""
    backend: str = ""
    model_id: str = ""
    outcome: Outcome
    guardrail_intervened: bool = False
    sources: list[str] = Field(default_factory=list)
    usage: TokenUsage | None = None
    cost_usd: float | None = None
    answer_id: str = ""
    question: str | None = None
    answer: str | None = None


class AuditLog(Protocol):
    """Where audit records go."""

    async def write(self, record: AuditRecord) -> None:
        """Store one record."""

    async def read(self, days: int) -> list[AuditRecord]:
        """Return the records of the last `days` days (UTC), oldest first."""


class LocalAuditLog:
    """JSON lines, one file per UTC day (`audit-YYYY-MM-DD.jsonl`); files older than the retention are deleted."""

    def __init__(self, directory: Path, retention_days: int) -> None:
        self.directory = Path(directory)
        self.retention_days = retention_days
        self._lock = threading.Lock()
        self._pruned_on = ""

    def _path(self, day: date) -> Path:
        return self.directory / f"audit-{day.isoformat()}.jsonl"

    def _write(self, record: AuditRecord) -> None:
        line = record.model_dump_json() + "\n"
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self._path(record.time.astimezone(UTC).date()).open("a", encoding="utf-8") as handle:
                handle.write(line)
            today = datetime.now(UTC).date().isoformat()
            if self._pruned_on != today:
                self._pruned_on = today
                self.prune()

    def prune(self, today: date | None = None) -> int:
        """Delete the day files older than the retention; return how many."""
        first_kept = (today or datetime.now(UTC).date()) - timedelta(days=self.retention_days - 1)
        removed = 0
        for path in self.directory.glob("audit-*.jsonl"):
            try:
                day = date.fromisoformat(path.stem.removeprefix("audit-"))
            except ValueError:
                continue
            if day < first_kept:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    async def write(self, record: AuditRecord) -> None:
        await asyncio.to_thread(self._write, record)

    def _read(self, days: int) -> list[AuditRecord]:
        today = datetime.now(UTC).date()
        records = []
        for offset in range(days - 1, -1, -1):
            path = self._path(today - timedelta(days=offset))
            if path.is_file():
                records.extend(_parse(path.read_text(encoding="utf-8").splitlines(), str(path)))
        return records

    async def read(self, days: int) -> list[AuditRecord]:
        return await asyncio.to_thread(self._read, days)


class S3AuditLog:
    """One JSON object per turn, `audit/YYYY-MM-DD/<time>-<reference>.json`, encrypted at rest (SSE-S3, or
    SSE-KMS with `kms_key_id`). Retention is the bucket's lifecycle rule (the SAM template sets it)."""

    def __init__(self, bucket: str, client: Any = None, prefix: str = "audit/", kms_key_id: str = "") -> None:
        self.bucket = bucket
        self.client = client or boto3.client("s3")
        self.prefix = prefix
        self.kms_key_id = kms_key_id

    async def write(self, record: AuditRecord) -> None:
        stamp = record.time.astimezone(UTC)
        key = f"{self.prefix}{stamp.date().isoformat()}/{stamp.strftime('%H%M%S%f')}-{record.reference_id}.json"
        encryption: dict[str, str] = {"ServerSideEncryption": "AES256"}
        if self.kms_key_id:
            encryption = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        await asyncio.to_thread(
            self.client.put_object, Bucket=self.bucket, Key=key, Body=record.model_dump_json().encode(),
            ContentType="application/json", **encryption,
        )  # fmt: skip

    def _read(self, days: int) -> list[AuditRecord]:
        today = datetime.now(UTC).date()
        records = []
        paginator = self.client.get_paginator("list_objects_v2")
        for offset in range(days - 1, -1, -1):
            prefix = f"{self.prefix}{(today - timedelta(days=offset)).isoformat()}/"
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    body = self.client.get_object(Bucket=self.bucket, Key=item["Key"])["Body"].read()
                    records.extend(_parse([body.decode()], item["Key"]))
        return records

    async def read(self, days: int) -> list[AuditRecord]:
        return await asyncio.to_thread(self._read, days)


def _parse(lines: list[str], where: str) -> Iterator[AuditRecord]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield AuditRecord.model_validate_json(line)
        except (ValidationError, json.JSONDecodeError):
            log.warning("skipped an unreadable audit record (%s, line %d)", where, number)


def audit_log_from_settings(settings: Any) -> AuditLog:
    """Return the S3 audit log when AUDIT_S3_BUCKET is set, else the local one in AUDIT_DIR."""
    if settings.audit_s3_bucket:
        return S3AuditLog(settings.audit_s3_bucket)
    return LocalAuditLog(settings.audit_dir or settings.state_db.parent / "audit", settings.audit_retention_days)


def join_feedback(feedback: list[dict[str, Any]], records: list[AuditRecord]) -> list[dict[str, Any]]:
    """Return each feedback row with `audit`: the record of the answer it judged (matched by answer id), or None."""
    by_answer = {r.answer_id: r for r in records if r.answer_id}
    joined = []
    for row in feedback:
        record = by_answer.get(str(row.get("answer_id", "")))
        joined.append({**row, "audit": record.model_dump(mode="json") if record else None})
    return joined
