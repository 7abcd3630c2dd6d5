"""The Bot Framework token service: users' tokens of the bot's OAuth connection (Teams SSO and the sign-in card).

Plain HTTP to BOT_TOKEN_SERVICE_URL with the bot's own token (the same app credentials as the Bot Connector).
botbuilder's UserTokenClient would pull in its TurnContext machinery for four calls, so they are written here.
Endpoints: GET api/usertoken/GetToken, POST api/usertoken/exchange, DELETE api/usertoken/SignOut,
GET api/botsignin/GetSignInResource.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from handlers.jobs import ConversationRef
from handlers.models import Turn
from services.backends import Identity

log = logging.getLogger(__name__)

OAUTH_CARD = "application/vnd.microsoft.card.oauth"
CHANNEL = "msteams"


class TokenSource(Protocol):
    async def token(self, audience: str) -> str | None: ...


class TokenServiceError(Exception):
    """The token service failed (network, 5xx, or the bot's credentials were refused)."""


class UserTokenService:
    """Calls the token service for one OAuth connection."""

    def __init__(self, base_url: str, connection: str, auth: TokenSource, app_id: str = "", timeout: float = 15.0):
        self.base_url = base_url.rstrip("/")
        self.connection = connection
        self.auth = auth
        self.app_id = app_id
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def _call(self, method: str, path: str, params: dict[str, str], body: Any = None) -> tuple[int, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {}
        token = await self.auth.token("")  # the Bot Connector audience: the token service accepts it
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with self._session.request(
                method, f"{self.base_url}/{path}", params=params, json=body, headers=headers
            ) as response:
                text = await response.text()
                if response.status >= 500 or response.status in (401, 403):
                    raise TokenServiceError(f"token service answered {response.status} to {path}")
                try:
                    return response.status, json.loads(text) if text.strip() else None
                except ValueError:
                    return response.status, None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TokenServiceError(f"token service unreachable ({type(error).__name__})") from None

    def _user(self, user_id: str) -> dict[str, str]:
        return {"userId": user_id, "connectionName": self.connection, "channelId": CHANNEL}

    async def get_token(self, user_id: str, code: str = "") -> str | None:
        """Return the user's token (or the one a sign-in magic `code` names), or None when there is none."""
        params = self._user(user_id) | ({"code": code} if code else {})
        status, body = await self._call("GET", "api/usertoken/GetToken", params)
        return body.get("token") if status == 200 and isinstance(body, dict) else None

    async def exchange(self, user_id: str, sso_token: str) -> str | None:
        """Return the connection's token for Teams' SSO token, or None when the exchange is refused."""
        status, body = await self._call(
            "POST", "api/usertoken/exchange", self._user(user_id), {"token": sso_token, "uri": None}
        )
        return body.get("token") if status == 200 and isinstance(body, dict) else None

    async def sign_out(self, user_id: str) -> None:
        """Forget the user's token of the connection."""
        await self._call("DELETE", "api/usertoken/SignOut", self._user(user_id))

    async def sign_in_card(self, ref: ConversationRef, turn: Turn, text: str) -> dict[str, Any]:
        """Return the OAuth card attachment: the sign-in link, and the token exchange resource for Teams SSO."""
        state = {
            "connectionName": self.connection,
            "conversation": {
                "activityId": ref.activity_id, "channelId": CHANNEL, "serviceUrl": ref.service_url,
                "user": {"id": turn.user.id, "name": turn.user.name},
                "conversation": {"id": ref.conversation_id}, "locale": turn.locale,
            },
            "relatesTo": None,
            "msAppId": self.app_id,
        }  # fmt: skip
        encoded = base64.b64encode(json.dumps(state).encode()).decode()
        status, body = await self._call("GET", "api/botsignin/GetSignInResource", {"state": encoded})
        if status != 200 or not isinstance(body, dict) or not body.get("signInLink"):
            raise TokenServiceError(f"GetSignInResource answered {status}")
        content: dict[str, Any] = {
            "text": text,
            "connectionName": self.connection,
            "buttons": [{"type": "signin", "title": "Sign in", "value": body["signInLink"]}],
        }
        if body.get("tokenExchangeResource"):
            content["tokenExchangeResource"] = body["tokenExchangeResource"]
        return {"contentType": OAUTH_CARD, "content": content}

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()


@dataclass(frozen=True)
class BoundTokens:
    """One Teams user's tokens of the connection (services.backends.UserTokens)."""

    service: UserTokenService
    user_id: str

    async def token(self) -> str | None:
        """Return the user's token, or None when not signed in (or the token service cannot be reached)."""
        try:
            return await self.service.get_token(self.user_id)
        except TokenServiceError as error:
            log.warning("could not read a user token: %s", error)
            return None

    async def sign_out(self) -> None:
        """Forget the user's token."""
        await self.service.sign_out(self.user_id)


def identity_of(turn: Turn, service: UserTokenService | None) -> Identity:
    """Return the identity a backend sees for the turn's user (Entra object id, tenant, tokens). A user whose
    channel does not assert an Entra id (bot/activity.py) has none, and no tokens: backends refuse to act as them."""
    asserted = bool(turn.user.aad_object_id)
    tokens = BoundTokens(service, turn.user.id) if service is not None and asserted else None
    return Identity(user_id=turn.user.aad_object_id, tenant_id=turn.conversation.tenant_id, tokens=tokens)
