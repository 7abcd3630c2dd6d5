"""The real botbuilder JWT validation path, offline: a loopback OpenID metadata + JWKS server and our own RSA key."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from botframework.connector.auth import ServiceClientCredentialsFactory
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

APP_ID = "00000000-0000-4000-8000-00000000a991"
ISSUER = "https://api.botframework.com"
KID = "test-signing-key"
OUTGOING_TOKEN = "fixed-outgoing-token"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = _private_key()
OTHER_KEY = _private_key()


class OpenIdServer:
    """OpenID metadata and JWKS on 127.0.0.1 in a thread of its own: botbuilder fetches them with blocking
    `requests` from inside the event loop, so an in-loop server would never answer."""

    def __init__(self) -> None:
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING_KEY.public_key()))
        keys = {"keys": [{**public_jwk, "kid": KID, "use": "sig", "endorsements": ["msteams"]}]}
        server_ref: dict[str, Any] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                port = server_ref["port"]
                if self.path == "/openid":
                    body = {"issuer": ISSUER, "jwks_uri": f"http://127.0.0.1:{port}/keys"}
                elif self.path == "/keys":
                    body = keys
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        # A fresh port per test: botbuilder caches metadata per URL for a day.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server_ref["port"] = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{server_ref['port']}/openid"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OpenIdServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FixedCredentials:
    def get_access_token(self, force_refresh: bool = False) -> str:
        return OUTGOING_TOKEN


class FixedTokenFactory(ServiceClientCredentialsFactory):
    """Outgoing tokens without MSAL (which would call login.microsoftonline.com)."""

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == APP_ID

    async def is_authentication_disabled(self) -> bool:
        return False

    async def create_credentials(self, app_id, oauth_scope, login_endpoint, validate_authority):
        return FixedCredentials()


def mint(service_url: str, *, key=SIGNING_KEY, kid: str = KID, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": APP_ID, "iat": now, "nbf": now - 5, "exp": now + 3600, "serviceurl": service_url}
    payload.update(claims)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return jwt.encode(payload, pem, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def secured_bot(start_bot):
    with OpenIdServer() as openid:
        bot = await start_bot(
            credentials_factory=FixedTokenFactory(),
            microsoft_app_id=APP_ID,
            microsoft_app_password="not-used-in-tests",
            bot_openid_metadata_url=openid.url,
        )
        yield bot


async def test_valid_token_is_accepted_and_replies_carry_the_bot_token(secured_bot):
    bot = secured_bot
    activity = bot.channel().message("help")
    response = await bot.post(activity, {"Authorization": f"Bearer {mint(bot.connector.url)}"})
    assert response.status == 200
    await bot.settle()
    (reply,) = bot.connector.messages()
    assert reply.headers["Authorization"] == f"Bearer {OUTGOING_TOKEN}"


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(lambda url: "", id="no-header"),
        pytest.param(lambda url: "Bearer not-a-jwt", id="garbage"),
        pytest.param(lambda url: f"Basic {mint(url)}", id="wrong-scheme"),
        pytest.param(lambda url: f"Bearer {mint(url, exp=int(time.time()) - 3600)}", id="expired"),
        pytest.param(lambda url: f"Bearer {mint(url, aud='someone-else')}", id="wrong-audience"),
        pytest.param(lambda url: f"Bearer {mint(url, iss='https://evil.example')}", id="wrong-issuer"),
        pytest.param(lambda url: f"Bearer {mint(url, key=OTHER_KEY)}", id="wrong-key"),
        pytest.param(lambda url: f"Bearer {mint(url, kid='unknown-kid')}", id="unknown-kid"),
        pytest.param(lambda url: f"Bearer {mint('https://elsewhere.example/')}", id="serviceurl-mismatch"),
    ],
)
async def test_bad_tokens_get_401_without_detail(secured_bot, make_header):
    bot = secured_bot
    header = make_header(bot.connector.url)
    response = await bot.post(bot.channel().message("help"), {"Authorization": header} if header else {})
    assert response.status == 401
    assert await response.json() == {"error": {"code": "Unauthorized", "message": "Unauthorized."}}
    await bot.settle()
    assert bot.connector.calls == []
    # the server keeps serving afterwards
    ok = await bot.post(bot.channel().message("help"), {"Authorization": f"Bearer {mint(bot.connector.url)}"})
    assert ok.status == 200
    await bot.settle()
    assert len(bot.connector.messages()) == 1


async def test_unreachable_signing_keys_give_503(start_bot):
    with OpenIdServer() as openid:
        url = openid.url
    bot = await start_bot(
        credentials_factory=FixedTokenFactory(),
        microsoft_app_id=APP_ID,
        microsoft_app_password="x",
        bot_openid_metadata_url=url,
    )
    response = await bot.post(bot.channel().message("hi"), {"Authorization": f"Bearer {mint(bot.connector.url)}"})
    assert response.status == 503


async def test_tenant_outside_allow_list_gets_403_and_no_reply(start_bot):
    bot = await start_bot(allowed_tenants="tenant-a,tenant-b")
    refused = bot.channel(tenant_id="tenant-z").message("hello")
    response = await bot.post(refused)
    assert response.status == 403
    allowed = bot.channel(tenant_id="tenant-b").message("help")
    assert (await bot.post(allowed)).status == 200
    await bot.settle()
    assert [m.conversation_id for m in bot.connector.messages()] == [allowed["conversation"]["id"]]


async def test_tenant_is_read_from_channel_data(start_bot):
    bot = await start_bot(allowed_tenants="tenant-a")
    activity = bot.channel(tenant_id="tenant-a").message("help")
    activity["conversation"]["tenantId"] = "tenant-z"  # channelData.tenant.id is authoritative
    assert (await bot.post(activity)).status == 200
    del activity["channelData"]["tenant"]
    activity["id"] += "1"
    activity["conversation"]["tenantId"] = "tenant-a"  # fallback when channelData has no tenant
    assert (await bot.post(activity)).status == 200
