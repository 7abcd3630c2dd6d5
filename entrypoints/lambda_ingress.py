"""IngressFunction: HTTP API → the ingress (authenticate, filter, claim, queue to SQS) → 200 in milliseconds.

One event loop per container, made at import and reused by every invocation: the ingress's clients are
bound to the loop that created them (`asyncio.run` per invocation would close it). The settings, the app
password (Secrets Manager) and the ingress are built once, at the first invocation of a container.

Settings that cannot work (a SingleTenant bot without its tenant id, a bad value under the settings path) are
found then: one ERROR line in the log, and every request of that container answered 503 with a one-line
JSON error, rather than an exception per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from bot.gateway import Gateway, HttpResponse, error
from bot.lambda_http import to_event_response, to_request
from entrypoints.wiring import build_ingress, resolve_secrets
from services.deployed_settings import load_deployed_settings
from services.observability import register_secrets
from services.observability.start import process_metrics, start_at_cold_start, start_observability
from services.settings import SettingsError

log = logging.getLogger(__name__)
LOOP = asyncio.new_event_loop()
_ingress: Gateway | None = None
_startup_error: str | None = None  # the settings' one-line problem, found at this container's first request
start_at_cold_start("ingress")


def ingress() -> Gateway:
    """Return this container's ingress, built on first use."""
    global _ingress
    if _ingress is None:
        settings = resolve_secrets(load_deployed_settings())
        if settings.settings_parameter_path:  # what the path adds (LOG_FORMAT, SENTRY_RELEASE…) applies too
            start_observability(settings, "ingress")
        register_secrets(settings.microsoft_app_password.get_secret_value())
        _ingress = build_ingress(settings)
    return _ingress


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Answer one HTTP API v2 event (POST /api/messages)."""
    started = time.perf_counter()
    request = to_request(event)
    if isinstance(request, HttpResponse):
        response = request
    elif (problem := _misconfigured()) is not None:
        response = problem
    else:
        response = LOOP.run_until_complete(ingress().handle(request))
    process_metrics().record_ack(time.perf_counter() - started, response.status)
    return to_event_response(response)


def _misconfigured() -> HttpResponse | None:
    """Return the 503 of a container whose settings are invalid (logged once, at the first request), else None."""
    global _startup_error
    if _startup_error is None and _ingress is None:
        try:
            ingress()
        except SettingsError as problem:
            _startup_error = str(problem)
            log.error("the gateway cannot start: %s (fix the stack's parameters and deploy again)", problem)
    if _startup_error is None:
        return None
    # The detail stays in the log: the request is not authenticated yet, and the caller may be anyone.
    return error(503, "Misconfigured", "The gateway's settings are invalid; its operator finds why in its log.")
