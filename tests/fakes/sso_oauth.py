"""A loopback stand-in for IAM Identity Center's OIDC API (`sso-oidc` in boto3, signing name `sso-oauth`):
CreateTokenWithIAM with the JWT bearer grant. Point boto3 at it with AWS_ENDPOINT_URL_SSO_OIDC."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web

from bot.emulator.loopback import LoopbackServer

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class FakeSsoOauth(LoopbackServer):
    """Accepts the Entra tokens in `users` (token → user name) for the application `client_id`."""

    client_id: str = "arn:aws:sso::123456789012:application/ssoins-1/apl-1"
    users: dict[str, str] = field(default_factory=dict)
    with_context: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._token)

    @staticmethod
    def _error(status: int, code: str) -> web.Response:
        return web.json_response({"error": code, "error_description": "refused"}, status=status,
                                 headers={"x-amzn-ErrorType": code})  # fmt: skip

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("clientId") != self.client_id:
            return self._error(400, "InvalidClientException")
        if body.get("grantType") != JWT_BEARER:
            return self._error(400, "UnsupportedGrantTypeException")
        user = self.users.get(body.get("assertion", ""))
        if user is None:
            return self._error(400, "InvalidGrantException")
        claims: dict[str, Any] = {"sub": user, "aud": self.client_id, "exp": int(time.time()) + 3600}
        if self.with_context:
            claims["sts:identity_context"] = f"ctx-{user}"
        id_token = jwt.encode(claims, "fake-signing-key-of-at-least-32-bytes!!", algorithm="HS256")
        return web.json_response(
            {"accessToken": f"idc-{user}", "tokenType": "Bearer", "expiresIn": 3600, "idToken": id_token,
             "issuedTokenType": "urn:ietf:params:oauth:token-type:access_token"}
        )  # fmt: skip
