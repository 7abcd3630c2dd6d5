"""Canary values for the privacy tests: things that must never reach a log line or a Sentry event."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pytest

from services.observability import logs, scrub

USER_TEXT = "Canarytext please summarise the Zebrafinch quarterly numbers for me"
USER_NAME = "Canaria Wilberforce"
EMAIL = "canaria.wilberforce@contoso.com"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJjYW5hcnlKd3QiOiJ5ZXMifQ.Q2FuYXJ5U2lnbmF0dXJlMTIz"
BEARER = f"Bearer {JWT}"
APP_PASSWORD = "cAnary~AppPassw0rd.Value_42"
AWS_KEY_ID = "AKIACANARYKEY0000001"
AWS_SECRET = "CanarySecretAccessKey/0123456789abcdefghijklm"
SIGNED_URL = (
    "https://contoso-my.sharepoint.com/personal/canaria_contoso_com/_layouts/15/download.aspx"
    "?UniqueId=42&tempauth=CanaryTempAuthValue"
)
S3_URL = "https://bucket.s3.amazonaws.com/canary-payroll.csv?X-Amz-Signature=CanaryS3Signature&X-Amz-Expires=60"
FILE_NAME = "canary-payroll-2026.csv"
FILE_CONTENT = "employee,salary\nCanaryCellValue,123456\n"

# What must not appear: each canary, or a distinctive part of it where only a part could leak.
NEEDLES = {
    "user text": "Zebrafinch",
    "user name": "Wilberforce",
    "e-mail": "canaria.wilberforce@",
    "bearer token": "Q2FuYXJ5U2lnbmF0dXJlMTIz",
    "jwt body": "eyJjYW5hcnlKd3QiOiJ5ZXMifQ",
    "app password": "AppPassw0rd",
    "aws key id": AWS_KEY_ID,
    "aws secret": "CanarySecretAccessKey",
    "signed url": "CanaryTempAuthValue",
    "signed url path": "canaria_contoso_com",
    "s3 signature": "CanaryS3Signature",
    "file name": "canary-payroll",
    "file content": "CanaryCellValue",
}


def leaks(texts: Iterable[str]) -> dict[str, str]:
    """Return {canary: the first text it appears in (shortened)} for every canary found (case-insensitive)."""
    found: dict[str, str] = {}
    for text in texts:
        lowered = text.lower()
        for what, needle in NEEDLES.items():
            at = lowered.find(needle.lower())
            if at >= 0 and what not in found:
                found[what] = text[max(0, at - 80) : at + 80]
    return found


@pytest.fixture
def restore_logging():
    """Undo configure_logging after the test: its handler, the quieted loggers' levels, the secrets."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in logs.PAYLOAD_LOGGERS}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    for handler in [h for h in handlers if h not in root.handlers]:  # on Lambda, configure_logging replaces them
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    scrub.forget_secrets()
