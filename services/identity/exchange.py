"""Entra ID token → IAM Identity Center token (CreateTokenWithIAM) → identity context → STS AssumeRole.

This is AWS's "trusted identity propagation" for applications outside AWS: the customer-managed application
`QBUSINESS_IDC_APPLICATION_ARN` trusts Entra ID as a token issuer, exchanges the user's Entra token for an
Identity Center token whose id token carries `sts:identity_context`, and the gateway assumes
`QBUSINESS_ROLE_ARN` with that context: the resulting credentials act as that user in Q Business.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import jwt
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from services.errors import BackendError, SignInRequired, aws_error_code

log = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
IDENTITY_CENTER_CONTEXT = "arn:aws:iam::aws:contextProvider/IdentityCenter"

SIGN_IN_AGAIN = "Your sign-in has expired or was not accepted: please sign in again."
TOKEN_EXCHANGE_REFUSED = (
    "IAM Identity Center refused to exchange your Microsoft sign-in: the admin must check "
    "QBUSINESS_IDC_APPLICATION_ARN, the trusted token issuer for Entra ID and the application's JWT bearer "
    "grant (docs/qbusiness.md, steps 2-3)."
)
WRONG_REGION = (
    "IAM Identity Center is not in the region the gateway called: the admin must set QBUSINESS_IDC_REGION to "
    "the Identity Center instance's region."
)
NO_CONTEXT = (
    "IAM Identity Center returned no identity context for your sign-in: the admin must add the Amazon Q Business "
    "access scopes to the customer-managed application QBUSINESS_IDC_APPLICATION_ARN (docs/qbusiness.md, step 3)."
)
ROLE_REFUSED = (
    "The gateway may not act as you in Amazon Q Business: the admin must let the gateway assume "
    "QBUSINESS_ROLE_ARN with sts:AssumeRole and sts:SetContext in the role's trust policy."
)
UNREACHABLE = "AWS sign-in services did not answer: please try again in a minute."
_SIGN_IN_AGAIN_CODES = {"invalidgrantexception", "expiredtokenexception", "authorizationpendingexception"}
_SESSION_NAME = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class Credentials:
    """Temporary AWS credentials of one user; `expiration` is timezone-aware UTC."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: datetime

    def seconds_left(self, now: datetime | None = None) -> float:
        """Return how many seconds the credentials stay valid."""
        return (self.expiration - (now or datetime.now(UTC))).total_seconds()

    def as_dict(self) -> dict[str, str]:
        """Return the credentials as JSON-ready strings (for the encrypted cache only)."""
        return {
            "access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key,
            "session_token": self.session_token, "expiration": self.expiration.isoformat(),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, value: dict[str, str]) -> Credentials:
        """Return the credentials `as_dict` produced."""
        return cls(
            value["access_key_id"], value["secret_access_key"], value["session_token"],
            datetime.fromisoformat(value["expiration"]),
        )  # fmt: skip


@dataclass(frozen=True)
class IdentityConfig:
    """What the exchange needs: the Identity Center application and its region, the role, and Q's region."""

    idc_application_arn: str
    role_arn: str
    idc_region: str = ""
    sts_region: str = ""
    duration_seconds: int = 3600


def identity_context(id_token: str) -> str:
    """Return the `sts:identity_context` claim of an Identity Center id token ('' when absent).

    The signature is not checked: the token comes straight from Identity Center over TLS, and STS checks the
    context assertion itself."""
    try:
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    value = claims.get("sts:identity_context")
    return value if isinstance(value, str) else ""


class IdcExchange:
    """Exchanges a user's Entra ID token for that user's temporary AWS credentials."""

    def __init__(self, config: IdentityConfig, *, oidc: Any = None, sts: Any = None) -> None:
        self.config = config
        boto_config = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=15)
        self.oidc = oidc or boto3.client(
            "sso-oidc", region_name=config.idc_region or config.sts_region or None, config=boto_config
        )
        self.sts = sts or boto3.client("sts", region_name=config.sts_region or None, config=boto_config)

    async def exchange(self, entra_token: str, user_id: str) -> Credentials:
        """Return the user's credentials. Raises SignInRequired when the user must sign in again and
        BackendError with the admin's fix for everything else (never the token or AWS's message)."""
        return await asyncio.to_thread(self._exchange, entra_token, user_id)

    def _exchange(self, entra_token: str, user_id: str) -> Credentials:
        try:
            issued = self.oidc.create_token_with_iam(
                clientId=self.config.idc_application_arn, grantType=JWT_BEARER, assertion=entra_token
            )
        except (ClientError, BotoCoreError) as error:
            code = aws_error_code(error)
            log.warning("CreateTokenWithIAM failed for a user: %s", code or type(error).__name__)
            if code in _SIGN_IN_AGAIN_CODES:
                raise SignInRequired(SIGN_IN_AGAIN, detail=code) from None
            if code == "invalidrequestregionexception":
                raise BackendError(WRONG_REGION, detail=code) from None
            if not code:
                raise BackendError(UNREACHABLE, detail=type(error).__name__) from None
            raise BackendError(TOKEN_EXCHANGE_REFUSED, detail=code) from None
        context = identity_context(issued.get("idToken", ""))
        if not context:
            raise BackendError(NO_CONTEXT, detail="id token without sts:identity_context")
        try:
            assumed = self.sts.assume_role(
                RoleArn=self.config.role_arn,
                RoleSessionName=_SESSION_NAME.sub("-", f"teams-{user_id}")[:64],
                DurationSeconds=self.config.duration_seconds,
                ProvidedContexts=[{"ProviderArn": IDENTITY_CENTER_CONTEXT, "ContextAssertion": context}],
            )
        except (ClientError, BotoCoreError) as error:
            code = aws_error_code(error)
            log.warning("AssumeRole with identity context failed: %s", code or type(error).__name__)
            if code == "expiredtokenexception":
                raise SignInRequired(SIGN_IN_AGAIN, detail=code) from None
            raise BackendError(ROLE_REFUSED if code else UNREACHABLE, detail=code or type(error).__name__) from None
        raw = assumed["Credentials"]
        expiration = raw["Expiration"]
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=UTC)
        return Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"], expiration)
