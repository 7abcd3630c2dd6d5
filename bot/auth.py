"""Channel authentication with botbuilder's real JWT validation, and the bot's outgoing credentials."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import jwt
import requests
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticationConstants, ServiceClientCredentialsFactory

from bot.activity import ActivityError
from services.settings import Settings

log = logging.getLogger(__name__)


class AuthError(Exception):
    """Authentication failed. `status` is 401 for a bad token, 503 when signing keys cannot be fetched."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Caller:
    """Who the channel authenticated: the audience to use for replies; `anonymous` in local development."""

    audience: str
    anonymous: bool


def _configuration(settings: Settings) -> SimpleNamespace:
    """The attribute bag botbuilder's configuration classes read."""
    config = SimpleNamespace(
        APP_ID=settings.microsoft_app_id,
        APP_PASSWORD=settings.microsoft_app_password.get_secret_value(),
        APP_TYPE=settings.microsoft_app_type,
        APP_TENANTID=settings.microsoft_app_tenant_id,
    )
    if settings.bot_openid_metadata_url:
        # Any one parameterised value switches botbuilder to its parameterised path, which then needs
        # all of them: fill the public-cloud values around the overridden metadata URL.
        config.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = str(settings.bot_openid_metadata_url)
        config.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = (
            AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL
        )
        config.TO_CHANNEL_FROM_BOT_LOGIN_URL = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL
        config.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        config.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
        config.OAUTH_URL = AuthenticationConstants.OAUTH_URL
        config.VALIDATE_AUTHORITY = True
    return config


class ChannelAuth:
    """Validates incoming requests and hands out tokens for outgoing ones, both through botbuilder."""

    def __init__(self, settings: Settings, credentials_factory: ServiceClientCredentialsFactory | None = None):
        config = _configuration(settings)
        self.app_id = settings.microsoft_app_id
        self.credentials_factory = credentials_factory or ConfigurationServiceClientCredentialFactory(config)
        self._auth = ConfigurationBotFrameworkAuthentication(config, credentials_factory=self.credentials_factory)
        self._credentials: dict[str, Any] = {}

    async def authenticate(self, body: dict[str, Any], auth_header: str) -> Caller:
        """Return the Caller for a request, or raise AuthError (ActivityError for a body botbuilder cannot read).

        Never lets a token error escape as a 500."""
        try:
            activity = Activity().deserialize(body)
        except ValueError:  # msrest's DeserializationError: a field of the wrong type or format
            raise ActivityError("Invalid activity: a field has the wrong type or format.") from None
        try:
            result = await self._auth.authenticate_request(activity, auth_header or "")
        except requests.RequestException as error:
            log.error("cannot fetch the channel's signing keys: %s", error)
            raise AuthError(503, "signing keys unavailable") from None
        except (PermissionError, jwt.PyJWTError) as error:
            raise AuthError(401, f"{type(error).__name__}: {error}") from None
        except Exception as error:  # noqa: BLE001 - botbuilder raises bare Exceptions and IndexErrors on bad tokens
            raise AuthError(401, f"{type(error).__name__}: {error}") from None
        identity = result.claims_identity
        return Caller(audience=result.audience or "", anonymous=not (identity and identity.is_authenticated))

    async def token(self, audience: str) -> str | None:
        """Return a bearer token for calls to the Bot Connector, or None in local development (no app id)."""
        if not self.app_id:
            return None
        audience = audience or AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        credentials = self._credentials.get(audience)
        if credentials is None:
            credentials = await self.credentials_factory.create_credentials(
                self.app_id, audience, AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL, True
            )
            self._credentials[audience] = credentials
        # MSAL is synchronous and may call the network: keep it off the event loop.
        return await asyncio.to_thread(credentials.get_access_token)
