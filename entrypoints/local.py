"""`python -m bot serve` / `make run`: the aiohttp server with the worker in the same process."""

from __future__ import annotations

import errno
import logging
import os
import sys

from dotenv import dotenv_values

from bot.edge_http import serve_app
from bot.server import create_app
from entrypoints.wiring import build_local
from services.observability.start import start_observability
from services.safe_fetch import MICROSOFT_FILE_HOSTS
from services.settings import BOT_SERVICE_HOSTS, LOCAL_SERVICE_HOSTS, Settings, SettingsError, load_settings

log = logging.getLogger(__name__)
DEFAULT_PORT = Settings.model_fields["port"].default  # what `make chat` assumes


# `make run` (serve --dev): the emulator's connector serves attached files on loopback over plain HTTP, so local
# development also allows http://127.0.0.1, unless DOWNLOAD_ALLOWED_HOSTS is set in the environment or .env; and
# replies go to the emulator on loopback, unless BOT_SERVICE_HOSTS is set.
DEV_DOWNLOAD_HOSTS = [*MICROSOFT_FILE_HOSTS, "http://127.0.0.1"]
DEV_SERVICE_HOSTS = [*BOT_SERVICE_HOSTS, *LOCAL_SERVICE_HOSTS]


def _dev_defaults() -> dict[str, object]:
    """Return the local-development defaults for the settings neither the environment nor `.env` sets."""
    from_env_file = {name.upper() for name in dotenv_values(".env")} if os.path.exists(".env") else set()
    defaults = {"DOWNLOAD_ALLOWED_HOSTS": DEV_DOWNLOAD_HOSTS, "BOT_SERVICE_HOSTS": DEV_SERVICE_HOSTS}
    return {
        name.lower(): value for name, value in defaults.items() if name not in os.environ and name not in from_env_file
    }


def _check_backends(settings: Settings) -> str | None:
    """Return the one line that stops the start when a backend cannot work on this machine (each named backend
    of the route table, or the one BACKEND names), else None."""
    from services.backends.registry import backend_type
    from services.routing import load_route_table, named_settings

    try:
        named = named_settings(settings, load_route_table(settings))
    except SettingsError as problem:  # a bad route table: one line
        return str(problem)
    for own in named.values():
        if (problem := backend_type(own.backend).check_local(own)) is not None:
            return problem
    return None


def backends_label(settings: Settings) -> str:
    """Return what the banner says answers: BACKEND's type and knowledge folder, or the route table's named
    backends with their types (BACKEND is not used then). The table was read and checked before."""
    from services.routing import load_route_table, named_settings

    routes = load_route_table(settings)
    if routes is None:
        return f"{settings.backend} backend, knowledge from {settings.knowledge_dir}"
    named = named_settings(settings, routes)
    return f"backends from {routes.source}: " + ", ".join(f"{name} ({own.backend})" for name, own in named.items())


def serve(dev: bool = False) -> int:
    """Run the bot until interrupted; return the exit code (2 for a bad setting, 1 when the port cannot be
    bound). Every problem is one line, printed before the banner that says the bot is ready."""
    try:
        settings = load_settings(**(_dev_defaults() if dev else {}))
    except SettingsError as problem:
        print(problem, file=sys.stderr)
        return 2
    start_observability(settings, "server")
    if (problem := _check_backends(settings)) is not None:
        print(problem, file=sys.stderr)
        return 2
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

    def ready() -> None:
        print(
            f"Teams AI gateway ({backends_label(settings)}, "
            f"state in {settings.state_db})\n"
            f"  messaging endpoint: {endpoint}\n"
            f"  chat with it:       {make_chat}   (or: python -m bot chat --endpoint {endpoint})\n"
            f"  stop:               Ctrl+C",
            flush=True,
        )

    try:  # unparsable requests get a 4xx, no traceback; the banner comes once the port is bound
        serve_app(create_app(gateway), settings.host, settings.port, on_ready=ready)
    except OSError as problem:
        if problem.errno == errno.EADDRINUSE:
            print(
                f"Port {settings.port} on {settings.host} is already in use (another `make run`?): stop it, or start "
                f"this one with `make run PORT=<free port>` and talk to it with `make chat PORT=<that port>`.",
                file=sys.stderr,
            )
        else:  # an address this machine does not have, or a host name that does not resolve
            reason = os.strerror(problem.errno).lower() if problem.errno else str(problem)
            print(f"Cannot listen on {settings.host}:{settings.port}: {reason} (check HOST and PORT).", file=sys.stderr)
        return 1
    return 0
