"""boto3 clients for the calls that sit on a turn's path (the state store, the usage and monitor tables, the
job queues): short timeouts and few attempts, so a stalled service fails a call in about ten seconds, not
minutes, and the ingress answers 503 before the channel gives up (15 s)."""

from __future__ import annotations

from typing import Any

# boto3's defaults are 60 s to connect, 60 s per read and up to 10 attempts for DynamoDB (5 otherwise): a
# stalled table held its caller for minutes. A DynamoDB or SQS call takes milliseconds.
CONNECT_TIMEOUT_SECONDS = 2
READ_TIMEOUT_SECONDS = 3
TOTAL_ATTEMPTS = 3


def turn_path_client(service: str) -> Any:
    """Return a boto3 client for `service` (default session, region and endpoint, so AWS_ENDPOINT_URL_<SERVICE>
    applies) with 2 s to connect, 3 s per read and 3 attempts in all (botocore's standard retry mode)."""
    import boto3
    from botocore.config import Config

    retries = {"mode": "standard", "total_max_attempts": TOTAL_ATTEMPTS}
    config = Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS, retries=retries)
    return boto3.client(service, config=config)
