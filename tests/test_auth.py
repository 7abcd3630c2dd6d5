"""Channel token validation, offline: a loopback OpenID metadata + JWKS server and our own RSA key."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from aiohttp import web
from botframework.connector.auth import ServiceClientCredentialsFactory
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.auth import KeysUnavailable, SigningKeys
from bot.emulator.loopback import LoopbackServer

APP_ID = "00000000-0000-4000-8000-00000000a991"
ISSUER = "https://api.botframework.com"
KID = "test-signing-key"
UNENDORSED_KID = "key-without-endorsements"
EMPTY_ENDORSED_KID = "key-with-empty-endorsements"
WEBCHAT_KID = "key-endorsed-for-webchat"
OUTGOING_TOKEN = "fixed-outgoing-token"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = _private_key()
OTHER_KEY = _private_key()


class OpenIdServer:
    """OpenID metadata and JWKS on 127.0.0.1 in a thread of its own, recording the paths asked for.

    Besides the signing key endorsed for msteams it publishes keys endorsed for nothing and for webchat only.
    `delay` makes every answer that slow (a key endpoint that hangs)."""

    def __init__(self, delay: float = 0.0) -> None:
        def jwk(kid: str, key: rsa.RSAPrivateKey, endorsements: list[str] | None) -> dict[str, Any]:
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            extra = {} if endorsements is None else {"endorsements": endorsements}
            return {**public, "kid": kid, "use": "sig", **extra}

        keys = {"keys": [jwk(KID, SIGNING_KEY, ["msteams"]), jwk(UNENDORSED_KID, OTHER_KEY, None),
                         jwk(EMPTY_ENDORSED_KID, OTHER_KEY, []), jwk(WEBCHAT_KID, OTHER_KEY, ["webchat"])]}  # fmt: skip
        server_ref: dict[str, Any] = {}
        self.paths: list[str] = []
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                paths.append(self.path)
                time.sleep(delay)
                port = server_ref["port"]
                if self.path == "/openid":
                    body = {"issuer": ISSUER, "jwks_uri": f"http://127.0.0.1:{port}/keys"}
                elif self.path == "/keys":
                    body = keys
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up waiting
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
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
    for name in [k for k, v in payload.items() if v is None]:  # None removes a claim
        del payload[name]
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
        pytest.param(lambda url: f"Bearer {mint(url, exp=None)}", id="no-exp"),
        pytest.param(lambda url: f"Bearer {mint(url, key=OTHER_KEY, kid=UNENDORSED_KID)}", id="key-not-endorsed"),
        pytest.param(lambda url: f"Bearer {mint(url, key=OTHER_KEY, kid=EMPTY_ENDORSED_KID)}", id="key-empty-endorsed"),
        pytest.param(lambda url: f"Bearer {mint(url, key=OTHER_KEY, kid=WEBCHAT_KID)}", id="key-for-webchat"),
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


@pytest.mark.parametrize("authorization", ["", "Authorization: Bearer not.a.token\r\n"], ids=["none", "garbage"])
async def test_a_request_without_a_valid_token_is_refused_before_its_body_is_read(secured_bot, authorization):
    # Issue 19 item 1: an unauthenticated body costs nothing. The head announces 1 MB that is never sent; the 401
    # comes at once (before: the server waited for the body, up to its 20 s body timeout, then parsed it).
    bot = secured_bot
    reader, writer = await asyncio.open_connection("127.0.0.1", bot.client.port)
    writer.write(
        b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + authorization.encode() + b"Content-Length: 1000000\r\n\r\n" + b"{" * 1000
    )  # fmt: skip
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 401")
    # A signed request with the same head shape still has its body read and is answered.
    ok = await bot.post(bot.channel().message("help"), {"Authorization": f"Bearer {mint(bot.connector.url)}"})
    assert ok.status == 200


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
    bot = await start_bot(allowed_tenants="aaaaaaaa-0000-4000-8000-00000000000a,bbbbbbbb-0000-4000-8000-00000000000b")
    refused = bot.channel(tenant_id="ffffffff-0000-4000-8000-00000000000f").message("hello")
    response = await bot.post(refused)
    assert response.status == 403
    allowed = bot.channel(tenant_id="bbbbbbbb-0000-4000-8000-00000000000b").message("help")
    assert (await bot.post(allowed)).status == 200
    await bot.settle()
    assert [m.conversation_id for m in bot.connector.messages()] == [allowed["conversation"]["id"]]


async def test_tenant_is_read_from_channel_data(start_bot):
    bot = await start_bot(allowed_tenants="aaaaaaaa-0000-4000-8000-00000000000a")
    activity = bot.channel(tenant_id="aaaaaaaa-0000-4000-8000-00000000000a").message("help")
    activity["conversation"]["tenantId"] = (
        "ffffffff-0000-4000-8000-00000000000f"  # channelData.tenant.id is authoritative
    )
    assert (await bot.post(activity)).status == 200
    del activity["channelData"]["tenant"]
    activity["id"] += "1"
    activity["conversation"]["tenantId"] = (
        "aaaaaaaa-0000-4000-8000-00000000000a"  # fallback when channelData has no tenant
    )
    assert (await bot.post(activity)).status == 200


class Elsewhere(LoopbackServer):
    """A host a forged activity would like the bot's token sent to: it records anything it receives."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    def routes(self, app: web.Application) -> None:
        async def record(request: web.Request) -> web.Response:
            self.hits.append(request.path)
            return web.json_response({"id": "x"})

        app.router.add_route("*", "/{tail:.*}", record)


@pytest.mark.parametrize("spelling", ["service_url", "ServiceUrl", "serviceURL", "serviceurl", "relatesTo"])
async def test_replies_go_only_to_the_service_url_checked_against_the_token(secured_bot, spelling):
    bot = secured_bot
    async with Elsewhere() as elsewhere:
        token = {"Authorization": f"Bearer {mint(bot.connector.url)}"}
        other = {"serviceUrl": elsewhere.url + "/"} if spelling == "relatesTo" else elsewhere.url + "/"
        valid_elsewhere = bot.channel().message("help")
        valid_elsewhere[spelling] = other  # the checked URL is right, another spelling names another host
        assert (await bot.post(valid_elsewhere, token)).status == 200
        forged = bot.channel().message("help")
        forged["serviceUrl"], forged[spelling] = elsewhere.url + "/", bot.connector.url  # the other way round
        assert (await bot.post(forged, token)).status == 401
        await bot.settle()
        assert elsewhere.hits == []
        assert [c.conversation_id for c in bot.connector.messages()] == [valid_elsewhere["conversation"]["id"]]


async def test_channel_must_be_allowed_and_the_key_endorsed_for_it(secured_bot):
    bot = secured_bot
    for channel, kid, key in (("webchat", KID, SIGNING_KEY), ("webchat", WEBCHAT_KID, OTHER_KEY)):
        activity = bot.channel().message("help")
        activity["channelId"] = channel
        token = mint(bot.connector.url, key=key, kid=kid)
        assert (await bot.post(activity, {"Authorization": f"Bearer {token}"})).status == 401
    await bot.settle()
    assert bot.connector.calls == []


async def test_tokens_without_exp_are_accepted_only_when_the_setting_says_so(start_bot):
    with OpenIdServer() as openid:
        bot = await start_bot(
            credentials_factory=FixedTokenFactory(), microsoft_app_id=APP_ID, microsoft_app_password="x",
            bot_openid_metadata_url=openid.url, auth_require_exp=False,
        )  # fmt: skip
        response = await bot.post(
            bot.channel().message("help"), {"Authorization": f"Bearer {mint(bot.connector.url, exp=None)}"}
        )
        assert response.status == 200


async def test_a_hanging_key_endpoint_never_blocks_the_loop_and_failures_are_cached():
    with OpenIdServer(delay=3.0) as openid:
        keys = SigningKeys(openid.url, timeout=0.5, failure_ttl=30)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        with pytest.raises(KeysUnavailable):
            await keys.get(KID)
        elapsed = time.monotonic() - started
        with pytest.raises(KeysUnavailable):  # cached: no second fetch, no second wait
            await asyncio.gather(*(keys.get(KID) for _ in range(20)))
        task.cancel()
        assert elapsed < 2.0 and time.monotonic() - started < 2.0
        assert ticks > 10  # the loop kept running while the fetch waited
        assert keys.fetches == 1 and openid.paths == ["/openid"]


async def test_unknown_key_ids_and_foreign_issuers_fetch_nothing_else():
    with OpenIdServer() as openid:
        keys = SigningKeys(openid.url)
        assert await keys.get(KID) is not None
        for n in range(50):  # an attacker cycling key ids cannot make us refetch on every request
            assert await keys.get(f"kid-{n}") is None
        assert keys.fetches == 1
        assert openid.paths == ["/openid", "/keys"]


async def test_an_emulator_or_skill_issuer_does_not_choose_the_keys(secured_bot):
    bot = secured_bot
    for issuer in ("https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",
                   "https://login.microsoftonline.com/tenant/v2.0"):  # fmt: skip
        token = mint(bot.connector.url, iss=issuer, ver="1.0", appid=APP_ID, kid="emulator-kid")
        assert (await bot.post(bot.channel().message("help"), {"Authorization": f"Bearer {token}"})).status == 401
    await bot.settle()
    assert bot.connector.calls == []


def test_copied_channel_constants_equal_botframeworks():
    from botframework.connector.auth import AuthenticationConstants as constants

    from bot import auth

    assert auth.CHANNEL_ISSUER == constants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
    assert auth.CHANNEL_METADATA_URL == constants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    assert auth.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE == constants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
    assert auth.TO_CHANNEL_FROM_BOT_LOGIN_URL == constants.TO_CHANNEL_FROM_BOT_LOGIN_URL


async def test_expect_100_continue_is_answered_only_for_an_admitted_head(secured_bot):
    # Fourth hostile pass: aiohttp's default Expect handler said "100 Continue" to any request, inviting a
    # client without a token to send its body; the refusal now comes instead.
    bot = secured_bot

    async def head_after(authorization: bytes, body: bytes = b"") -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", bot.client.port)
        writer.write(
            b"POST /api/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
            + authorization + b"Content-Length: %d\r\n\r\n" % (len(body) or 500_000)
        )  # fmt: skip
        try:
            first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
            if first.startswith(b"HTTP/1.1 100") and body:
                writer.write(body)
                return first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            return first
        finally:
            writer.close()

    assert (await head_after(b"")).startswith(b"HTTP/1.1 401")
    assert (await head_after(b"Authorization: Bearer not.a.token\r\n")).startswith(b"HTTP/1.1 401")
    body = json.dumps(bot.channel().message("help")).encode()
    answered = await head_after(f"Authorization: Bearer {mint(bot.connector.url)}\r\n".encode(), body)
    assert answered.startswith(b"HTTP/1.1 100") and b"HTTP/1.1 200" in answered, answered
