"""The audit trail (JSON lines with retention; S3 with server-side encryption against moto's server on
loopback), the feedback export joined to it, the usage CSV export, and the price table."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from services.backends import TokenUsage
from services.settings import REPO_ROOT, SettingsError
from services.store import Feedback, SQLiteStore
from services.usage import Admission, TurnUsage, UsageService
from services.usage.audit import AuditRecord, LocalAuditLog, S3AuditLog, join_feedback
from services.usage.prices import DEFAULT_PRICES, Price, cost_of, load_prices, price_for
from services.usage.sqlite import SQLiteUsageStore
from services.usage.store import Tally
from tests.aws import aws_environment, moto_server


def record(answer_id: str = "a1", when: datetime | None = None, **extra) -> AuditRecord:
    return AuditRecord(
        time=when or datetime.now(UTC), reference_id=uuid.uuid4().hex[:8], user_id="u1", conversation_key="k",
        outcome="answered", answer_id=answer_id, usage=TokenUsage(input_tokens=3, output_tokens=4), **extra,
    )  # fmt: skip


async def test_local_audit_is_json_lines_per_day_and_old_days_are_deleted(tmp_path):
    log = LocalAuditLog(tmp_path, retention_days=7)
    today = datetime.now(UTC)
    await log.write(record("old", today - timedelta(days=8)))
    await log.write(record("kept", today - timedelta(days=6)))
    await log.write(record("today"))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"audit-{(today - timedelta(days=6)).date()}.jsonl", f"audit-{today.date()}.jsonl",
    ]  # fmt: skip
    assert [r.answer_id for r in await log.read(7)] == ["kept", "today"]


async def test_s3_audit_objects_are_encrypted_and_read_back(monkeypatch):
    with moto_server() as url:
        for name, value in aws_environment(url).items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3")
        bucket = f"audit-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        log = S3AuditLog(bucket, client)
        await log.write(record("a1", question=None))
        (item,) = client.list_objects_v2(Bucket=bucket)["Contents"]
        assert item["Key"].startswith(f"audit/{datetime.now(UTC).date()}/")
        assert client.head_object(Bucket=bucket, Key=item["Key"])["ServerSideEncryption"] == "AES256"
        assert [r.answer_id for r in await log.read(1)] == ["a1"]


@pytest.mark.parametrize("include_text", [False, True])
async def test_the_audit_record_keeps_text_only_when_asked(tmp_path, include_text):
    log = LocalAuditLog(tmp_path, 30)
    service = UsageService(SQLiteUsageStore(":memory:"), DEFAULT_PRICES, audit=log, include_text=include_text)
    turn = TurnUsage("ref1", "k", "bedrock", "answered", model_id="amazon.nova-lite-v1:0",
                     usage=TokenUsage(input_tokens=1000, output_tokens=1000), sources=["s3://kb/policy.md"],
                     question="secret question", answer="secret answer", answer_id="a1")  # fmt: skip
    await service.finish(Admission(True, "u1", "tenant:t"), turn)
    await service.close()
    (saved,) = await log.read(1)
    assert saved.sources == ["s3://kb/policy.md"] and saved.cost_usd == pytest.approx(0.0003)
    assert (saved.question, saved.answer) == (("secret question", "secret answer") if include_text else (None, None))
    assert ("secret" in next(tmp_path.iterdir()).read_text()) is include_text


def test_feedback_is_joined_to_the_answer_it_judged():
    joined = join_feedback([{"answer_id": "a1", "reaction": "dislike"}, {"answer_id": "zz"}], [record("a1")])
    assert joined[0]["audit"]["answer_id"] == "a1" and joined[0]["audit"]["outcome"] == "answered"
    assert joined[1]["audit"] is None


def run_bot(tmp_path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "STATE_DB": str(tmp_path / "state.db")}
        | (env or {}),
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip


def test_feedback_export_carries_the_audit_record_and_usage_export_writes_csv(tmp_path):
    async def seed() -> None:
        store = SQLiteStore(tmp_path / "state.db")
        await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="dislike"))
        await store.close()
        service = UsageService(SQLiteUsageStore(tmp_path / "state.db"), DEFAULT_PRICES,
                               audit=LocalAuditLog(tmp_path / "audit", 90))  # fmt: skip
        turn = TurnUsage("ref1", "k", "bedrock", "answered", model_id="amazon.nova-pro-v1:0", answer_id="a1",
                         usage=TokenUsage(input_tokens=2000, output_tokens=500, cache_read_tokens=1000))  # fmt: skip
        await service.finish(Admission(True, "u1", "tenant:t"), turn)
        await service.close()

    asyncio.run(seed())
    result = run_bot(tmp_path, "feedback-export")
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["reaction"] == "dislike" and row["audit"]["reference_id"] == "ref1" and row["audit"]["answer"] is None

    result = run_bot(tmp_path, "usage-export", "--days", "7", "--output", "usage.csv")
    assert result.returncode == 0 and "exported 4 usage row(s)" in result.stderr  # user, team, model, backend
    rows = list(csv.DictReader(io.StringIO((tmp_path / "usage.csv").read_text())))
    assert {r["dimension"] for r in rows} == {"user", "team", "model", "backend"}
    model = next(r for r in rows if r["dimension"] == "model")
    assert model["key"] == "amazon.nova-pro-v1:0" and model["cache_read_tokens"] == "1000"
    assert model["cost_usd"] == "0.003400"  # 2,000 × $0.80 + 500 × $3.20 + 1,000 × $0.20 per million


@pytest.fixture
def moto_url():
    with moto_server() as url:
        yield url


def test_the_exports_read_dynamodb_and_s3_when_deployed(moto_url, tmp_path):
    """STORE=dynamodb: feedback-export reads the feedback from the state table (not a SQLite file) and the
    audit records from S3; usage-export reads the usage table."""
    from services.store.dynamodb import DynamoDBStore
    from services.usage.dynamodb import DynamoDBUsageStore, create_usage_table
    from tests.aws import create_table

    aws = aws_environment(moto_url)
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    dynamodb, s3 = (session.client(name, endpoint_url=moto_url) for name in ("dynamodb", "s3"))
    table, usage_table, bucket = create_table(dynamodb), f"usage-{uuid.uuid4().hex[:8]}", f"audit-{uuid.uuid4().hex}"
    create_usage_table(dynamodb, usage_table)
    s3.create_bucket(Bucket=bucket)

    async def seed() -> None:
        store = DynamoDBStore(table, client=dynamodb)
        await store.add_feedback(Feedback(conversation_key="k", answer_id="a1", reaction="dislike", user_id="u1"))
        service = UsageService(DynamoDBUsageStore(usage_table, client=dynamodb), DEFAULT_PRICES,
                               audit=S3AuditLog(bucket, client=s3))  # fmt: skip
        turn = TurnUsage("ref1", "k", "bedrock", "answered", model_id="amazon.nova-pro-v1:0", answer_id="a1",
                         usage=TokenUsage(input_tokens=2000, output_tokens=500))  # fmt: skip
        await service.finish(Admission(True, "u1", "tenant:t"), turn)

    asyncio.run(seed())
    env = aws | {"STORE": "dynamodb", "DYNAMODB_TABLE": table, "USAGE_TABLE": usage_table, "AUDIT_S3_BUCKET": bucket}
    result = run_bot(tmp_path, "feedback-export", env=env)
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["reaction"] == "dislike" and row["user_id"] == "u1" and row["audit"]["reference_id"] == "ref1"
    assert not (tmp_path / "state.db").exists()  # no SQLite file was opened (or created) instead

    result = run_bot(tmp_path, "usage-export", "--days", "1", env=env)
    assert result.returncode == 0 and "exported 4 usage row(s)" in result.stderr  # user, team, model, backend
    keys = {r["dimension"]: r["key"] for r in csv.DictReader(io.StringIO(result.stdout))}
    assert keys == {"user": "u1", "team": "tenant:t", "model": "amazon.nova-pro-v1:0", "backend": "bedrock"}


def test_prices_match_inference_profiles_and_longest_names_and_unknown_models_have_none():
    assert price_for("eu.anthropic.claude-sonnet-4-5-20250929-v1:0", DEFAULT_PRICES).input == 3.0
    assert price_for("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0", DEFAULT_PRICES)
    assert price_for("anthropic.claude-3-5-haiku-20241022-v1:0", DEFAULT_PRICES).input == 0.80
    assert price_for("cohere.command-r-v1:0", DEFAULT_PRICES) is None
    assert cost_of(TokenUsage(input_tokens=5), None) is None


def test_a_newer_model_is_not_priced_as_an_older_one_but_reported_as_price_unknown(tmp_path, caplog):
    opus_4 = DEFAULT_PRICES["anthropic.claude-opus-4"]
    assert price_for("anthropic.claude-opus-4-20250514-v1:0", DEFAULT_PRICES) == opus_4  # date and version only
    assert price_for("us.anthropic.claude-opus-4-5-20251101-v1:0", DEFAULT_PRICES).input == 5.0  # its own key
    for newer in ("anthropic.claude-opus-4-7-20270101-v1:0", "anthropic.claude-sonnet-4-6", "amazon.nova-premier-v1:0"):
        assert price_for(newer, DEFAULT_PRICES) is None, newer
    table = DEFAULT_PRICES | {"cohere.command-r": Price(input=0.5, output=1.5)}
    assert price_for("cohere.command-r-v1:0", table) and price_for("cohere.command-r-plus-v1:0", table) is None
    assert price_for("amazon.nova-pro-v1:0:300k", DEFAULT_PRICES).input == 0.80  # a context-length variant

    async def finish_two() -> Tally:
        service = UsageService(SQLiteUsageStore(tmp_path / "state.db"), DEFAULT_PRICES)
        for reference in ("r1", "r2"):
            await service.finish(Admission(True, "u1", "tenant:t"), TurnUsage(
                reference, "k", "bedrock", "answered", model_id="anthropic.claude-opus-4-7-20270101-v1:0",
                usage=TokenUsage(input_tokens=1000, output_tokens=100)))  # fmt: skip
        (row,) = [r for r in await service.store.rows("2000-01-01", "2999-12-31") if r.dimension == "model"]
        await service.close()
        return row.tally

    tally = asyncio.run(finish_two())
    assert tally.tokens == 2200 and tally.cost_micro == 0 and tally.unpriced_turns == 2
    assert [r.getMessage() for r in caplog.records if "price unknown" in r.getMessage()] == [
        "price unknown for model anthropic.claude-opus-4-7-20270101-v1:0: counted in tokens only (USAGE_PRICES_FILE)"
    ]


def test_a_price_file_overrides_defaults_and_a_bad_one_names_the_setting(tmp_path):
    good = tmp_path / "prices.json"
    good.write_text(json.dumps({"cohere.command-r": {"input": 0.5, "output": 1.5}}))
    assert price_for("cohere.command-r-v1:0", load_prices(good)) == Price(input=0.5, output=1.5)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": {"input": "cheap"}}))
    with pytest.raises(SettingsError, match="USAGE_PRICES_FILE"):
        load_prices(bad)


def test_settings_choose_dynamodb_and_s3_when_deployed_and_nothing_without_a_usage_table(make_settings, monkeypatch):
    from services.usage import usage_service_from_settings

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # clients are built, never called
    from services.usage.dynamodb import DynamoDBUsageStore

    deployed = make_settings(store="dynamodb", dynamodb_table="gateway", usage_table="usage", audit_s3_bucket="audit")
    service = usage_service_from_settings(deployed)
    assert isinstance(service.store, DynamoDBUsageStore) and isinstance(service.audit, S3AuditLog)
    assert usage_service_from_settings(make_settings(store="dynamodb", dynamodb_table="gateway")) is None
