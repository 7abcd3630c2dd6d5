"""Channel authentication of incoming requests, and the bot's outgoing credentials (through botbuilder).

Incoming tokens are checked here with PyJWT rather than with botbuilder's JwtTokenExtractor. botbuilder
4.17.1 (archived, so it will not be fixed) fetches signing keys with blocking `requests` and no timeout from
inside the event loop, retries that fetch on every request after a failure, accepts a key with no
endorsements, accepts a token without `exp`, and lets the unverified `iss` of a token choose which metadata
(channel, emulator, skill) is fetched. The rules below are those of its ChannelValidation, made strict:

- `Authorization: Bearer <JWT>`, RS256 only, signed by a key from the configured OpenID metadata whose
  `endorsements` include the activity's channel id (a key with no endorsements is refused);
- `iss` is the channel's issuer, `aud` the bot's app id, `exp` present (AUTH_REQUIRE_EXP) and not past,
  `nbf` not in the future, with botbuilder's five minutes of clock leeway;
- the `serviceurl` claim equals the activity's `serviceUrl` exactly, and the channel id is in
  ALLOWED_CHANNELS; replies go only to that validated URL.

Signing keys are fetched with aiohttp (never blocking the loop) from the one URL in the settings, with a
timeout; they are cached for a day, an unknown key id triggers at most one refresh per five minutes, and a
failed fetch is remembered for thirty seconds (503 meanwhile) so a slow key endpoint cannot stall every turn.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import jwt

from bot.activity import InboundActivity
from services.observability import register_secrets
from services.settings import Settings

if TYPE_CHECKING:
    from botframework.connector.auth import ServiceClientCredentialsFactory

# botframework.connector.auth's AuthenticationConstants, copied: importing that package loads MSAL and
# requests (180 ms, a third of the Lambda ingress's cold import), which only an outgoing token needs.
# (tests/test_auth.py checks the copies against the package).
TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = "https://api.botframework.com"
TO_CHANNEL_FROM_BOT_LOGIN_URL = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"

log = logging.getLogger(__name__)

CHANNEL_ISSUER = "https://api.botframework.com"
CHANNEL_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
CLOCK_LEEWAY_SECONDS = 5 * 60
MAX_TOKEN_CHARS = 16_384
_BEARER = re.compile(r"Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


class AuthError(Exception):
    """Authentication failed. `status` is 401 for a bad token, 503 when signing keys cannot be fetched."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Caller:
    """Who the channel authenticated: the audience for replies and the serviceUrl and channel id that were
    validated against the token (replies go nowhere else); `anonymous` in local development."""

    audience: str
    anonymous: bool
    service_url: str = ""
    channel_id: str = ""


@dataclass(frozen=True)
class SigningKey:
    """One channel signing key: the public key and the channels it is endorsed for."""

    public_key: Any
    endorsements: frozenset[str]


@dataclass(frozen=True)
class VerifiedToken:
    """A channel token whose signature, issuer, audience and lifetime were checked: its `serviceurl` claim and
    the endorsements of the key that signed it, still to be checked against the activity (`ChannelAuth.bind`)."""

    service_url: Any
    endorsements: frozenset[str]


class KeysUnavailable(Exception):
    """The signing keys could not be fetched (now, or within the last few seconds)."""


class SigningKeys:
    """The channel's signing keys, read from one OpenID metadata URL (never one a request names)."""

    def __init__(
        self,
        metadata_url: str,
        *,
        timeout: float = 10.0,
        max_age: float = 24 * 3600,
        unknown_kid_refresh: float = 300.0,
        failure_ttl: float = 30.0,
    ) -> None:
        self.metadata_url = metadata_url
        self.timeout = timeout
        self.max_age = max_age
        self.unknown_kid_refresh = unknown_kid_refresh
        self.failure_ttl = failure_ttl
        self.fetches = 0
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at = float("-inf")
        self._failed_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> SigningKey | None:
        """Return the key `kid`, or None if the channel has no such key. Raises KeysUnavailable."""
        if not self._stale(kid):
            return self._keys.get(kid)
        async with self._lock:  # one fetch at a time; the others wait and reuse its result
            if self._stale(kid):
                await self._refresh()
        return self._keys.get(kid)

    def _stale(self, kid: str) -> bool:
        age = time.monotonic() - self._loaded_at
        return age > self.max_age or (kid not in self._keys and age > self.unknown_kid_refresh)

    async def _refresh(self) -> None:
        if time.monotonic() - self._failed_at < self.failure_ttl:
            if self._keys:
                return  # keep using the keys we have
            raise KeysUnavailable("a recent fetch failed")
        self.fetches += 1
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(self.metadata_url) as response:
                    response.raise_for_status()
                    jwks_uri = (await response.json(content_type=None))["jwks_uri"]
                async with session.get(jwks_uri) as response:
                    response.raise_for_status()
                    document = await response.json(content_type=None)
            keys = {k["kid"]: _signing_key(k) for k in document["keys"] if isinstance(k, dict) and k.get("kid")}
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as error:
            self._failed_at = time.monotonic()
            log.error("cannot fetch the channel's signing keys from %s: %s", self.metadata_url, type(error).__name__)
            if self._keys:
                return
            raise KeysUnavailable(type(error).__name__) from None
        self._keys, self._loaded_at = keys, time.monotonic()


def _signing_key(jwk: dict[str, Any]) -> SigningKey:
    endorsements = jwk.get("endorsements")
    names = frozenset(e for e in endorsements if isinstance(e, str)) if isinstance(endorsements, list) else frozenset()
    return SigningKey(jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk)), names)


class ChannelAuth:
    """Validates incoming requests (the rules in this module's docstring) and hands out outgoing tokens."""

    def __init__(
        self,
        settings: Settings,
        credentials_factory: ServiceClientCredentialsFactory | None = None,
        keys: SigningKeys | None = None,
        password_reader: Callable[[], str] | None = None,
    ) -> None:
        """`password_reader` returns the app password as stored now (Secrets Manager): it is called again when
        Microsoft's token endpoint refuses the password, so a rotated secret is picked up without a redeploy."""
        self.app_id = settings.microsoft_app_id
        self.allowed_channels = frozenset(settings.allowed_channels)
        self.require_exp = settings.auth_require_exp
        metadata_url = str(settings.bot_openid_metadata_url or CHANNEL_METADATA_URL)
        self.keys = keys or SigningKeys(metadata_url)
        self.settings = settings
        self.credentials_factory = credentials_factory  # built at the first outgoing token: see _factory
        self._credentials: dict[str, Any] = {}
        self._password = settings.microsoft_app_password.get_secret_value()
        self._password_reader = password_reader if credentials_factory is None else None
        self._password_read_at = time.monotonic()

    async def authenticate(self, activity: InboundActivity, auth_header: str) -> Caller:
        """Return the Caller for a request, or raise AuthError (401, or 503 when keys cannot be fetched)."""
        return self.bind(activity, await self.verify_header(auth_header))

    async def verify_header(self, auth_header: str) -> VerifiedToken | None:
        """Return the token in an `Authorization` header, its signature, issuer, audience and lifetime checked,
        or None in local development (no app id); raise AuthError (401, or 503 when keys cannot be fetched).

        Needs nothing from the body: the edge calls it before reading one, so a request without a valid token is
        refused without its body being read or parsed. `bind` then checks the token against the activity."""
        if not self.app_id:  # local development mode, announced at start-up
            return None
        match = _BEARER.fullmatch(auth_header or "") if len(auth_header or "") <= MAX_TOKEN_CHARS else None
        if match is None:
            raise AuthError(401, "no Bearer token" if not auth_header else "malformed Authorization header")
        token = match.group(1)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError(401, "unreadable token header") from None
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str) or not kid:
            raise AuthError(401, "algorithm or key id not acceptable")
        try:
            key = await self.keys.get(kid)
        except KeysUnavailable:
            raise AuthError(503, "signing keys unavailable") from None
        if key is None:
            raise AuthError(401, "unknown signing key")
        required = ["exp", "iss", "aud"] if self.require_exp else ["iss", "aud"]
        try:
            claims = jwt.decode(
                token, key.public_key, algorithms=["RS256"], audience=self.app_id, issuer=CHANNEL_ISSUER,
                leeway=CLOCK_LEEWAY_SECONDS, options={"require": required},
            )  # fmt: skip
        except jwt.PyJWTError as error:
            raise AuthError(401, type(error).__name__) from None
        return VerifiedToken(claims.get("serviceurl"), key.endorsements)

    def bind(self, activity: InboundActivity, token: VerifiedToken | None) -> Caller:
        """Return the Caller for `activity` sent with `token` (from `verify_header`; None in local development):
        the channel is allowed, the signing key is endorsed for it and the token names the activity's
        serviceUrl. Raises AuthError (401)."""
        if activity.channel_id not in self.allowed_channels:
            raise AuthError(401, "channel not in ALLOWED_CHANNELS")
        if token is None:
            if self.app_id:
                raise AuthError(401, "no Bearer token")
            return Caller("", anonymous=True, service_url=activity.service_url, channel_id=activity.channel_id)
        if activity.channel_id not in token.endorsements:
            raise AuthError(401, "signing key not endorsed for the channel")
        if token.service_url != activity.service_url:
            raise AuthError(401, "serviceurl claim does not match the activity")
        audience = TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        return Caller(audience, anonymous=False, service_url=activity.service_url, channel_id=activity.channel_id)

    def _factory(self) -> ServiceClientCredentialsFactory:
        """Return the credentials factory: the one given, or what botbuilder.integration.aiohttp's
        ConfigurationServiceClientCredentialFactory builds for a password, without importing that package (it
        loads aiohttp.web and its channel service) and only when a token is first needed (an ingress that
        only acknowledges never loads MSAL)."""
        if self.credentials_factory is None:
            from botframework.connector.auth import PasswordServiceClientCredentialFactory

            settings = self.settings
            tenant = settings.microsoft_app_tenant_id if settings.microsoft_app_type == "SingleTenant" else None
            self.credentials_factory = PasswordServiceClientCredentialFactory(
                settings.microsoft_app_id, self._password, tenant
            )
        return self.credentials_factory

    async def token(self, audience: str) -> str | None:
        """Return a bearer token for calls to the Bot Connector, or None in local development (no app id)."""
        if not self.app_id:
            return None
        audience = audience or TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
        try:
            return await self._token(audience)
        except PermissionError:  # botframework's MicrosoftAppCredentials: the token endpoint refused us
            if not await self._reread_password():
                raise
            return await self._token(audience)

    REREAD_INTERVAL_SECONDS = 60.0  # a refused password is read again at most this often

    async def _reread_password(self) -> bool:
        """Read the app password again (after the token endpoint refused it); return True when it changed, after
        dropping the credentials built with the old one. Azure keeps two client secrets valid at once, so an
        operator rotates by adding the new secret, storing it, then deleting the old one (docs/deploy.md)."""
        if self._password_reader is None or time.monotonic() - self._password_read_at < self.REREAD_INTERVAL_SECONDS:
            return False
        self._password_read_at = time.monotonic()
        try:
            password = await asyncio.to_thread(self._password_reader)
        except Exception as error:  # noqa: BLE001 - the refusal that brought us here is what gets raised
            log.error("could not read the app password again after a refusal (%s)", type(error).__name__)
            return False
        if not password or password == self._password:
            log.error("Microsoft refused the app password, and the stored secret has not changed (expired?)")
            return False
        log.warning("Microsoft refused the app password; using the secret as stored now (rotated)")
        register_secrets(password)
        self._password, self.credentials_factory, self._credentials = password, None, {}
        return True

    async def _token(self, audience: str) -> str:
        credentials = self._credentials.get(audience)
        if credentials is None:
            credentials = await self._factory().create_credentials(
                self.app_id, audience, TO_CHANNEL_FROM_BOT_LOGIN_URL, True
            )
            self._credentials[audience] = credentials
        # MSAL is synchronous and may call the network: keep it off the event loop.
        return await asyncio.to_thread(credentials.get_access_token)
