"""The aiohttp edge: POST /api/messages and GET /healthz, wired to one Gateway."""

from __future__ import annotations

import logging
import sys

from aiohttp import web
from botframework.connector.auth import ServiceClientCredentialsFactory

from bot.auth import ChannelAuth
from bot.connector import BotConnector
from bot.dispatcher import InProcessDispatcher, Job
from bot.gateway import MAX_BODY_BYTES, Gateway, HttpRequest, error
from bot.replier import TeamsReplier
from handlers.analytics import AnalyticsConfig, register_analytics
from handlers.app import build_router, run_turn
from services.backends import Backend, create_backend
from services.settings import Settings, SettingsError, load_settings
from services.store import SQLiteStore, Store

log = logging.getLogger(__name__)
GATEWAY = web.AppKey("gateway", Gateway)


def build_gateway(
    settings: Settings,
    *,
    store: Store | None = None,
    backend: Backend | None = None,
    credentials_factory: ServiceClientCredentialsFactory | None = None,
    connector: BotConnector | None = None,
) -> Gateway:
    """Return a Gateway with every part built from `settings`; tests pass fakes for the parts they replace."""
    auth = ChannelAuth(settings, credentials_factory)
    store = store or SQLiteStore(settings.state_db)
    backend = backend or create_backend(settings)
    connector = connector or BotConnector(auth)
    router = build_router(backend, store)
    register_analytics(router, backend, AnalyticsConfig.from_settings(settings))

    async def run(job: Job) -> None:
        streaming = job.turn.conversation.type == "personal"  # Teams streams only in personal chats
        replier = TeamsReplier(connector, job.ref, streaming=streaming, interval=settings.stream_interval_seconds)
        await run_turn(router, job.turn, replier)

    dispatcher = InProcessDispatcher(run, settings.max_concurrent_turns)
    return Gateway(settings, auth, store, router, dispatcher, closers=[connector.close])


async def _messages(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        response = error(413, "PayloadTooLarge", f"The body is larger than {MAX_BODY_BYTES} bytes.")
    else:
        response = await gateway.handle(HttpRequest(request.method, request.headers, body))
    if response.body is None:
        return web.Response(status=response.status, headers=response.headers)
    return web.json_response(response.body, status=response.status, headers=response.headers)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "pending_turns": request.app[GATEWAY].dispatcher.pending})


def create_app(gateway: Gateway) -> web.Application:
    """Return the aiohttp application serving `gateway`; shutting it down drains running turns."""
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    app[GATEWAY] = gateway
    app.router.add_route("*", "/api/messages", _messages)
    app.router.add_get("/healthz", _health)

    async def shutdown(app: web.Application) -> None:
        await gateway.close()

    app.on_cleanup.append(shutdown)
    return app


def configure_logging(level: str) -> None:
    """Send logs to stderr with a time, level and logger name on each line."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def serve(argv: list[str] | None = None) -> int:
    """Run the bot until interrupted; return the exit code (2 for a bad setting)."""
    try:
        settings = load_settings()
    except SettingsError as problem:
        print(problem, file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if settings.anonymous:
        log.warning(
            "LOCAL DEVELOPMENT MODE: MICROSOFT_APP_ID is empty, so requests are NOT authenticated and replies "
            "are sent without a token. Never expose this endpoint beyond your machine."
        )
        if settings.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("HOST is %s: anyone who can reach it can use this unauthenticated bot.", settings.host)
    try:
        gateway = build_gateway(settings)
    except SettingsError as problem:  # a setting only the backend can check (e.g. no AWS region)
        print(problem, file=sys.stderr)
        return 2
    endpoint = f"http://{settings.host}:{settings.port}/api/messages"
    print(
        f"Teams AI gateway ({settings.backend} backend, knowledge from {settings.knowledge_dir}, "
        f"state in {settings.state_db})\n"
        f"  messaging endpoint: {endpoint}\n"
        f"  chat with it:       make chat   (or: python -m bot chat --endpoint {endpoint})\n"
        f"  stop:               Ctrl+C",
        flush=True,
    )
    web.run_app(create_app(gateway), host=settings.host, port=settings.port, print=None, access_log=None)
    return 0
