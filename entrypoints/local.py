"""`python -m bot serve` / `make run`: the aiohttp server with the worker in the same process."""

from __future__ import annotations

import errno
import logging
import sys

from bot.edge_http import serve_app
from bot.server import create_app
from entrypoints.wiring import build_local
from services.observability.start import start_observability
from services.settings import Settings, SettingsError, load_settings

log = logging.getLogger(__name__)
DEFAULT_PORT = Settings.model_fields["port"].default  # what `make chat` assumes


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
    make_chat = "make chat" if settings.port == DEFAULT_PORT else f"make chat PORT={settings.port}"
    print(
        f"Teams AI gateway ({settings.backend} backend, knowledge from {settings.knowledge_dir}, "
        f"state in {settings.state_db})\n"
        f"  messaging endpoint: {endpoint}\n"
        f"  chat with it:       {make_chat}   (or: python -m bot chat --endpoint {endpoint})\n"
        f"  stop:               Ctrl+C",
        flush=True,
    )
    try:
        serve_app(create_app(gateway), settings.host, settings.port)  # unparsable requests get a 4xx, no traceback
    except OSError as problem:
        if problem.errno != errno.EADDRINUSE:
            raise
        print(
            f"Port {settings.port} on {settings.host} is already in use (another `make run`?): stop it, or start "
            f"this one with `make run PORT=<free port>` and talk to it with `make chat PORT=<that port>`.",
            file=sys.stderr,
        )
        return 1
    return 0
