"""Run the aiohttp app so that requests aiohttp cannot parse get a 4xx with one sentence, not a traceback,
and so that slow or numerous connections cannot take the server's descriptors (slowloris).

aiohttp answers an oversize header line or a malformed request itself, before any handler or middleware
runs, with its parser's message (which quotes the start of the offending header, e.g. a bearer token) and
an ERROR traceback in the log. Its only hook is `RequestHandler.handle_error`, so the runner here builds
its server with a handler class that overrides that one method.

Slow clients. aiohttp has no setting named for a header-read timeout, but its keep-alive timer is one: it is
armed when a connection opens and again after each response, is not pushed back by bytes arriving, and when
it fires on a connection still waiting for a complete request head it closes it. So `idle_timeout` (short:
10 s by default, aiohttp's own default is an hour) bounds both the time to send a request's head and the
idle time between requests; tests/test_slow_clients.py holds that on real sockets, so an aiohttp upgrade that
changes it fails there. A request's body is bounded by the ingress's handler (bot/server.py). The connection
cap is counted in the handler class (the server's own list of connections): a connection over the cap gets
one 503 line and is closed at once, so descriptors stay below the process's limit; when the limit is hit
anyway, asyncio's "out of system resource" line is written at most once a minute, with a count.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 10.0  # to send a request's head, and between two requests on one connection
MAX_CONNECTIONS = 512  # and never more than half the process's descriptor limit
_BUSY_BODY = b'{"error": {"code": "ServiceUnavailable", "message": "Too many open connections; retry shortly."}}'
_OVER_CAPACITY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 2\r\nConnection: close\r\n"
    + f"Content-Length: {len(_BUSY_BODY)}\r\n\r\n".encode()
    + _BUSY_BODY
)


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
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = self._manager
        if manager is not None and len(manager.connections) > getattr(manager, "max_connections", MAX_CONNECTIONS):
            assert isinstance(transport, asyncio.Transport)
            transport.write(_OVER_CAPACITY)
            self.force_close()
            _over_capacity.note()

    def handle_error(
        self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        response = parse_error_response(exc)
        if response is None:
            return super().handle_error(request, status, exc, message)
        log.warning("refused an unparsable request from %s: %s", request.remote, type(exc).__name__)
        return response


class _EdgeServer(web.Server):
    max_connections = MAX_CONNECTIONS

    def __call__(self) -> RequestHandler:
        return _EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class _EveryMinute:
    """Writes a repeated line at most once a minute, saying how many times it happened in between."""

    def __init__(self, message: str, period: float = 60.0) -> None:
        self.message, self.period, self.count, self.last = message, period, 0, -period

    def note(self) -> bool:
        """Count one occurrence; return True when the line was written now."""
        self.count += 1
        now = time.monotonic()
        if now - self.last < self.period:
            return False
        log.error(self.message, self.count)
        self.count, self.last = 0, now
        return True


_over_capacity = _EveryMinute("refused connections over the connection cap (%d since the last line)")
_out_of_descriptors = _EveryMinute(
    "out of file descriptors: new connections wait until some close (%d times since the last line); "
    "lower the connection cap or raise the descriptor limit (ulimit -n)"
)


def _quiet_descriptor_exhaustion(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio writes "socket.accept() out of system resource" with a traceback every second while the
    descriptors are exhausted: one line a minute instead; everything else goes to the default handler."""
    error = context.get("exception")
    if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE):
        _out_of_descriptors.note()
        return
    loop.default_exception_handler(context)


def connection_cap(requested: int = MAX_CONNECTIONS) -> int:
    """Return the connection cap: `requested`, but at most half the process's descriptor limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(requested, soft // 2)) if soft > 0 else requested


class EdgeRunner(web.AppRunner):
    """An AppRunner whose connections map unparsable requests to a 4xx and are capped in number and idle
    time (see the module docstring)."""

    def __init__(self, app: web.Application, *, max_connections: int = MAX_CONNECTIONS, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.max_connections = connection_cap(max_connections)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _EdgeServer  # same state, one overridden method: aiohttp offers no handler-class hook
        server.max_connections = self.max_connections  # type: ignore[attr-defined]
        return server


async def start(
    app: web.Application,
    host: str,
    port: int,
    *,
    idle_timeout: float = IDLE_TIMEOUT_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> tuple[EdgeRunner, int]:
    """Start serving `app` on host:port (0 picks a free port); return the runner and the port. A connection
    must send a complete request head within `idle_timeout` seconds (and is closed after that long idle);
    at most `max_connections` are open at once (see `connection_cap`)."""
    asyncio.get_running_loop().set_exception_handler(_quiet_descriptor_exhaustion)
    # auto_decompress off: aiohttp would inflate a compressed body on the event loop before any handler runs
    # (a 1 MB gzip body of zeros is 1 GB of work); bot/server.py refuses such a body with 415 unread.
    runner = EdgeRunner(
        app, access_log=None, handle_signals=True, keepalive_timeout=idle_timeout, max_connections=max_connections,
        auto_decompress=False,
    )  # fmt: skip
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
