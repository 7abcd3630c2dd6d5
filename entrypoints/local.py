"""`python -m bot serve` / `make run`: the aiohttp server with the worker in the same process."""

from __future__ import annotations

import logging
import sys

from bot.edge_http import serve_app
from bot.server import create_app
from entrypoints.wiring import build_local
from services.observability.start import start_observability
from services.settings import SettingsError, load_settings

log = logging.getLogger(__name__)


def serve() -> int:
    """Run the bot until interrupted; return the exit code (2 for a bad setting)."""
    try:
        settings = load_settings()
    except SettingsError as problem:
        print(problem, file=sys.stderr)
        return 2
    start_observability(settings, "server")
    if settings.anonymous:
        log.warning(
            "LOCAL DEVELOPMENT MODE: MICROSOFT_APP_ID is empty, so requests are NOT authenticated and replies "
            "are sent without a token. Never expose this endpoint beyond your machine."
        )
        if settings.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("HOST is %s: anyone who can reach it can use this unauthenticated bot.", settings.host)
    try:
        gateway = build_local(settings)
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
    serve_app(create_app(gateway), settings.host, settings.port)  # unparsable requests get a 4xx, no traceback
    return 0
