"""An aiohttp application served on 127.0.0.1, started and stopped as an async context manager."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LoopbackServer:
    """Base of the loopback fakes: subclasses add their routes in `routes`; port 0 picks a free port."""

    port: int = 0
    client_max_size: int = 1024 * 1024
    shutdown_timeout: float = 1.0  # aiohttp waits 60 s for handlers still running (a fake's "hang"): not worth it
    _runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        """Add the server's routes to `app`."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """Return the server's base URL (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        """Start serving; return self."""
        app = web.Application(client_max_size=self.client_max_size)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
