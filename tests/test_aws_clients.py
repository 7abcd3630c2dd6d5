"""Every boto3 client on a turn's path (state store, usage table, monitors table, job queues) gets the short
timeouts of services/aws_clients.py: 2 s to connect, 3 s per read, 3 attempts (the usage and monitors clients
had botocore's 60 s, 60 s and 10 attempts: a stalled table held a turn for minutes)."""

from __future__ import annotations

import pytest

from handlers.queues import SqsJobQueue
from services.aws_clients import turn_path_client
from services.monitors.store import DynamoDBMonitorStore
from services.store.dynamodb import DynamoDBStore
from services.usage.dynamodb import DynamoDBUsageStore


@pytest.fixture(autouse=True)
def _region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")  # a client needs a region; nothing is called


def _queue_client():
    queue = SqsJobQueue({"chat": "https://sqs.eu-west-1.amazonaws.com/1/q.fifo"})
    try:
        queue._send(None)  # builds the client, then fails on the missing job
    except AttributeError:
        pass
    return queue._client


CLIENTS = {
    "state store": lambda: DynamoDBStore("t")._client,
    "usage store": lambda: DynamoDBUsageStore("t").client,
    "monitors store": lambda: DynamoDBMonitorStore("t")._client,
    "job queues": _queue_client,
    "the helper": lambda: turn_path_client("dynamodb"),
}


@pytest.mark.parametrize("make", CLIENTS.values(), ids=CLIENTS.keys())
def test_turn_path_clients_have_short_timeouts_and_few_attempts(make):
    config = make().meta.config
    assert (config.connect_timeout, config.read_timeout) == (2, 3)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
