"""A loopback stand-in for the Bot Framework token service (the bot's OAuth connection): users' tokens, Teams
SSO token exchange, sign-out, sign-in magic codes and the sign-in resource of the OAuth card."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer


@dataclass
class FakeTokenService(LoopbackServer):
    """`sso_tokens`: Teams SSO token → the connection's token; `magic_codes`: code → token (the card's flow);
    `tokens`: Teams user id → the token held for the user."""

    connection: str = "entra"
    sso_tokens: dict[str, str] = field(default_factory=dict)
    magic_codes: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    port: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/usertoken/GetToken", self._get)
        app.router.add_post("/api/usertoken/exchange", self._exchange)
        app.router.add_delete("/api/usertoken/SignOut", self._sign_out)
        app.router.add_get("/api/botsignin/GetSignInResource", self._resource)

    def _known(self, request: web.Request) -> bool:
        self.calls.append(request.path)
        query = request.query
        return query.get("connectionName") == self.connection and query.get("channelId") == "msteams"

    def _token(self, user: str) -> web.Response:
        return web.json_response(
            {"channelId": "msteams", "connectionName": self.connection, "token": self.tokens[user],
             "expiration": "2030-01-01T00:00:00Z"}
        )  # fmt: skip

    async def _get(self, request: web.Request) -> web.Response:
        user, code = request.query.get("userId", ""), request.query.get("code", "")
        if not self._known(request):
            return web.json_response({"error": {"code": "BadArgument"}}, status=400)
        if code and code in self.magic_codes:
            self.tokens[user] = self.magic_codes.pop(code)
        elif code:
            return web.Response(status=404)
        return self._token(user) if user in self.tokens else web.Response(status=404)

    async def _exchange(self, request: web.Request) -> web.Response:
        user, body = request.query.get("userId", ""), await request.json()
        if not self._known(request) or body.get("token") not in self.sso_tokens:
            return web.json_response({"error": {"code": "ServiceError", "message": "exchange failed"}}, status=400)
        self.tokens[user] = self.sso_tokens[body["token"]]
        return self._token(user)

    async def _sign_out(self, request: web.Request) -> web.Response:
        if self._known(request):
            self.tokens.pop(request.query.get("userId", ""), None)
        return web.Response(status=200)

    async def _resource(self, request: web.Request) -> web.Response:
        self.calls.append(request.path)
        state = json.loads(base64.b64decode(request.query["state"]))
        self.states.append(state)
        return web.json_response(
            {"signInLink": f"{self.url}/signin?id={uuid.uuid4().hex}",
             "tokenExchangeResource": {"id": uuid.uuid4().hex, "uri": "api://botid-gateway",
                                       "providerId": "entra-provider"}}
        )  # fmt: skip
