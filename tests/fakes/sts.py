"""A loopback stand-in for STS AssumeRole (the query protocol: form body in, XML out) that insists on the
Identity Center identity context and issues access keys naming the user (ASIA<USER>X<n>).
Point boto3 at it with AWS_ENDPOINT_URL_STS."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer

PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"


@dataclass
class FakeSts(LoopbackServer):
    """`role_arn` is the only role that may be assumed; `lifetime` is how long issued credentials last."""

    role_arn: str = "arn:aws:iam::123456789012:role/teams-qbusiness"
    lifetime: timedelta = timedelta(hours=1)
    deny: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    issued: int = 0
    port: int = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/", self._handle)

    @staticmethod
    def _error(code: str, message: str = "denied") -> web.Response:
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
            f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
        )
        return web.Response(status=403, text=body, content_type="text/xml")

    async def _handle(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.requests.append(form)
        if form.get("Action") != "AssumeRole":
            return self._error("InvalidAction", "only AssumeRole")
        context = form.get("ProvidedContexts.member.1.ContextAssertion", "")
        if self.deny or form.get("RoleArn") != self.role_arn:
            return self._error("AccessDenied")
        if form.get("ProvidedContexts.member.1.ProviderArn") != PROVIDER or not str(context).startswith("ctx-"):
            return self._error("InvalidIdentityToken", "no identity context")
        self.issued += 1
        user = str(context).removeprefix("ctx-").upper()
        expiration = (datetime.now(UTC) + self.lifetime).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = (
            '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><Credentials>'
            f"<AccessKeyId>ASIA{user}X{self.issued}</AccessKeyId><SecretAccessKey>secret-{self.issued}"
            f"</SecretAccessKey><SessionToken>session-{self.issued}</SessionToken><Expiration>{expiration}"
            "</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROA:teams</AssumedRoleId>"
            f"<Arn>{self.role_arn}/teams</Arn></AssumedRoleUser></AssumeRoleResult>"
            "<ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleResponse>"
        )
        return web.Response(text=body, content_type="text/xml")
