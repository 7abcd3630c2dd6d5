"""A rotated app password is picked up without a redeploy: when Microsoft's token endpoint refuses the password,
the worker reads the Secrets Manager secret again (moto's server) and goes on with the new one."""

from __future__ import annotations

import logging
import uuid

import pytest
from botframework.connector.auth import MicrosoftAppCredentials

from entrypoints.wiring import channel_auth, resolve_secrets
from tests.aws import aws_environment, moto_server

APP = "6f1c0e2a-1111-4000-8000-000000000abc"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@pytest.fixture
def token_endpoint(monkeypatch):
    """Microsoft's token endpoint as MSAL meets it, for the client secrets Azure holds now: MicrosoftAppCredentials
    raises PermissionError for a secret Azure no longer knows (its behaviour on invalid_client)."""
    valid: set[str] = set()
    asked: list[str] = []

    def get_access_token(self, force_refresh: bool = False) -> str:
        asked.append(self.microsoft_app_password)
        if self.microsoft_app_password not in valid:
            raise PermissionError(
                "Failed to get access token with error: invalid_client, error_description: AADSTS7000215"
            )
        return f"token-{self.microsoft_app_password}"

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", get_access_token)
    return valid, asked


async def test_a_rotated_secret_is_read_again_when_the_old_one_is_refused(
    monkeypatch, make_settings, token_endpoint, caplog
):
    import boto3

    valid, asked = token_endpoint
    with moto_server() as url:
        for name, value in aws_environment(url).items():
            monkeypatch.setenv(name, value)
        client = boto3.client("secretsmanager")
        arn = client.create_secret(Name=f"app-{uuid.uuid4().hex[:8]}", SecretString="first")["ARN"]
        settings = make_settings(microsoft_app_id=APP, microsoft_app_type="SingleTenant",
                                 microsoft_app_tenant_id=TENANT, app_password_secret_arn=arn)  # fmt: skip
        auth = channel_auth(resolve_secrets(settings))
        monkeypatch.setattr(auth, "REREAD_INTERVAL_SECONDS", 0.0)
        valid.add("first")
        assert await auth.token("") == "token-first"

        # The operator rotates: a second client secret in Azure, stored in Secrets Manager, the first deleted.
        client.put_secret_value(SecretId=arn, SecretString='{"password": "second"}')
        valid.discard("first")
        valid.add("second")
        caplog.set_level(logging.WARNING)
        assert await auth.token("") == "token-second"
        assert asked[-2:] == ["first", "second"] and "second" not in caplog.text

        # A refusal while the stored secret is unchanged (expired, not rotated) is raised, with one ERROR line.
        valid.clear()
        with pytest.raises(PermissionError):
            await auth.token("")
        assert "has not changed" in caplog.text


async def test_the_secret_is_read_again_at_most_once_a_minute(monkeypatch, make_settings, token_endpoint):
    valid, asked = token_endpoint
    reads = []
    settings = make_settings(microsoft_app_id=APP, microsoft_app_password="first")
    from bot.auth import ChannelAuth

    auth = ChannelAuth(settings, password_reader=lambda: reads.append(1) or "second")
    for _ in range(3):  # just started: the password was read a moment ago
        with pytest.raises(PermissionError):
            await auth.token("")
    assert reads == []
    monkeypatch.setattr(auth, "_password_read_at", auth._password_read_at - 61)
    valid.add("second")
    assert await auth.token("") == "token-second" and reads == [1]
