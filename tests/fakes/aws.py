"""moto's server on loopback (a free port chosen by the OS), with the environment pointing boto3 at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from moto.server import ThreadedMotoServer


@contextmanager
def moto_server(monkeypatch: pytest.MonkeyPatch, *services: str) -> Iterator[str]:
    """Run moto's server on 127.0.0.1 and set AWS_ENDPOINT_URL_<SERVICE> for each of `services` (e.g. "S3",
    "DYNAMODB") and fake credentials; yield the server's URL. The server stops when the block ends."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        for service in services:
            monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", url)
        yield url
    finally:
        server.stop()
