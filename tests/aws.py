"""moto's server on loopback for the AWS services tests use (DynamoDB, SQS, Secrets Manager, S3)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

# botocore names the variables after the service id with spaces as underscores: "Secrets Manager" →
# AWS_ENDPOINT_URL_SECRETS_MANAGER (AWS_ENDPOINT_URL_SECRETSMANAGER is ignored)
SERVICES = ("DYNAMODB", "SQS", "SECRETS_MANAGER", "S3", "STS", "KMS", "SSM")


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's server on a free loopback port; yield its URL; stop it after."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_environment(url: str) -> dict[str, str]:
    """Return the environment that points every boto3 client used here at `url`, with fake credentials."""
    env = {f"AWS_ENDPOINT_URL_{service}": url for service in SERVICES}
    return env | {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    }  # fmt: skip


def use_fake_aws(monkeypatch, region: str = "eu-west-1", **endpoints: str) -> None:
    """Point the named services' boto3 clients at loopback fakes (`BEDROCK_RUNTIME=url`, …), with fake
    credentials, a region, and no profile, session token or instance metadata from the machine."""
    for service, url in endpoints.items():
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", url)
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": region, "AWS_EC2_METADATA_DISABLED": "true"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def create_table(client, name: str | None = None, resource: str = "StateTable") -> str:
    """Create a DynamoDB table as template.yaml declares `resource` (its keys, billing, encryption, TTL and
    point-in-time recovery, read from the template) and return its name."""
    from tests.cfn import resource as template_resource

    declared = template_resource(resource)
    name = name or f"gateway-{uuid.uuid4().hex[:8]}"
    sse = declared.get("SSESpecification", {})  # CloudFormation says SSEEnabled where the API says Enabled
    client.create_table(
        TableName=name, BillingMode=declared["BillingMode"], AttributeDefinitions=declared["AttributeDefinitions"],
        KeySchema=declared["KeySchema"], SSESpecification={"Enabled": bool(sse.get("SSEEnabled", False))},
        **{k: declared[k] for k in ("GlobalSecondaryIndexes",) if k in declared},
    )  # fmt: skip
    ttl = declared.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": ttl["Enabled"], "AttributeName": ttl["AttributeName"]}
        )
    recovery = declared.get("PointInTimeRecoverySpecification", {})
    if recovery.get("PointInTimeRecoveryEnabled"):
        client.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return name


def create_fifo_queues(client, prefix: str, max_receives: int = 3) -> tuple[str, str]:
    """Create a FIFO job queue with a dead-letter queue (as template.yaml does); return (queue URL, DLQ URL)."""
    import json

    dlq = client.create_queue(QueueName=f"{prefix}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})
    # 300 s: on a loaded machine an analytics job took 29 s, and at 30 s moto delivered it again mid-turn
    queue = client.create_queue(
        QueueName=f"{prefix}.fifo",
        Attributes={"FifoQueue": "true", "VisibilityTimeout": "300", "RedrivePolicy": redrive},
    )["QueueUrl"]
    return queue, dlq


def sqs_event(messages: list[dict], queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:jobs.fifo") -> dict:
    """Return the Lambda SQS event for messages received with AttributeNames=['All'] (as the event source
    mapping builds it)."""
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": "us-east-1",
        }  # fmt: skip
        for m in messages
    ]
    return {"Records": records}


def poll_once(client, queue_url: str, handler, batch: int = 1) -> tuple[int, dict]:
    """Play the event source mapping once: receive up to `batch` messages, call `handler` with their event,
    delete the ones that succeeded and make the failures visible again. Return (messages, handler's answer)."""
    got = client.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=batch, AttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", [])
    if not got:
        return 0, {}
    answer = handler(sqs_event(got))
    failed = {f["itemIdentifier"] for f in (answer or {}).get("batchItemFailures", [])}
    for message in got:
        if message["MessageId"] in failed:
            client.change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        else:
            client.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return len(got), answer or {}
