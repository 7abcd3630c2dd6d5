"""A Bot Connector on loopback that records what the bot sends and can fail on purpose.

Used by `python -m bot chat` to receive the bot's replies and by the tests as the fake connector.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.emulator.loopback import LoopbackServer


@dataclass
class Call:
    """One request the bot made: method, conversation id, the activity id in the path, body and headers."""

    method: str
    conversation_id: str
    activity_id: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)

    @property
    def type(self) -> str:
        """Return the activity type of the body."""
        return str(self.body.get("type", ""))


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


class FakeConnector(LoopbackServer):
    """Serves `/v3/conversations/...` on 127.0.0.1 (port 0 picks a free one). Use as an async context manager."""

    client_max_size = 8 * 1024 * 1024

    def __init__(self, port: int = 0, on_call: Callable[[Call], None] | None = None) -> None:
        self.port = port
        self.calls: list[Call] = []
        self.rejected: list[Call] = []
        self.departed: set[str] = set()  # user ids the members endpoint no longer knows (left the team or chat)
        self.files: dict[str, bytes] = {}
        self.on_call = on_call
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        """Return the serviceUrl to put in activities."""
        return f"http://127.0.0.1:{self.port}/"

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None, code: str = "") -> None:
        """Answer the next `times` calls with `status` (and headers such as Retry-After) instead of accepting them."""
        body = {"error": {"code": code or f"Status{status}", "message": "injected failure"}}
        self._failures += [_Failure(status, headers or {}, body)] * times

    def serve_file(self, name: str, data: bytes) -> str:
        """Serve `data` at a download URL, as Teams serves an attached file; return the URL."""
        token = f"{next(self._ids):04d}-{name}"
        self.files[token] = data
        return f"{self.url}files/{token}"

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["token"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/files/{token}", self._file)
        app.router.add_route("*", "/v3/conversations/{conversation}/activities", self._handle)
        app.router.add_route("*", "/v3/conversations/{conversation}/activities/{activity}", self._handle)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)

    async def _member(self, request: web.Request) -> web.Response:
        """A conversation's member: everyone, except the ids in `departed` (404, as Teams answers)."""
        member = request.match_info["member"]
        if member in self.departed:
            return web.json_response({"error": {"code": "MemberNotFoundInConversation"}}, status=404)
        return web.json_response({"id": member, "aadObjectId": member})

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"code": "BadArgument", "message": "not JSON"}}, status=400)
        call = Call(
            request.method,
            request.match_info["conversation"],
            request.match_info.get("activity", ""),
            body,
            dict(request.headers),
        )
        if self._failures:
            failure = self._failures.pop(0)
            self.rejected.append(call)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if request.method == "PUT":
            new_id = call.activity_id
        else:
            new_id = f"{int(time.time() * 1000)}{next(self._ids):04d}"
        call.body.setdefault("id", new_id)
        self.calls.append(call)
        if self.on_call:
            self.on_call(call)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"id": new_id}, status=200 if request.method == "PUT" else 201)

    def messages(self) -> list[Call]:
        """Return the calls that carried a message (not typing indicators)."""
        return [c for c in self.calls if c.type == "message"]

    async def wait_for(self, predicate: Callable[[list[Call]], bool], timeout: float = 10.0) -> list[Call]:
        """Wait until `predicate(calls)` is true; return the calls. Raises TimeoutError after `timeout` seconds."""

        async def satisfied() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self.calls))

        await asyncio.wait_for(satisfied(), timeout)
        return self.calls

    async def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[Call]:
        """Wait until at least `count` message calls have arrived; return the message calls."""
        await self.wait_for(lambda calls: sum(c.type == "message" for c in calls) >= count, timeout)
        return self.messages()
