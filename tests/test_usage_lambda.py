"""Usage on the deployed path over real HTTP: ingress → SQS FIFO → chat worker tallies the turn in the usage
table and writes its audit record to S3 (moto's server on loopback); the admins' `usage` command runs on the
analytics worker (which has matplotlib) and reads the table back."""

from __future__ import annotations

import json
import uuid

import boto3

from bot.emulator.activities import TeamsChannel
from services.usage.dynamodb import create_usage_table
from tests import test_lambda
from tests.conftest import card_of, card_text

moto_url, deployed = test_lambda.moto_url, test_lambda.deployed  # its fixtures, shared
ADMIN = TeamsChannel("").aad_object_id


async def test_a_deployed_chat_turn_is_tallied_in_dynamodb_and_audited_in_s3(deployed, monkeypatch):
    aws, connector = deployed, deployed["connector"]
    table, bucket = f"usage-{uuid.uuid4().hex[:8]}", f"audit-{uuid.uuid4().hex[:8]}"
    create_usage_table(boto3.client("dynamodb"), table)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for name, value in {"USAGE_TABLE": table, "AUDIT_S3_BUCKET": bucket, "ADMIN_USERS": ADMIN}.items():
        monkeypatch.setenv(name, value)

    channel = TeamsChannel(connector.url)
    activity = channel.message("how long are dedupe markers kept?")
    assert (await test_lambda.call(aws["ingress"].handler, test_lambda.http_event(activity)))["statusCode"] == 200
    assert await test_lambda.drain(aws, "chat") == 1

    (item,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    record = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    assert record["user_id"] == ADMIN and record["outcome"] == "answered" and record["question"] is None
    assert s3.head_object(Bucket=bucket, Key=item["Key"])["ServerSideEncryption"] == "AES256"

    usage = channel.message("usage")
    assert (await test_lambda.call(aws["ingress"].handler, test_lambda.http_event(usage)))["statusCode"] == 200
    assert await test_lambda.drain(aws, "chat") == 0 and await test_lambda.drain(aws, "analytics") == 1
    card = card_of(connector.messages()[-1])
    facts = {f["title"]: f["value"] for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]}
    assert facts["Turns"] == "1" and ADMIN in facts and "Users (top 1 of 1)" in card_text(card)
    assert any(e["type"] == "Image" for e in card["body"])
