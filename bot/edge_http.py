"""Run the aiohttp app so that requests aiohttp cannot parse get a 4xx with one sentence, not a traceback.

aiohttp answers an oversize header line or a malformed request itself, before any handler or middleware
runs, with its parser's message (which quotes the start of the offending header, e.g. a bearer token) and
an ERROR traceback in the log. Its only hook is `RequestHandler.handle_error`, so the runner here builds
its server with a handler class that overrides that one method.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)


def parse_error_response(exc: BaseException | None) -> web.Response | None:
    """Return the 4xx for a request aiohttp could not parse (431 for a line too long), or None for others."""
    if isinstance(exc, LineTooLong):
        status, code, message = 431, "RequestHeaderFieldsTooLarge", "A header line is longer than the server accepts."
    elif isinstance(exc, BadHttpMessage):
        status, code, message = 400, "BadRequest", "The request is not valid HTTP."
    else:
        return None
    response = web.json_response({"error": {"code": code, "message": message}}, status=status)
    response.force_close()
    return response


class _EdgeRequestHandler(RequestHandler):
    def handle_error(
        self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        response = parse_error_response(exc)
        if response is None:
            return super().handle_error(request, status, exc, message)
        log.warning("refused an unparsable request from %s: %s", request.remote, type(exc).__name__)
        return response


class _EdgeServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """An AppRunner whose connections map unparsable requests to a 4xx (see the module docstring)."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _EdgeServer  # same state, one overridden method: aiohttp offers no handler-class hook
        return server


async def start(app: web.Application, host: str, port: int) -> tuple[EdgeRunner, int]:
    """Start serving `app` on host:port (0 picks a free port); return the runner and the port."""
    runner = EdgeRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def serve_app(app: web.Application, host: str, port: int, on_ready: Callable[[], None] | None = None) -> None:
    """Serve `app` until SIGINT or SIGTERM, then shut it down cleanly (what `web.run_app` does). `on_ready` is
    called once the port is bound: a port in use raises OSError before anything says the bot is ready."""

    async def main() -> None:
        runner, _ = await start(app, host, port)
        if on_ready is not None:
            on_ready()
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, web.GracefulExit):
        pass
